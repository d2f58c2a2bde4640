"""The TAXII settings refuse raw secrets and inconsistent permissions; users authenticate by argon2 hash or
by a password from the environment."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml
from argon2 import PasswordHasher

from distillguard.core.errors import ConfigError
from distillguard.intel.taxii_auth import Authenticator, basic_credentials
from distillguard.intel.taxii_config import TaxiiUser, load_taxii_config

HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
COLLECTION = "2f0c3a8e-5d1b-4c6e-9a7f-1b2c3d4e5f60"


def settings(users: dict[str, Any], read: list[str] | None = None, **root: Any) -> dict[str, Any]:
    return {"users": users, "api_roots": [{"path": "intel", "title": "intel", **root, "collections": [
        {"id": COLLECTION, "title": "shared", "read": read or [], "write": []}]}]}


def load(tmp_path: Path, data: dict[str, Any]) -> Any:
    path = tmp_path / "taxii.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_taxii_config(path)


@pytest.mark.parametrize(("data", "names"), [
    (settings({"a": {"password": "hunter2-plain"}}), ["users.a.password", "Extra inputs"]),
    (settings({"a": {"password_hash": "hunter2-plain"}}), ["users.a", "argon2"]),
    (settings({"a": {}}), ["exactly one"]),
    (settings({"a": {"password_env": "X"}}, read=["b"]), ["unknown users ['b']"]),
    (settings({"a": {"password_env": "X"}}, path="taxii2"), ["not 'taxii2'"]),
    ({"users": {}, "api_roots": [{"path": "intel", "title": "t", "collections": [{"id": "c1", "title": "c"}]}]},
     ["not a UUID"]),
])
def test_bad_settings_name_the_file_and_field(tmp_path: Path, data: dict[str, Any], names: list[str]) -> None:
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, data)
    assert str(tmp_path / "taxii.yaml") in str(raised.value)
    for name in names:
        assert name in str(raised.value)


def test_an_unset_password_variable_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TAXII_TEST_UNSET", raising=False)
    with pytest.raises(ConfigError, match=r"users\.a\.password_env: environment variable TAXII_TEST_UNSET is not set"):
        load(tmp_path, settings({"a": {"password_env": "TAXII_TEST_UNSET"}}))


def test_users_authenticate_by_hash_or_environment() -> None:
    auth = Authenticator({"h": TaxiiUser(password_hash=HASHER.hash("right-one")),
                          "e": TaxiiUser(password_env="PW_E"), "unset": TaxiiUser(password_env="PW_UNSET")},
                         environ={"PW_E": "env-secret"})
    assert auth.check("h", "right-one") and auth.check("h", "right-one")  # the second from the remembered proof
    assert not auth.check("h", "wrong") and not auth.check("h", "")
    assert auth.check("e", "env-secret") and not auth.check("e", "env-secre")
    assert not auth.check("unset", "") and not auth.check("nobody", "right-one")


def test_an_unknown_user_costs_an_argon2_check_like_a_wrong_password(monkeypatch: pytest.MonkeyPatch) -> None:
    """The time of a refusal does not tell which users exist: both refusals run the same slow check once."""
    auth = Authenticator({"h": TaxiiUser(password_hash=HASHER.hash("right-one"))})
    checks: list[str] = []
    hasher = auth._hasher

    class Counting:
        def verify(self, stored: str, password: str) -> bool:
            checks.append(password)
            return hasher.verify(stored, password)

    monkeypatch.setattr(auth, "_hasher", Counting())
    assert not auth.check("h", "wrong") and not auth.check("nobody", "wrong")
    assert checks == ["wrong", "wrong"]


@pytest.mark.parametrize(("header", "expected"), [
    ("Basic " + base64.b64encode(b"alice:pa:ss").decode(), ("alice", "pa:ss")),
    ("basic " + base64.b64encode(b"alice:").decode(), ("alice", "")),
    ("Basic " + base64.b64encode(b"no-colon").decode(), None),
    ("Basic !!!", None),
    ("Bearer abc", None),
    (None, None),
])
def test_basic_credentials(header: str | None, expected: tuple[str, str] | None) -> None:
    assert basic_credentials(header) == expected
