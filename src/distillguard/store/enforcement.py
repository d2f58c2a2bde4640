"""What the gateway reads from the store to enforce: a run's decisions, the account records, the API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

import duckdb

from distillguard.core.campaign import ONE_CUSTOMER_DETECTORS
from distillguard.core.errors import StoreError
from distillguard.store.duckdb_store import Store

_DECISIONS = ("SELECT d.account_id, d.action, d.risk, d.campaign_id, d.reasons, d.evidence, "
              "coalesce(list_has_any(json_extract_string(c.record, '$.findings[*].detector'), ?), false) "
              "FROM decisions d LEFT JOIN campaigns c ON c.run_id = d.run_id AND c.campaign_id = d.campaign_id "
              "WHERE d.run_id = ? AND (d.action <> 'allow' OR d.campaign_id IS NOT NULL) ORDER BY d.account_id")
_ACCOUNTS = "SELECT account_id, category, verification, created_at FROM accounts"
_KEYS = ("SELECT api_key_id, any_value(account_id) FROM exchanges "
         "WHERE api_key_id IS NOT NULL GROUP BY api_key_id")


class StoredDecision(NamedTuple):
    """One account's decision as a run stored it (``action`` as stored: the caller checks it)."""

    account_id: str
    action: str
    risk: float
    campaign_id: str | None
    reasons: list[str] | None
    evidence: list[dict[str, Any]] | None
    """``{detector, score, reason}`` items; None for runs stored before evidence kept its provenance."""
    one_customer: bool = False
    """Whether its campaign is one customer's accounts (its record holds evidence of :data:`ONE_CUSTOMER_DETECTORS`)."""


def enforceable_decisions(store: Store, run_id: str) -> list[StoredDecision]:
    """The decisions of ``run_id`` that act on their account or tie it to a campaign."""
    return [StoredDecision(*row) for row in _rows(store, _DECISIONS, [list(ONE_CUSTOMER_DETECTORS), run_id],
                                                  f"decisions of run {run_id}")]


class AccountRecord(NamedTuple):
    """What an account record says of an account's standing (None: not recorded)."""

    category: str | None
    verification: str | None
    created_at: datetime | None


def account_records(store: Store) -> dict[str, AccountRecord]:
    """Account id → its record's category, verification and creation time, of every account record in the store."""
    return {str(account): AccountRecord(category, verification, created_at)
            for account, category, verification, created_at in _rows(store, _ACCOUNTS, [], "account records")}


def key_accounts(store: Store) -> dict[str, str]:
    """API key id → the account it belongs to, from the stored exchanges."""
    return {str(key): str(account) for key, account in _rows(store, _KEYS, [], "API keys")}


def _rows(store: Store, sql: str, params: list[Any], what: str) -> list[tuple[Any, ...]]:
    try:
        return store.con.execute(sql, params).fetchall()
    except duckdb.Error as exc:
        raise StoreError(f"{store.path}: cannot read {what}: {exc}") from exc


class StoredOverride(NamedTuple):
    """One audit entry of the administrators' overrides (``action`` None: the override was removed)."""

    seq: int
    account_id: str
    action: str | None
    actor: str
    reason: str | None
    decided_at: datetime


_OVERRIDE_COLUMNS = "seq, account_id, action, actor, reason, decided_at"
_LATEST_OVERRIDES = (f"SELECT {_OVERRIDE_COLUMNS} FROM overrides "
                     "QUALIFY row_number() OVER (PARTITION BY account_id ORDER BY seq DESC) = 1")


def record_override(store: Store, account_id: str, action: str | None, actor: str, reason: str | None,
                    decided_at: datetime) -> int:
    """Append an override (None removes it) with its audit fields, in one transaction; its sequence number."""
    with store.transaction(f"override of {account_id} not stored") as con:
        row = con.execute(
            f"INSERT INTO overrides ({_OVERRIDE_COLUMNS}) "
            "SELECT coalesce(max(seq), 0) + 1, ?, ?, ?, ?, ? FROM overrides RETURNING seq",
            [account_id, action, actor, reason, decided_at]).fetchone()
    if row is None:
        raise StoreError(f"{store.path}: override of {account_id} not stored")
    return int(row[0])


def latest_overrides(store: Store) -> tuple[int, list[StoredOverride]]:
    """(the last sequence number, each account's latest entry, removals included)."""
    rows = [StoredOverride(*row) for row in _rows(store, _LATEST_OVERRIDES, [], "overrides")]
    return max((r.seq for r in rows), default=0), rows


def override_history(store: Store, account_id: str) -> list[StoredOverride]:
    """Every override entry of ``account_id``, oldest first."""
    sql = f"SELECT {_OVERRIDE_COLUMNS} FROM overrides WHERE account_id = ? ORDER BY seq"
    return [StoredOverride(*row) for row in _rows(store, sql, [account_id], f"overrides of {account_id}")]
