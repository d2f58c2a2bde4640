"""An account's network indicators: each address it used once, and each subnet (/24, or /48 for IPv6) once."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from distillguard.analysis import describe_indicators, load_indicators
from distillguard.signals import compute_signals
from distillguard.store import Store
from factories import exchange, exchanges


def test_an_ipv6_address_is_one_indicator_and_adds_its_48_as_load_and_describe_agree(tmp_path: Path) -> None:
    rows = [exchange(0, account_id="a", ip="2001:db8:1:2::7"), exchange(1, account_id="a", ip="81.2.69.160"),
            exchange(2, account_id="b", ip="2001:db8:1:99::1"), exchange(3, account_id="b", ip="2001:db8:1:99::1")]
    with Store(tmp_path / "s.duckdb").open() as store:
        batch = exchanges(rows)
        store.ingest_batch(batch, compute_signals(batch))
        indicators = load_indicators(store)
        described = describe_indicators(store, ["a", "b"])
    names = indicators.accounts.to_list()
    loaded = sorted((names[i], str(kind), h, round(x, 4)) for i, kind, h, x in indicators.table.filter(
        pl.col("kind").cast(pl.String).is_in(["ip", "subnet"])).select("i", "kind", "h", "x").iter_rows())
    network = described.filter(pl.col("kind").is_in(["ip", "subnet"]))
    assert loaded == sorted((a, k, h, round(x, 4)) for a, k, h, x in network.select(
        "account_id", "kind", "h", "x").iter_rows())
    values = {(a, k): sorted(v for acc, kind, v in network.select("account_id", "kind", "value").iter_rows()
                             if (acc, kind) == (a, k)) for a in ("a", "b") for k in ("ip", "subnet")}
    assert values == {("a", "ip"): ["2001:db8:1:2::7", "81.2.69.160"], ("a", "subnet"): ["2001:db8:1::/48", "81.2.69.0/24"],
                      ("b", "ip"): ["2001:db8:1:99::1"], ("b", "subnet"): ["2001:db8:1::/48"]}
