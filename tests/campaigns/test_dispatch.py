import numpy as np
import polars as pl
import pyarrow as pa
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from distillguard.accounts import AccountStats
from distillguard.campaigns import Indicators, find_campaigns
from distillguard.campaigns.cluster import Fleet, merge_pools
from distillguard.campaigns.dispatch import group_dispatch, linked_by_dispatch
from distillguard.campaigns.settings import load_campaign_settings
from distillguard.core.schema import TS_TYPE
from distillguard.policy import load_policy

T0_MS = 1_772_409_600_000  # 2026-03-02T00:00Z
CAMPAIGN_SETTINGS = load_campaign_settings().cluster
SETTINGS = CAMPAIGN_SETTINGS.dispatch
FLAG_RISK = load_policy().flag_threshold


def _cyclic(accounts: list[str], cycles: int, step_s: float, seed: int, offset_s: float = 0.0) -> list[tuple[str, int]]:
    """Conversations dealt to ``accounts`` in a fixed order, one every ``step_s`` seconds with jitter."""
    rng = np.random.default_rng(seed)
    n = len(accounts)
    return [(accounts[k % n], int(T0_MS + 1000 * (offset_s + k * step_s + rng.uniform(0, 0.2 * step_s))))
            for k in range(cycles * n)]


def _random(accounts: list[str], count: int, span_s: float, seed: int) -> list[tuple[str, int]]:
    """The same accounts using the API independently: random times, busier accounts more often."""
    rng = np.random.default_rng(seed)
    weights = rng.pareto(1.5, len(accounts)) + 0.1
    who = rng.choice(len(accounts), size=count, p=weights / weights.sum())
    return [(accounts[w], int(T0_MS + 1000 * rng.uniform(0, span_s))) for w in who]


def _frame(events: list[tuple[str, int]]) -> pl.DataFrame:
    return pl.DataFrame(events, schema={"a": pl.String, "t": pl.Int64}, orient="row")


def test_a_fixed_cyclic_order_is_found_and_independent_use_is_not() -> None:
    pool = [f"pool-{k}" for k in range(30)]
    users = [f"user-{k}" for k in range(30)]
    trio = ["a", "b", "c"]
    starts = _frame(_cyclic(pool, 5, 20, seed=1) + _random(users, 150, 3600, seed=2) + _cyclic(trio, 10, 60, seed=3))
    found = group_dispatch(starts, {"pool": pool, "users": users, "trio": trio, "idle": ["nobody"]})
    assert found["pool"].cyclic(SETTINGS)
    assert found["pool"].repeats >= 0.9 * found["pool"].handovers
    assert found["pool"].reason.startswith("conversations are dealt to its 30 accounts in a fixed cyclic order")
    assert not found["users"].cyclic(SETTINGS)
    # three accounts take turns by chance half the time: ten perfect cycles are no evidence
    assert found["trio"].repeats == found["trio"].handovers
    assert not found["trio"].cyclic(SETTINGS)
    assert found["idle"].handovers == 0 and found["idle"].p_value == 1.0


def _cells(groups: dict[int, list[str]], events: list[tuple[str, int]]) -> pl.DataFrame:
    cell = {a: c for c, members in groups.items() for a in members}
    return pl.DataFrame(
        [(cell[a], a, t) for a, t in events if a in cell], schema={"cell": pl.Int64, "a": pl.String, "t": pl.Int64},
        orient="row")


def _components(pairs: list[tuple[int, int]], n: int) -> list[set[int]]:
    if not pairs:
        return []
    a, b = np.array(pairs).T
    _, labels = connected_components(sparse.coo_array((np.ones(len(a)), (a, b)), shape=(n, n)), directed=False)
    parts: dict[int, set[int]] = {}
    for cell in {int(x) for x in np.r_[a, b]}:
        parts.setdefault(int(labels[cell]), set()).add(cell)
    return sorted(parts.values(), key=min)


def test_slices_of_one_pool_are_linked_and_independent_pools_and_users_are_not() -> None:
    first = [f"p-{k}" for k in range(40)]
    second = [f"q-{k}" for k in range(30)]
    users = [f"u-{k}" for k in range(20)]
    events = (_cyclic(first, 6, 30, seed=4) + _cyclic(second, 6, 47, seed=5, offset_s=100)
              + _random(users, 300, 7200, seed=6))
    # cells (say, one payment card each) are scattered over the dispatcher's order
    groups = {0: first[0::4], 1: first[1::4], 2: first[2::4], 3: first[3::4],
              4: second[0::3], 5: second[1::3], 6: second[2::3],
              7: users[:10], 8: users[10:]}
    parts = _components(linked_by_dispatch(_cells(groups, events)), len(groups))
    # each pool's slices keep handing over in one order; the pools interleave differently every cycle
    assert parts == [{0, 1, 2, 3}, {4, 5, 6}]
    # the last few cycles are enough
    recent = SETTINGS.model_copy(update={"max_events": 40})
    assert _components(linked_by_dispatch(_cells(groups, events), recent), len(groups)) == parts


