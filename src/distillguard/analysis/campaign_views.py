"""What a campaign page draws, computed once per run: the lifecycle timeline and the sampled linking graph.

Both depend on the run alone (its campaigns, decisions and the traffic stored then), so :func:`save_campaign_views`
computes them for every campaign when the run is saved, in one scan of the traffic each, and keeps them in the
store keyed by run, campaign and view; the console serves the kept JSON and computes (and keeps) what a run saved
before the table existed lacks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import orjson
import polars as pl
import pyarrow as pa

from distillguard.accounts.stats import ELICITATION_THRESHOLD
from distillguard.campaigns.lifecycle import Lifecycle, build_lifecycle
from distillguard.core.campaign import CampaignRecord
from distillguard.store import Store
from distillguard.store.campaign_views import (
    VIEW_SCHEMA,
    campaign_graphs,
    campaigns_hours,
    campaigns_signups,
    keep_views,
)
from distillguard.store.traffic import model_first_seen

TIMELINE = "timeline"
"""The view name of a campaign's timeline."""
TOP_MODELS = 6
"""Models drawn as series of their own; the others are summed as ``other``."""

INDICATOR_LABELS: dict[str, str] = {
    "ip": "IP", "subnet": "/24 subnet", "client": "client", "payment": "payment fingerprint", "signup_ip": "signup IP",
}
"""Indicator kinds of the graph → their label."""


@dataclass(frozen=True)
class GraphSample:
    """How a campaign's graph is sampled: most member accounts drawn (a fixed sample of a larger campaign), most
    shared indicators (a fifth of them per kind, those most sampled members show), most indicators per account
    (its rarest shared ones)."""

    max_accounts: int = 1_000
    max_indicators: int = 400
    per_account: int = 3

    @property
    def view(self) -> str:
        """The view name of a graph sampled so: a graph kept with other limits is not served for these."""
        return f"graph:{self.max_accounts}:{self.max_indicators}:{self.per_account}"


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def timeline_data(lifecycle: Lifecycle) -> dict[str, Any]:
    """The hourly series (epoch seconds), per-model volume and phases of a lifecycle, for the timeline's chart."""
    hourly = lifecycle.hourly
    if hourly.height == 0:
        return {"hours": [], "series": {}, "models": {}, "phases": []}
    hours = hourly.get_column("hour").to_list()
    index = {h: i for i, h in enumerate(hours)}
    totals = lifecycle.models.group_by("model").agg(pl.col("n").sum()).sort(["n", "model"], descending=[True, False])
    top = totals.get_column("model").to_list()[:TOP_MODELS]
    models: dict[str, list[int]] = {}
    for hour, model, n in lifecycle.models.select("hour", "model", "n").iter_rows():
        name = model if model in top else "other"
        models.setdefault(name, [0] * len(hours))[index[hour]] += int(n)
    return {
        "hours": [_epoch(h) for h in hours],
        "series": {
            "exchanges": hourly.get_column("exchanges").to_list(),
            "active accounts": hourly.get_column("active_accounts").to_list(),
            "eliciting share": [round(float(x), 4) for x in hourly.get_column("elicit_share").fill_null(0).to_list()],
        },
        "models": models,
        "phases": [{"kind": p.kind, "label": p.kind.replace("_", " "), "start": _epoch(p.start), "end": _epoch(p.end),
                    "start_text": f"{p.start:%Y-%m-%d %H:%M}", "end_text": f"{p.end:%Y-%m-%d %H:%M}",
                    "evidence": p.evidence} for p in lifecycle.phases],
    }


