from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from distillguard.analysis.indicators import load_indicators, shared_indicators
from distillguard.campaigns import link_accounts, load_campaign_settings
from distillguard.campaigns.edges import _edges, _family_similarity, with_hubs
from distillguard.campaigns.indicators import Indicators, compact_indicators
from distillguard.store import Store
from factories import T0, account, accounts, exchange, exchanges


def _store(tmp_path: Path, rows: list[dict], templates: list[int], account_rows: list[dict]) -> Store:
    store = Store(tmp_path / "s.duckdb").open()
    batch = exchanges(rows)
    signals = pa.table({"request_id": batch.column("request_id"),
                        "template_key": pa.array(templates, pa.uint64())})
    store.ingest_batch(batch, signals)
    store.upsert_accounts(accounts(account_rows))
    return store


@pytest.fixture
def population(tmp_path: Path) -> Iterator[Store]:
    rows, templates, acc = [], [], []
    i = 0
    # 40 students behind one NAT address, each with their own client and prompts
    for s in range(40):
        acc.append(account(f"student-{s}", category="education", signup_ip="81.2.69.1",
                           payment_fingerprint=f"pf-s{s}", email_domain="uni.example.edu",
                           email_local=f"student{s}", created_at=T0 - timedelta(days=s)))
        for _ in range(3):
            rows.append(exchange(i, account_id=f"student-{s}", ip="81.2.69.1", user_agent=f"Mozilla/5.0 v{s}"))
            templates.append(1000 + i)
            i += 1
    # 12 operator accounts: rotating residential addresses, one client, one template, shared payment
    for a in range(12):
        acc.append(account(f"op-{a}", category="research", payment_fingerprint=f"pf-op{a % 3}",
                           email_domain="mail.example", email_local=f"lab{a:03d}",
                           created_at=T0 - timedelta(minutes=a)))
        for _ in range(4):
            rows.append(exchange(i, account_id=f"op-{a}", ip=f"203.0.{i % 250}.{(i * 7) % 250 + 1}",
                                 user_agent="OpenAI/Python 1.30.1", tls_ja4="t13d_op"))
            templates.append(42)
            i += 1
    store = _store(tmp_path, rows, templates, acc)
    yield store
    store.close()


def test_indicators_say_which_accounts_were_first_used_within_days_of_their_creation(population: Store) -> None:
    assert load_indicators(population).young is None
    found = load_indicators(population, young_days=7.0)
    young = {name for name, flag in zip(found.accounts.to_list(), found.young, strict=True) if flag}
    # student-s was created s days before T0 and first used 3s minutes after it; the operators minutes before
    assert young == {f"student-{s}" for s in range(7)} | {f"op-{a}" for a in range(12)}


def test_operator_accounts_link_and_nat_students_do_not(population: Store) -> None:
    edges = link_accounts(load_indicators(population))
    pairs = {(a, b) for a, b in edges.select("a", "b").iter_rows()}
    linked = {x for pair in pairs for x in pair}
    assert all(f"op-{a}" in linked for a in range(12))
    assert not any(x.startswith("student") for x in linked)
    for families, strong in edges.select("families", "strong").iter_rows():
        assert len(families) >= 2 or any(f.startswith("payment") for f in families)
        paid = [float(f.split("=")[1]) for f in families if f.startswith("payment=")]
        assert strong == (bool(paid) and paid[0] >= 0.6)  # the shipped bar of the payment family
    assert edges.get_column("strong").any() and not edges.get_column("strong").all()


def test_indicators_respect_until(population: Store) -> None:
    early = load_indicators(population, T0 + timedelta(minutes=10))
    assert len(early.accounts) <= 10


def test_a_partner_report_links_students_it_names_and_no_one_else(population: Store) -> None:
    population.con.execute(
        "INSERT INTO partner_indicators (account_id, indicator, source, reported_at) "
        "VALUES ('student-3', 'card:9f2c', 'lab-x', NULL), "
        "('student-7', 'card:9f2c', 'lab-x', NULL)"
    )
    edges = link_accounts(load_indicators(population))
    students = {(a, b) for a, b in edges.select("a", "b").iter_rows() if a.startswith("student")}
    assert students == {("student-3", "student-7")}
    assert any(f.startswith("partner=") for f in edges.filter(pl.col("a") == "student-3").get_column("families")[0])