def _harvest(events: list[tuple[str, int]], clients: dict[str, str] | None = None) -> tuple[pa.Table, Indicators]:
    """Harvest traffic of ``events``; ``clients`` gives each account's client indicator (none when None)."""
    table = pa.Table.from_pylist([{
        "account_id": account, "ts": t, "ip": f"100.{n % 250}.{n // 250}.1", "user_agent": "ua", "tls_ja4": "t13d",
        "n_user_turns": 1, "n_tool_results": 0, "cot_score": 0.95, "prompt_cot_score": 0.95, "reasoning_requested": 1.0,
        "capability": "reasoning", "template_key": n, "prompt_hash": n, "reasoning_share": 0.8, "output_len": 900,
        "has_tool_calls": False,
    } for n, (account, t) in enumerate(events)])
    table = table.set_column(1, "ts", table.column("ts").cast(pa.timestamp("ms", tz="UTC")).cast(TS_TYPE))
    accounts = sorted({a for a, _ in events})
    code = {a: i for i, a in enumerate(accounts)}
    starts = pl.DataFrame({"i": [code[a] for a, _ in events], "t": [t for _, t in events]},
                          schema={"i": pl.UInt32, "t": pl.Int64})
    shown = clients or {}
    rows = pl.DataFrame({
        "i": [code[a] for a in shown], "family": ["client"] * len(shown), "kind": ["client"] * len(shown),
        "h": [int.from_bytes(c.encode()[:8].ljust(8, b"\0"), "little") for c in shown.values()],
        "x": [1.0] * len(shown),
    }, schema={"i": pl.UInt32, "family": pl.String, "kind": pl.String, "h": pl.UInt64, "x": pl.Float32})
    return table, Indicators(pl.Series("account_id", accounts), rows, starts)


def test_cells_handed_conversations_in_one_cyclic_order_become_one_campaign() -> None:
    pool = [f"pool-{k:02d}" for k in range(24)]
    events = _cyclic(pool, 20, 400, seed=7)
    traffic, indicators = _harvest(events, {a: f"client-{k % 3}" for k, a in enumerate(pool)})
    stats = AccountStats()
    stats.update(traffic)
    cells = {f"c{k}": pool[6 * k: 6 * k + 6] for k in range(4)}
    fleets = merge_pools(cells, stats, indicators, CAMPAIGN_SETTINGS)
    assert [f.members for f in fleets.values()] == [pool]
    assert next(iter(fleets.values())).reason == "4 linked groups are handed conversations in one cyclic order"
    # the cells share nothing but the operator's clients: linked inside only (a payment fingerprint each)
    edges = pl.DataFrame([{"a": m[i], "b": m[j], "weight": 0.9, "families": ["payment=0.9"],
                           "strong": True}
                          for m in cells.values() for i in range(len(m)) for j in range(i + 1, len(m))])
    result = find_campaigns(edges, stats, indicators=indicators, min_risk=FLAG_RISK)
    assert [sorted(c.members) for c in result.campaigns] == [pool]
    detectors = {e.detector for e in result.campaigns[0].evidence}
    assert {"fleet_pool", "round_robin"} <= detectors


def test_a_cyclic_order_alone_does_not_join_cells_that_share_no_infrastructure() -> None:
    """Two operations dealing in cycles of one period (an eval harness going round its lab's accounts beside a
    harvester's round robin) interleave by chance; they leave through their own proxies and clients."""
    pool = [f"pool-{k:02d}" for k in range(24)]
    traffic, indicators = _harvest(_cyclic(pool, 20, 400, seed=7), {a: f"client-{k // 6}" for k, a in enumerate(pool)})
    stats = AccountStats()
    stats.update(traffic)
    cells = {f"c{k}": pool[6 * k: 6 * k + 6] for k in range(4)}
    assert merge_pools(cells, stats, indicators, CAMPAIGN_SETTINGS) == {}


def test_the_order_counts_not_the_spacing() -> None:
    """A pool served at irregular times (bursty load) is still one cyclic order."""
    pool = [f"pool-{k}" for k in range(20)]
    rng = np.random.default_rng(8)
    times = np.cumsum(rng.exponential(60_000, size=5 * len(pool))).astype(np.int64) + T0_MS
    events = [(pool[k % len(pool)], int(t)) for k, t in enumerate(times)]
    assert group_dispatch(_frame(events), {"pool": pool})["pool"].cyclic(SETTINGS)


def test_fleets_inside_one_campaign_are_told_as_one() -> None:
    fleets = [Fleet(["a", "b"], 2, ("client",)), Fleet(["c", "d", "e"], 3, ("dispatch",)), Fleet(["f"], 1, ("dispatch",))]
    told = Fleet.combined(fleets)
    assert told.members == ["a", "b", "c", "d", "e", "f"]
    assert told.reason == ("6 linked groups rotate through one shared pool of clients "
                           "and are handed conversations in one cyclic order")
