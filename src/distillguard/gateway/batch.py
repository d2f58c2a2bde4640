"""Batch results the gateway enforces: the latest run's decisions, campaigns and key table.

Read from the DuckDB store read-only (an analysis may be writing it), and
reloaded when the file changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from distillguard.core.decision import Action
from distillguard.core.errors import StoreError

_ORDER = list(Action)
_LATEST_RUN = "SELECT run_id FROM runs ORDER BY finished_at DESC NULLS LAST, started_at DESC LIMIT 1"
_DECISIONS = ("SELECT account_id, action, risk, campaign_id, reasons FROM decisions "
              "WHERE run_id = ? AND (action <> 'allow' OR campaign_id IS NOT NULL)")
_ACCOUNTS = "SELECT account_id, category, verification FROM accounts"
_KEYS = ("SELECT api_key_id, any_value(account_id) FROM exchanges "
         "WHERE api_key_id IS NOT NULL GROUP BY api_key_id")


@dataclass(frozen=True, slots=True)
class BatchVerdict:
    """One account's decision in the latest run; ``inherited`` when it comes from its campaign."""

    action: Action
    risk: float
    campaign_id: str | None
    reasons: tuple[str, ...]
    inherited: bool = False


@dataclass(frozen=True, slots=True)
class BatchResults:
    """What the latest analysis decided, and the account records and API keys the store knows."""

    run_id: str | None = None
    verdicts: dict[str, BatchVerdict] = field(default_factory=dict)
    accounts: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    key_accounts: dict[str, str] = field(default_factory=dict)


def _stronger(a: Action, b: Action) -> Action:
    return a if _ORDER.index(a) >= _ORDER.index(b) else b


def load_batch_results(db: Path) -> BatchResults:
    """Read the latest run's results from the store at ``db``; StoreError if it cannot be read."""
    if not db.exists():
        raise StoreError(f"{db}: store not found")
    try:
        con = duckdb.connect(str(db), read_only=True)
    except duckdb.Error as exc:
        raise StoreError(f"{db}: cannot open store read-only: {exc}") from exc
    try:
        latest = con.execute(_LATEST_RUN).fetchall()
        run_id = latest[0][0] if latest else None
        rows = con.execute(_DECISIONS, [run_id]).fetchall() if run_id else []
        accounts = {a: (c, v) for a, c, v in con.execute(_ACCOUNTS).fetchall()}
        keys = dict(con.execute(_KEYS).fetchall())
    except duckdb.Error as exc:
        raise StoreError(f"{db}: cannot read batch results: {exc}") from exc
    finally:
        con.close()
    known = {a.value for a in Action}
    unknown = sorted({row[1] for row in rows} - known)
    if unknown:
        raise StoreError(f"{db}: decisions of run {run_id}: unknown actions {unknown}; known: {sorted(known)}")
    campaign_action: dict[str, Action] = {}
    for _, action, _, campaign, _ in rows:
        if campaign is not None:
            campaign_action[campaign] = _stronger(Action(action), campaign_action.get(campaign, Action.ALLOW))
    verdicts = {}
    for account, action, risk, campaign, reasons in rows:
        own = Action(action)
        inherited = campaign_action.get(campaign, Action.ALLOW) if campaign else Action.ALLOW
        final = _stronger(own, inherited)
        extra = (f"member of campaign {campaign}, whose strongest action is {inherited.value}",) if final != own else ()
        if final is not Action.ALLOW:
            verdicts[account] = BatchVerdict(final, float(risk), campaign, tuple(reasons or ()) + extra, final != own)
    return BatchResults(run_id, verdicts, accounts, keys)


def store_version(db: Path) -> tuple[float, ...]:
    """Modification times of the store file and its write-ahead log (changes mean new results)."""
    times = []
    for path in (db, db.with_name(db.name + ".wal")):
        try:
            times.append(path.stat().st_mtime)
        except OSError:
            times.append(0.0)
    return tuple(times)
