"""``intel export`` as STIX 2.1 over a store analysed from the smoke scenario: valid, complete, private, stable."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from export_checks import LABS, LABS_ENV, SHARED_INTEL, ip_intel, leaks, personal_values
from stix2validator import ValidationOptions, validate_string
from typer.testing import CliRunner

from distillguard.accounts.network import Origin
from distillguard.cli import app
from distillguard.core.campaign import ONE_CUSTOMER_DETECTORS
from distillguard.core.errors import DistillguardError, StoreError
from distillguard.intel.exporter import default_actor, export_intel
from distillguard.intel.exports import ExportOptions
from distillguard.intel.stix_export import VocabularyIndicator
from distillguard.intel.vocabulary import TLP2_MARKING_IDS, parse_pattern
from distillguard.store import Store
from distillguard.store.intel_exports import export_log
from distillguard.store.results import run_campaigns
from distillguard.store.runs import run_ids

INTEL = ip_intel()
FIXED_TYPES = {"marking-definition", "extension-definition"}


@pytest.fixture
def db(smoke_store: Path, tmp_path: Path) -> Path:
    """A copy of the analysed smoke store, for one test to write its export log into."""
    copy = tmp_path / "store.duckdb"
    shutil.copy(smoke_store, copy)
    return copy


def _export(db: Path, out: Path, **options: Any) -> tuple[dict[str, Any], str]:
    fmt = options.pop("fmt", "stix")
    campaigns = options.pop("campaign_ids", None)
    with Store(db) as store:
        export_intel(store, ExportOptions(LABS, **options), fmt=fmt, out=out, campaign_ids=campaigns, intel=INTEL)
    text = out.read_text(encoding="utf-8")
    return json.loads(text), text


def _by_type(bundle: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for obj in bundle["objects"]:
        grouped.setdefault(obj["type"], []).append(obj)
    return grouped


def test_bundle_passes_the_validator_and_holds_every_part(db: Path, tmp_path: Path) -> None:
    bundle, text = _export(db, tmp_path / "bundle.json", tlp="green")
    result = validate_string(text, ValidationOptions(version="2.1"))
    assert result.is_valid and not result.errors, result.errors
    objects = _by_type(bundle)
    with Store(db) as store:
        records = run_campaigns(store, run_ids(store)[0])
    assert {c["name"] for c in objects["campaign"]} == {r.campaign_id for r in records}
    for c in objects["campaign"]:
        record = next(r for r in records if r.campaign_id == c["name"])
        assert c["confidence"] == round(record.confidence * 100) and c["first_seen"] and c["last_seen"]
    assert objects["intrusion-set"] and objects["infrastructure"]
    [technique] = objects["attack-pattern"]
    assert technique["external_references"][0]["external_id"] == "AML.T0024.002"
    assert technique["external_references"][0]["source_name"] == "mitre-atlas"
    [marking] = objects["marking-definition"]
    assert marking["id"] == TLP2_MARKING_IDS["green"] and marking["name"] == "TLP:GREEN"
    assert {e["extension_types"][0] for e in objects["extension-definition"]} == {"new-sco", "toplevel-property-extension"}
    producer = next(i["id"] for i in objects["identity"] if i["name"] == "distillguard" and i["identity_class"] == "organization")
    relations = Counter((r["relationship_type"], r["source_ref"].split("--")[0], r["target_ref"].split("--")[0])
                        for r in objects["relationship"])
    for expected in (("indicates", "indicator", "campaign"), ("attributed-to", "campaign", "intrusion-set"),
                     ("uses", "campaign", "attack-pattern"), ("uses", "campaign", "infrastructure"),
                     ("indicates", "indicator", "infrastructure")):
        assert relations[expected] > 0, expected
    indicators = {i["id"]: i for i in objects["indicator"]}
    kinds = Counter(i["x_distillguard_kind"] for i in indicators.values())
    assert {"account", "email", "payment", "client", "residential_ip", "template"} <= set(kinds)
    exported_at = datetime.now(UTC)
    for i in indicators.values():  # old traffic, analysed now: valid for 90 days from the analysis
        assert datetime.fromisoformat(i["valid_until"]) > exported_at + timedelta(days=89)
        assert parse_pattern(i["pattern"]).kind == i["x_distillguard_kind"]
        assert 0 <= i["confidence"] <= 100 and i["valid_until"] > i["valid_from"]
        assert i["indicator_types"] == ["malicious-activity"] and "model-distillation" in i["labels"]
    assert {s["sighting_of_ref"] for s in objects["sighting"]} == set(indicators)
    for s in objects["sighting"]:
        assert s["count"] >= 1 and s["first_seen"] <= s["last_seen"] and s["where_sighted_refs"] == [producer]
    for obj in bundle["objects"]:
        if obj["type"] not in FIXED_TYPES:
            assert obj.get("object_marking_refs", [marking["id"]]) == [marking["id"]], obj["id"]


def test_no_personal_value_leaves_raw_and_members_are_matched_keyed(db: Path, tmp_path: Path) -> None:
    _, text = _export(db, tmp_path / "bundle.json")
    with Store(db) as store:
        personal = personal_values(store, INTEL)
        members = [a for r in run_campaigns(store, run_ids(store)[0]) for a in r.accounts]
    assert personal.accounts and personal.emails and personal.residential_ips and personal.prompts
    planted = json.dumps({"description": f"{min(personal.accounts)} {min(personal.emails).upper()} "
                                         f"{min(personal.residential_ips)} {min(personal.payments)} "
                                         f"{min(personal.templates)}", "note": personal.prompts[0][:50]})
    assert set(leaks(planted, personal)) == {"accounts", "emails", "residential_ips", "payments", "templates", "prompts"}
    assert leaks(text, personal) == {}
    for account in members:
        assert LABS.keyed("account", account) in text


def test_datacenter_exits_go_raw_by_policy_and_keyed_on_request(db: Path, tmp_path: Path) -> None:
    raw, _ = _export(db, tmp_path / "raw.json")
    exits = [parse_pattern(i["pattern"]).value for i in _by_type(raw)["indicator"] if i["x_distillguard_kind"] == "ip"]
    if not exits:
        pytest.skip("no datacenter exit in this traffic with these IP lists")
    assert all(INTEL.origin(ip) != Origin.RESIDENTIAL for ip in exits)
    keyed, text = _export(db, tmp_path / "keyed.json", exits="keyed")
    assert not [i for i in _by_type(keyed)["indicator"] if i["x_distillguard_kind"] in ("ip", "cidr")]
    assert not [ip for ip in exits if ip in text]
    assert all(LABS.keyed("residential_ip", ip) in text for ip in exits)


def test_reexport_keeps_ids_and_modified_until_the_content_changes(db: Path, tmp_path: Path) -> None:
    first, _ = _export(db, tmp_path / "a.json")
    again, _ = _export(db, tmp_path / "b.json")
    modified = {o["id"]: o.get("modified") for o in first["objects"]}
    assert {o["id"]: o.get("modified") for o in again["objects"]} == modified
    assert again["id"] == first["id"]
    changed, _ = _export(db, tmp_path / "c.json", valid_days=30)
    after = {o["id"]: o for o in changed["objects"]}
    assert set(after) == set(modified)
    for oid, obj in after.items():
        if obj["type"] == "indicator":
            assert obj["modified"] > modified[oid] and obj["created"] == next(
                o["created"] for o in first["objects"] if o["id"] == oid)
        else:
            assert obj.get("modified") == modified[oid], oid


def test_export_is_logged_and_a_failed_export_leaves_nothing_behind(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "bundle.json"
    bundle, _ = _export(db, out, tlp="amber+strict")
    with Store(db) as store:
        [entry] = export_log(store).to_pylist()
        campaigns = [r.campaign_id for r in run_campaigns(store, run_ids(store)[0])]
    assert entry["community"] == "labs" and entry["tlp"] == "amber+strict" and entry["format"] == "stix"
    assert sorted(entry["campaigns"]) == sorted(campaigns) and entry["n_objects"] == len(bundle["objects"])
    assert entry["out_file"] == str(out.resolve())
    assert entry["actor"].startswith("actor:") and default_actor() not in entry["actor"]
    before = out.read_bytes()
    with Store(db, read_only=True) as store, pytest.raises(StoreError, match="export not recorded"):
        export_intel(store, ExportOptions(LABS, tlp="red"), fmt="stix", out=out, intel=INTEL)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    with Store(db) as store:
        with pytest.raises(DistillguardError, match="cannot write the export"):
            export_intel(store, ExportOptions(LABS), fmt="stix", out=tmp_path, intel=INTEL)
        assert export_log(store).num_rows == 1


def test_an_indicator_outside_the_vocabulary_is_refused() -> None:
    common = {"pattern_type": "stix", "valid_from": "2026-03-02T00:00:00Z", "valid_until": "2026-04-02T00:00:00Z"}
    VocabularyIndicator(pattern="[ipv4-addr:value = '198.51.100.7']", **common)
    with pytest.raises(ValueError, match="not in the distillguard vocabulary"):
        VocabularyIndicator(pattern="[file:name = 'payload.bin']", **common)
    with pytest.raises(ValueError, match="valid_until must be after valid_from"):
        VocabularyIndicator(pattern="[ipv4-addr:value = '198.51.100.7']", pattern_type="stix",
                            valid_from="2026-03-02T00:00:00Z", valid_until="2026-03-01T00:00:00Z")


def test_unknown_campaign_or_run_is_a_clear_error(db: Path, tmp_path: Path) -> None:
    with Store(db) as store:
        with pytest.raises(DistillguardError, match="no campaign 'CMP-nope' in any stored run"):
            export_intel(store, ExportOptions(LABS), fmt="stix", out=tmp_path / "x.json", campaign_ids=["CMP-nope"])
        with pytest.raises(DistillguardError, match="no run 'run-nope'"):
            export_intel(store, ExportOptions(LABS), fmt="stix", out=tmp_path / "x.json", run="run-nope")
    assert not (tmp_path / "x.json").exists()


def test_cli_exports_one_campaign_and_names_the_missing_key(db: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    with Store(db) as store:
        campaign = run_campaigns(store, run_ids(store)[0])[0].campaign_id
    out = tmp_path / "one.json"
    args = ["intel", "export", "--db", str(db), "--campaign", campaign, "--format", "stix", "--community", "labs",
            "--tlp", "clear", "--out", str(out)]
    if SHARED_INTEL.is_dir():
        args += ["--intel", str(SHARED_INTEL)]
    result = runner.invoke(app, args, env=LABS_ENV)
    assert result.exit_code == 0, result.output
    assert "exported 1 campaign(s)" in result.output
    bundle = json.loads(out.read_text())
    assert [c["name"] for c in bundle["objects"] if c["type"] == "campaign"] == [campaign]
    missing = runner.invoke(app, args[:-2] + ["--out", str(tmp_path / "none.json")], env={"DISTILLGUARD_INTEL_KEY_LABS": ""})
    assert missing.exit_code == 2 and "DISTILLGUARD_INTEL_KEY_LABS" in missing.output
    both = runner.invoke(app, [*args, "--all"], env=LABS_ENV)
    assert both.exit_code == 2 and "--campaign ID (repeatable) or --all" in both.output
    assert not (tmp_path / "none.json").exists()



@pytest.mark.parametrize("finding", ONE_CUSTOMER_DETECTORS)
def test_one_customer_s_campaign_is_held_back_unless_named(db: Path, tmp_path: Path, finding: str) -> None:
    """A campaign marked one customer's accounts (one payer or one organisation's domain, asked to verify) is left
    out of ``--all`` and said so; named, it is shared; a run holding only such campaigns exports nothing, with the
    reason."""
    with Store(db) as store:
        run_id = run_ids(store)[0]
        records = run_campaigns(store, run_id)
        lab = records[0]
        marked = {**lab.to_json(), "findings": [*lab.to_json()["findings"],
                                                {"detector": finding, "score": 1.0, "reason": finding}]}
        store.con.execute("UPDATE campaigns SET record = ? WHERE run_id = ? AND campaign_id = ?",
                          [json.dumps(marked), run_id, lab.campaign_id])
    runner = CliRunner()
    args = ["intel", "export", "--db", str(db), "--format", "stix", "--community", "labs", "--tlp", "clear"]
    result = runner.invoke(app, [*args, "--all", "--out", str(tmp_path / "all.json")], env=LABS_ENV)
    assert result.exit_code == 0, result.output
    shared = [c["name"] for c in json.loads((tmp_path / "all.json").read_text())["objects"] if c["type"] == "campaign"]
    assert lab.campaign_id not in shared and len(shared) == len(records) - 1
    assert "held back 1 campaign(s) that are one customer's accounts" in result.output and lab.campaign_id in result.output
    named = runner.invoke(app, [*args, "--campaign", lab.campaign_id, "--out", str(tmp_path / "one.json")], env=LABS_ENV)
    assert named.exit_code == 0 and "held back" not in named.output
    with Store(db) as store:
        store.con.execute("DELETE FROM campaigns WHERE run_id = ? AND campaign_id <> ?", [run_id, lab.campaign_id])
    alone = runner.invoke(app, [*args, "--all", "--out", str(tmp_path / "none.json")], env=LABS_ENV)
    assert alone.exit_code != 0 and "1 that are one customer's accounts, held back" in alone.output
    assert not (tmp_path / "none.json").exists()
