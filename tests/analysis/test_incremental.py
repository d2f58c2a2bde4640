"""Incremental runs: analysing a small scenario's days in several runs against one store decides as one run over all.

The store keeps each account's statistics per day and in total (``store/account_days.py``); a run reads only the
exchanges stored since the last one. Days in order, days out of order (yesterday's log after today's), and a day
split in interleaved halves (new exchanges inside a kept day) all come to the same decisions and campaigns.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import orjson
import polars as pl
import pyarrow as pa
import pytest
import yaml

from distillguard.accounts import IpIntel, Origin
from distillguard.analysis import analyze, describe_indicators, load_indicators, shared_indicators
from distillguard.analysis.run import AnalysisResult
from distillguard.analysis.stats import build_stats, population_signals
from distillguard.campaigns.indicators import ACTIVITY_BUCKET_MINUTES
from distillguard.campaigns.settings import load_campaign_settings
from distillguard.config import Settings
from distillguard.policy import load_policy
from distillguard.signals import compute_signals
from distillguard.sim.run import simulate
from distillguard.sim.scenario import load_scenario
from distillguard.store import Store, traffic_days
from factories import T0, exchange, exchanges

SMOKE = Path(__file__).resolve().parents[2] / "src" / "distillguard" / "sim" / "scenarios" / "smoke.yaml"
DAYS = ("2026-03-02", "2026-03-03", "2026-03-04")


@pytest.fixture(scope="module")
def traffic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The smoke scenario stretched over three days, its log split by UTC day (``<day>.jsonl``) and in halves."""
    root = tmp_path_factory.mktemp("incremental")
    spec = yaml.safe_load(SMOKE.read_text(encoding="utf-8"))
    spec["duration_hours"] = 24 * len(DAYS)
    (root / "scenario.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    simulate(load_scenario(str(root / "scenario.yaml")), root, None)
    lines = (root / "exchanges.jsonl").read_bytes().splitlines(keepends=True)
    for day in DAYS:
        mine = [line for line in lines if utc_day(orjson.loads(line)["ts"]) == day]
        (root / f"{day}.jsonl").write_bytes(b"".join(mine))
        (root / f"{day}-even.jsonl").write_bytes(b"".join(mine[0::2]))
        (root / f"{day}-odd.jsonl").write_bytes(b"".join(mine[1::2]))
    return root


def utc_day(ts: str | int) -> str:
    """The UTC day of a log's ``ts`` (ISO 8601, or epoch milliseconds)."""
    when = datetime.fromtimestamp(ts / 1000, UTC) if isinstance(ts, int) else datetime.fromisoformat(ts)
    return when.astimezone(UTC).date().isoformat()


def _runs(tmp_path: Path, traffic: Path, logs: list[list[str]]) -> tuple[AnalysisResult, Settings]:
    settings = Settings(db=tmp_path / "store.duckdb")
    result = None
    for n, names in enumerate(logs):
        result = analyze(settings, load_policy(), load_campaign_settings(), IpIntel(),
                         [traffic / f"{name}.jsonl" for name in names], [traffic / "accounts.jsonl"] if n == 0 else [],
                         tmp_path / f"out-{n}")
    assert result is not None
    return result, settings


Outcome = tuple[list[tuple[str, str, bool, float]], list[tuple[str, ...]]]


def _outcome(result: AnalysisResult) -> Outcome:
    assert result.assessment is not None
    decisions = [(d.account_id, d.action.value, d.flagged, round(d.risk, 6)) for d in result.assessment.decisions]
    return decisions, sorted(tuple(sorted(c.accounts)) for c in result.assessment.campaigns)


@pytest.fixture(scope="module")
def once(traffic: Path, tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    """The decisions and campaigns of one run over all three days."""
    return _outcome(_runs(tmp_path_factory.mktemp("once"), traffic, [list(DAYS)])[0])


@pytest.mark.slow
@pytest.mark.parametrize("logs", [
    [[DAYS[0]], [DAYS[1]], [DAYS[2]]],
    [[DAYS[0]], [DAYS[2]], [DAYS[1]]],
    [[f"{DAYS[0]}-even"], [f"{DAYS[0]}-odd", f"{DAYS[1]}-even"], [f"{DAYS[1]}-odd", DAYS[2]]],
], ids=["days in order", "a day late", "interleaved halves"])
def test_runs_day_by_day_decide_as_one_run(tmp_path: Path, traffic: Path, once: Outcome,
                                            logs: list[list[str]]) -> None:
    result, settings = _runs(tmp_path, traffic, logs)
    assert result.assessment is not None and any(d.flagged for d in result.assessment.decisions)
    decisions, campaigns = _outcome(result)
    assert campaigns == once[1]
    assert decisions == once[0]
    with Store(settings.db).open() as store:
        kept = build_stats(store, IpIntel(), 1000).get()
        store.con.execute("DELETE FROM account_stats_state")  # forget what is kept: build from every exchange
        fresh = build_stats(store, IpIntel(), 1000).get()
    for name in kept.column_names:
        if pa.types.is_floating(kept.schema.field(name).type):
            assert kept.column(name).to_pylist() == pytest.approx(fresh.column(name).to_pylist(), rel=1e-9), name
        else:
            assert kept.column(name) == fresh.column(name), name


class _CountingIntel(IpIntel):
    """IP intelligence that counts its address lookups, one by one or column-wise."""

    lookups = 0

    def _lookup(self, ip: str) -> Origin:
        type(self).lookups += 1
        return super()._lookup(ip)

    def _v4_origins(self, ips: pa.Array) -> np.ndarray:
        found = super()._v4_origins(ips)
        type(self).lookups += int((found >= 0).sum())
        return found


def test_each_address_is_looked_up_once_across_runs(tmp_path: Path) -> None:
    rows = [exchange(k, ip=f"81.2.69.{k % 7}", account_id=f"acct-{k % 3}") for k in range(40)]
    with Store(tmp_path / "a.duckdb").open() as store:
        batch = exchanges(rows[:20])
        store.ingest_batch(batch, compute_signals(batch))
        build_stats(store, _CountingIntel(), 1000)
        assert _CountingIntel.lookups == 7
        batch = exchanges([*rows[20:], exchange(99, ip="198.51.100.9")])
        store.ingest_batch(batch, compute_signals(batch))
        intel = _CountingIntel()  # a new run: nothing cached in the process
        stats = build_stats(store, intel, 1000)
        population_signals(store, intel)
        assert _CountingIntel.lookups == 8  # only the new address
        assert stats.get().column("n_exchanges").to_pylist() == [14, 14, 13]


def _varied(k: int) -> dict[str, object]:
    """Exchange ``k`` of five accounts over three days: addresses (IPv4 and IPv6), clients, request shapes and
    prompts vary, so that every kept aggregate has several rows per account and day."""
    return exchange(
        k, ts=T0 + timedelta(minutes=7 * k), account_id=f"acct-{k % 5}",
        ip=f"2001:db8:{k % 3}::{k % 4}" if k % 11 == 0 else f"81.2.{69 + k % 2}.{k % 9}",
        user_agent=None if k % 13 == 0 else f"client/{k % 3}", tls_ja4=None if k % 17 == 0 else "t13d_a",
        model=("atlas-2-pro", "atlas-2-mini")[k % 2], thinking_budget=(None, 1024, 8192, 16000)[k % 4],
        reasoning_effort=(None, "high", " Low", "")[k % 4 if k % 7 else 0],
        prompt=f"Translate item {k % 13} into French, step by step: {'lorem ' * (k % 5)}",
        n_user_turns=1 + k % 3,
    )


def _linking_inputs(path: Path) -> dict[str, object]:
    """What linking and the population signals read from the store at ``path``, in comparable form."""
    with Store(path).open() as store:
        indicators = load_indicators(store)
        ids = indicators.accounts.to_list()
        return {
            "accounts": ids,
            "indicators": indicators.table.sort(pl.all()).to_dicts(),
            "starts": indicators.starts.sort(pl.all()).to_dicts(),
            "population": population_signals(store, IpIntel()).to_pylist(),
            "shared": shared_indicators(store, {"c-1": ids[:3], "c-2": ids[3:]}).sort(pl.all()).to_dicts(),
            "described": describe_indicators(store, ids[1:3]).sort(pl.all()).to_dicts(),
        }


def _kept_tables(path: Path) -> dict[str, list[dict[str, object]]]:
    with Store(path).open() as store:
        return {table: store.query(f"SELECT * FROM {table} ORDER BY ALL").to_pylist()
                for table in ("day_addresses", "day_clients", "day_requests", "day_templates", "day_slots")}


def test_runs_day_by_day_keep_the_linking_inputs_of_one_pass(tmp_path: Path) -> None:
    rows = [_varied(k) for k in range(600)]
    days = [[r for r in rows if r["ts"].date() == T0.date() + timedelta(days=d)] for d in range(3)]
    path = tmp_path / "store.duckdb"
    # day 1 with half of day 2, then day 3, then the rest of day 2: a late day, and new rows inside a kept day
    with Store(path).open() as store:
        for batch_rows in ([*days[0], *days[1][0::2]], days[2], days[1][1::2]):
            batch = exchanges(batch_rows)
            store.ingest_batch(batch, compute_signals(batch))
            build_stats(store, IpIntel(), 1000)
        assert traffic_days.kept_slot(store) == ACTIVITY_BUCKET_MINUTES * 60
        assert store.query("SELECT count(DISTINCT day) AS n FROM day_slots").column("n")[0].as_py() == 3
    kept, folded = _linking_inputs(path), _kept_tables(path)
    with Store(path).open() as store:
        store.con.execute("DELETE FROM traffic_days_state")  # the aggregates no longer hold every row: not read
        assert traffic_days.kept_slot(store) is None
    scanned = _linking_inputs(path)
    for name, value in kept.items():
        assert value == scanned[name], name
    with Store(path).open() as store:
        assert traffic_days.fold(store, ACTIVITY_BUCKET_MINUTES * 60).since == 0  # made again from every exchange
    assert _kept_tables(path) == folded


def test_new_exchanges_make_the_kept_aggregates_stale(tmp_path: Path) -> None:
    with Store(tmp_path / "a.duckdb").open() as store:
        batch = exchanges([_varied(k) for k in range(20)])
        store.ingest_batch(batch, compute_signals(batch))
        build_stats(store, IpIntel(), 1000)
        assert traffic_days.kept_slot(store) == ACTIVITY_BUCKET_MINUTES * 60
        batch = exchanges([_varied(k) for k in range(20, 30)])
        store.ingest_batch(batch, compute_signals(batch))
        assert traffic_days.kept_slot(store) is None  # read from the exchanges until folded in
        assert traffic_days.fold(store, 60).since == 0  # another slot: made again
        assert traffic_days.kept_slot(store) == 60
