"""``distillguard campaign list / show`` over a real store analysed from the simulated smoke scenario."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import orjson
import polars as pl
import pytest
from typer.testing import CliRunner

from distillguard.analysis.inspect import campaign_lifecycle, find_intrusion_sets
from distillguard.campaigns.intrusion import pair_agreement
from distillguard.campaigns.lifecycle import build_lifecycle
from distillguard.cli import app
from distillguard.cli.plots import plot_account_graph, plot_lifecycle
from distillguard.store import Store
from smoke_store import analysed_smoke

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
runner = CliRunner()


def _invoke(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The smoke traffic and the store analysed from it."""
    root = tmp_path_factory.mktemp("campaign-cmd")
    return root, analysed_smoke(root)


def _campaigns(root: Path) -> list[dict[str, object]]:
    lines = (root / "analysis" / "campaigns.jsonl").read_text().splitlines()
    return sorted((json.loads(line) for line in lines), key=lambda c: -int(c["n_exchanges"]))  # type: ignore[call-overload]


def test_list_names_every_campaign_of_the_newest_run(analysed: tuple[Path, Path]) -> None:
    root, db = analysed
    campaigns = _campaigns(root)
    assert campaigns, "the smoke scenario should yield campaigns"
    listing = _invoke("campaign", "list", "--db", str(db))
    for c in campaigns:
        assert str(c["campaign_id"]) in listing
    assert re.search(r"IS-[0-9a-f]{10}", listing)


def test_show_prints_evidence_phases_and_intrusion_set_and_writes_two_pngs(analysed: tuple[Path, Path], tmp_path: Path) -> None:
    root, db = analysed
    top = _campaigns(root)[0]
    cid = str(top["campaign_id"])
    shown = _invoke("campaign", "show", cid, "--db", str(db), "--out", str(tmp_path), "--max-nodes", "10")
    for heading in ("members", "confidence", "linking edges", "shared indicators", "lifecycle phases", "intrusion set"):
        assert heading in shown
    assert f"{int(top['n_exchanges']):,} exchanges" in shown  # type: ignore[call-overload]
    assert "harvesting" in shown
    for suffix in ("lifecycle", "accounts"):
        png = tmp_path / f"{cid}-{suffix}.png"
        assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 20_000
    if int(top["n_accounts"]) > 10:  # type: ignore[call-overload]
        assert "10 linked accounts of" in shown


def test_lifecycle_of_a_stored_campaign_adds_up_to_its_record(analysed: tuple[Path, Path]) -> None:
    root, db = analysed
    with Store(db) as store:
        for record in _campaigns(root):
            life = campaign_lifecycle(store, list(record["accounts"]))  # type: ignore[call-overload]
            assert life.hourly.get_column("exchanges").sum() == record["n_exchanges"]
            assert life.hourly.get_column("new_accounts").sum() == record["n_accounts"]
            assert all(p.start <= p.end for p in life.phases)


def test_smoke_pivot_campaign_is_seen_pivoting_to_the_new_model(analysed: tuple[Path, Path]) -> None:
    root, db = analysed
    truth = orjson.loads((root / "traffic" / "truth.json").read_bytes())
    pivot = next(c for c in truth["campaigns"] if c["pivot_ts"])
    labels = [json.loads(line) for line in (root / "traffic" / "labels.jsonl").read_text().splitlines()]
    members = [r["account_id"] for r in labels if r["campaign"] == pivot["id"]]
    with Store(db) as store:
        life = campaign_lifecycle(store, members)
    at = datetime.fromisoformat(pivot["pivot_ts"])
    starts = [p.start for p in life.phases if p.kind == "pivot" and pivot["pivot_model"] in p.evidence]
    assert starts and min(abs((s - at).total_seconds()) for s in starts) <= 2 * 3600


def test_unknown_campaign_is_a_clear_error_saying_how_to_list_ids(analysed: tuple[Path, Path]) -> None:
    _, db = analysed
    result = runner.invoke(app, ["campaign", "show", "CMP-nope", "--db", str(db)])
    assert result.exit_code == 2
    assert "CMP-nope" in result.output and "campaign list" in result.output


def test_missing_store_or_run_is_a_clear_error(analysed: tuple[Path, Path], tmp_path: Path) -> None:
    _, db = analysed
    missing = runner.invoke(app, ["campaign", "list", "--db", str(tmp_path / "none.duckdb")])
    assert missing.exit_code == 2 and "no such store" in missing.output
    bad_run = runner.invoke(app, ["campaign", "list", "--db", str(db), "--run", "nope"])
    assert bad_run.exit_code == 2 and "no run 'nope'" in bad_run.output


def test_intrusion_sets_over_the_true_smoke_campaigns_follow_the_operators(analysed: tuple[Path, Path]) -> None:
    root, db = analysed
    truth = orjson.loads((root / "traffic" / "truth.json").read_bytes())
    operator = {c["id"]: c["operator"] for c in truth["campaigns"]}
    labels = [json.loads(line) for line in (root / "traffic" / "labels.jsonl").read_text().splitlines()]
    members = pl.DataFrame([("truth", r["campaign"], r["account_id"]) for r in labels if r["campaign"]],
                           schema=["run_id", "campaign_id", "account_id"], orient="row")
    with Store(db) as store:
        sets = find_intrusion_sets(store, members=members)
    assert pair_agreement(sets, operator) == {"campaigns": 3.0, "pair_precision": 1.0, "pair_recall": 1.0}
    shared = [item for s in sets for item in s.shared]
    assert shared and all(":#" not in item.indicator for item in shared)  # readable values, not hashes


def test_plots_of_a_campaign_without_stored_traffic_or_links_are_still_written(tmp_path: Path) -> None:
    empty = pl.DataFrame(schema={"hour": pl.Datetime("us", "UTC"), "account_id": pl.String, "model": pl.String,
                                 "capability": pl.String, "n": pl.Int64, "n_elicit": pl.Int64, "n_words": pl.Int64})
    signups = pl.DataFrame(schema={"account_id": pl.String, "created_at": pl.Datetime("us", "UTC")})
    life = plot_lifecycle(build_lifecycle(empty, signups, {}), "empty", tmp_path / "life.png")
    edges = pl.DataFrame(schema={"a": pl.String, "b": pl.String, "weight": pl.Float64, "families": pl.List(pl.String)})
    nodes = pl.DataFrame({"account_id": ["x", "y"], "risk": [0.2, 0.9], "flagged": [False, True]})
    graph, drawn = plot_account_graph(edges, nodes, "unlinked", tmp_path / "graph.png")
    assert drawn == 2
    for png in (life, graph):
        assert png.read_bytes()[:8] == PNG_MAGIC
