"""The analysis gives ``decide`` each account's standing: category, verification, age at decision time, campaign."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from distillguard.accounts import IpIntel
from distillguard.analysis import analyze, replay_logs
from distillguard.campaigns.settings import load_campaign_settings
from distillguard.config import load_settings
from distillguard.config.settings import with_overrides
from distillguard.core.decision import Decision
from distillguard.policy import DecisionContext, Policy, load_policy
from distillguard.policy.rules import decide

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CREATED = datetime(2025, 8, 1, tzinfo=UTC)


def _exchange(k: int, account: str) -> dict[str, object]:
    return {"request_id": f"req_{k}", "ts": (T0 + timedelta(minutes=30 * k)).isoformat(), "account_id": account,
            "ip": "198.51.100.7", "endpoint": "/v1/messages", "model": "atlas-2-fast",
            "request": {"messages": [{"role": "user", "content": "Explain step by step: solve x^2 = 4."}]},
            "response": {"text": "x = ±2", "reasoning": None, "tool_calls": None, "stop_reason": "end_turn"}}


def _record(account: str, verification: str) -> dict[str, object]:
    return {"account_id": account, "created_at": CREATED.isoformat(), "category": "education",
            "email_domain": "tutors.example.com", "country": "US", "payment_fingerprint": None,
            "signup_ip": "198.51.100.7", "verification": verification}


@pytest.mark.parametrize("replay", [False, True])
def test_decisions_see_the_standing_at_decision_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     replay: bool) -> None:
    seen: list[DecisionContext] = []

    def recording(policy: Policy, context: DecisionContext) -> Decision:
        seen.append(context)
        return decide(policy, context)

    monkeypatch.setattr(importlib.import_module("distillguard.analysis.assess"), "decide", recording)
    exchanges = tmp_path / "exchanges.jsonl"
    exchanges.write_bytes(b"".join(orjson.dumps(_exchange(k, a)) + b"\n"
                                   for k, a in enumerate(["tutor", "student", "stranger"] * 2)))
    accounts = tmp_path / "accounts.jsonl"
    accounts.write_bytes(b"".join(orjson.dumps(r) + b"\n"
                                  for r in (_record("tutor", "business"), _record("student", "email"))))
    run_settings = with_overrides(load_settings(None, environ={}), "test", db=tmp_path / "store.duckdb")
    args = (run_settings, load_policy(), load_campaign_settings(None), IpIntel(), [exchanges], [accounts],
            tmp_path / "out")
    if replay:
        replay_logs(*args, every=timedelta(hours=1))
    else:
        analyze(*args)
    last = {c.account_id: c for c in seen}
    end = T0 + timedelta(minutes=150)  # the newest exchange
    assert (last["tutor"].category, last["tutor"].verification) == ("education", "business")
    assert last["tutor"].age == end - CREATED if not replay else last["tutor"].age >= end - CREATED
    assert last["student"].verification == "email"
    stranger = last["stranger"]
    assert (stranger.category, stranger.verification, stranger.age) == (None, None, None)
    if replay:  # each step decides at its own time: the account is younger in earlier steps
        ages = sorted({c.age for c in seen if c.account_id == "tutor"})
        assert len(ages) > 1 and all(a is not None and a > timedelta(days=200) for a in ages)
