"""Near-identical template grouping: paraphrased variants link accounts, unrelated prompts and hubs do not."""

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from distillguard.analysis.indicators import (
    build_template_groups,
    describe_indicators,
    ensure_template_groups,
    load_indicators,
)
from distillguard.campaigns import link_accounts
from distillguard.campaigns.settings import load_campaign_settings
from distillguard.campaigns.templates import group_templates
from distillguard.signals.registry import compute_signals
from distillguard.store import Store
from distillguard.store.linking import TEMPLATE_TABLE as TABLE
from factories import T0, account, accounts, exchange, exchanges

QUESTIONS = [
    "Why does ice float on liquid water?",
    "Explain how a binary search tree keeps its keys ordered.",
    "A farmer has chickens and cows with a total of eighty legs; how many cows could there be?",
    "What caused the fall of the Western Roman Empire?",
    "Prove that the square root of two is irrational.",
    "How do vaccines train the immune system?",
    "Write a haiku about autumn leaves falling into a river.",
    "What is the derivative of sine of x squared?",
    "Compare merge sort and quicksort on nearly sorted input.",
    "Why is the sky blue during the day but red at sunset?",
    "Describe the water cycle for a ten year old.",
    "How many ways can five books be arranged on a shelf?",
    "What does a mitochondrion do inside a cell?",
    "Summarize the plot of Hamlet in three sentences.",
    "How does public key cryptography let strangers share secrets?",
    "If a triangle has sides three, four and five, what is its area?",
    "What are the main differences between TCP and UDP?",
    "Why do leaves change colour in autumn?",
    "Find all integer solutions of x squared minus y squared equals fifteen.",
    "How does a refrigerator move heat out of its interior?",
    "What is the difference between weather and climate?",
    "Explain recursion using the example of Russian dolls.",
    "A car accelerates uniformly from rest; how far does it travel in the first ten seconds?",
    "Why did the printing press change European society?",
    "What makes a prime number different from a composite number?",
    "How do bees communicate the location of flowers?",
    "Translate the idea of opportunity cost into an everyday example.",
    "What happens to the volume of a gas when its pressure doubles?",
    "Give three arguments for and against daylight saving time.",
    "How does a hash table resolve collisions?",
    "Why are coral reefs sensitive to ocean warming?",
    "What is the expected number of coin flips until two heads in a row?",
    "Describe how photosynthesis stores energy from sunlight.",
    "What is the role of the Federal Reserve in the economy?",
    "How can you detect a cycle in a linked list?",
    "Why does a spinning top not fall over immediately?",
]

_ENGINE = ("You are a {adj} reasoning engine. {verb} through {each} problem {pace} "
           "and {check} each step before answering.")
OPERATOR_SYSTEMS = [
    _ENGINE.format(adj="rigorous", verb="Think", each="every", pace="step by step", check="verify"),
    _ENGINE.format(adj="rigorous", verb="Think", each="every", pace="step by step", check="check"),
    _ENGINE.format(adj="careful", verb="Think", each="every", pace="step by step", check="verify"),
    _ENGINE.format(adj="rigorous", verb="Think", each="each", pace="one step at a time", check="verify"),
]
OPERATOR_WRAPPERS = [
    "Problem:\n{q}\n\nShow your full reasoning, then write the final answer on its own line.",
    "Problem:\n{q}\n\nShow all of your reasoning, then write the final answer on its own line.",
    "Problem:\n{q}\n\nShow your full reasoning, then put the final answer on its own line.",
    "Problem:\n{q}\n\nShow your complete reasoning, then write the final answer on its own line.",
]
UNRELATED_SYSTEMS = [
    "You translate customer emails into formal German and keep the original paragraph structure.",
    "Act as a friendly museum guide who answers visitors in short, vivid sentences.",
    "You are a SQL expert. Reply only with a query for a Postgres database, no prose.",
    "Respond as a travel agent planning budget trips across South America.",
]
HUB_SYSTEM = "You are a helpful assistant."


def _rows(account_id: str, day: int, start: int, prompts: list[tuple[str | None, str]], **over: object) -> list[dict]:
    """One exchange per (system, prompt), an account's traffic on its own day."""
    return [
        exchange(start + k, account_id=account_id, system=system, prompt=prompt,
                 ts=T0 + timedelta(days=day, minutes=7 * k), **over)
        for k, (system, prompt) in enumerate(prompts)
    ]


