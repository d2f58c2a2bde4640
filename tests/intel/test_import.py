"""Import: hostile or malformed bundles are refused whole with reasons naming object and field; re-import is idempotent."""

from __future__ import annotations

import copy
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from hunt_world import COMMUNITY, LINKED, NOW, bundle, dump, indicator, operator_bundle, world_store
from typer.testing import CliRunner

from distillguard.cli.app import app
from distillguard.intel.hunt import import_and_hunt
from distillguard.intel.imported import BundleRejected, ImportLimits
from distillguard.intel.misp_import import read_misp
from distillguard.intel.stix_import import read_stix
from distillguard.intel.vocabulary import Term
from distillguard.store import Store
from distillguard.store.partner import counts

FAR = "2030-01-01T00:00:00.000Z"
KEY_ENV = {"DISTILLGUARD_INTEL_KEY_LABS": COMMUNITY.key.hex()}


def _first_indicator(doc: dict[str, Any]) -> dict[str, Any]:
    return next(o for o in doc["objects"] if o["type"] == "indicator")


def _set(field: str, value: Any) -> Any:
    def change(doc: dict[str, Any]) -> None:
        _first_indicator(doc)[field] = value
    return change


def _deep(doc: dict[str, Any]) -> None:
    nested: Any = "x"
    for _ in range(40):
        nested = {"a": nested}
    _first_indicator(doc)["x_nested"] = nested


def _many(doc: dict[str, Any]) -> None:
    doc["objects"] = [{"type": "x-filler", "id": f"x-filler--{uuid.UUID(int=i)}"} for i in range(1_000_001)]


def _custom_marking(doc: dict[str, Any]) -> None:
    fake = {"type": "marking-definition", "spec_version": "2.1", "id": f"marking-definition--{uuid.UUID(int=9)}",
            "created": "2026-01-01T00:00:00.000Z", "name": "TLP:PURPLE", "extensions": {}}
    doc["objects"].append(fake)
    _first_indicator(doc)["object_marking_refs"] = [fake["id"]]


def _duplicate_kind(doc: dict[str, Any]) -> None:
    _first_indicator(doc)["x_distillguard_kind"] = "email_domain"


HOSTILE: list[tuple[str, Any, str]] = [
    ("pattern that does not parse", _set("pattern", "[ipv4-addr:value = '203.0.113.5'"), "pattern: does not parse"),
    ("unknown marking", _set("object_marking_refs", [f"marking-definition--{uuid.UUID(int=7)}"]), "unknown marking"),
    ("a marking the bundle defines but is no TLP", _custom_marking, "unknown marking"),
    ("valid_until before valid_from", _set("valid_until", "2020-01-01T00:00:00Z"), "valid_until"),
    ("absurd valid_until", _set("valid_until", "9999-12-31T23:59:59Z"), "years ahead"),
    ("valid_until not a timestamp", _set("valid_until", "tomorrow"), "not a STIX timestamp"),
    ("confidence over 100", _set("confidence", 1000), "confidence"),
    ("confidence as text", _set("confidence", "high"), "confidence"),
    ("wrong spec_version", _set("spec_version", "2.0"), "spec_version"),
    ("kind the pattern contradicts", _duplicate_kind, "x_distillguard_kind"),
    ("id of another type", _set("id", f"campaign--{uuid.UUID(int=3)}"), "id"),
    ("deep nesting", _deep, "nested over"),
    ("a million objects", _many, "over the limit"),
    ("huge string", _set("description", "x" * 70_000), "over the limit"),
]


@pytest.mark.parametrize(("case", "change", "reason"), HOSTILE, ids=[c[0] for c in HOSTILE])
def test_hostile_bundles_are_refused_whole_naming_object_and_field(tmp_path: Path, case: str, change: Any,
                                                                    reason: str) -> None:
    doc = operator_bundle()
    change(doc)
    with pytest.raises(BundleRejected) as caught:
        read_stix(dump(doc), "bad.json", COMMUNITY.name, now=NOW)
    assert any(reason in r for r in caught.value.reasons), caught.value.reasons
    if case not in ("deep nesting", "a million objects", "huge string"):
        assert any(_first_indicator(operator_bundle())["id"] in r or "objects[" in r for r in caught.value.reasons)


