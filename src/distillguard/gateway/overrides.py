"""Administrators' overrides: durable in the store, shared with every replica through the online state.

An override is written to the store first (table ``overrides``: one audit
entry per change, who, when, action, reason) in a short write transaction on
a connection of its own, and is in force only once stored. The gateway opens
the store read-only otherwise; DuckDB has one writing process at a time, so
a write waits (``admin_write_timeout_s``) while an analysis holds the store.
The set in force carries the sequence number of its last change: a shared
copy older than the store's (Redis restarted empty, or from an old snapshot)
is replaced by the store's, and re-seeded.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson

from distillguard.core.decision import Action
from distillguard.core.errors import StoreError
from distillguard.store import Store
from distillguard.store.enforcement import StoredOverride, latest_overrides, override_history, record_override

STORE_LOCK = threading.Lock()
"""Serialises this process's connections to the store: DuckDB refuses a read-only and a writing one at once."""
_RETRY_S = 0.05


@dataclass(frozen=True, slots=True)
class Overrides:
    """The overrides in force (account → action) and the sequence number of the last change."""

    seq: int = 0
    actions: dict[str, Action] = field(default_factory=dict)

    def dump(self) -> bytes:
        """The blob shared through the online state."""
        return orjson.dumps({"seq": self.seq, "actions": {a: o.value for a, o in self.actions.items()}})

    @classmethod
    def load(cls, blob: bytes | None) -> Overrides | None:
        """The set :meth:`dump` wrote; None for no blob."""
        if blob is None:
            return None
        doc = orjson.loads(blob)
        if "seq" not in doc:  # shared by a gateway from before stored overrides: the oldest set there is
            return cls(0, {a: Action(v) for a, v in doc.items()})
        return cls(int(doc["seq"]), {a: Action(v) for a, v in doc["actions"].items()})

    def changed(self, account: str, action: Action | None, seq: int) -> Overrides:
        """This set with ``account``'s override set (None: removed) as change ``seq``."""
        actions = dict(self.actions)
        if action is None:
            actions.pop(account, None)
        else:
            actions[account] = action
        return Overrides(seq, actions)

    @staticmethod
    def newer(a: Overrides | None, b: Overrides) -> Overrides:
        """The later of two sets (``b`` when equally recent)."""
        return a if a is not None and a.seq > b.seq else b


def from_entries(seq: int, entries: list[StoredOverride]) -> Overrides:
    """The set in force after the stored entries (each account's latest)."""
    return Overrides(seq, {e.account_id: Action(e.action) for e in entries if e.action is not None})


class OverrideStore:
    """Reads and writes the overrides of the store at ``db``, one short connection per call."""

    def __init__(self, db: Path, write_timeout_s: float) -> None:
        self.db = db
        self.write_timeout_s = write_timeout_s

    def read(self) -> Overrides:
        """The overrides in force (none while the store does not exist yet); StoreError if unreadable."""
        if not self.db.exists():
            return Overrides()
        with STORE_LOCK, Store(self.db, read_only=True) as store:
            return from_entries(*latest_overrides(store))

    def history(self, account: str) -> list[StoredOverride]:
        """Every stored override entry of ``account``, oldest first."""
        if not self.db.exists():
            return []
        with STORE_LOCK, Store(self.db, read_only=True) as store:
            return override_history(store, account)

    def write(self, account: str, action: Action | None, actor: str, reason: str | None) -> Overrides:
        """Store one change; the overrides in force after it. Tries again while the store is busy, up to
        ``write_timeout_s``, then raises StoreError."""
        deadline = time.monotonic() + self.write_timeout_s
        while True:
            try:
                with STORE_LOCK, Store(self.db) as store:
                    record_override(store, account, None if action is None else action.value, actor, reason,
                                    datetime.now(UTC))
                    return from_entries(*latest_overrides(store))
            except StoreError as exc:
                if time.monotonic() >= deadline:
                    raise StoreError(f"{self.db}: override not stored within {self.write_timeout_s:g} s "
                                     f"(the store is busy or unwritable): {exc}") from exc
            time.sleep(_RETRY_S)
