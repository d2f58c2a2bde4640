"""The account sketches are keyed with the store's secret: a harvester that grinds its prompts against the public
code's hash, so that a few hundred new tasks fill a handful of registers and read as an evaluator's reruns, is
still flagged by ``analyze``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pytest

from distillguard.accounts import AccountStats, IpIntel, stat_input
from distillguard.accounts.sketch import TASK_PRECISION, UNKEYED
from distillguard.analysis import analyze
from distillguard.analysis.stats import SKETCH_KEY_ENV, sketch_key
from distillguard.campaigns.settings import load_campaign_settings
from distillguard.config import load_settings
from distillguard.config.settings import with_overrides
from distillguard.ingest import read_exchanges
from distillguard.policy import load_policy
from distillguard.signals import compute_signals
from distillguard.signals.fingerprint import fold_hash
from distillguard.store import Store

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TASKS = 200
REGISTERS = 6  # of the public task sketch's 512 that the grinder aims every prompt at


def _public_register(text: str) -> tuple[int, int]:
    """The task sketch's register a prompt lands in under the public (unkeyed) hash, and the next bit (1: the lowest
    rank)."""
    h = int(UNKEYED.hashes(np.array([fold_hash(text)], np.uint64))[0])
    return h >> (64 - TASK_PRECISION), (h >> (63 - TASK_PRECISION)) & 1


def _ground(task: str) -> str:
    """``task`` with the first nonce that puts it in one of the aimed registers at rank 1 (about 170 tries)."""
    for nonce in range(10_000):
        text = f"{task} [ref {nonce}]"
        register, top = _public_register(text)
        if register < REGISTERS and top == 1:
            return text
    raise AssertionError("no nonce found")


def _exchange(k: int, account: str, prompt: str, reasoning: str | None) -> dict[str, object]:
    return {"request_id": f"{account}-{k}", "ts": (T0 + timedelta(minutes=5 * k)).isoformat(), "account_id": account,
            "ip": "198.51.100.7", "endpoint": "/v1/messages",
            "model": "atlas-2-pro", "user_agent": "anthropic-python/0.49.0",
            "request": {"messages": [{"role": "user", "content": prompt}]},
            "response": {"text": "The answer follows.", "reasoning": reasoning, "tool_calls": None,
                         "stop_reason": "end_turn"}}


def _log(path: Path) -> Path:
    trace = "First, restate the problem. Then work through each case carefully, checking every step. " * 6
    rows = [_exchange(k, "grinder", _ground(f"Think step by step and show your complete reasoning: what is "
                                            f"{100 + k} times {7 + 3 * k} minus {k * k}?"), trace)
            for k in range(TASKS)]
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


def test_a_harvester_grinding_its_prompts_against_the_public_hash_is_flagged(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SKETCH_KEY_ENV, raising=False)
    log = _log(tmp_path / "exchanges.jsonl")
    table = pa.concat_tables([b.table for b in read_exchanges(log)])
    public = AccountStats()
    public.update(stat_input(table, compute_signals(table)))
    grinder = public.get().filter(pa.compute.equal(public.get().column("account_id"), "grinder")).to_pylist()[0]
    assert grinder["tasks"] == TASKS and grinder["distinct_tasks"] < 2 * REGISTERS  # unkeyed, the grinding works

    settings = with_overrides(load_settings(None, environ={}), "test", db=tmp_path / "store.duckdb")
    result = analyze(settings, load_policy(), load_campaign_settings(None), IpIntel(), [log], [], tmp_path / "out")
    assert result.assessment is not None
    decisions = {d.account_id: d for d in result.assessment.decisions}
    assert decisions["grinder"].flagged, decisions["grinder"]
    assert decisions["grinder"].evidence[0].detector == "account.counted_elicitation"


def test_each_store_keeps_a_key_of_its_own_unless_one_is_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SKETCH_KEY_ENV, raising=False)
    with Store(tmp_path / "a.duckdb").open() as a, Store(tmp_path / "b.duckdb").open() as b:
        first = sketch_key(a)
        assert first != UNKEYED and first != sketch_key(b)
    with Store(tmp_path / "a.duckdb").open() as a:
        assert sketch_key(a) == first
        monkeypatch.setenv(SKETCH_KEY_ENV, "a deployment's own secret")
        assert sketch_key(a) != first
        with Store(tmp_path / "b.duckdb").open() as b:
            assert sketch_key(a) == sketch_key(b)