@pytest.mark.parametrize(("data", "reason"), [
    (b"{not json", "not JSON"),
    (b"[]", "not a STIX bundle"),
    (orjson.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "spec_version": "2.0", "objects": []}),
     "spec_version"),
    (orjson.dumps({"type": "bundle", "id": "bundle--nope", "objects": []}), "id"),
    (b"[" * 5000 + b"]" * 5000, "not JSON"),
])
def test_malformed_documents_are_refused(data: bytes, reason: str) -> None:
    with pytest.raises(BundleRejected, match=reason):
        read_stix(data, "bad.json", COMMUNITY.name, now=NOW)


def test_oversized_bundle_is_refused_before_parsing() -> None:
    with pytest.raises(BundleRejected, match="over the limit"):
        read_stix(dump(operator_bundle()), "big.json", COMMUNITY.name, ImportLimits(max_bytes=1000), now=NOW)


def test_one_bad_indicator_among_good_ones_leaves_the_store_untouched(tmp_path: Path) -> None:
    store = world_store(tmp_path / "s.duckdb")
    store.close()
    doc = operator_bundle()
    [o for o in doc["objects"] if o["type"] == "indicator"][-1]["confidence"] = -1
    (tmp_path / "bad.json").write_bytes(dump(doc))
    result = CliRunner().invoke(app, ["intel", "import", str(tmp_path / "bad.json"), "--db", str(tmp_path / "s.duckdb"),
                                      "--community", "labs"], env=KEY_ENV)
    assert result.exit_code == 2, result.output
    assert "confidence" in result.output and "nothing imported" in result.output
    with Store(tmp_path / "s.duckdb") as store:
        assert counts(store) == {"imports": 0, "indicators": 0, "matches": 0, "reports": 0}


def test_reimport_is_idempotent(tmp_path: Path) -> None:
    store = world_store(tmp_path / "s.duckdb")
    data = dump(operator_bundle())
    first = import_and_hunt(store, read_stix(data, "p.json", COMMUNITY.name, now=NOW), COMMUNITY, "p", now=NOW)
    before = counts(store), store.query("SELECT * FROM partner_indicators ORDER BY ALL").to_pylist()
    again = import_and_hunt(store, read_stix(data, "p.json", COMMUNITY.name, now=NOW), COMMUNITY, "p", now=NOW)
    assert (counts(store), store.query("SELECT * FROM partner_indicators ORDER BY ALL").to_pylist()) == before
    assert before[0] == {"imports": 1, "indicators": 9, "matches": 5, "reports": 1}
    assert first.import_id == again.import_id
    store.close()


def test_a_newer_version_replaces_its_matches(tmp_path: Path) -> None:
    store = world_store(tmp_path / "s.duckdb")
    doc = operator_bundle()
    import_and_hunt(store, read_stix(dump(doc), "p.json", COMMUNITY.name, now=NOW), COMMUNITY, "p", now=NOW)
    newer = copy.deepcopy(doc)
    for o in newer["objects"]:
        if o["type"] == "indicator":
            o.update(modified="2026-03-09T00:00:00.000Z", revoked=True)
    report = import_and_hunt(store, read_stix(dump(newer), "p2.json", COMMUNITY.name, now=NOW), COMMUNITY, "p", now=NOW)
    assert report.n_revoked == 9 and report.accounts == []
    assert counts(store)["matches"] == 0 and counts(store)["indicators"] == 9
    store.close()


def test_cli_imports_hunts_reports_and_shares_back(tmp_path: Path) -> None:
    world_store(tmp_path / "s.duckdb").close()
    (tmp_path / "p.json").write_bytes(dump(operator_bundle(valid_until=FAR)))  # the command hunts at the wall clock
    result = CliRunner().invoke(app, [
        "intel", "import", str(tmp_path / "p.json"), "--db", str(tmp_path / "s.duckdb"), "--community", "labs",
        "--report", str(tmp_path / "hunt.json"), "--sightings-out", str(tmp_path / "sightings.json")], env=KEY_ENV)
    assert result.exit_code == 0, result.output
    report = orjson.loads((tmp_path / "hunt.json").read_bytes())
    assert {a["account_id"] for a in report["accounts"] if a["linked"]} == LINKED
    assert report["source"] == "partner-lab"  # the bundle's producer
    sightings = orjson.loads((tmp_path / "sightings.json").read_bytes())
    assert sum(o["type"] == "sighting" for o in sightings["objects"]) == 5