def _questions(offset: int, n: int = 12) -> list[str]:
    return [QUESTIONS[(offset + 5 * k) % len(QUESTIONS)] for k in range(n)]


def _store(tmp_path: Path, rows: list[dict], account_rows: list[dict]) -> Store:
    store = Store(tmp_path / "s.duckdb").open()
    batch = exchanges(rows)
    store.ingest_batch(batch, compute_signals(batch))
    store.upsert_accounts(accounts(account_rows))
    return store


def _operator(store_rows: list[dict], acc: list[dict], name: str, systems: list[str], wrappers: list[str],
              first_day: int) -> None:
    """Accounts on their own addresses and days that share only a client and, per account, a template variant."""
    for a, (system, wrapper) in enumerate(zip(systems, wrappers, strict=True)):
        account_id = f"{name}-{a}"
        acc.append(account(account_id, category="research", email_domain=f"{name}{a}.example",
                           created_at=T0 - timedelta(days=40 + 3 * a + first_day)))
        prompts = [(system, wrapper.format(q=q)) for q in _questions(7 * a + first_day)]
        ip = f"198.51.{first_day + a}.{10 + a}"
        store_rows += _rows(account_id, first_day + a, len(store_rows), prompts,
                            ip=ip, user_agent="OpenAI/Python 1.30.1", tls_ja4="t13d_shared")


@pytest.fixture
def population(tmp_path: Path) -> Iterator[Store]:
    rows: list[dict] = []
    acc: list[dict] = []
    _operator(rows, acc, "op", OPERATOR_SYSTEMS, OPERATOR_WRAPPERS, first_day=0)
    _operator(rows, acc, "other", UNRELATED_SYSTEMS, ["{q}"] * 4, first_day=10)
    # 30 students behind one NAT address, each on their own client and questions (no prompt repeats
    # across students), all with the same default system prompt
    n = len(QUESTIONS)
    for s in range(30):
        acc.append(account(f"student-{s}", category="education", email_domain="uni.example.edu",
                           created_at=T0 - timedelta(days=60 + s)))
        pairs = [divmod(12 * s + k, n) for k in range(12)]
        prompts = [(HUB_SYSTEM, f"{QUESTIONS[a]} {QUESTIONS[(a + 1 + r) % n]}") for r, a in pairs]
        rows += _rows(f"student-{s}", 20 + s, len(rows), prompts, ip="81.2.69.1", user_agent=f"Mozilla/5.0 v{s}")
    store = _store(tmp_path, rows, acc)
    yield store
    store.close()


def _pairs(edges: pl.DataFrame, prefix: str) -> set[tuple[str, str]]:
    return {(a, b) for a, b in edges.select("a", "b").iter_rows() if a.startswith(prefix) and b.startswith(prefix)}


def test_paraphrased_template_variants_link_accounts_their_exact_keys_do_not(population: Store) -> None:
    keys = population.query(
        "SELECT account_id, list(DISTINCT template_key) AS k FROM signals WHERE account_id LIKE 'op-%' GROUP BY 1"
    ).to_pylist()
    assert len({k for row in keys for k in row["k"]}) == sum(len(row["k"]) for row in keys)  # no key shared
    edges = link_accounts(load_indicators(population))
    linked = _pairs(edges, "op-")
    assert {x for pair in linked for x in pair} == {f"op-{a}" for a in range(4)}
    families = edges.filter(pl.col("a").str.starts_with("op-")).get_column("families").to_list()
    assert all(any(f.startswith("template=") for f in fs) for fs in families)


def test_unrelated_templates_on_the_same_questions_and_client_do_not_link(population: Store) -> None:
    edges = link_accounts(load_indicators(population))
    assert not _pairs(edges, "other-")
    assert not {(a, b) for a, b in edges.select("a", "b").iter_rows() if a.startswith("op-") and b.startswith("other-")}


