"""intel import --taxii: a partner's collection read from a TAXII 2.1 server on loopback, checked whole, hunted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from click.testing import Result
from hunt_world import COMMUNITY, LINKED, operator_bundle, world_store
from taxii_servers import PARTNER_ENV, PASSWORDS, ROOT, SHARED, serving_taxii, write_taxii_config
from typer.testing import CliRunner

from distillguard.cli.app import app
from distillguard.intel.taxii_client import TaxiiTarget, push
from distillguard.store import Store
from distillguard.store.partner import counts
from redis_server import free_port

FAR = "2030-01-01T00:00:00.000Z"


@pytest.fixture
def taxii_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv(PARTNER_ENV, PASSWORDS["partner"])
    with serving_taxii(write_taxii_config(tmp_path), tmp_path / "taxii.duckdb") as base:
        yield f"{base}{ROOT}/"


def _import(url: str, db: Path, tmp_path: Path) -> Result:
    env = {"DISTILLGUARD_INTEL_KEY_LABS": COMMUNITY.key.hex(), "DISTILLGUARD_TAXII_PASSWORD": PASSWORDS["partner"]}
    return CliRunner().invoke(app, ["intel", "import", "--taxii", url, "--collection", SHARED, "--user", "partner",
                                    "--db", str(db), "--community", "labs", "--report", str(tmp_path / "hunt.json")],
                              env=env)


def test_import_from_a_taxii_collection_hunts_like_a_file(tmp_path: Path, taxii_url: str) -> None:
    world_store(tmp_path / "s.duckdb").close()
    objects = operator_bundle(valid_until=FAR)["objects"]
    assert not push(TaxiiTarget(taxii_url, SHARED, "publisher", PASSWORDS["publisher"]), objects).failures
    result = _import(taxii_url, tmp_path / "s.duckdb", tmp_path)
    assert result.exit_code == 0, result.output
    report = orjson.loads((tmp_path / "hunt.json").read_bytes())
    assert {a["account_id"] for a in report["accounts"] if a["linked"]} == LINKED


def test_a_hostile_object_in_the_collection_refuses_the_whole_pull(tmp_path: Path, taxii_url: str) -> None:
    world_store(tmp_path / "s.duckdb").close()
    objects = operator_bundle(valid_until=FAR)["objects"]
    bad = next(o for o in objects if o["type"] == "indicator")
    bad["object_marking_refs"] = ["marking-definition--00000000-0000-4000-8000-000000000007"]
    assert not push(TaxiiTarget(taxii_url, SHARED, "publisher", PASSWORDS["publisher"]), objects).failures
    result = _import(taxii_url, tmp_path / "s.duckdb", tmp_path)
    assert result.exit_code == 2 and "unknown marking" in result.output
    with Store(tmp_path / "s.duckdb") as store:
        assert counts(store) == {"imports": 0, "indicators": 0, "matches": 0, "reports": 0}


def test_an_unreachable_server_is_one_clear_error(tmp_path: Path) -> None:
    world_store(tmp_path / "s.duckdb").close()
    url = f"http://127.0.0.1:{free_port()}/{ROOT}/"
    result = _import(url, tmp_path / "s.duckdb", tmp_path)
    assert result.exit_code == 2 and url in result.output
