"""Benchmark incremental analysis: one ``analyze`` per simulated day against the same store.

    python bench/bench_incremental.py --corpus ../shared/data/prompts --intel ../shared/data/intel
    python bench/bench_incremental.py --traffic /tmp/w/traffic --check

Simulates ``--days`` days (and one hour more) of the ``dev`` scenario's populations and campaigns
(``--scale`` times its volumes), splits the log by UTC day (the account records by the day they were
created), then runs ``analyze`` on each day's log in turn against one store, as a provider's daily job
would. Then an hourly job: a run with no new data, and one with the hour after the last day. Prints per
run the new and stored exchanges, the accounts decided, the seconds spent ingesting, building the account
statistics and assessing and saving (the rest), their ratios to run 1, and the last daily run's ratios to
the first. Then, on the final store, the reads linking and the population signals make (indicators,
population signals, the campaigns' shared indicators) timed from the kept per-day traffic aggregates and
from every stored exchange, alternated, median of ``--repeats``. ``--check`` also analyses all the days in
one run on a fresh store and compares the decisions and campaigns with the last daily run's.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

import orjson
import yaml
from rich.console import Console
from rich.table import Table

from distillguard.accounts import IpIntel
from distillguard.analysis.indicators import load_indicators, shared_indicators
from distillguard.analysis.run import AnalysisResult, analyze
from distillguard.analysis.stats import population_signals
from distillguard.campaigns.settings import load_campaign_settings
from distillguard.config import Settings
from distillguard.policy import load_policy
from distillguard.sim.run import simulate
from distillguard.sim.scenario import load_scenario
from distillguard.store import Store

SCENARIO = Path(__file__).resolve().parents[1] / "src" / "distillguard" / "sim" / "scenarios" / "dev.yaml"


def _scenario(days: int, scale: float, out: Path) -> Path:
    """``dev`` stretched over ``days`` days and an hour, volumes times ``scale``, written to ``out``."""
    spec = yaml.safe_load(SCENARIO.read_text(encoding="utf-8"))
    spec["name"], spec["duration_hours"] = f"dev-{days}d", days * 24 + 1
    spec["description"] = f"dev over {days} days and an hour (incremental bench)"
    for group in (*spec["populations"], *spec["campaigns"]):
        group["exchanges"] = max(1, round(group["exchanges"] * scale))
    out.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return out


def _split(path: Path, field: str, out: Path, days: list[str], pre: str, post: str) -> dict[str, Path]:
    """Write each line of ``path`` to ``out/<day>.jsonl`` by the UTC day of ``field`` (before ``days[0]``: into
    ``pre``; after ``days[-1]``: into ``post``, each a key of the result); return the files by key."""
    files = {key: out / f"{key}.jsonl" for key in (*days, pre, post)}
    first, last = days[0], days[-1]
    with ExitStack() as stack:
        handles: dict[str, IO[bytes]] = {key: stack.enter_context(p.open("wb")) for key, p in files.items()}
        for line in _lines(path):
            value = orjson.loads(line).get(field)
            day = first if value is None else _utc_day(value)
            key = pre if day < first else post if day > last else day
            handles[key].write(line)
    return files


def _utc_day(ts: str | int) -> str:
    """The UTC day of a log's time (ISO 8601, or epoch milliseconds)."""
    when = datetime.fromtimestamp(ts / 1000, UTC) if isinstance(ts, int) else datetime.fromisoformat(ts)
    return when.astimezone(UTC).date().isoformat()


