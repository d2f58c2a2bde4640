"""The signups the signup assessor learns from: the newest accounts and the latest run's flagged local parts."""

from __future__ import annotations

import pyarrow as pa

from distillguard.store.duckdb_store import Store
from distillguard.store.runs import latest_run_id

_RECENT_SIGNUPS = """
    SELECT account_id, epoch_ms(created_at) AS at, email_local, email_domain, signup_ip, payment_fingerprint
    FROM accounts WHERE created_at IS NOT NULL ORDER BY created_at DESC LIMIT ?
"""
_FLAGGED_LOCALS = """
    SELECT a.email_local, epoch_ms(d.flagged_at) AS at
    FROM decisions d JOIN accounts a USING (account_id)
    WHERE d.run_id = ? AND d.flagged AND a.email_local IS NOT NULL AND a.email_local <> ''
    ORDER BY d.flagged_at DESC NULLS LAST LIMIT ?
"""
_FLAGGED_LOCALS_COLUMNS = pa.schema([("email_local", pa.string()), ("at", pa.int64())])


def recent_signups(store: Store, limit: int) -> pa.Table:
    """The ``limit`` most recently created accounts, newest first: ``account_id, at`` (creation, epoch ms),
    ``email_local, email_domain, signup_ip, payment_fingerprint``."""
    return store.query(_RECENT_SIGNUPS, [limit])


def latest_flagged_locals(store: Store, limit: int) -> pa.Table:
    """E-mail local parts of the accounts the latest run flagged, most recently flagged first, at most
    ``limit``: ``email_local, at`` (when flagged, epoch ms, or null). Empty when the store holds no run."""
    run_id = latest_run_id(store) if limit > 0 else None
    if run_id is None:
        return _FLAGGED_LOCALS_COLUMNS.empty_table()
    return store.query(_FLAGGED_LOCALS, [run_id, limit])


__all__ = ["latest_flagged_locals", "recent_signups"]
