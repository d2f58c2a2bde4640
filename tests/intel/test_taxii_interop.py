"""``intel push|pull`` (taxii2-client) between two ``intel serve`` instances and against the OASIS reference
server medallion, and taxii2-client's own calls against our server; all over loopback."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from taxii2client.v21 import Server, as_pages
from taxii_servers import (
    PARTNER_ENV,
    PASSWORDS,
    ROOT,
    SHARED,
    running_intel_serve,
    running_medallion,
    self_signed_certificate,
    serving_taxii,
    stix_objects,
    write_taxii_config,
)
from typer.testing import CliRunner

from distillguard.cli import app
from distillguard.cli.intel_taxii_cmd import PASSWORD_ENV
from distillguard.intel.taxii_objects import format_timestamp

runner = CliRunner()


@pytest.fixture(autouse=True)
def passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PARTNER_ENV, PASSWORDS["partner"])
    monkeypatch.setenv(PASSWORD_ENV, PASSWORDS["publisher"])


def write_bundle(path: Path, objects: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"type": "bundle", "id": "bundle--6f0e1b8a-3c2d-4e5f-8a9b-0c1d2e3f4a5b",
                                "objects": objects}))
    return path


def cli_push(url: str, collection: str, bundle: Path, user: str = "publisher") -> Any:
    return runner.invoke(app, ["intel", "push", "--taxii", url, "--collection", collection, "--user", user,
                               str(bundle)])


def cli_pull(url: str, collection: str, out: Path, *extra: str) -> list[dict[str, Any]]:
    result = runner.invoke(app, ["intel", "pull", "--taxii", url, "--collection", collection, "--user", "publisher",
                                 "--out", str(out), *extra])
    assert result.exit_code == 0, result.output
    bundle = json.loads(out.read_text())
    assert bundle["type"] == "bundle" and bundle["id"].startswith("bundle--")
    return list(bundle["objects"])


def by_id(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(objects, key=lambda o: str(o["id"]))


@pytest.mark.slow
def test_two_intel_serve_instances_exchange_a_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    objects = stix_objects(12)  # 27 objects: the pull walks pages of 5
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    config_a, config_b = write_taxii_config(tmp_path / "a", page_size=5), write_taxii_config(tmp_path / "b", page_size=5)
    tls = self_signed_certificate(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls[0]))  # the client trusts b's certificate
    with running_intel_serve(config_a, tmp_path / "a" / "store.duckdb") as a, \
            running_intel_serve(config_b, tmp_path / "b" / "store.duckdb", tls) as b:
        assert b.startswith("https://")
        pushed = cli_push(f"{a}{ROOT}/", SHARED, write_bundle(tmp_path / "campaign.json", objects))
        assert pushed.exit_code == 0, pushed.output
        assert f"sent {len(objects)} objects: {len(objects)} taken, 0 refused" in pushed.output
        from_a = cli_pull(f"{a}{ROOT}/", SHARED, tmp_path / "from-a.json")
        assert cli_push(f"{b}taxii2/", SHARED, tmp_path / "from-a.json").exit_code == 0  # by discovery
        from_b = cli_pull(f"{b}{ROOT}/", SHARED, tmp_path / "from-b.json")
    assert from_a == objects  # in the order they were added
    assert by_id(from_b) == by_id(objects)


def test_pull_added_after_takes_only_newer_objects(tmp_path: Path) -> None:
    first, second = stix_objects(3, "Lab A"), stix_objects(2, "Lab B")
    with serving_taxii(write_taxii_config(tmp_path, page_size=4), tmp_path / "s.duckdb") as url:
        assert cli_push(f"{url}{ROOT}", SHARED, write_bundle(tmp_path / "first.json", first)).exit_code == 0
        time.sleep(0.002)  # the cut lies strictly between the two pushes' date_added
        cut = format_timestamp(datetime.now(UTC))
        assert cli_push(f"{url}{ROOT}", SHARED, write_bundle(tmp_path / "second.json", second)).exit_code == 0
        assert cli_pull(f"{url}{ROOT}/", SHARED, tmp_path / "new.json", "--added-after", cut) == second
        assert cli_pull(f"{url}{ROOT}/", SHARED, tmp_path / "all.json") == first + second


def test_push_refused_objects_exit_1_with_reasons(tmp_path: Path) -> None:
    objects = stix_objects(1)
    objects[2]["pattern"] = "[ipv4-addr:value = "
    with serving_taxii(write_taxii_config(tmp_path), tmp_path / "s.duckdb") as url:
        result = cli_push(f"{url}{ROOT}/", SHARED, write_bundle(tmp_path / "bad.json", objects))
        assert result.exit_code == 1
        assert "pattern" in result.output and f"0 taken, {len(objects)} refused" in result.output
        assert cli_pull(f"{url}{ROOT}/", SHARED, tmp_path / "none.json") == []


@pytest.mark.parametrize(("user", "env", "message"), [
    ("publisher", None, PASSWORD_ENV),  # no password in the environment: the variable is named
    ("partner", PASSWORDS["partner"], "does not allow writing"),  # partner may only read the shared collection
    ("outsider", PASSWORDS["outsider"], "403"),  # outsider may not even see it
    ("publisher", "wrong", "401"),
])
def test_push_errors_say_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, user: str, env: str | None,
                             message: str) -> None:
    if env is None:
        monkeypatch.delenv(PASSWORD_ENV)
    else:
        monkeypatch.setenv(PASSWORD_ENV, env)
    with serving_taxii(write_taxii_config(tmp_path), tmp_path / "s.duckdb") as url:
        result = cli_push(f"{url}{ROOT}/", SHARED, write_bundle(tmp_path / "b.json", stix_objects(1)), user=user)
    assert result.exit_code == 2
    assert message in result.output
    assert not any(p in result.output for p in PASSWORDS.values())


def test_our_client_pushes_to_and_pulls_from_medallion(tmp_path: Path) -> None:
    objects = stix_objects(60)  # 123 objects: medallion's pages hold 100
    collection = "91a7b528-80eb-42ed-a74d-c6fbd5a26116"
    with running_medallion(tmp_path, "publisher", PASSWORDS["publisher"], collection) as url:
        pushed = cli_push(f"{url}taxii2/", collection, write_bundle(tmp_path / "campaign.json", objects))
        assert pushed.exit_code == 0, pushed.output
        pulled = cli_pull(f"{url}api1/", collection, tmp_path / "pulled.json")
    assert by_id(pulled) == by_id(objects)


def test_taxii2_client_reads_our_server(tmp_path: Path) -> None:
    objects = stix_objects(6)
    revised = dict(objects[2], modified="2026-02-01T00:00:00.000Z")
    with serving_taxii(write_taxii_config(tmp_path, page_size=4), tmp_path / "s.duckdb") as url:
        server = Server(f"{url}taxii2/", user="publisher", password=PASSWORDS["publisher"])
        assert server.title == "test TAXII" and server.default is not None
        assert server.default.versions == ["application/taxii+json;version=2.1"]
        shared = next(c for c in server.default.collections if c.id == SHARED)
        assert shared.can_read and shared.can_write
        status = shared.add_objects({"objects": objects})
        assert (status.status, status.success_count, status.failure_count) == ("complete", len(objects), 0)
        assert shared.add_objects({"objects": [revised]}).success_count == 1
        polled = server.default.get_status(status.id)
        assert (polled.id, polled.success_count) == (status.id, len(objects))
        manifest = [m for page in as_pages(shared.get_manifest, per_request=3) for m in page.get("objects", [])]
        assert [m["id"] for m in manifest] == [o["id"] for o in objects if o is not objects[2]] + [revised["id"]]
        assert manifest[-1]["version"] == revised["modified"]  # the latest version only, unless asked
        pages = list(as_pages(shared.get_objects, per_request=4))
        assert sum(len(p.get("objects", [])) for p in pages) == len(objects)
        assert shared.get_object(revised["id"])["objects"] == [revised]
        assert shared.object_versions(revised["id"])["versions"] == [objects[2]["modified"], revised["modified"]]
        partner = Server(f"{url}taxii2/", user="partner", password=PASSWORDS["partner"])
        partner_shared = next(c for c in partner.default.collections if c.id == SHARED)
        assert (partner_shared.can_read, partner_shared.can_write) == (True, False)
