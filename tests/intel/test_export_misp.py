"""``intel export --format misp``: the same campaigns as MISP events, reloaded with pymisp, with the same indicators."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import orjson
import pytest
from export_checks import LABS, ip_intel, leaks, personal_values
from pymisp import MISPEvent

from distillguard.intel.exporter import export_intel
from distillguard.intel.exports import ExportOptions
from distillguard.intel.vocabulary import Term, parse_pattern
from distillguard.store import Store
from distillguard.store.intel_exports import export_log
from distillguard.store.results import run_campaigns
from distillguard.store.runs import run_ids

INTEL = ip_intel()


@pytest.fixture
def db(smoke_store: Path, tmp_path: Path) -> Path:
    """A copy of the analysed smoke store."""
    copy = tmp_path / "store.duckdb"
    shutil.copy(smoke_store, copy)
    return copy


def _terms(event: MISPEvent) -> set[Term]:
    """The indicators of a reloaded event, read back by the mapping of :mod:`distillguard.intel.misp_export`."""
    terms = set()
    for attribute in event.attributes:
        if attribute.type == "ip-src":
            terms.add(Term("cidr" if "/" in attribute.value else "ip", attribute.value))
        elif attribute.type == "domain":
            terms.add(Term("email_domain", attribute.value))
    for obj in event.objects:
        values = {a.object_relation: a.value for a in obj.attributes}
        if obj.name == "distillguard-client":
            terms.add(Term("client", tls_ja4=values.get("tls-ja4"), user_agent=values.get("user-agent")))
        elif obj.name == "distillguard-keyed":
            assert values["community"] == LABS.name
            terms.add(Term(values["kind"], values["value"]))
    return terms


def test_misp_events_reload_with_the_stix_indicators_and_no_personal_data(db: Path, tmp_path: Path) -> None:
    with Store(db) as store:
        campaigns = [r.campaign_id for r in run_campaigns(store, run_ids(store)[0])]
        for fmt in ("stix", "misp"):
            export_intel(store, ExportOptions(LABS, tlp="amber+strict"), fmt=fmt, out=tmp_path / f"{fmt}.json",
                         intel=INTEL)
        personal = personal_values(store, INTEL)
        logged = [e["format"] for e in export_log(store).to_pylist()]
    assert logged == ["stix", "misp"]
    text = (tmp_path / "misp.json").read_text()
    assert leaks(text, personal) == {}
    body = orjson.loads(text)
    events = []
    for item in body["response"]:
        event = MISPEvent()
        event.load(json.dumps(item))
        events.append(event)
    assert len(events) == len(campaigns) >= 2
    bundle = json.loads((tmp_path / "stix.json").read_text())
    stix_terms = {parse_pattern(o["pattern"]) for o in bundle["objects"] if o["type"] == "indicator"}
    misp_terms = set().union(*(_terms(e) for e in events))
    assert misp_terms == stix_terms
    for event in events:
        assert "tlp:amber+strict" in {t.name for t in event.tags}
        assert event.distribution == 1
        assert any(a.type == "link" and "AML.T0024.002" in a.value for a in event.attributes)
        assert all(a.to_ids and a.first_seen and a.last_seen for a in event.attributes if a.type != "link")


def test_one_campaign_is_one_event_with_deterministic_uuids(db: Path, tmp_path: Path) -> None:
    with Store(db) as store:
        campaign = run_campaigns(store, run_ids(store)[0])[0].campaign_id
        for name in ("a.json", "b.json"):
            export_intel(store, ExportOptions(LABS, tlp="green"), fmt="misp", out=tmp_path / name,
                         campaign_ids=[campaign], intel=INTEL)
    first, second = MISPEvent(), MISPEvent()
    first.load((tmp_path / "a.json").read_text())
    second.load((tmp_path / "b.json").read_text())
    assert campaign in first.info and first.uuid == second.uuid
    assert [a.uuid for a in first.attributes] == [a.uuid for a in second.attributes]
    assert [o.uuid for o in first.objects] == [o.uuid for o in second.objects]
    assert {t.name for t in first.tags} >= {"tlp:green", f'distillguard:campaign="{campaign}"'}
