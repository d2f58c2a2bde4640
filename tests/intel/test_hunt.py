"""Retro-hunt: a partner's indicators find the operator's accounts in the store, and nothing else."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pyarrow as pa
from hunt_world import (
    COMMUNITY,
    LEGIT,
    LINKED,
    NOW,
    OPERATOR,
    SDK_USER,
    bundle,
    dump,
    indicator,
    operator_bundle,
    operator_terms,
    world_store,
)

from distillguard.intel.hunt import import_and_hunt, sighting_bundle
from distillguard.intel.stix_import import read_stix
from distillguard.intel.vocabulary import Term
from distillguard.store.linking import described_indicators, save_template_groups
from distillguard.store.partner import counts


def _import(tmp_path: Path, document: dict, now=NOW):  # type: ignore[no-untyped-def]
    store = world_store(tmp_path / "s.duckdb")
    parsed = read_stix(dump(document), "partner.json", COMMUNITY.name, now=now)
    return store, import_and_hunt(store, parsed, COMMUNITY, "partner-lab", now=now)


def test_every_kind_finds_its_operator_account(tmp_path: Path) -> None:
    store, report = _import(tmp_path, operator_bundle())
    matched = {a.account_id: a.kinds for a in report.accounts}
    assert set(matched) == {*OPERATOR, SDK_USER}
    assert matched["acct-op-card"] == ["payment"] and matched["acct-op-net"] == ["cidr"]
    assert matched["acct-op-home"] == ["residential_ip"] and matched["acct-op-tpl"] == ["template"]
    assert matched["acct-op-mail"] == ["email"] and matched["acct-op-domain"] == ["email_domain"]
    assert matched["acct-op-dc"] == ["client", "ip"] and matched[SDK_USER] == ["client"]
    assert all(a.first_seen is not None and a.last_seen is not None for a in report.accounts)
    store.close()


def test_only_identifying_or_two_family_matches_link_and_no_legitimate_account(tmp_path: Path) -> None:
    store, report = _import(tmp_path, operator_bundle())
    assert {a.account_id for a in report.accounts if a.linked} == LINKED
    stored = store.query("SELECT DISTINCT account_id FROM partner_indicators").column(0).to_pylist()
    assert set(stored) == LINKED and not set(stored) & set(LEGIT)
    assert {s.kind for s in report.sightings} == {"ip", "client", "payment", "account", "email"}
    store.close()


def test_matches_link_through_the_partner_family(tmp_path: Path) -> None:
    store, _ = _import(tmp_path, operator_bundle())
    groups = pa.table({"fp": pa.array([], pa.uint64()), "g": pa.array([], pa.int64())})
    save_template_groups(store, groups, pa.table({"g": pa.array([], pa.int64()), "template": pa.array([], pa.string())}), None)
    rows = described_indicators(store, sorted([*OPERATOR, *LEGIT]), None, 3600).to_pylist()
    partner = {r["account_id"]: r["value"] for r in rows if r["kind"] == "partner"}
    assert set(partner) == LINKED
    assert sum(r["kind"] == "partner" for r in rows) == len(LINKED)  # acct-op-dc, matched twice, shows it once
    assert len(set(partner.values())) == 1  # all reported as the partner's one campaign
    assert next(iter(partner.values())).startswith("campaign--")
    store.close()


def test_expired_and_revoked_indicators_match_nothing(tmp_path: Path) -> None:
    expired = indicator(Term("ip", "203.0.113.5"), "old", valid_until="2026-03-05T00:00:00.000Z")
    revoked = indicator(Term("cidr", "198.51.100.0/24"), "gone", revoked=True)
    store, report = _import(tmp_path, bundle([expired, revoked]))
    assert report.accounts == [] and report.n_expired == 1 and report.n_revoked == 1
    assert counts(store)["matches"] == 0 and counts(store)["indicators"] == 2
    store.close()


def test_keyed_values_of_another_key_match_nothing(tmp_path: Path) -> None:
    from distillguard.intel.community import Community

    other = Community("labs", b"another secret, same community name")
    terms = [Term("payment", other.keyed("payment", "pf_op_card_1")), Term("account", other.keyed("account", "acct-op-id"))]
    store, report = _import(tmp_path, bundle([indicator(t, f"k{n}") for n, t in enumerate(terms)]))
    assert report.accounts == []
    store.close()


def test_plain_producer_address_list_and_domain(tmp_path: Path) -> None:
    plain = {"type": "indicator", "spec_version": "2.1", "id": "indicator--0b7e3a7c-0c6f-4f0e-8a53-2b1a4e0f5c11",
             "created": "2026-03-01T00:00:00Z", "modified": "2026-03-01T00:00:00Z", "pattern_type": "stix",
             "pattern": "[ipv4-addr:value = '203.0.113.5' OR ipv4-addr:value = '198.51.100.77/32']",
             "valid_from": "2026-03-01T00:00:00Z"}
    domain = {**plain, "id": "indicator--1b7e3a7c-0c6f-4f0e-8a53-2b1a4e0f5c11",
              "pattern": "[domain-name:value = 'OP-Mail.Example']"}
    store, report = _import(tmp_path, bundle([plain, domain], campaign=False))
    assert {a.account_id for a in report.accounts} == {"acct-op-dc", "acct-op-net", "acct-op-domain"}
    assert not any(a.linked for a in report.accounts)  # one family each: reported, not linked
    assert counts(store)["matches"] == 0 and report.sightings == []
    store.close()


def test_sightings_share_counts_and_span_and_no_personal_value(tmp_path: Path) -> None:
    store, report = _import(tmp_path, operator_bundle())
    shared = sighting_bundle(report, "our-lab", now=NOW)
    text = dump(shared).decode()
    for secret in [*OPERATOR, *(o["ip"] for o in OPERATOR.values()), "pf_op_card_1", "op-mail", "gmail.com"]:
        assert secret not in text
    sightings = [o for o in shared["objects"] if o["type"] == "sighting"]
    partner_ids = {i["id"] for i in operator_bundle()["objects"] if i["type"] == "indicator"}
    assert len(sightings) == 5 and {s["sighting_of_ref"] for s in sightings} <= partner_ids
    assert all(s["count"] == 1 and s["first_seen"] <= s["last_seen"] for s in sightings)  # the SDK user not counted
    ours = next(o["id"] for o in shared["objects"] if o["type"] == "identity")
    assert all(s["where_sighted_refs"] == [ours] for s in sightings)
    store.close()


def test_sightings_validate(tmp_path: Path) -> None:
    from stix2validator import ValidationOptions, validate_instance

    store, report = _import(tmp_path, operator_bundle())
    result = validate_instance(sighting_bundle(report, "our-lab", now=NOW), ValidationOptions(version="2.1"))
    assert result.is_valid, [str(e) for e in result.errors]
    store.close()


def test_a_later_hunt_keeps_the_newer_version(tmp_path: Path) -> None:
    later = (NOW + timedelta(days=1))
    store, _ = _import(tmp_path, operator_bundle(modified="2026-03-05T00:00:00.000Z"))
    older = read_stix(dump(operator_bundle(revoked=True)), "old.json", COMMUNITY.name, now=later)
    report = import_and_hunt(store, older, COMMUNITY, "partner-lab", now=later)
    assert report.n_kept_newer == len(operator_terms()) and report.accounts == []
    assert counts(store)["matches"] > 0  # the newer (not revoked) version and its matches stay
    store.close()
