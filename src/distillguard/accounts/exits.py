"""Exits shared by many young accounts, judged against the base rate of their kind of network.

A fleet of burner accounts put to work right after signup shares its exits:
one datacenter address, a proxy pool's subnet. Legitimate users share exits
too (a carrier NAT, a residential ISP's pool, a campus), and some of them are
new. So each exit (an address and its /24) is judged against its origin class
(:class:`~distillguard.accounts.network.Origin`) population-wide: of the
accounts seen at the class's other exits, the share that are young (first
request within :data:`YOUNG_DAYS` of creation) is the base rate (smoothed by
one account at the whole population's share, so that a fleet does not set its
own base rate), and an exit's count of young accounts is scored by its
binomial tail given its accounts. Per young
account, the strongest such excess among its exits, as -log10 of the tail over
:data:`TAIL_DIGITS`, clipped to 0..1; 0 for an account that is not young; null
when its creation time is unknown (no account record).
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa
from scipy.stats import binom

from distillguard.accounts.network import IpIntel, subnet_of

YOUNG_DAYS = 7.0
"""An account first used within this many days of its creation is young."""
TAIL_DIGITS = 6.0
"""A one-in-10^TAIL_DIGITS excess of young accounts at an exit scores 1."""
MIN_YOUNG = 2
"""Young accounts an exit needs before it counts as shared by them."""
EXIT_COLUMNS: tuple[str, ...] = ("young_exit_excess",)
"""The columns :func:`young_exit_excess` adds per account."""


def young_exit_excess(exits: pa.Table, intel: IpIntel) -> pa.Table:
    """``account_id, young_exit_excess`` from ``account_id, ip, n, first_seen, created_at`` (the store's exits)."""
    frame = pl.from_arrow(exits)
    if not isinstance(frame, pl.DataFrame):
        raise TypeError("account exits must be a table")
    ids = frame.select("account_id").unique(maintain_order=True)
    if frame.is_empty():
        return ids.with_columns(young_exit_excess=pl.lit(None, pl.Float64)).to_arrow()
    age_days = (pl.col("first_seen") - pl.col("created_at")).dt.total_milliseconds() / 86_400_000.0
    frame = frame.with_columns(young=pl.when(pl.col("created_at").is_null()).then(None).otherwise(age_days <= YOUNG_DAYS))
    addresses = frame.get_column("ip").unique()
    origins = intel.origins(addresses.to_arrow())
    kinds = pl.DataFrame({"ip": addresses, "origin": origins.astype(np.int64),
                          "subnet": [subnet_of(ip) for ip in addresses.to_list()]})
    frame = frame.join(kinds, on="ip", how="left")
    subnet_origin = kinds.group_by("subnet").agg(pl.col("origin").max().alias("subnet_origin"))
    frame = frame.join(subnet_origin, on="subnet", how="left")
    excess = pl.max_horizontal(
        _exit_excess(frame, "ip", "origin").rename({"excess": "by_ip"}).get_column("by_ip"),
        _exit_excess(frame, "subnet", "subnet_origin").get_column("excess"),
    )
    per_row = frame.select("account_id", "young").with_columns(excess=excess)
    scored = per_row.group_by("account_id").agg(
        pl.col("young").first(), pl.col("excess").max()
    ).with_columns(
        young_exit_excess=pl.when(pl.col("young").is_null()).then(None)
        .when(pl.col("young")).then(pl.col("excess")).otherwise(0.0)
    )
    return ids.join(scored.select("account_id", "young_exit_excess"), on="account_id", how="left",
                    maintain_order="left").to_arrow()


def _exit_excess(frame: pl.DataFrame, key: str, origin: str) -> pl.DataFrame:
    """Row-aligned ``excess``: each row's exit (by ``key``) scored against its ``origin`` class's young share."""
    known = frame.filter(pl.col("young").is_not_null()).select("account_id", key, origin, "young").unique()
    per_exit = known.group_by(key, origin).agg(accounts=pl.len(), young=pl.col("young").sum())
    prior = float(per_exit.get_column("young").sum()) / max(int(per_exit.get_column("accounts").sum()), 1)
    base = per_exit.group_by(origin).agg(class_accounts=pl.col("accounts").sum(), class_young=pl.col("young").sum())
    per_exit = per_exit.join(base, on=origin)
    accounts = per_exit.get_column("accounts").to_numpy()
    young = per_exit.get_column("young").to_numpy()
    # the class's young share at its other exits, with one pseudo-account at the population's share
    others = per_exit.get_column("class_accounts").to_numpy() - accounts
    rate = (per_exit.get_column("class_young").to_numpy() - young + prior) / (others + 1.0)
    with np.errstate(divide="ignore"):
        digits = -np.log10(binom.sf(young - 1, accounts, rate))
    score = np.where(young >= MIN_YOUNG, np.clip(digits / TAIL_DIGITS, 0.0, 1.0), 0.0)
    scored = per_exit.select(key).with_columns(excess=pl.Series(score))
    return frame.select(key).join(scored, on=key, how="left", maintain_order="left").with_columns(
        pl.col("excess").fill_null(0.0)
    )