def _lines(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        yield from fh


class _Phases:
    """A progress factory that times each phase of a run by name."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str, total: int) -> Iterator[Callable[[int], None]]:
        started = time.perf_counter()
        yield lambda n: None
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started


def _run(settings: Settings, intel: IpIntel, logs: list[Path], accounts: list[Path],
         out: Path) -> tuple[AnalysisResult, float, float]:
    """One analyze: its result, wall time and the time building the account statistics."""
    phases = _Phases()
    started = time.perf_counter()
    result = analyze(settings, load_policy(), load_campaign_settings(), intel, logs, accounts, out, phases)
    return result, time.perf_counter() - started, phases.seconds.get("account fingerprints", 0.0)


def _outcome(result: AnalysisResult) -> tuple[dict[str, tuple[str, bool]], list[tuple[str, ...]]]:
    """Each account's action and flag, and the campaigns as sorted member tuples."""
    if result.assessment is None:
        return {}, []
    decisions = {d.account_id: (d.action.value, d.flagged) for d in result.assessment.decisions}
    return decisions, sorted(tuple(sorted(c.accounts)) for c in result.assessment.campaigns)


def _read_seconds(path: Path, intel: IpIntel, members: dict[str, list[str]], kept: bool) -> float:
    """Seconds of the linking and population reads of a fresh connection to the store at ``path``, from the kept
    traffic aggregates or (``kept`` False: their state forgotten in a transaction rolled back after) every exchange."""
    with Store(path).open() as store:
        if not kept:
            store.con.begin()
            store.con.execute("DELETE FROM traffic_days_state")
        started = time.perf_counter()
        load_indicators(store)
        population_signals(store, intel)
        shared_indicators(store, members)
        seconds = time.perf_counter() - started
        if not kept:
            store.con.rollback()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--scale", type=float, default=1.0, help="Multiplies the dev scenario's exchanges.")
    parser.add_argument("--corpus", type=Path, default=Path("../shared/data/prompts"))
    parser.add_argument("--intel", type=Path, default=Path("../shared/data/intel"))
    parser.add_argument("--traffic", type=Path, help="A simulated traffic directory to reuse (else simulated).")
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench-incremental"))
    parser.add_argument("--check", action="store_true", help="Also analyse all days in one run and compare.")
    parser.add_argument("--repeats", type=int, default=5, help="Times each way of reading is timed.")
    args = parser.parse_args()
    console = Console(width=150)
    shutil.rmtree(args.work / "runs", ignore_errors=True)
    (args.work / "runs").mkdir(parents=True)
    traffic = args.traffic or args.work / "traffic"
    if args.traffic is None:
        spec = _scenario(args.days, args.scale, args.work / "scenario.yaml")
        shutil.rmtree(traffic, ignore_errors=True)
        started = time.perf_counter()
        simulate(load_scenario(str(spec)), traffic, corpus_dir=args.corpus if args.corpus.is_dir() else None,
                 intel_dir=args.intel if args.intel.is_dir() else None)
        console.print(f"simulated {spec} in {time.perf_counter() - started:.0f} s")
    start = load_scenario(str(traffic / "scenario.yaml")).start.date()
    day_names = [str(start + timedelta(days=i)) for i in range(args.days)]
    split = args.work / "split"
    shutil.rmtree(split, ignore_errors=True)
    (split / "exchanges").mkdir(parents=True)
    (split / "accounts").mkdir()
    logs = _split(traffic / "exchanges.jsonl", "ts", split / "exchanges", day_names, "before", "after")
    records = _split(traffic / "accounts.jsonl", "created_at", split / "accounts", day_names, "before", "after")

    intel = IpIntel.load(args.intel if args.intel.is_dir() else None)
    settings = Settings(db=args.work / "runs" / "store.duckdb", intel_dir=args.intel if args.intel.is_dir() else None)
    table = Table(title=f"analyze once per day against one store ({args.days} days, then hourly)")
    for name in ("run", "data", "new exchanges", "stored", "accounts", "ingest s", "statistics s", "assess s",
                 "wall s", "wall / run 1", "statistics / run 1", "assess / run 1"):
        table.add_column(name, justify="right")
    plan: list[tuple[str, list[Path], list[Path]]] = []
    for i, day in enumerate(day_names):
        accounts = [records["before"], records[day]] if i == 0 else [records[day]]
        plan.append((day, [logs[day]], accounts + ([records["after"]] if i == len(day_names) - 1 else [])))
    plan += [("no new data", [], []), ("the next hour", [logs["after"]], [])]
    first: tuple[float, float, float] | None = None
    last: AnalysisResult | None = None
    for n, (label, day_logs, accounts) in enumerate(plan, 1):
        result, wall, stats = _run(settings, intel, day_logs, accounts, args.work / "runs" / f"out-{n}")
        rest = wall - result.counts.seconds - stats
        first = first or (wall, stats, rest)
        if n == len(day_names):
            last = result
        n_accounts = len(result.assessment.decisions) if result.assessment else 0
        table.add_row(str(n), label, f"{result.counts.new:,}", f"{result.n_stored:,}", f"{n_accounts:,}",
                      f"{result.counts.seconds:.1f}", f"{stats:.2f}", f"{rest:.1f}", f"{wall:.1f}",
                      f"{wall / first[0]:.2f}", f"{stats / first[1]:.2f}", f"{rest / first[2]:.2f}")
        if n == len(day_names):
            summary = (f"run {n} vs run 1: wall {wall / first[0]:.2f}x, account statistics {stats / first[1]:.2f}x, "
                       f"assess and save {rest / first[2]:.2f}x")
    console.print(table)
    console.print(summary)
    if last is not None and last.assessment is not None:
        members = {c.campaign_id: list(c.accounts) for c in last.assessment.campaigns}
        timed: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(args.repeats):
            for kept in (True, False):
                timed[kept].append(_read_seconds(settings.db, intel, members, kept))
        kept_s, scan_s = statistics.median(timed[True]), statistics.median(timed[False])
        console.print(f"linking and population reads on the final store (median of {args.repeats}): kept aggregates "
                      f"{kept_s:.2f} s, every stored exchange {scan_s:.2f} s ({kept_s / scan_s:.2f}x)")
    if args.check and last is not None:
        every = [logs[d] for d in day_names]
        once = Settings(db=args.work / "runs" / "once.duckdb", intel_dir=settings.intel_dir)
        result, wall, _ = _run(once, intel, every, [records["before"], *(records[d] for d in day_names), records["after"]],
                            args.work / "runs" / "out-once")
        same = _outcome(result) == _outcome(last)
        console.print(f"all {len(day_names)} days in one run: {result.counts.new:,} exchanges in {wall:.1f} s; "
                      f"decisions and campaigns {'identical' if same else 'DIFFER'} to the daily runs'")
        if not same:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
