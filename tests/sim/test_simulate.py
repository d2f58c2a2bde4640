from __future__ import annotations

import gzip
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest
import yaml
from rich.console import Console

from distillguard.core.errors import ConfigError
from distillguard.sim import SimSummary, load_scenario, simulate
from distillguard.sim.data import load_data

from .conftest import SHARED_DATA, read_jsonl
from .shapes import check_record, ts_ms

Run = tuple[Path, SimSummary, list[int]]


def test_every_population_and_campaign_appears(smoke_run: Run) -> None:
    out, summary, _ = smoke_run
    scenario = load_scenario("smoke")
    labels = read_jsonl(out / "labels.jsonl")
    pops = Counter(r["population"] for r in labels if r["label"] == "legit")
    camps = Counter(r["campaign"] for r in labels if r["label"] == "attack")
    assert set(pops) == {p.label for p in scenario.populations}
    assert set(camps) == {c.id for c in scenario.campaigns}
    assert all(r["population"] == "campaign" for r in labels if r["label"] == "attack")
    assert all(summary.exchanges_by_population[p] > 0 for p in pops)
    assert summary.exchanges == sum(summary.exchanges_by_population.values()) + sum(
        summary.exchanges_by_campaign.values())
    assert 0.7 * scenario.expected_exchanges < summary.exchanges < 1.4 * scenario.expected_exchanges


def test_records_have_the_declared_shapes(smoke_records: list[dict]) -> None:
    formats = Counter(check_record(r) for r in smoke_records)
    assert formats["anthropic"] > 100 and formats["openai"] > 100
    assert len({r["request_id"] for r in smoke_records}) == len(smoke_records)
    statuses = Counter(r["status"] for r in smoke_records)
    assert statuses[200] > 0.95 * len(smoke_records) and statuses[429] > 0
    assert any(isinstance(r["ts"], int) for r in smoke_records)
    assert sum(isinstance(r["ts"], str) and r["ts"].endswith("Z") for r in smoke_records) > 0.9 * len(smoke_records)
    assert any(":" in r["ip"] for r in smoke_records)  # some IPv6


def test_shapes_cover_thinking_tools_and_agent_loops(smoke_records: list[dict]) -> None:
    reqs = [r["request"] for r in smoke_records]
    assert any("thinking" in q for q in reqs) and any("reasoning_effort" in q for q in reqs)
    assert any(q.get("tools") and q["tools"][0].get("type") == "function" for q in reqs)
    results = [
        sum(isinstance(m["content"], list) and any(b["type"] == "tool_result" for b in m["content"])
            for m in q["messages"])
        for q in reqs
    ]
    assert max(results) >= 4
    assert any(any(m["role"] == "tool" for m in q["messages"]) for q in reqs)


def test_sorted_by_time_within_scenario(smoke_records: list[dict]) -> None:
    scenario = load_scenario("smoke")
    times = [ts_ms(r["ts"]) for r in smoke_records]
    assert times == sorted(times)
    assert scenario.start_ms() <= times[0] and times[-1] < scenario.end_ms()


def test_labels_accounts_and_exchanges_agree(smoke_run: Run, smoke_records: list[dict]) -> None:
    out, summary, _ = smoke_run
    labels = read_jsonl(out / "labels.jsonl")
    accounts = read_jsonl(out / "accounts.jsonl")
    used = Counter(r["account_id"] for r in smoke_records)
    assert {r["account_id"] for r in labels} == set(used) == {a["account_id"] for a in accounts}
    assert all(r["n_exchanges"] == used[r["account_id"]] for r in labels)
    assert summary.accounts == len(accounts)
    fields = {"account_id", "created_at", "category", "email_domain", "email_local", "country",
              "payment_fingerprint", "signup_ip", "verification"}
    assert all(set(a) == fields for a in accounts)


