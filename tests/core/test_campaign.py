"""A campaign record survives the JSON it is written as (files and the store)."""

from datetime import UTC, datetime

import orjson

from distillguard.core.campaign import CampaignRecord, SharedIndicator
from distillguard.core.decision import Evidence


def test_campaign_record_round_trips_through_its_json() -> None:
    record = CampaignRecord(
        campaign_id="CMP-0123456789", accounts=("a", "b", "c"), n_exchanges=42,
        first_seen=datetime(2026, 3, 1, tzinfo=UTC), last_seen=datetime(2026, 3, 2, 6, tzinfo=UTC),
        capabilities={"reasoning": 0.75, "coding": 0.25}, risk=0.9125, confidence=0.99,
        evidence=(Evidence("campaign.fleet", 0.8, "one client pool"), Evidence("account.cot", 0.5, "asks in words")),
        linking_edges={"payment": 3, "client": 2},
        indicators={"clients": (SharedIndicator("sdk 1.0 | t13d", 3),)},
    )
    written = orjson.loads(orjson.dumps(record.to_json()))
    assert written["n_accounts"] == 3 and written["reasons"] == ["one client pool", "asks in words"]
    assert CampaignRecord.from_json(written) == record


def test_records_written_before_findings_keep_their_reasons() -> None:
    old = {"campaign_id": "CMP-1", "accounts": ["a", "b"], "n_exchanges": 5, "first_seen": "2026-03-01T00:00:00+00:00",
           "last_seen": "2026-03-01T01:00:00+00:00", "confidence": 0.8, "reasons": ["shared card"]}
    record = CampaignRecord.from_json(old)
    assert record.reasons == ("shared card",) and record.evidence[0].detector == "unknown"
    assert record.capabilities == {} and record.linking_edges == {} and record.indicators == {}
