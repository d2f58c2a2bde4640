"""Intrusion sets: campaigns grouped by rare infrastructure they share, on indicator tables written here."""

from __future__ import annotations

import polars as pl
import pytest

from distillguard.campaigns.intrusion import (
    campaign_indicators,
    group_intrusion_sets,
    pair_agreement,
    set_of,
)
from distillguard.campaigns.settings import load_campaign_settings


def _indicators(rows: list[tuple[str, str, str]]) -> pl.DataFrame:
    return pl.DataFrame({"account_id": [r[0] for r in rows], "family": [r[1] for r in rows],
                         "indicator": [r[2] for r in rows], "x": [1.0] * len(rows)})


def _members(campaigns: dict[str, list[str]], run: str = "run-1") -> pl.DataFrame:
    rows = [(run, c, a) for c, accounts in campaigns.items() for a in accounts]
    return pl.DataFrame({"run_id": [r[0] for r in rows], "campaign_id": [r[1] for r in rows],
                         "account_id": [r[2] for r in rows]})


def _world() -> tuple[pl.DataFrame, dict[str, list[str]]]:
    """Operator X runs campaigns A and B (same cards, same client); C is another operator; 300 ordinary users."""
    rows: list[tuple[str, str, str]] = []
    campaigns = {"A": [f"a{i}" for i in range(6)], "B": [f"b{i}" for i in range(8)], "C": [f"c{i}" for i in range(6)]}
    for i, acct in enumerate(campaigns["A"] + campaigns["B"]):
        rows += [(acct, "payment", f"payment:card-x{i % 2}"), (acct, "client", "client:rare-sdk/0.1")]
    for i, acct in enumerate(campaigns["A"]):
        rows.append((acct, "network", f"subnet:10.0.{i % 2}.0/24"))
    for i, acct in enumerate(campaigns["B"]):
        rows.append((acct, "network", f"subnet:10.9.{i % 2}.0/24"))
    for acct in campaigns["C"]:
        rows += [(acct, "payment", "payment:card-y"), (acct, "client", "client:popular/2.0"),
                 (acct, "network", "subnet:10.0.0.0/24")]
    for i in range(300):
        rows += [(f"u{i}", "client", "client:popular/2.0"), (f"u{i}", "payment", f"payment:u{i}"),
                 (f"u{i}", "network", "subnet:10.0.0.0/24" if i < 200 else f"subnet:77.{i}.0.0/24")]
    return _indicators(rows), campaigns


def test_campaigns_of_one_operator_are_grouped_and_others_kept_apart() -> None:
    indicators, campaigns = _world()
    sets = group_intrusion_sets(indicators, _members(campaigns))
    assert sorted(sorted(s.campaigns) for s in sets) == [["A", "B"], ["C"]]
    ab = set_of(sets, "A")
    assert ab is not None and ab.links[0].families["payment"] == pytest.approx(1.0)
    families = {item.family for item in ab.shared}
    assert {"payment", "client"} <= families
    assert all(item.campaigns == 2 for item in ab.shared)


def test_a_popular_address_or_client_alone_links_nothing() -> None:
    indicators, campaigns = _world()
    extra = [(f"d{i}", "client", "client:popular/2.0") for i in range(5)]
    extra += [(f"d{i}", "network", "subnet:10.0.0.0/24") for i in range(5)]
    extra += [(f"d{i}", "payment", f"payment:d{i}") for i in range(5)]
    campaigns["D"] = [f"d{i}" for i in range(5)]
    sets = group_intrusion_sets(pl.concat([indicators, _indicators(extra)]), _members(campaigns))
    assert set_of(sets, "D") is not None and set_of(sets, "D").campaigns == ["D"]  # type: ignore[union-attr]
    assert set_of(sets, "C").campaigns == ["C"]  # type: ignore[union-attr]


def test_one_weak_family_is_not_enough_but_a_strong_one_is() -> None:
    indicators, campaigns = _world()
    client_only = indicators.filter(pl.col("family") != "payment")
    weak = load_campaign_settings().intrusion.model_copy(update={"strong_families": {}})
    sets = group_intrusion_sets(client_only, _members(campaigns), weak)
    assert set_of(sets, "A").campaigns == ["A"]  # type: ignore[union-attr]
    payment_only = indicators.filter(pl.col("family") == "payment")
    sets = group_intrusion_sets(payment_only, _members(campaigns))
    assert sorted(set_of(sets, "A").campaigns) == ["A", "B"]  # type: ignore[union-attr]


def test_the_same_campaign_in_two_runs_is_one_campaign_seen_twice() -> None:
    indicators, campaigns = _world()
    members = pl.concat([_members(campaigns, "run-1"), _members({"A": campaigns["A"]}, "run-2")])
    sets = group_intrusion_sets(indicators, members)
    ab = set_of(sets, "A")
    assert ab is not None and ab.runs["A"] == ["run-1", "run-2"] and ab.runs["B"] == ["run-1"]


def test_an_indicator_of_a_single_member_is_not_the_campaigns() -> None:
    indicators = _indicators([("a0", "payment", "payment:p1"), ("a1", "payment", "payment:p2"),
                              ("a0", "client", "client:k"), ("a1", "client", "client:k")])
    per = campaign_indicators(indicators, _members({"A": ["a0", "a1"]}), load_campaign_settings().intrusion)
    assert per.get_column("indicator").to_list() == ["client:k"]


def test_pair_agreement_against_true_operators() -> None:
    indicators, campaigns = _world()
    sets = group_intrusion_sets(indicators, _members(campaigns))
    assert pair_agreement(sets, {"A": "x", "B": "x", "C": "y"}) == {
        "campaigns": 3.0, "pair_precision": 1.0, "pair_recall": 1.0}
    split = pair_agreement(sets, {"A": "x", "B": "y", "C": "y"})
    assert split["pair_precision"] == 0.0 and split["pair_recall"] == 0.0


def test_a_whole_shared_pool_of_owned_clients_links_alone() -> None:
    rows = []
    campaigns = {"A": [f"a{i}" for i in range(20)], "B": [f"b{i}" for i in range(20)]}
    for members in campaigns.values():
        rows += [(acct, "client", f"client:rotating-{(i + k) % 8}") for i, acct in enumerate(members) for k in range(3)]
    rows += [(f"u{i}", "client", f"client:user-{i}") for i in range(200)]
    sets = group_intrusion_sets(_indicators(rows), _members(campaigns))
    assert sorted(set_of(sets, "A").campaigns) == ["A", "B"]  # type: ignore[union-attr]
    few = [r for r in rows if not r[2].startswith("client:rotating-") or int(r[2][-1]) < 2]
    sets = group_intrusion_sets(_indicators(few), _members(campaigns))
    assert set_of(sets, "A").campaigns == ["A"]  # type: ignore[union-attr]