def test_campaign_parameters_show_in_traffic(smoke_run: Run, smoke_records: list[dict]) -> None:
    out, _, _ = smoke_run
    scenario = load_scenario("smoke")
    labels = {r["account_id"]: r for r in read_jsonl(out / "labels.jsonl")}
    hydra = next(c for c in scenario.campaigns if c.id == "smoke-hydra")
    assert max(r["n_exchanges"] for r in labels.values() if r["campaign"] == hydra.id) <= hydra.max_per_account
    by = {c.id: [r for r in smoke_records if labels[r["account_id"]]["campaign"] == c.id] for c in scenario.campaigns}
    assert all(r["endpoint"] == "/v1/chat/completions" for r in by["smoke-hydra"])
    assert len({r["ip"] for r in by["smoke-hydra"]}) > 0.5 * len(by["smoke-hydra"])  # rotating pool
    assert len({r["ip"] for r in by["smoke-reasoning"]}) <= 6  # one exit per account
    assert len({r["tls_ja4"] for r in by["smoke-reasoning"] if "tls_ja4" in r}) == 1
    truth = orjson.loads((out / "truth.json").read_bytes())
    pivot = next(c for c in truth["campaigns"] if c["id"] == "smoke-agentic-pivot")
    assert pivot["pivot_model"] == "atlas-3-pro"
    after = [r["model"] for r in by["smoke-agentic-pivot"] if ts_ms(r["ts"]) >= ts_ms(pivot["pivot_ts"])]
    assert after and Counter(after)["atlas-3-pro"] > 0.7 * len(after)
    assert {c["id"] for c in truth["campaigns"]} == {c.id for c in scenario.campaigns}
    assert all(c["n_exchanges"] == len(by[c["id"]]) for c in truth["campaigns"])


def test_progress_and_summary_table(smoke_run: Run) -> None:
    _, summary, calls = smoke_run
    assert sum(calls) == summary.exchanges and len(calls) > 10
    assert summary.bytes_written > 0 and summary.elapsed_s > 0
    console = Console(width=160, record=True)
    console.print(summary.table())
    text = console.export_text()
    assert all(name in text for name in [*summary.exchanges_by_population, *summary.exchanges_by_campaign])
    assert f"{summary.exchanges:,}" in text


def _phrases() -> list[str]:
    """Literal fragments of the phrasebook (long enough to be unambiguous)."""
    out: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, str):
            out.extend(p for p in node.replace("[[", "|").replace("]]", "|").split("|") if len(p.strip()) > 25)
        elif isinstance(node, dict):
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(load_data("phrasebook"))
    return out


def test_no_prompt_text_leaks_into_ground_truth(smoke_run: Run) -> None:
    out, _, _ = smoke_run
    phrases = _phrases()
    assert len(phrases) > 50
    for name in ("labels.jsonl", "truth.json", "accounts.jsonl"):
        text = (out / name).read_text(encoding="utf-8")
        assert not [p for p in phrases if p in text], name


def test_ground_truth_does_not_leak_into_traffic(smoke_run: Run) -> None:
    out, _, _ = smoke_run
    scenario = load_scenario("smoke")
    traffic = (out / "exchanges.jsonl").read_text(encoding="utf-8")
    for c in scenario.campaigns:
        assert c.id not in traffic and c.operator not in traffic


