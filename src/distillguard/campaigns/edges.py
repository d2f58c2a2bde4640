"""Account-linking edges: per-family similarity of shared indicators, weighted by rarity.

Two accounts are linked when they share rare indicators in at least two
families (network, client, template, payment, signup), or a strong family
alone (a payment fingerprint). An address shared by hundreds of unrelated
accounts (a university NAT, a VPN exit) weighs little, and the network family
alone never links anyone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from distillguard.core.ids import text_hash64


@dataclass(frozen=True)
class LinkSettings:
    """Thresholds of the linking step."""

    max_group: int = 300
    """Indicator groups larger than this are linked as a ring of neighbours, not all pairs."""
    ring_neighbours: int = 6
    family_min: float = 0.3
    """Similarity within a family that counts as evidence."""
    min_families: int = 2
    strong_families: dict[str, float] = field(default_factory=lambda: {"payment": 0.6})
    """Families whose similarity alone (above the value) links two accounts."""


def link_accounts(indicators: pl.DataFrame, settings: LinkSettings | None = None) -> pl.DataFrame:
    """Edges ``a, b, weight, families`` between accounts of the long indicator table.

    ``weight`` is the noisy-or of the per-family similarities that count as
    evidence; ``families`` lists them as ``family=similarity``.
    """
    settings = settings or LinkSettings()
    empty = pl.DataFrame(schema={"a": pl.String, "b": pl.String, "weight": pl.Float64, "families": pl.List(pl.String)})
    if indicators.height == 0:
        return empty
    n_accounts = indicators.get_column("account_id").n_unique()
    ind = indicators.with_columns(
        pl.col("account_id").map_elements(text_hash64, return_dtype=pl.UInt64).alias("order"),
        pl.len().over("family", "indicator").alias("m"),
    ).with_columns((pl.col("x") * (1.0 + n_accounts / pl.col("m")).log()).alias("v"))
    norms = ind.group_by("account_id", "family").agg((pl.col("v") ** 2).sum().sqrt().alias("norm"))
    shared = ind.filter(pl.col("m") >= 2).select("family", "indicator", "m", "order", "account_id", "v")

    small = shared.filter(pl.col("m") <= settings.max_group)
    pairs_small = small.join(small, on=["family", "indicator"], suffix="_b").filter(
        pl.col("order") < pl.col("order_b")
    )
    big = shared.filter(pl.col("m") > settings.max_group).sort("family", "indicator", "order").with_columns(
        pl.int_range(pl.len()).over("family", "indicator").alias("pos")
    )
    rings = []
    for step in range(1, settings.ring_neighbours + 1):
        shifted = big.with_columns(((pl.col("pos") + step) % pl.col("m")).alias("pos"))
        rings.append(big.join(shifted, on=["family", "indicator", "pos"], suffix="_b"))
    pairs = pl.concat(
        [pairs_small.select("family", "account_id", "v", "account_id_b", "v_b", "order", "order_b")]
        + [r.select("family", "account_id", "v", "account_id_b", "v_b", "order", "order_b") for r in rings]
    ).with_columns(
        pl.when(pl.col("order") < pl.col("order_b")).then(pl.col("account_id")).otherwise(pl.col("account_id_b")).alias("a"),
        pl.when(pl.col("order") < pl.col("order_b")).then(pl.col("account_id_b")).otherwise(pl.col("account_id")).alias("b"),
    ).filter(pl.col("a") != pl.col("b"))
    if pairs.height == 0:
        return empty
    sims = (
        pairs.group_by("a", "b", "family")
        .agg((pl.col("v") * pl.col("v_b")).sum().alias("dot"))
        .join(norms.rename({"account_id": "a", "norm": "norm_a"}), on=["a", "family"])
        .join(norms.rename({"account_id": "b", "norm": "norm_b"}), on=["b", "family"])
        .with_columns((pl.col("dot") / (pl.col("norm_a") * pl.col("norm_b"))).clip(0.0, 1.0).alias("sim"))
        .filter(pl.col("sim") >= settings.family_min)
    )
    strong = pl.lit(False)
    for name, bar in settings.strong_families.items():
        strong = strong | ((pl.col("family") == name) & (pl.col("sim") >= bar))
    return (
        sims.group_by("a", "b")
        .agg(
            (1.0 - (1.0 - pl.col("sim")).product()).alias("weight"),
            pl.len().alias("n_families"),
            strong.any().alias("strong"),
            pl.concat_str([pl.col("family"), pl.col("sim").round(2).cast(pl.String)], separator="=").alias("families"),
        )
        .filter((pl.col("n_families") >= settings.min_families) | pl.col("strong"))
        .select("a", "b", "weight", "families")
        .sort("a", "b")
    )
