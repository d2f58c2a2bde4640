"""assess on the DuckDB store (indicators read on a twin connection and thread, from the kept per-day aggregates)
decides as assess on a plain SQL source of the same store (one thread, every read from the stored exchanges); the
timelines a run keeps (drawn on a twin while the run is saved) are those drawn afterwards."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from distillguard.accounts import IpIntel
from distillguard.analysis import analyze, assess
from distillguard.analysis.campaign_views import TIMELINE, timelines
from distillguard.analysis.stats import build_stats
from distillguard.campaigns.settings import load_campaign_settings
from distillguard.config import Settings
from distillguard.policy import load_policy
from distillguard.sim.run import simulate
from distillguard.sim.scenario import load_scenario
from distillguard.store import Store, traffic_days
from distillguard.store.campaign_views import stored_view
from distillguard.store.source import SqlStatements


class _Plain:
    """The store seen only as a SQL source: not a :class:`Store`, so no twin and no kept aggregates."""

    def __init__(self, store: Store) -> None:
        self._store = store

    @property
    def con(self) -> SqlStatements:
        return self._store.con

    def query(self, sql: str, params: list[Any] | dict[str, Any] | None = None) -> pa.Table:
        return self._store.query(sql, params)

    def registered(self, **tables: pa.Table) -> AbstractContextManager[object]:
        return self._store.registered(**tables)


def test_the_store_and_a_plain_source_of_it_decide_alike(tmp_path: Path) -> None:
    simulate(load_scenario("smoke"), tmp_path, None)
    settings = Settings(db=tmp_path / "store.duckdb")
    policy, tunables = load_policy(), load_campaign_settings()
    result = analyze(settings, policy, tunables, IpIntel(), [tmp_path / "exchanges.jsonl"],
                     [tmp_path / "accounts.jsonl"], tmp_path / "out")
    assert result.assessment is not None
    with Store(settings.db).open() as store:
        members = {c.campaign_id: list(c.accounts) for c in result.assessment.campaigns}
        drawn = {c: orjson.dumps(t).decode() for c, t in timelines(store, members).items()}  # here, after the run
        assert drawn and all(stored_view(store, str(result.run_id), c, TIMELINE) == body for c, body in drawn.items())
        stats = build_stats(store, IpIntel(), 1000)
        assert traffic_days.kept_slot(store) is not None
        end = store.query("SELECT max(ts) AS t FROM exchanges").column("t")[0].as_py()
        mine, plain = (assess(source, stats, policy, tunables=tunables, decided_at=end)
                       for source in (store, _Plain(store)))
    assert any(d.flagged for d in mine.decisions) and mine.campaigns
    assert mine.decisions == plain.decisions
    assert mine.campaigns == plain.campaigns
    assert mine.features.equals(plain.features)
