"""Incremental runs: analysing a small scenario's days in several runs against one store decides as one run over all.

The store keeps each account's statistics per day and in total (``store/account_days.py``); a run reads only the
exchanges stored since the last one. Days in order, days out of order (yesterday's log after today's), and a day
split in interleaved halves (new exchanges inside a kept day) all come to the same decisions and campaigns.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pyarrow as pa
import pytest
import yaml

from distillguard.accounts import IpIntel, Origin
from distillguard.analysis import analyze
from distillguard.analysis.run import AnalysisResult
from distillguard.analysis.stats import build_stats, population_signals
from distillguard.campaigns.settings import load_campaign_settings
from distillguard.config import Settings
from distillguard.policy import load_policy
from distillguard.signals import compute_signals
from distillguard.sim.run import simulate
from distillguard.sim.scenario import load_scenario
from distillguard.store import Store
from factories import exchange, exchanges

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
    """IP intelligence that counts its address lookups."""

    lookups = 0

    def _lookup(self, ip: str) -> Origin:
        type(self).lookups += 1
        return super()._lookup(ip)


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