def test_cli_without_the_community_key_names_the_variable(tmp_path: Path) -> None:
    (tmp_path / "p.json").write_bytes(dump(operator_bundle()))
    result = CliRunner().invoke(app, ["intel", "import", str(tmp_path / "p.json"), "--db", str(tmp_path / "s.duckdb"),
                                      "--community", "other lab"], env={})
    assert result.exit_code == 2 and "DISTILLGUARD_INTEL_KEY_OTHER_LAB" in result.output


def _misp_event() -> dict[str, Any]:
    from pymisp import MISPEvent

    event = MISPEvent()
    event.info = "operator op-1"
    event.add_tag("tlp:amber")
    event.add_attribute("ip-dst", "203.0.113.5", to_ids=True)
    event.add_attribute("ip-dst", "198.51.100.0/24", to_ids=True)
    event.add_attribute("domain", "op-mail.example", to_ids=True)
    keyed = Term("payment", COMMUNITY.keyed("payment", "pf_op_card_1"))
    from distillguard.intel.vocabulary import pattern

    event.add_attribute("stix2-pattern", pattern(keyed), to_ids=True)
    event.add_attribute("comment", "seen since March", to_ids=False)
    return {"Event": orjson.loads(event.to_json())}  # as MISP's API and exports wrap it


def test_misp_event_is_hunted_like_a_bundle(tmp_path: Path) -> None:
    store = world_store(tmp_path / "s.duckdb")
    parsed = read_misp(dump(_misp_event()), "event.json", COMMUNITY.name, now=NOW)
    assert [i.tlp for i in parsed.indicators] == ["amber"] * 4 and len(parsed.ignored) == 1
    report = import_and_hunt(store, parsed, COMMUNITY, "misp-partner", now=NOW)
    assert {a.account_id for a in report.accounts} == {"acct-op-dc", "acct-op-net", "acct-op-domain", "acct-op-card"}
    store.close()


@pytest.mark.parametrize(("change", "reason"), [
    (lambda e: e["Event"]["Tag"].append({"name": "tlp:purple"}), "unknown marking"),
    (lambda e: e["Event"]["Attribute"][0].update(uuid="nope"), "uuid"),
    (lambda e: e["Event"]["Attribute"][3].update(value="[x-distillguard-keyed:kind = 'payment'"), "does not parse"),
])
def test_hostile_misp_events_are_refused(change: Any, reason: str) -> None:
    event = _misp_event()
    change(event)
    with pytest.raises(BundleRejected, match=reason):
        read_misp(dump(event), "event.json", COMMUNITY.name, now=NOW)


def test_a_statement_marking_defined_in_the_bundle_is_accepted() -> None:
    statement = {"type": "marking-definition", "spec_version": "2.1", "id": f"marking-definition--{uuid.UUID(int=5)}",
                 "created": "2026-01-01T00:00:00.000Z", "definition_type": "statement",
                 "definition": {"statement": "Copyright 2026 Partner Lab"}}
    marked = indicator(Term("ip", "203.0.113.5"), "m", object_marking_refs=[statement["id"]])
    parsed = read_stix(dump(bundle([marked], extra=[statement])), "p.json", COMMUNITY.name, now=NOW)
    assert len(parsed.indicators) == 1 and parsed.indicators[0].tlp is None


def test_unhunted_patterns_are_listed_not_refused() -> None:
    sha = indicator(Term("ip", "203.0.113.5"), "file", pattern="[file:hashes.'SHA-256' = '" + "a" * 64 + "']")
    sha.pop("x_distillguard_kind")
    sigma = indicator(Term("ip", "203.0.113.5"), "sigma", pattern="title: x", pattern_type="sigma")
    parsed = read_stix(dump(bundle([sha, sigma])), "p.json", COMMUNITY.name, now=NOW)
    assert parsed.indicators == [] and len(parsed.ignored) == 2


def test_cli_reads_a_misp_file(tmp_path: Path) -> None:
    world_store(tmp_path / "s.duckdb").close()
    (tmp_path / "event.json").write_bytes(dump(_misp_event()))
    result = CliRunner().invoke(app, ["intel", "import", str(tmp_path / "event.json"), "--db", str(tmp_path / "s.duckdb"),
                                      "--community", "labs", "--report", str(tmp_path / "hunt.json")], env=KEY_ENV)
    assert result.exit_code == 0, result.output
    report = orjson.loads((tmp_path / "hunt.json").read_bytes())
    assert {a["account_id"] for a in report["accounts"]} == {"acct-op-dc", "acct-op-net", "acct-op-domain", "acct-op-card"}
