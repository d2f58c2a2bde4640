"""What the analysts' console keeps in the store: its users, its settings, its audit log, and its actions.

An action (one account, or every member of a campaign) is one transaction: an
override per account appended to ``overrides`` (the table the gateway reloads,
with the same columns and sequence as :func:`distillguard.store.enforcement.record_override`)
and one ``console_audit`` entry naming the range of overrides it wrote. Undoing
it restores, for each account whose override in force is still the one the
action wrote, the entry before it (none: the override is removed).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

import duckdb
import orjson
import pyarrow as pa

from distillguard.core.errors import StoreError
from distillguard.store.duckdb_store import Store


class ConsoleUser(NamedTuple):
    """A console user: name, argon2 hash, role, creation time, whether disabled."""

    name: str
    password_hash: str
    role: str
    created_at: datetime
    disabled: bool


class AuditEntry(NamedTuple):
    """One console audit entry (``detail`` a JSON object, or None)."""

    seq: int
    at: datetime
    actor: str
    what: str
    target: str
    reason: str | None
    detail: dict[str, Any] | None


class Applied(NamedTuple):
    """What an action wrote: its audit entry and the number of overrides."""

    audit_seq: int
    n_accounts: int


class Undone(NamedTuple):
    """What an undo wrote: its audit entry, the accounts restored, those changed since (left as they are)."""

    audit_seq: int
    restored: int
    skipped: int


_USER_COLUMNS = "name, password_hash, role, created_at, disabled"
_AUDIT_COLUMNS = "seq, recorded_at, actor, what, target, reason, detail"
_NEXT_AUDIT = "SELECT coalesce(max(seq), 0) + 1 FROM console_audit"
_INSERT_AUDIT = f"INSERT INTO console_audit ({_AUDIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
_INSERT_OVERRIDES = """
INSERT INTO overrides (seq, account_id, action, actor, reason, decided_at)
SELECT (SELECT coalesce(max(seq), 0) FROM overrides) + row_number() OVER (ORDER BY i), account_id, $action, $actor,
       $reason, $at
FROM _dg_accounts
RETURNING seq
"""
# the accounts whose override in force is still one the action wrote, with the entry before it (NULL: none)
_RESTORE = """
INSERT INTO overrides (seq, account_id, action, actor, reason, decided_at)
WITH mine AS (
    SELECT seq, account_id FROM overrides WHERE seq BETWEEN $first AND $last
), still AS (
    SELECT m.seq, m.account_id FROM mine m
    WHERE m.seq = (SELECT max(o.seq) FROM overrides o WHERE o.account_id = m.account_id)
), previous AS (
    SELECT s.account_id, o.action FROM still s
    LEFT JOIN overrides o ON o.account_id = s.account_id AND o.seq < s.seq
    QUALIFY row_number() OVER (PARTITION BY s.account_id ORDER BY o.seq DESC NULLS LAST) = 1
)
SELECT (SELECT max(seq) FROM overrides) + row_number() OVER (ORDER BY account_id), account_id, action, $actor,
       $reason, $at
FROM previous
RETURNING seq
"""
_UNDONE_BY = ("SELECT seq FROM console_audit WHERE what = 'undo' "
              "AND CAST(json_extract(detail, '$.undoes') AS BIGINT) = ? LIMIT 1")
_UNDOS = """
SELECT CAST(json_extract(detail, '$.undoes') AS BIGINT) AS action, seq FROM console_audit
WHERE what = 'undo' AND CAST(json_extract(detail, '$.undoes') AS BIGINT) IN (SELECT unnest($seqs))
"""
_KNOWN_ACCOUNT = """
SELECT EXISTS (SELECT 1 FROM decisions WHERE account_id = $id)
    OR EXISTS (SELECT 1 FROM accounts WHERE account_id = $id)
    OR EXISTS (SELECT 1 FROM exchanges WHERE account_id = $id)
"""


def _rows(store: Store, sql: str, params: list[Any] | dict[str, Any], what: str) -> list[tuple[Any, ...]]:
    try:
        return store.con.execute(sql, params).fetchall()
    except duckdb.Error as exc:
        raise StoreError(f"{store.path}: cannot read {what}: {exc}") from exc


def add_user(store: Store, user: ConsoleUser) -> bool:
    """Store a new user; False (nothing stored) if one of that name exists."""
    with store.transaction(f"console user {user.name!r} not stored") as con:
        added = con.execute(f"INSERT OR IGNORE INTO console_users ({_USER_COLUMNS}) VALUES (?, ?, ?, ?, ?) "
                            "RETURNING name", list(user)).fetchall()
    return bool(added)


def get_user(store: Store, name: str) -> ConsoleUser | None:
    """The user of that name, or None."""
    rows = _rows(store, f"SELECT {_USER_COLUMNS} FROM console_users WHERE name = ?", [name], "console users")
    return ConsoleUser(*rows[0]) if rows else None


def list_users(store: Store) -> list[ConsoleUser]:
    """Every console user, by name."""
    return [ConsoleUser(*row) for row in _rows(store, f"SELECT {_USER_COLUMNS} FROM console_users ORDER BY name", [],
                                               "console users")]


def update_user(store: Store, name: str, *, role: str | None = None, disabled: bool | None = None,
                password_hash: str | None = None) -> bool:
    """Change a user's role, disabled flag or password hash (the ones given); False if there is no such user."""
    with store.transaction(f"console user {name!r} not updated") as con:
        row = con.execute(
            "UPDATE console_users SET role = coalesce(?, role), disabled = coalesce(?, disabled), "
            "password_hash = coalesce(?, password_hash) WHERE name = ? RETURNING name",
            [role, disabled, password_hash, name]).fetchall()
    return bool(row)


