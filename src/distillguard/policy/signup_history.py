"""The signups before a new one: a bounded history indexed for counts as of a time."""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from dataclasses import dataclass

import pyarrow as pa

from distillguard.accounts import subnet_of
from distillguard.core.email import local_shape


@dataclass(frozen=True, slots=True)
class PastSignup:
    """One earlier signup as the history keeps it (no address: only its /24 or /48)."""

    at: int  # epoch ms
    who: str  # email (lower case), or the account id when the record has none
    domain: str | None
    subnet: str | None
    payment: str | None
    shape: str | None


_KINDS = ("domain", "subnet", "payment", "shape")


class SignupHistory:
    """The most recent signups, at most ``capacity``, indexed for counts as of a time.

    Counts of distinct signups (by email) over a time range, per email domain,
    /24 subnet, card or local-part shape. The same signup added twice (same
    time and email: a store row that was also assessed) counts once.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._order: deque[PastSignup] = deque()
        self._seen: set[tuple[int, str]] = set()
        self._times: list[int] = []
        self._index: dict[str, dict[str, list[tuple[int, str]]]] = {kind: {} for kind in _KINDS}

    @classmethod
    def from_accounts(cls, accounts: pa.Table, capacity: int) -> SignupHistory:
        """A history of stored accounts, newest first (``account_id, at`` in epoch ms, ``email_local,
        email_domain, signup_ip, payment_fingerprint``), as :func:`distillguard.store.signups.recent_signups`
        reads them."""
        history = cls(capacity)
        for row in reversed(accounts.to_pylist()):
            local, domain, ip = row["email_local"], row["email_domain"], row["signup_ip"]
            domain = domain.lower() if domain else None
            history.add(PastSignup(
                at=row["at"],
                who=f"{local}@{domain}".lower() if local and domain else row["account_id"],
                domain=domain,
                subnet=subnet_of(ip.partition("%")[0]) if ip else None,
                payment=row["payment_fingerprint"],
                shape=local_shape(local) if local else None,
            ))
        return history

    def __len__(self) -> int:
        return len(self._order)

    def add(self, signup: PastSignup) -> None:
        """Remember one signup; the oldest added is forgotten beyond capacity."""
        key = (signup.at, signup.who)
        if key in self._seen:
            return
        self._seen.add(key)
        self._order.append(signup)
        insort(self._times, signup.at)
        for kind in _KINDS:
            value = getattr(signup, kind)
            if value is not None:
                insort(self._index[kind].setdefault(value, []), key)
        while len(self._order) > self.capacity:
            self._forget(self._order.popleft())

    def _forget(self, signup: PastSignup) -> None:
        key = (signup.at, signup.who)
        self._seen.discard(key)
        del self._times[bisect_left(self._times, signup.at)]
        for kind in _KINDS:
            value = getattr(signup, kind)
            if value is None:
                continue
            entries = self._index[kind][value]
            del entries[bisect_left(entries, key)]
            if not entries:
                del self._index[kind][value]

    def holders(self, kind: str, value: str | None, since: int | None, until: int, exclude: str) -> set[str]:
        """Distinct signups (emails) other than ``exclude`` with this key, in ``[since, until)`` (ms)."""
        entries = self._index[kind].get(value) if value is not None else None
        if not entries:
            return set()
        lo = 0 if since is None else bisect_left(entries, (since, ""))
        hi = bisect_left(entries, (until, ""))
        return {who for _, who in entries[lo:hi]} - {exclude}

    def distinct(self, kind: str, value: str | None, since: int | None, until: int, exclude: str) -> int:
        """How many :meth:`holders` there are."""
        return len(self.holders(kind, value, since, until, exclude))

    def count_before(self, kind: str, value: str | None, until: int) -> int:
        """Signups with this key before ``until`` (ms)."""
        entries = self._index[kind].get(value) if value is not None else None
        return bisect_left(entries, (until, "")) if entries else 0

    def total_before(self, until: int) -> int:
        """All remembered signups before ``until`` (ms)."""
        return bisect_left(self._times, until)

    def first_at(self) -> int | None:
        """Time of the earliest remembered signup (ms)."""
        return self._times[0] if self._times else None


__all__ = ["PastSignup", "SignupHistory"]
