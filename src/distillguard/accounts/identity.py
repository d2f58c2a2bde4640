"""Client-identity consistency: does an account's user agent claim the TLS stack it connects with?

Which TLS fingerprint (JA4) goes with which client is learned from the
population, not from a hand table: over all accounts, how often each
(user-agent family, JA4) pair occurs against the marginal frequency of the
JA4, each account counting once, spread evenly over the pairs it shows (an
account rotating its user agent does not make every pair it shows common).
A genuine SDK or browser connects with its own stack, shared by every
account that runs it; an agent string spoofed over another TLS stack (a
scraper claiming to be the Python SDK) is a pair that occurs far less often
than the JA4's overall frequency predicts: a negative pointwise mutual
information. Per account, the share of its requests (with both fields) sent
with such a pair. Without any TLS fingerprint or user agent the share is
unknown (null), not benign.

The pairs are learned from the established accounts (first used
:data:`ESTABLISHED_DAYS` or more after their creation) where there are enough
of them: learned from everyone, a fleet of hundreds of accounts made for a
campaign, spoofing one browser over one scripting stack, would make its own
pair common and so consistent. A pair whose claim or stack the reference never
shows cannot be judged, and its requests count neither way.
"""

from __future__ import annotations

import re
from collections.abc import Collection

import polars as pl
import pyarrow as pa

PAIR_SMOOTHING = 0.5
"""Pseudo-count added to every (family, JA4) pair seen, so a pair of one account is not impossible."""
MISMATCH_PMI = -1.0
"""A pair is inconsistent when it occurs at less than half (log2: -1) the rate the JA4's frequency predicts."""
ESTABLISHED_DAYS = 30.0
"""An account first used this many days after its creation or later is established: its clients are what the
population runs, not what a fleet put to work after signup runs."""
MIN_REFERENCE = 20
"""Established accounts with a client claim and a TLS stack needed to learn the pairs from them alone; with fewer (a
log without account records, a young population) every account counts."""
CLIENT_COLUMNS: tuple[str, ...] = ("client_mismatch_share",)
"""The columns :func:`client_consistency` adds per account."""

_PRODUCT = re.compile(r"[a-z][a-z0-9_.+-]*")
_BROWSERS = ("edg", "opr", "firefox", "chrome", "safari")


def ua_family(user_agent: str | None) -> str | None:
    """The client a user agent claims, without its version: its first product token, lower case.

    ``Mozilla/5.0`` strings name the browser instead (Edge, Opera, Firefox, Chrome, Safari, in that
    order, since each also names the ones after it). None for a missing or empty agent.
    """
    if user_agent is None:
        return None
    text = user_agent.strip().lower()
    if not text:
        return None
    if text.startswith("mozilla/"):
        return next((name for name in _BROWSERS if f"{name}/" in text), "mozilla")
    found = _PRODUCT.match(text)
    return found.group(0) if found else text.split()[0]


def pair_pmi(pairs: pl.DataFrame, reference: pl.DataFrame | None = None) -> pl.DataFrame:
    """``family, tls_ja4, pmi`` for each pair of ``pairs``: log2 of P(JA4 | family), smoothed, over P(JA4), counted
    in the accounts of ``reference`` (``pairs`` itself when None); null where ``reference`` never shows the family or
    the JA4.

    Both have a row per account and pair seen (``account_id, family, tls_ja4``); an account
    showing k distinct pairs adds 1/k to each.
    """
    accounts = (pairs if reference is None else reference).select("account_id", "family", "tls_ja4").unique()
    accounts = accounts.with_columns(weight=1.0 / pl.len().over("account_id"))
    total = accounts.get_column("weight").sum()
    n_ja4 = accounts.get_column("tls_ja4").n_unique()
    return (
        pairs.select("family", "tls_ja4").unique()
        .join(accounts.group_by("family", "tls_ja4").agg(joint=pl.col("weight").sum()), on=["family", "tls_ja4"],
              how="left")
        .join(accounts.group_by("family").agg(claims=pl.col("weight").sum()), on="family", how="left")
        .join(accounts.group_by("tls_ja4").agg(stack=pl.col("weight").sum()), on="tls_ja4", how="left")
        .with_columns(
            pmi=(((pl.col("joint").fill_null(0.0) + PAIR_SMOOTHING) / (pl.col("claims") + PAIR_SMOOTHING * n_ja4))
                 / (pl.col("stack") / total)).log(2)
        )
        .select("family", "tls_ja4", "pmi")
    )


def established_accounts(accounts: pa.Table) -> set[str]:
    """The ``account_id`` of the rows of ``accounts`` (``account_id, first_seen, created_at``, as the store's
    exits give them) first used :data:`ESTABLISHED_DAYS` or more after their creation (none without a record)."""
    frame = pl.from_arrow(accounts.select(["account_id", "first_seen", "created_at"]))
    if not isinstance(frame, pl.DataFrame):
        raise TypeError("accounts must be a table")
    days = (pl.col("first_seen") - pl.col("created_at")).dt.total_milliseconds() / 86_400_000.0
    return set(frame.filter(days >= ESTABLISHED_DAYS).get_column("account_id").unique().to_list())


def client_consistency(client_pairs: pa.Table, established: Collection[str] = ()) -> pa.Table:
    """``account_id, client_mismatch_share`` from ``account_id, user_agent, tls_ja4, n`` (the store's client pairs).

    The share of the account's requests with both a user agent and a JA4, and a pair :func:`pair_pmi` can judge,
    whose pair is under :data:`MISMATCH_PMI`; null for an account without such requests. The pairs are learned
    from the ``established`` accounts (:func:`established_accounts`) when at least :data:`MIN_REFERENCE` of them
    show one, else from every account.
    """
    frame = pl.from_arrow(client_pairs)
    if not isinstance(frame, pl.DataFrame):
        raise TypeError("client pairs must be a table")
    agents = frame.select("user_agent").unique().drop_nulls()
    families = agents.with_columns(
        pl.Series("family", [ua_family(a) for a in agents.get_column("user_agent")], pl.String)
    )
    known = (
        frame.join(families, on="user_agent", how="left")
        .filter(pl.col("family").is_not_null() & pl.col("tls_ja4").is_not_null() & (pl.col("tls_ja4") != ""))
    )
    reference = known.filter(pl.col("account_id").is_in(list(established)))
    if reference.get_column("account_id").n_unique() < MIN_REFERENCE:
        reference = known
    shares = (
        known.join(pair_pmi(known, reference), on=["family", "tls_ja4"], how="left")
        .filter(pl.col("pmi").is_not_null())
        .group_by("account_id")
        .agg(client_mismatch_share=(pl.col("n") * (pl.col("pmi") < MISMATCH_PMI)).sum() / pl.col("n").sum())
    )
    ids = frame.select("account_id").unique(maintain_order=True)
    out = ids.join(shares, on="account_id", how="left", maintain_order="left")
    return out.with_columns(pl.col("client_mismatch_share").cast(pl.Float64)).to_arrow()