def kept_setting(store: Store, name: str, value: str) -> str:
    """The setting ``name`` as stored; stored as ``value`` first when absent."""
    with store.transaction(f"console setting {name} not stored") as con:
        con.execute("INSERT OR IGNORE INTO console_settings VALUES (?, ?)", [name, value])
        row = con.execute("SELECT value FROM console_settings WHERE name = ?", [name]).fetchone()
    if row is None:
        raise StoreError(f"{store.path}: console setting {name} not stored")
    return str(row[0])


def record_audit(store: Store, at: datetime, actor: str, what: str, target: str, reason: str | None,
                 detail: dict[str, Any] | None = None) -> int:
    """Append an audit entry; its sequence number."""
    with store.transaction(f"audit entry {what} {target} not stored") as con:
        return _append_audit(con, at, actor, what, target, reason, detail)


def _append_audit(con: duckdb.DuckDBPyConnection, at: datetime, actor: str, what: str, target: str,
                  reason: str | None, detail: dict[str, Any] | None) -> int:
    row = con.execute(_NEXT_AUDIT).fetchone()
    seq = int(row[0]) if row else 1
    con.execute(_INSERT_AUDIT, [seq, at, actor, what, target, reason,
                                None if detail is None else orjson.dumps(detail).decode()])
    return seq


def audit_page(store: Store, offset: int, limit: int) -> tuple[int, list[AuditEntry]]:
    """(how many entries there are, ``limit`` of them from ``offset``, newest first)."""
    total = _rows(store, "SELECT count(*) FROM console_audit", [], "the console audit")[0][0]
    rows = _rows(store, f"SELECT {_AUDIT_COLUMNS} FROM console_audit ORDER BY seq DESC LIMIT ? OFFSET ?",
                 [limit, offset], "the console audit")
    return int(total), [_entry(row) for row in rows]


def audit_entry(store: Store, seq: int) -> AuditEntry | None:
    """The audit entry ``seq``, or None."""
    rows = _rows(store, f"SELECT {_AUDIT_COLUMNS} FROM console_audit WHERE seq = ?", [seq], "the console audit")
    return _entry(rows[0]) if rows else None


def undone_actions(store: Store, seqs: list[int]) -> dict[int, int]:
    """Of the action entries ``seqs``, those undone: action seq → the undo entry's seq."""
    rows = _rows(store, _UNDOS, {"seqs": seqs}, "the console audit")
    return {int(action): int(undo) for action, undo in rows}


def _entry(row: tuple[Any, ...]) -> AuditEntry:
    seq, at, actor, what, target, reason, detail = row
    return AuditEntry(int(seq), at, actor, what, target, reason, None if detail is None else orjson.loads(detail))


def known_account(store: Store, account_id: str) -> bool:
    """Whether the store knows the account (a decision, an account record or an exchange of it)."""
    return bool(_rows(store, _KNOWN_ACCOUNT, {"id": account_id}, f"account {account_id}")[0][0])


def apply_action(store: Store, accounts: list[str], action: str, *, actor: str, reason: str, at: datetime,
                 target: str, detail: dict[str, Any]) -> Applied:
    """Override ``accounts`` with ``action`` and record one ``action`` audit entry on ``target``, in one transaction.

    The entry's detail is ``detail`` plus the action and the range of override sequence numbers written.
    """
    if not accounts:
        raise StoreError(f"{store.path}: an action on {target} needs at least one account")
    table = pa.table({"i": pa.array(range(len(accounts)), pa.int64()), "account_id": pa.array(accounts, pa.string())})
    with store.transaction(f"action on {target} not stored", _dg_accounts=table) as con:
        seqs = [int(r[0]) for r in con.execute(
            _INSERT_OVERRIDES, {"action": action, "actor": actor, "reason": reason, "at": at}).fetchall()]
        full = {**detail, "action": action, "accounts": len(seqs), "overrides": [min(seqs), max(seqs)]}
        audit = _append_audit(con, at, actor, "action", target, reason, full)
    return Applied(audit, len(seqs))


def undo_action(store: Store, entry: AuditEntry, *, actor: str, reason: str, at: datetime) -> Undone | None:
    """Undo the action of audit ``entry`` (see the module doc) and record one ``undo`` audit entry, in one transaction.

    None (nothing written) if it was undone already; StoreError if the entry is no action.
    """
    if entry.what != "action" or entry.detail is None or "overrides" not in entry.detail:
        raise StoreError(f"{store.path}: audit entry {entry.seq} is no action")
    first, last = (int(s) for s in entry.detail["overrides"])
    total = int(entry.detail.get("accounts", last - first + 1))
    undone: Undone | None = None
    with store.transaction(f"undo of action {entry.seq} not stored") as con:
        if not con.execute(_UNDONE_BY, [entry.seq]).fetchall():
            restored = len(con.execute(_RESTORE, {"first": first, "last": last, "actor": actor, "reason": reason,
                                                  "at": at}).fetchall())
            detail = {"undoes": entry.seq, "restored": restored, "skipped": total - restored}
            undone = Undone(_append_audit(con, at, actor, "undo", entry.target, reason, detail), restored,
                            total - restored)
    return undone