def test_conversation_starts_are_opening_requests_only(tmp_path: Path) -> None:
    rows = [
        exchange(0, account_id="a"),
        exchange(1, account_id="a", n_messages=3, n_user_turns=2),  # a follow-up
        exchange(2, account_id="b", n_messages=3, n_tool_results=1),  # a tool loop goes on
        exchange(3, account_id="b"),
        exchange(30, account_id="b"),
    ]
    store = _store(tmp_path, rows, [1, 1, 2, 2, 2], [account("a"), account("b")])
    try:
        everything = load_indicators(store)
        named = everything.starts.with_columns(everything.accounts.gather(everything.starts.get_column("i")).alias("a"))
        assert sorted(named.select("a", "t").rows()) == [
            ("a", int(T0.timestamp() * 1000)), ("b", int((T0 + timedelta(minutes=3)).timestamp() * 1000)),
            ("b", int((T0 + timedelta(minutes=30)).timestamp() * 1000))]
        assert load_indicators(store, T0 + timedelta(minutes=10)).starts.height == 2
    finally:
        store.close()


@pytest.fixture
def budgets(tmp_path: Path) -> Iterator[Store]:
    """Operator accounts that share only a prompt template and a thinking budget, beside VPN users."""
    rows, templates, acc = [], [], []
    i = 0

    def add(account_id: str, slot: int, n: int, template: int | None = None, **over: object) -> None:
        nonlocal i
        acc.append(account(account_id, created_at=T0 - timedelta(days=2 + slot)))
        for k in range(n):
            rows.append(exchange(i, account_id=account_id, ts=T0 + timedelta(hours=3 * slot, minutes=10 * k),
                                 **{key: (v(k) if callable(v) else v) for key, v in over.items()}))
            templates.append(template or 1000 + i)
            i += 1

    # 30 ordinary users on their own addresses and clients, the SDK's default parameters
    for u in range(30):
        add(f"user-{u}", u, 10, ip=f"81.2.{u}.7", user_agent=f"app/{u}")
    # 8 operator accounts: a new residential exit per request, a client each, one template, one thinking budget
    for a in range(8):
        add(f"op-{a}", 30 + a, 10, template=42, ip=lambda k, a=a: f"100.{a}.{k}.1", user_agent=f"rot/{a}",
            thinking_budget=12_000)
    # 8 VPN users behind one exit who set that same budget: the first four once in twenty requests, the others always
    for v in range(8):
        add(f"vpn-{v}", 40 + v, 20, ip="192.0.2.9", user_agent=f"vpn-app/{v}",
            thinking_budget=lambda k, v=v: 12_000 if k == 0 or v >= 4 else None)
    store = _store(tmp_path, rows, templates, acc)
    yield store
    store.close()


def test_shared_request_parameters_link_operator_accounts_and_an_exit_with_them_does_not(budgets: Store) -> None:
    edges = link_accounts(load_indicators(budgets))
    linked = {x for pair in edges.select("a", "b").iter_rows() for x in pair}
    assert linked == {f"op-{a}" for a in range(8)}
    assert all(any(f.startswith("behaviour=") for f in families) for families in edges.get_column("families"))


def test_a_parameter_set_once_among_defaults_is_barely_similar(budgets: Store) -> None:
    indicators = load_indicators(budgets)
    settings = load_campaign_settings().link
    hubs = with_hubs(indicators.table.with_columns(pl.len().over("h").alias("m")), len(indicators.accounts), settings)
    default = hubs.filter(pl.col("kind").cast(pl.String) == "params").sort("m").get_column("hub").to_list()
    assert default[-1] and not default[0]  # the SDK's defaults are a hub, the budget is not
    codes = {name: k for k, name in enumerate(indicators.accounts.to_list())}
    behaviour = hubs.filter(pl.col("family").cast(pl.String) == "behaviour")
    lo, hi = np.array([codes["op-0"], codes["vpn-0"]]), np.array([codes["op-1"], codes["vpn-1"]])
    op, vpn = _family_similarity(behaviour, len(codes), lo, hi, 1, settings)
    assert op > 0.99
    assert vpn < settings.family_min


def test_a_campaigns_shared_request_parameters_are_shown(budgets: Store) -> None:
    ops = [f"op-{a}" for a in range(8)]
    shown = shared_indicators(budgets, {"c1": ops}).filter(pl.col("kind") == "params")
    assert ("atlas-2-pro | anthropic | /v1/messages | 12000 | ", 8) in shown.select("value", "accounts").rows()


