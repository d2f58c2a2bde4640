"""The whole pipeline on degenerate logs: none, one or a few accounts, one exchange, one second, missing parts.

A property test draws small logs (0–6 accounts, 1–30 exchanges, any of the request and response shapes the
readers take, timestamps possibly all equal, with or without account records and responses, some records
broken) and runs the analysis and the replay over them: neither may crash, every account with a stored
exchange gets exactly one decision, campaigns name only those accounts, and every broken record is counted
as a reject.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from distillguard.accounts import IpIntel
from distillguard.analysis import AnalysisResult, analyze, describe_indicators, replay_logs
from distillguard.campaigns.settings import load_campaign_settings
from distillguard.config import load_settings
from distillguard.config.settings import with_overrides
from distillguard.policy import load_policy
from distillguard.store import Store

T0_MS = 1_772_442_902_114  # 2026-03-02T09:15:02.114Z

PROMPTS = [
    "Solve x^2 = 4.",
    "Think step by step and show your complete reasoning before the final answer: what is 17 * 23?",
    "Write a Python function that merges two sorted lists.",
    "hello",
    "Translate 'good morning' into French.",
]
IPS = ["198.51.100.7", "198.51.100.8", "203.0.113.200", "2001:db8::17", "10.0.0.1"]
AGENTS = ["anthropic-python/0.49.0", "OpenAI/Python 1.66.3", "curl/8.5.0", "Mozilla/5.0"]


def _anthropic(prompt: str, with_response: bool) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "endpoint": "/v1/messages",
        "request": {"model": "atlas-2-pro", "max_tokens": 4096, "system": "You are terse.",
                    "thinking": {"type": "enabled", "budget_tokens": 8000},
                    "messages": [{"role": "user", "content": [{"type": "text", "text": prompt}]}]},
        "usage": {"input_tokens": 40, "output_tokens": 120},
    }
    if with_response:
        rec["response"] = {"content": [{"type": "thinking", "thinking": "Work it out.", "signature": "sig"},
                                       {"type": "text", "text": "Done."}], "stop_reason": "end_turn"}
    return rec


def _chat(prompt: str, with_response: bool) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "endpoint": "/v1/chat/completions",
        "request": {"model": "atlas-2-fast", "reasoning_effort": "high",
                    "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": prompt}]},
        "usage": {"prompt_tokens": 12, "completion_tokens": 40, "completion_tokens_details": {"reasoning_tokens": 30}},
    }
    if with_response:
        rec["response"] = {"choices": [{"index": 0, "finish_reason": "stop", "message": {
            "role": "assistant", "content": "7", "reasoning_content": "Small primes: 2, 3, 5, 7."}}]}
    return rec


def _simple(prompt: str, with_response: bool) -> dict[str, Any]:
    rec: dict[str, Any] = {"endpoint": "/v1/messages", "model": "atlas-2-fast",
                           "request": {"messages": [{"role": "user", "content": prompt}]}}
    if with_response:
        rec["response"] = {"text": "Sure.", "reasoning": None, "tool_calls": None, "stop_reason": "end_turn"}
        rec["usage"] = {"input_tokens": 3, "output_tokens": 7}
    return rec


SHAPES = {"anthropic": _anthropic, "chat": _chat, "simple": _simple}


def _epoch_ms(ms: int) -> int:
    return ms


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone(timedelta(hours=1))).isoformat()


@dataclass
class Log:
    """A drawn log: its exchange records (the ``broken`` ones, by index, cannot be read) and account records."""

    exchanges: list[dict[str, Any]]
    broken: set[int]
    accounts: list[dict[str, Any]] | None


@st.composite
def logs(draw: st.DrawFn) -> Log:
    """A small log, some records broken, some sent twice."""
    n_accounts = draw(st.integers(0, 6))
    names = [f"acct_{k}" for k in range(n_accounts)]
    n = draw(st.integers(1, 30))
    same_second = draw(st.booleans())
    responses = draw(st.sampled_from(["all", "none", "some"]))
    exchanges: list[dict[str, Any]] = []
    broken: set[int] = set()
    for k in range(n):
        if exchanges and draw(st.integers(0, 9)) == 0:  # the same record again: a duplicate, not a reject
            if k - 1 in broken:
                broken.add(k)
            exchanges.append(exchanges[-1])
            continue
        with_response = responses == "all" or (responses == "some" and draw(st.booleans()))
        rec = SHAPES[draw(st.sampled_from(sorted(SHAPES)))](draw(st.sampled_from(PROMPTS)), with_response)
        offset = 0 if same_second else draw(st.integers(0, 8 * 3_600_000))  # replay re-decides every hour
        rec |= {
            "request_id": f"req_{k}",
            "ts": draw(st.sampled_from([_iso, _epoch_ms]))(T0_MS + offset),
            "account_id": draw(st.sampled_from(names)) if names else "acct_0",
            "ip": draw(st.sampled_from(IPS)),
        }
        if draw(st.booleans()):
            rec |= {"user_agent": draw(st.sampled_from(AGENTS)), "api_key_id": f"key_{rec['account_id']}"}
        if draw(st.booleans()):
            rec["tls_ja4"] = draw(st.sampled_from(["t13d1715h2_5b57614c22b0_3d5424432f57", "t13d1516h2_8daaf6152771"]))
        if not with_response and draw(st.booleans()):
            rec["status"] = draw(st.sampled_from([200, 429, 500]))
        if not names or draw(st.integers(0, 9)) == 0:  # a required field missing, or a timestamp without a zone
            spoilt = draw(st.sampled_from(["ip", "request", "account_id", "ts"]))
            rec[spoilt] = "2026-03-02T09:15:02" if spoilt == "ts" else None
            broken.add(k)
        exchanges.append(rec)
    accounts = None
    if draw(st.booleans()):
        chosen = draw(st.lists(st.sampled_from(names), unique=True)) if names else []
        accounts = [{
            "account_id": name,
            "created_at": draw(st.sampled_from(["2024-06-10T08:00:00Z", "2026-03-02T09:00:00Z"])),
            "category": draw(st.sampled_from(["individual", "research", "education", "enterprise", "startup"])),
            "email_domain": draw(st.sampled_from(["gmail.com", "lab.example.edu"])),
            "country": "US",
            "payment_fingerprint": draw(st.sampled_from(["pf_1", "pf_2", None])),
            "signup_ip": draw(st.sampled_from(IPS)),
            "verification": draw(st.sampled_from(["email", "phone", "business"])),
        } for name in chosen]
    return Log(exchanges, broken, accounts)


def _write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


def _lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def _check(result: AnalysisResult, log: Log, out: Path) -> None:
    """Rejects counted (the broken records among them), one decision per stored account, campaigns of those."""
    rejects = _lines(out / "rejects.jsonl") if (out / "rejects.jsonl").exists() else []
    rejected = {r["line"] - 1 for r in rejects}
    assert log.broken <= rejected
    assert result.counts.rejected == len(rejected) == len(rejects)
    kept = [rec for k, rec in enumerate(log.exchanges) if k not in rejected]
    assert result.n_stored == result.counts.new == len({rec["request_id"] for rec in kept})
    assert result.counts.duplicates == len(kept) - result.n_stored
    stored_accounts = {rec["account_id"] for rec in kept}
    decisions = _lines(out / "accounts.jsonl")
    assert sorted(d["account_id"] for d in decisions) == sorted(stored_accounts)
    campaigns = _lines(out / "campaigns.jsonl")
    for c in campaigns:
        assert set(c["accounts"]) <= stored_accounts
    campaign_ids = {c["campaign_id"] for c in campaigns}
    for d in decisions:
        assert 0.0 <= d["risk"] <= 1.0
        assert d["campaign_id"] is None or d["campaign_id"] in campaign_ids


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(log=logs(), replay=st.booleans())
def test_pipeline_never_crashes_on_small_logs(tmp_path_factory: pytest.TempPathFactory, log: Log,
                                              replay: bool) -> None:
    d = tmp_path_factory.mktemp("log")
    exchanges = _write(d / "exchanges.jsonl", log.exchanges)
    accounts = [_write(d / "accounts.jsonl", log.accounts)] if log.accounts is not None else []
    run_settings = with_overrides(load_settings(None, environ={}), "test", db=d / "store.duckdb")
    args = (run_settings, load_policy(), load_campaign_settings(None), IpIntel(), [exchanges], accounts, d / "out")
    if replay:
        result = replay_logs(*args, every=timedelta(hours=1))
        if result.assessment is None:  # nothing stored: nothing to replay, nothing written
            assert result.n_stored == 0 and result.counts.rejected == len(log.exchanges)
            return
    else:
        result = analyze(*args)
    _check(result, log, d / "out")


def test_a_log_without_client_fields_links_no_one_by_client(tmp_path: Path) -> None:
    """Accounts that log neither user agent nor TLS fingerprint share no client: an absent field is no indicator."""
    log = [_simple(PROMPTS[1], True) | {"request_id": f"req_{k}", "ts": T0_MS, "account_id": f"acct_{k % 3}",
                                        "ip": IPS[k % 3]} for k in range(9)]
    run_settings = with_overrides(load_settings(None, environ={}), "test", db=tmp_path / "store.duckdb")
    analyze(run_settings, load_policy(), load_campaign_settings(None), IpIntel(),
            [_write(tmp_path / "exchanges.jsonl", log)], [], tmp_path / "out")
    with Store(tmp_path / "store.duckdb").open() as store:
        kinds = set(describe_indicators(store, ["acct_0", "acct_1", "acct_2"]).get_column("kind").to_list())
    assert "client" not in kinds
    assert {"ip", "template", "active"} <= kinds
