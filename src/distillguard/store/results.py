"""What runs decided: decisions, campaigns and account features, written per run and read back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
import pyarrow as pa

from distillguard.core.campaign import CampaignRecord
from distillguard.store.duckdb_store import Store
from distillguard.store.runs import record_run

EVIDENCE_TYPE = pa.list_(pa.struct([("detector", pa.string()), ("score", pa.float64()), ("reason", pa.string())]))
"""How a decision's evidence is stored: ``STRUCT(detector, score, reason)[]``."""

_EARLIER_FLAGS = "SELECT account_id, min(flagged_at) AS first FROM decisions WHERE flagged GROUP BY account_id"
_MEMBERS = """
SELECT DISTINCT run_id, campaign_id, account_id FROM decisions
WHERE campaign_id IS NOT NULL AND ($run IS NULL OR run_id = $run)
"""
_RUN_CAMPAIGNS = "SELECT record FROM campaigns WHERE run_id = $run ORDER BY n_exchanges DESC, campaign_id"
_FIND_CAMPAIGN = """
SELECT c.run_id, c.record FROM campaigns c JOIN runs r USING (run_id)
WHERE c.campaign_id = $id AND ($run IS NULL OR c.run_id = $run)
ORDER BY r.finished_at DESC NULLS LAST, r.started_at DESC LIMIT 1
"""
_MEMBER_DECISIONS = """
SELECT account_id, risk, flagged FROM decisions
WHERE run_id = $run AND account_id IN (SELECT unnest($members))
"""


def save_run(store: Store, *, run_id: str, kind: str, started_at: datetime, inputs: list[str], counts: dict[str, Any],
             features: pa.Table, decisions: pa.Table, campaigns: pa.Table) -> None:
    """Keep a finished run whole or not at all: its account features, decisions, campaigns and the run record.

    ``decisions`` and ``campaigns`` carry the columns of their tables except ``run_id``.
    """
    decisions = decisions.add_column(0, "run_id", pa.array([run_id] * decisions.num_rows, pa.string()))
    campaigns = campaigns.add_column(0, "run_id", pa.array([run_id] * campaigns.num_rows, pa.string()))
    with store.transaction("run not stored", _dg_features=features, _dg_decisions=decisions,
                            _dg_campaigns=campaigns) as con:
        con.execute("CREATE OR REPLACE TABLE account_features AS SELECT * FROM _dg_features")
        for table, view, rows in (("decisions", "_dg_decisions", decisions), ("campaigns", "_dg_campaigns", campaigns)):
            if rows.num_rows:
                columns = ", ".join(f'"{c}"' for c in rows.column_names)
                con.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {view}")
        record_run(store, run_id, kind, started_at, inputs, counts)


def earlier_flags(store: Store) -> dict[str, datetime]:
    """The first time each account was flagged by any stored run."""
    rows = store.query(_EARLIER_FLAGS)
    return dict(zip(rows.column("account_id").to_pylist(), rows.column("first").to_pylist()))


def campaign_members(store: Store, run_id: str | None = None) -> pa.Table:
    """``run_id, campaign_id, account_id`` of every campaign member (of one run, or of all runs)."""
    return store.query(_MEMBERS, {"run": run_id})


def run_campaigns(store: Store, run_id: str) -> list[CampaignRecord]:
    """The campaigns of a run, most exchanges first."""
    records = store.query(_RUN_CAMPAIGNS, {"run": run_id}).column("record").to_pylist()
    return [CampaignRecord.from_json(orjson.loads(r)) for r in records]


def find_campaign(store: Store, campaign_id: str, run_id: str | None = None) -> tuple[str, CampaignRecord] | None:
    """The run id and record of the campaign in the given run, or in the newest run that holds it."""
    rows = store.query(_FIND_CAMPAIGN, {"id": campaign_id, "run": run_id}).to_pylist()
    return (rows[0]["run_id"], CampaignRecord.from_json(orjson.loads(rows[0]["record"]))) if rows else None


def member_decisions(store: Store, run_id: str, members: list[str]) -> pa.Table:
    """``account_id, risk, flagged`` of the given accounts in a run."""
    return store.query(_MEMBER_DECISIONS, {"run": run_id, "members": members})