def test_indicators_and_edges_repeat_exactly_whatever_the_order_the_store_returns_rows_in(population: Store) -> None:
    found = load_indicators(population)
    shuffled = found.table.sample(fraction=1.0, shuffle=True, seed=3)
    assert not shuffled.equals(found.table)
    again = compact_indicators(shuffled.select("i", "kind", "h", "x").with_columns(pl.col("kind").cast(pl.String)))
    assert again.equals(found.table)
    edges = link_accounts(Indicators(found.accounts, again, found.starts))
    assert edges.equals(link_accounts(found))


def _cohort_world() -> tuple[Indicators, np.ndarray, set[str]]:
    """200 accounts on three browsers: a fleet of 60 new ones on one thinking budget, 15 established users on it
    too, 10 new and 115 established users on the defaults. Both parameter sets are hubs by their share alone."""
    names, young, rows = [], [], []
    groups = [("fleet", 60, True, "budget"), ("old-budget", 15, False, "budget"),
              ("new-user", 10, True, "defaults"), ("user", 115, False, "defaults")]
    for prefix, count, is_young, params in groups:
        for k in range(count):
            i = len(names)
            names.append(f"{prefix}-{k}")
            young.append(is_young)
            rows += [{"i": i, "kind": "params", "h": hash(params) & (2**63 - 1), "x": 1.0},
                     {"i": i, "kind": "client", "h": 7 + i % 3, "x": 1.0}]
    indicators = Indicators(pl.Series(names), compact_indicators(pl.DataFrame(rows)))
    return indicators, np.array(young), {f"fleet-{k}" for k in range(60)}


def test_a_fleet_of_new_accounts_on_a_common_parameter_set_is_linked_its_established_holders_are_not() -> None:
    indicators, young, fleet = _cohort_world()
    settings = load_campaign_settings().link
    assert not link_accounts(indicators, settings).height  # without ages the budget is a hub, as before
    edges = link_accounts(replace(indicators, young=young), settings)
    linked = {x for pair in edges.select("a", "b").iter_rows() for x in pair}
    assert linked <= fleet  # not the established users on the same budget, nor the new users on the defaults
    assert len(linked) >= 40
    assert all(sorted(f.split("=")[0] for f in families) == ["behaviour", "client"]
               for families in edges.get_column("families"))


@pytest.mark.parametrize("case", ["half the fleet established", "most accounts new"])
def test_a_common_parameter_set_stays_a_hub_unless_its_holders_are_mostly_new_and_far_above_the_base_rate(
        case: str) -> None:
    indicators, young, _ = _cohort_world()
    if case == "half the fleet established":  # the budget's holders 40 % new: no majority
        young[30:60] = False
    else:  # the budget's holders 80 % new, but so are 65 % of the accounts: no lift
        young[85:145] = True
    assert link_accounts(replace(indicators, young=young), load_campaign_settings().link).height == 0


def test_the_edge_frame_is_in_name_order_and_lists_the_families_that_link_each_edge() -> None:
    """Accounts coded out of name order: the edges come sorted by their two names, each with the families whose
    similarity is above 0 (in the order they were scored, rounded) and their noisy-or as the weight."""
    names = pl.Series("account_id", ["acct_c", "acct_a", "acct_d", "acct_b"])
    lo, hi = np.array([0, 0, 1, 2]), np.array([1, 3, 2, 3])
    sims = {"payment": np.array([0.0, 0.9, 0.0, 0.5]), "client": np.array([0.333, 0.0, 0.0, 0.25]),
            "exit": np.array([0.5, 0.0, 0.8, 0.0])}
    edges = _edges(names, lo, hi, sims, np.array([False, True, False, False]))
    assert edges.rows() == [
        ("acct_a", "acct_d", 0.8, ["exit=0.8"], False),
        ("acct_c", "acct_a", pytest.approx(1 - 0.667 * 0.5), ["client=0.33", "exit=0.5"], False),
        ("acct_c", "acct_b", pytest.approx(0.9), ["payment=0.9"], True),
        ("acct_d", "acct_b", pytest.approx(1 - 0.5 * 0.75), ["payment=0.5", "client=0.25"], False),
    ]