def test_a_hub_template_of_many_legitimate_accounts_does_not_link_them(population: Store) -> None:
    edges = link_accounts(load_indicators(population))
    assert not _pairs(edges, "student-")
    distinct = population.query("SELECT template_fp AS fp, count(*) AS n FROM signals GROUP BY 1")
    groups = group_templates(distinct.column("fp").to_numpy(), distinct.column("n").to_numpy())
    group_of = dict(zip(groups.fp.tolist(), groups.group.tolist(), strict=True))
    shown = population.query("SELECT DISTINCT account_id, template_fp FROM signals WHERE account_id LIKE 'student-%'")
    pairs = zip(shown.column("account_id").to_pylist(), shown.column("template_fp").to_pylist(), strict=True)
    students = Counter(g for g, _ in {(group_of[fp], a) for a, fp in pairs} if g >= 0)
    assert max(students.values()) > load_campaign_settings().templates.hub_min  # grouping alone joins them: the guard must act
    build_template_groups(population)
    assert population.query(f"SELECT * FROM {TABLE} JOIN signals ON fp = template_fp "
                            "WHERE account_id LIKE 'student-%'").num_rows == 0


def test_described_template_values_carry_the_linking_keys(population: Store) -> None:
    indicators = load_indicators(population)
    table = indicators.table.with_columns(pl.col("i").map_elements(indicators.accounts.__getitem__,
                                                                    return_dtype=pl.String).alias("account_id"))
    described = describe_indicators(population, ["op-0", "op-1"]).filter(pl.col("kind") == "template")
    grouped = described.filter(pl.col("value").str.starts_with("~"))
    assert grouped.height >= 2
    compact = table.filter(pl.col("account_id").is_in(["op-0", "op-1"]) & (pl.col("kind") == "template"))
    assert set(grouped.get_column("h").to_list()) <= set(compact.get_column("h").to_list())


def test_template_groups_are_built_once_per_cut_and_again_for_another(population: Store) -> None:
    ensure_template_groups(population)
    population.con.execute(f"INSERT INTO {TABLE} VALUES (12345, '~sentinel')")
    ensure_template_groups(population)  # same cut, same signals: the table is kept
    assert population.query(f"SELECT * FROM {TABLE} WHERE template = '~sentinel'").num_rows == 1
    cut = T0 + timedelta(days=5)
    ensure_template_groups(population, cut)
    rebuilt = population.query(f"SELECT fp, template FROM {TABLE} ORDER BY fp")
    build_template_groups(population, cut)
    assert rebuilt.num_rows and rebuilt.equals(population.query(f"SELECT fp, template FROM {TABLE} ORDER BY fp"))


def _flip(fp: int, bits: list[int]) -> int:
    for b in bits:
        fp ^= 1 << b
    return fp


def test_a_chain_of_near_fingerprints_does_not_join_its_distant_ends() -> None:
    chain = [0]
    for step in range(12):  # each link 3 bits from the previous one, the ends 36 bits apart
        chain.append(_flip(chain[-1], [3 * step, 3 * step + 1, 3 * step + 2]))
    fp = np.array(chain, np.uint64)
    groups = group_templates(fp, np.full(len(fp), 3), load_campaign_settings().templates)
    group = dict(zip(groups.fp.tolist(), groups.group.tolist(), strict=True))
    assert group[chain[0]] == -1 or group[chain[0]] != group[chain[-1]]


def test_heavy_atoms_merge_within_the_merge_radius_only() -> None:
    base = 0x0123456789ABCDEF
    near = _flip(base, list(range(0, 40, 4)))  # 10 bits away
    far = _flip(base, list(range(1, 63, 3)))  # 21 bits away
    fp = np.array([base, _flip(base, [63]), near, _flip(near, [62]), far, _flip(far, [61])], np.uint64)
    settings = load_campaign_settings().templates.model_copy(update={"min_rows": 5, "merge_radius": 12})
    heavy = group_templates(fp, np.full(len(fp), 5), settings)
    g = dict(zip(heavy.fp.tolist(), heavy.group.tolist(), strict=True))
    assert g[base] == g[near] != g[far]
    light = group_templates(fp, np.full(len(fp), 1), settings)
    g = dict(zip(light.fp.tolist(), light.group.tolist(), strict=True))
    assert g[base] != g[near]


def test_groups_do_not_depend_on_input_order() -> None:
    rng = np.random.default_rng(3)
    centres = rng.integers(0, 2**63, 20, dtype=np.uint64)
    noise = np.uint64(1) << rng.integers(0, 64, 400).astype(np.uint64)
    fp = np.unique(np.repeat(centres, 20) ^ noise)
    rows = rng.integers(1, 4, len(fp))
    first = group_templates(fp, rows)
    order = rng.permutation(len(fp))
    second = group_templates(fp[order], rows[order])
    assert np.array_equal(first.fp, second.fp) and np.array_equal(first.group, second.group)