def timelines(store: Store, members: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
    """Campaign id → its :func:`timeline_data`, for campaigns given with their members (one scan of the traffic).

    The lifecycle is :func:`distillguard.analysis.inspect.campaign_lifecycle`'s, with the shipped settings.
    """
    table = pa.table({"campaign_id": pa.array([c for c, accounts in members.items() for _ in accounts], pa.string()),
                      "account_id": pa.array([a for accounts in members.values() for a in accounts], pa.string())})
    traffic = cast(pl.DataFrame, pl.from_arrow(campaigns_hours(store, table, ELICITATION_THRESHOLD)))
    signups = cast(pl.DataFrame, pl.from_arrow(campaigns_signups(store, table)))
    first_seen = model_first_seen(store)
    traffic_of = traffic.partition_by("campaign_id", as_dict=True, include_key=False)
    signups_of = signups.partition_by("campaign_id", as_dict=True, include_key=False)
    empty_traffic, empty_signups = traffic.clear().drop("campaign_id"), signups.clear().drop("campaign_id")
    return {c: timeline_data(build_lifecycle(traffic_of.get((c,), empty_traffic), signups_of.get((c,), empty_signups),
                                             first_seen))
            for c in members}


def graph_elements(rows: list[dict[str, Any]], campaign_id: str) -> dict[str, Any]:
    """Cytoscape elements from one campaign's :func:`distillguard.store.campaign_views.campaign_graphs` rows, with
    what was drawn.

    Account nodes carry ``risk`` (the run's); indicator nodes ``kind`` and ``accounts`` (sampled members showing
    it); ``coverage`` counts, per indicator kind, the drawn members linked through it.
    """
    accounts: dict[str, dict[str, Any]] = {}
    indicators: dict[str, dict[str, Any]] = {}
    edges: list[dict[str, dict[str, str]]] = []
    covered: dict[str, set[str]] = {}
    members = 0
    for row in rows:
        account = row["account_id"]
        members = int(row["members"])
        if account not in accounts:
            accounts[account] = {"data": {"id": f"a:{account}", "label": account, "type": "account",
                                          "risk": round(float(row["risk"]), 3)}}
        if row["kind"] is None:
            continue
        node = f"i:{row['kind']}:{row['value']}"
        if node not in indicators:
            indicators[node] = {"data": {"id": node, "label": row["value"], "type": "indicator", "kind": row["kind"],
                                         "accounts": int(row["accounts"])}}
        edges.append({"data": {"source": f"a:{account}", "target": node}})
        covered.setdefault(row["kind"], set()).add(account)
    shown = len(accounts)
    note = (f"{shown:,} of {members:,} member accounts drawn (a fixed sample); indicators are those at least two "
            "drawn accounts share" if shown < members else
            f"all {members:,} member accounts drawn; indicators are those at least two members share")
    return {
        "campaign_id": campaign_id,
        "members": members,
        "drawn": shown,
        "sampled": shown < members,
        "note": note,
        "coverage": {INDICATOR_LABELS.get(k, k): len(v) for k, v in sorted(covered.items(), key=lambda kv: -len(kv[1]))},
        "elements": {"nodes": [*accounts.values(), *indicators.values()], "edges": edges},
    }


def graphs(store: Store, run_id: str, campaign_ids: list[str], sample: GraphSample) -> dict[str, dict[str, Any]]:
    """Campaign id → its :func:`graph_elements` in the run, for the campaigns with a member decided in it."""
    rows = campaign_graphs(store, run_id, campaign_ids, max_accounts=sample.max_accounts,
                           max_indicators=sample.max_indicators, per_account=sample.per_account).to_pylist()
    per: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        per.setdefault(row["campaign_id"], []).append(row)
    return {c: graph_elements(r, c) for c, r in per.items()}


def view_rows(run_id: str, bodies: dict[tuple[str, str], bytes]) -> pa.Table:
    """(campaign id, view) → JSON body as rows of the store's ``campaign_views``."""
    keys = list(bodies)
    return pa.table({"run_id": [run_id] * len(keys), "campaign_id": [c for c, _ in keys], "view": [v for _, v in keys],
                     "body": [bodies[k].decode() for k in keys]}, schema=VIEW_SCHEMA)


def save_campaign_views(store: Store, run_id: str, campaigns: list[CampaignRecord],
                        sample: GraphSample | None = None, drawn: dict[str, dict[str, Any]] | None = None) -> None:
    """Compute and keep the timeline and the graph of every campaign of a saved run (``drawn``: the campaigns'
    :func:`timelines`, computed already)."""
    if not campaigns:
        return
    sample = sample or GraphSample()
    bodies: dict[tuple[str, str], bytes] = {}
    if drawn is None:
        drawn = timelines(store, {c.campaign_id: list(c.accounts) for c in campaigns})
    for campaign_id, timeline in drawn.items():
        bodies[campaign_id, TIMELINE] = orjson.dumps(timeline)
    for campaign_id, graph in graphs(store, run_id, [c.campaign_id for c in campaigns], sample).items():
        bodies[campaign_id, sample.view] = orjson.dumps(graph)
    keep_views(store, view_rows(run_id, bodies))