def test_same_seed_is_byte_identical_and_seed_matters(smoke_run: Run, tmp_path: Path) -> None:
    out, _, _ = smoke_run
    again = tmp_path / "again"
    simulate(load_scenario("smoke"), again, None)
    for name in ("exchanges.jsonl", "accounts.jsonl", "labels.jsonl", "truth.json", "scenario.yaml"):
        assert (out / name).read_bytes() == (again / name).read_bytes(), name
    other = tmp_path / "other"
    summary = simulate(load_scenario("smoke"), other, None, seed=8)
    assert summary.seed == 8
    assert (out / "exchanges.jsonl").read_bytes() != (other / "exchanges.jsonl").read_bytes()
    assert yaml.safe_load((other / "scenario.yaml").read_text())["seed"] == 8


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-hour variant of smoke, as a scenario file."""
    path = tmp_path_factory.mktemp("tiny") / "tiny.yaml"
    path.write_text(
        yaml.safe_dump({"extends": "smoke", "name": "tiny", "duration_hours": 3,
                        "campaigns": [{"id": "smoke-agentic-pivot", "remove": True}]}),
        encoding="utf-8",
    )
    return path


def test_deterministic_across_processes(tiny: Path, tmp_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from distillguard.sim import load_scenario, simulate; "
        "simulate(load_scenario(sys.argv[1]), Path(sys.argv[2]), None)"
    )
    for h in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": h}
        subprocess.run([sys.executable, "-c", code, str(tiny), str(tmp_path / h)], check=True, env=env)
    assert (tmp_path / "1" / "exchanges.jsonl").read_bytes() == (tmp_path / "2" / "exchanges.jsonl").read_bytes()


@pytest.mark.parametrize("fmt", ["parquet", "jsonl.gz"])
def test_other_formats_hold_the_same_records(tiny: Path, tmp_path: Path, fmt: str) -> None:
    scenario = load_scenario(str(tiny))
    ref = simulate(scenario, tmp_path / "ref", None)
    summary = simulate(scenario, tmp_path / fmt, None, fmt=fmt)
    assert summary.exchanges == ref.exchanges
    expected = read_jsonl(tmp_path / "ref" / "exchanges.jsonl")
    if fmt == "parquet":
        table = pq.read_table(tmp_path / fmt / "exchanges.parquet")
        assert table.num_rows == len(expected)
        rows = table.to_pylist()
        assert [r["request_id"] for r in rows] == [r["request_id"] for r in expected]
        assert [int(r["ts"].timestamp() * 1000) for r in rows] == [ts_ms(r["ts"]) for r in expected]
        assert orjson.loads(rows[0]["request"]) == expected[0]["request"]
    else:
        with gzip.open(tmp_path / fmt / "exchanges.jsonl.gz", "rb") as fh:
            assert [orjson.loads(line) for line in fh] == expected


def test_bad_arguments(tiny: Path, tmp_path: Path) -> None:
    scenario = load_scenario(str(tiny))
    with pytest.raises(ConfigError, match="fmt"):
        simulate(scenario, tmp_path, None, fmt="csv")
    with pytest.raises(ConfigError, match="corpus directory not found"):
        simulate(scenario, tmp_path, tmp_path / "missing")


def _tiny_corpus(root: Path) -> Path:
    prompts = root / "prompts"
    prompts.mkdir()
    rows = {
        "chat": [{"kind": "legit", "capability": "general", "turns": [f"How do I bake bread, take {i}?", "and rye?"]}
                 for i in range(30)],
        "math": [{"kind": "distill", "capability": "reasoning", "turns": [f"What is {i} + {i + 1}?"]} for i in range(40)],
        "code": [{"kind": "distill", "capability": "coding", "turns": [f"Write a function returning {i}."]}
                 for i in range(40)],
    }
    for name, items in rows.items():
        lines = [orjson.dumps({"id": f"{name}:{i}", "source": name, **r}) for i, r in enumerate(items)]
        (prompts / f"{name}.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    return prompts


def test_corpus_directory_and_named_sources(tmp_path: Path, tiny: Path) -> None:
    corpus = _tiny_corpus(tmp_path)
    data = {"extends": str(tiny), "campaigns": [{"id": "smoke-reasoning", "sources": ["math"], "order": "sequential"}]}
    variant = tmp_path / "v.yaml"
    variant.write_text(yaml.safe_dump(data), encoding="utf-8")
    summary = simulate(load_scenario(str(variant)), tmp_path / "out", corpus)
    assert summary.exchanges_by_campaign["smoke-reasoning"] > 0
    data["campaigns"][0]["sources"] = ["gsm8k-train"]
    variant.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ConfigError, match="gsm8k-train"):
        simulate(load_scenario(str(variant)), tmp_path / "out2", corpus)


@pytest.mark.skipif(not (SHARED_DATA / "prompts").is_dir(), reason="../shared/data not present")
def test_real_corpora_and_intel(tiny: Path, tmp_path: Path) -> None:
    summary = simulate(load_scenario(str(tiny)), tmp_path, SHARED_DATA / "prompts")
    text = (tmp_path / "exchanges.jsonl").read_text(encoding="utf-8")
    records = [orjson.loads(line) for line in text.splitlines()]  # no raw U+2028 & co. inside lines
    assert summary.exchanges == len(records)
    for r in records:
        check_record(r)


def test_unicode_line_separators_are_escaped(tmp_path: Path) -> None:
    from distillguard.sim.writer import ExchangeWriter

    writer = ExchangeWriter(tmp_path / "x.jsonl", "jsonl")
    writer.add(1, {"request_id": "r"}, '{"t":"a\u2028b\u0085c"}'.encode().decode("unicode_escape").encode(),
               b"{}", b"null", 200)
    writer.close()
    line = (tmp_path / "x.jsonl").read_text(encoding="utf-8")
    assert len(line.splitlines()) == 1
    assert orjson.loads(line)["request"]["t"] == "a\u2028b\x85c".encode().decode("unicode_escape")
