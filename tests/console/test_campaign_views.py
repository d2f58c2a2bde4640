"""A campaign page's timeline and graph, kept when the run is saved: equal to the ones computed from the store,
served as kept, and computed and kept for a run saved without them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
from starlette.testclient import TestClient

from distillguard.analysis.campaign_views import TIMELINE, graphs, timeline_data
from distillguard.analysis.inspect import campaign_lifecycle
from distillguard.console.pages import GRAPH_SAMPLE
from distillguard.store import Store
from distillguard.store.campaign_views import keep_views, stored_view
from distillguard.store.results import run_campaigns
from distillguard.store.runs import latest_run_id

ClientAs = Callable[[str], TestClient]


def _kept(db: Path) -> dict[tuple[str, str], Any]:
    with Store(db, read_only=True) as store:
        rows = store.query("SELECT campaign_id, view, body FROM campaign_views WHERE run_id = $run",
                           {"run": latest_run_id(store)}).to_pylist()
    return {(r["campaign_id"], r["view"]): orjson.loads(r["body"]) for r in rows}


def test_the_analysis_keeps_each_campaigns_timeline_and_graph_equal_to_the_computed_ones(smoke_store: Path) -> None:
    kept = _kept(smoke_store)
    with Store(smoke_store, read_only=True) as store:
        run = latest_run_id(store)
        assert run is not None
        campaigns = run_campaigns(store, run)
        assert len(campaigns) >= 2, "the smoke run has several campaigns"
        computed_graphs = graphs(store, run, [c.campaign_id for c in campaigns], GRAPH_SAMPLE)
        for campaign in campaigns:
            lifecycle = campaign_lifecycle(store, list(campaign.accounts))
            assert lifecycle.phases, f"{campaign.campaign_id}: a lifecycle with phases to compare"
            assert kept[campaign.campaign_id, TIMELINE] == orjson.loads(orjson.dumps(timeline_data(lifecycle)))
            graph = kept[campaign.campaign_id, GRAPH_SAMPLE.view]
            assert graph == orjson.loads(orjson.dumps(computed_graphs[campaign.campaign_id]))
            assert graph["members"] == campaign.n_accounts and graph["elements"]["edges"]
    assert len(kept) == 2 * len(campaigns)


def test_the_console_serves_the_kept_views(client_as: ClientAs, store_path: Path) -> None:
    with Store(store_path) as store:
        run = latest_run_id(store)
        assert run is not None
        campaign = run_campaigns(store, run)[0].campaign_id
        graph = orjson.loads(stored_view(store, run, campaign, GRAPH_SAMPLE.view) or "null")
        graph["note"] = "kept note"
        rows = {"run_id": [run, run], "campaign_id": [campaign, campaign], "view": [TIMELINE, GRAPH_SAMPLE.view],
                "body": ['{"hours": [], "series": {}, "models": {}, "phases": [], "kept": true}',
                         orjson.dumps(graph).decode()]}
        keep_views(store, pa.table(rows))
    client = client_as("viewer")
    assert client.get(f"/campaigns/{campaign}/timeline.json").json()["kept"] is True
    assert client.get(f"/campaigns/{campaign}/graph.json").json()["note"] == "kept note"


def test_the_console_computes_and_keeps_the_views_of_a_run_saved_without_them(client_as: ClientAs,
                                                                               store_path: Path) -> None:
    kept = _kept(store_path)
    with Store(store_path) as store:
        store.con.execute("DELETE FROM campaign_views")
        run = latest_run_id(store)
        assert run is not None
        campaigns = [c.campaign_id for c in run_campaigns(store, run)]
    client = client_as("viewer")
    for campaign in campaigns:
        assert client.get(f"/campaigns/{campaign}/timeline.json").json() == kept[campaign, TIMELINE]
        assert client.get(f"/campaigns/{campaign}/graph.json").json() == kept[campaign, GRAPH_SAMPLE.view]
    assert _kept(store_path) == kept  # kept once sent, for the next reader
