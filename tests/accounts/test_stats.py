from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest

from distillguard.accounts import FEATURE_SCHEMA, STAT_INPUT_COLUMNS, AccountStats, IpIntel, Origin
from distillguard.accounts.sketch import hll_add, hll_estimate
from distillguard.core.schema import TS_TYPE

T0 = datetime(2026, 3, 2, tzinfo=UTC)


def _batch(n: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    accounts = rng.choice(["a", "b", "c", "d"], size=n)
    ts = sorted(T0 + timedelta(seconds=int(s)) for s in rng.integers(0, 5 * 86400, size=n))
    columns = {
        "account_id": pa.array(accounts.tolist()),
        "ts": pa.array(ts, TS_TYPE),
        "ip": pa.array([f"81.2.{rng.integers(0, 4)}.{rng.integers(1, 50)}" for _ in range(n)]),
        "user_agent": pa.array(rng.choice(["ua-1", "ua-2", None], size=n).tolist()),
        "tls_ja4": pa.array(["t13d"] * n),
        "n_user_turns": pa.array(rng.integers(1, 4, size=n), pa.int32()),
        "n_tool_results": pa.array(rng.integers(0, 2, size=n), pa.int32()),
        "cot_score": pa.array(rng.random(n), pa.float32()), "prompt_cot_score": pa.array(rng.random(n), pa.float32()),
        "reasoning_requested": pa.array(rng.random(n), pa.float32()),
        "capability": pa.array(rng.choice(["reasoning", "coding", "general", None], size=n).tolist()),
        "template_key": pa.array(rng.integers(0, 5, size=n).astype(np.uint64), pa.uint64()),
        "prompt_hash": pa.array(rng.integers(0, 2**63, size=n).astype(np.uint64), pa.uint64()),
        "reasoning_share": pa.array(rng.random(n), pa.float32()),
        "output_len": pa.array(rng.integers(1, 500, size=n), pa.int32()),
        "has_tool_calls": pa.array(rng.choice([True, False, None], size=n).tolist(), pa.bool_()),
    }
    assert tuple(columns) == STAT_INPUT_COLUMNS
    return pa.table(columns)


def _by_account(table: pa.Table) -> dict[str, dict[str, object]]:
    return {row["account_id"]: row for row in table.to_pylist()}


def test_batch_streaming_and_merge_agree() -> None:
    batch = _batch(400)
    whole = AccountStats()
    whole.update(batch)
    streamed = AccountStats()
    for i in range(batch.num_rows):
        streamed.update(batch.slice(i, 1))
    left, right = AccountStats(), AccountStats()
    left.update(batch.slice(0, 150))
    right.update(batch.slice(150))
    left.merge(right)
    expected = _by_account(whole.get())
    for other in (_by_account(streamed.get()), _by_account(left.get())):
        assert other.keys() == expected.keys()
        for account, row in expected.items():
            for name, value in row.items():
                if isinstance(value, float):
                    assert other[account][name] == pytest.approx(value, rel=1e-9, abs=1e-12), name
                else:
                    assert other[account][name] == value, name


def test_counts_and_shares() -> None:
    batch = _batch(200)
    stats = AccountStats()
    stats.update(batch)
    features = _by_account(stats.get())
    accounts = batch.column("account_id").to_pylist()
    cot = batch.column("cot_score").to_pylist()
    for account in set(accounts):
        mine = [c for a, c in zip(accounts, cot) if a == account]
        assert features[account]["n_exchanges"] == len(mine)
        assert features[account]["cot_share"] == pytest.approx(sum(c >= 0.5 for c in mine) / len(mine))


@pytest.mark.parametrize("rows", [0, 1, 300])
def test_fingerprints_have_the_feature_schema(rows: int) -> None:
    batch = _batch(300).slice(0, rows)  # 0, 1 and 4 accounts
    stats = AccountStats()
    stats.update(batch)
    assert len(stats) == len(set(batch.column("account_id").to_pylist()))
    assert stats.get().schema == FEATURE_SCHEMA
    assert stats.pool({"g": ["a", "b"], "none": ["z"]}).get().schema == FEATURE_SCHEMA


def test_pool_equals_merged_members() -> None:
    stats = AccountStats()
    stats.update(_batch(300))
    pooled = _by_account(stats.pool({"g": ["a", "b"]}).get())["g"]
    features = _by_account(stats.get())
    assert pooled["n_exchanges"] == features["a"]["n_exchanges"] + features["b"]["n_exchanges"]
    assert pooled["first_seen"] == min(features["a"]["first_seen"], features["b"]["first_seen"])


def test_a_pooled_groups_rotation_is_its_members_own() -> None:
    """Two accounts taking a new exit for each of their requests through one pool of 6 exits rotate fully as a group
    too, though the group shows only the pool's 6 addresses; a single account's rotation is unchanged by pooling."""
    batch = _batch(12, seed=5)
    exits = [f"81.2.9.{k % 6 + 1}" for k in range(12)]
    batch = batch.set_column(0, "account_id", pa.array(["a"] * 6 + ["b"] * 6)).set_column(2, "ip", pa.array(exits))
    stats = AccountStats()
    stats.update(batch)
    pooled = _by_account(stats.pool({"g": ["a", "b"], "alone": ["a"]}).get())
    assert pooled["g"]["distinct_ips"] == pytest.approx(6, abs=0.5)
    assert pooled["g"]["ip_rotation"] == pytest.approx(1.0, abs=0.05)
    assert pooled["alone"]["ip_rotation"] == _by_account(stats.get())["a"]["ip_rotation"]


def test_a_pooled_groups_fresh_tasks_are_its_members_own() -> None:
    """Two accounts each sending the same 8 prompts once (a fleet splitting one corpus twice over) have 8 distinct
    tasks as a group but 16 fresh ones; two accounts each sending one prompt 8 times (evaluators rerunning an item)
    have 2 fresh tasks of 16. An account's fresh tasks are its distinct ones."""
    batch = _batch(32, seed=3)
    corpus = [1000 + k % 8 for k in range(16)]
    batch = batch.set_column(0, "account_id", pa.array(["a"] * 8 + ["b"] * 8 + ["c"] * 8 + ["d"] * 8))
    batch = batch.set_column(batch.schema.get_field_index("prompt_hash"), "prompt_hash",
                             pa.array(corpus + [7] * 8 + [9] * 8, pa.uint64()))
    batch = batch.set_column(batch.schema.get_field_index("n_user_turns"), "n_user_turns", pa.array([1] * 32, pa.int32()))
    batch = batch.set_column(batch.schema.get_field_index("n_tool_results"), "n_tool_results",
                             pa.array([0] * 32, pa.int32()))
    stats = AccountStats()
    stats.update(batch)
    pooled = _by_account(stats.pool({"fleet": ["a", "b"], "team": ["c", "d"]}).get())
    alone = _by_account(stats.get())
    assert all(alone[a]["fresh_tasks"] == alone[a]["distinct_tasks"] for a in "abcd")
    assert pooled["fleet"]["tasks"] == pooled["team"]["tasks"] == 16
    assert pooled["fleet"]["fresh_tasks"] == pytest.approx(alone["a"]["distinct_tasks"] + alone["b"]["distinct_tasks"])
    assert pooled["fleet"]["fresh_tasks"] > 1.6 * pooled["fleet"]["distinct_tasks"]  # sketches: estimates of 8 and 16
    assert pooled["team"]["fresh_tasks"] == pytest.approx(2, abs=0.2)


@pytest.mark.parametrize("true_count", [1, 7, 60, 5_000, 200_000])
def test_hll_estimate_within_error(true_count: int) -> None:
    registers = np.zeros((1, 128), np.uint8)
    rng = np.random.default_rng(true_count)
    values = rng.integers(0, 2**64 - 1, size=true_count, dtype=np.uint64)
    hll_add(registers, np.zeros(true_count, np.int64), np.concatenate([values]))
    hll_add(registers, np.zeros(true_count, np.int64), values)  # repeats change nothing
    assert hll_estimate(registers)[0] == pytest.approx(true_count, rel=0.25)


def test_sweep_coverage_tells_a_rerun_benchmark_from_a_sweep() -> None:
    n = 120
    batch = _batch(2 * n, seed=3)
    accounts = ["evaluator"] * n + ["sweeper"] * n
    items = [1000 + i % 30 for i in range(n)] + [5000 + i for i in range(n)]
    items[-20:] = [None] * 20  # prompts in no known set
    batch = batch.set_column(0, "account_id", pa.array(accounts))
    batch = batch.append_column("sweep_item", pa.array(items, pa.uint64()))
    stats = AccountStats()
    stats.update(batch.slice(0, 100))
    stats.update(batch.slice(100))
    rows = _by_account(stats.get())
    evaluator, sweeper = rows["evaluator"], rows["sweeper"]
    assert evaluator["sweep_share"] == 1.0
    assert sweeper["sweep_share"] == pytest.approx(100 / 120)
    assert evaluator["sweep_items"] == pytest.approx(30, rel=0.25)  # HLL with 128 registers: ~9 % error
    assert sweeper["sweep_items"] == pytest.approx(100, rel=0.25)
    assert evaluator["sweep_repeat"] == pytest.approx(4.0, rel=0.25)
    assert sweeper["sweep_repeat"] == pytest.approx(1.0, rel=0.25)
    without = AccountStats()
    without.update(batch.drop_columns(["sweep_item"]))
    assert all(row["sweep_share"] == 0.0 for row in without.get().to_pylist())


def test_adding_no_hashes_leaves_the_sketches_unchanged() -> None:
    registers = np.zeros((4, 128), np.uint8)
    hll_add(registers, np.array([], np.int64), np.array([], np.uint64))
    assert not registers.any()


def test_elicitation_is_counted_per_task_answered_in_prose_and_on_new_prompts() -> None:
    """A ReAct agent's "think step by step" (its system prompt's) on every step, or on a tool call, is not a task
    asking for a trace."""
    base = _batch(9, seed=3)
    cot = [0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.1, 0.9, 0.9]
    turns = [1, 1, 3, 1, 1, 1, 1, 1, 1]  # the third continues a conversation
    tool_results = [0, 0, 0, 2, 0, 0, 0, 0, 0]  # the fourth is a tool loop's step
    tool_call = [False, False, False, False, True, None, False, False, False]  # the fifth answers with a bare tool call
    prompt = [1, 2, 3, 4, 5, 6, 7, 1, 8]  # the eighth repeats the first task's prompt
    batch = (base.set_column(base.schema.get_field_index("account_id"), "account_id", pa.array(["a"] * 9))
             .set_column(base.schema.get_field_index("cot_score"), "cot_score", pa.array(cot, pa.float32()))
             .set_column(base.schema.get_field_index("prompt_cot_score"), "prompt_cot_score",
                         pa.array([0.0] * 9, pa.float32()))
             .set_column(base.schema.get_field_index("n_user_turns"), "n_user_turns", pa.array(turns, pa.int32()))
             .set_column(base.schema.get_field_index("n_tool_results"), "n_tool_results", pa.array(tool_results, pa.int32()))
             .set_column(base.schema.get_field_index("has_tool_calls"), "has_tool_calls", pa.array(tool_call, pa.bool_()))
             .set_column(base.schema.get_field_index("prompt_hash"), "prompt_hash", pa.array(prompt, pa.uint64()))
             .set_column(base.schema.get_field_index("reasoning_share"), "reasoning_share", pa.array([0.0] * 9, pa.float32())))
    stats = AccountStats()
    stats.update(batch)
    row = stats.get().to_pylist()[0]
    assert row["tasks"] == 7
    # tasks 1, 2, 6 (no logged answer) and 9 ask in words and got prose; 8 repeats 1's prompt
    assert row["elicited_tasks"] == pytest.approx(4, abs=0.1)


def test_counted_tasks_need_a_confident_classifier_and_count_budgets_and_distinct_prompts() -> None:
    """A CoT score the classifier half-suspects (an app's system prompt) is not a task asking in words; a large thinking
    budget opening a task answered in prose is one asking through the parameters; reruns are told by distinct prompts."""
    base = _batch(6, seed=5)
    cot = [0.95, 0.6, 0.1, 0.1, 0.1, 0.95]
    param = [0.0, 0.0, 1.0, 1.0, 1.0, 0.0]
    tool_call = [False, False, False, True, False, False]  # the fourth's budget bought a tool call, not a trace
    prompt = [1, 2, 3, 4, 5, 1]  # the sixth reruns the first
    columns = {"account_id": pa.array(["a"] * 6), "cot_score": pa.array(cot, pa.float32()),
               "prompt_cot_score": pa.array(cot, pa.float32()),
               "reasoning_requested": pa.array(param, pa.float32()), "n_user_turns": pa.array([1] * 6, pa.int32()),
               "n_tool_results": pa.array([0] * 6, pa.int32()), "has_tool_calls": pa.array(tool_call, pa.bool_()),
               "prompt_hash": pa.array(prompt, pa.uint64()), "reasoning_share": pa.array([0.0] * 6, pa.float32())}
    for name, values in columns.items():
        base = base.set_column(base.schema.get_field_index(name), name, values)
    stats = AccountStats()
    stats.update(base)
    row = stats.get().to_pylist()[0]
    assert row["tasks"] == 6
    assert row["elicited_tasks"] == pytest.approx(1, abs=0.1)  # 0.6 is not confident; the rerun adds no new prompt
    assert row["budget_tasks"] == pytest.approx(2, abs=0.1)
    assert row["either_tasks"] == pytest.approx(3, abs=0.1)  # the first's prompt (twice), the third's and the fifth's
    assert row["distinct_tasks"] == pytest.approx(5, abs=0.25)  # a sketch: exact enough for a few


def test_traffic_not_found_anonymised_is_unlisted_without_exit_lists() -> None:
    batch = _batch(200)
    vpn_ip = batch.column("ip")[0].as_py()
    bare = AccountStats(IpIntel(exact={vpn_ip: Origin.VPN}))
    listed = AccountStats(IpIntel(exact={vpn_ip: Origin.VPN}, lists=frozenset({Origin.VPN, Origin.TOR})))
    for stats in (bare, listed):
        stats.update(batch)
    unknown = _by_account(bare.get())
    assert any(row["vpn_share"] > 0 for row in unknown.values()) and any(row["vpn_share"] == 0 for row in unknown.values())
    assert all(row["unlisted_share"] == pytest.approx(1.0 - row["vpn_share"]) for row in unknown.values())
    assert all(row["unlisted_share"] == 0 for row in _by_account(listed.get()).values())
    pooled = bare.pool({"all": list(unknown)}).get().to_pylist()[0]
    assert pooled["unlisted_share"] == pytest.approx(1.0 - pooled["vpn_share"])


def test_a_tool_call_that_delivers_its_reasoning_or_was_asked_for_it_in_the_prompt_is_an_elicited_task() -> None:
    """An agent framework's first step returns an action alone, its system prompt asking for the reasoning on every
    call; a harvester of agentic traces gets the action with the reasoning it asked for in words, or asks for it in
    each task's own words: only the harvester's count toward the counted evidence. A thinking budget on a tool call is
    ordinary agentic use, reasoning or not."""
    n = 5
    batch = _batch(n).drop_columns(["account_id", "cot_score", "prompt_cot_score", "reasoning_requested",
                                    "n_user_turns", "n_tool_results", "has_tool_calls", "reasoning_share",
                                    "prompt_hash"])
    columns = {
        "account_id": pa.array(["a"] * n),
        "n_user_turns": pa.array([1] * n, pa.int32()),
        "n_tool_results": pa.array([0] * n, pa.int32()),
        "cot_score": pa.array([0.95] * n, pa.float32()),
        "prompt_cot_score": pa.array([0.95, 0.1, 0.95, 0.95, 0.9], pa.float32()),  # the second: its system prompt asks
        "reasoning_requested": pa.array([0.9] * n, pa.float32()),
        "prompt_hash": pa.array([11, 22, 33, 44, 55], pa.uint64()),
        "reasoning_share": pa.array([0.4, 0.0, 0.0, None, 0.0], pa.float32()),
        "has_tool_calls": pa.array([True, True, False, None, True], pa.bool_()),
    }
    for name, column in columns.items():
        batch = batch.append_column(name, column)
    stats = AccountStats()
    stats.update(batch.select(list(STAT_INPUT_COLUMNS)))
    row = stats.get().to_pylist()[0]
    assert row["tasks"] == 5
    assert row["elicited_tasks"] == pytest.approx(4, abs=0.05)  # the second's bare tool call, asked by the system only
    assert row["budget_tasks"] == pytest.approx(2, abs=0.05)  # none of the tool calls
    assert row["either_tasks"] == pytest.approx(4, abs=0.05)
