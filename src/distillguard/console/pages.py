"""The console's read pages: overview, campaign list, campaign, account, search, and their JSON for the charts.

Each request reads the store once (:class:`distillguard.console.db.ConsoleDb`), from the newest run. Templates
extend C1's ``base.html`` and escape everything (Jinja autoescape); the charts and the graph are drawn by
``static/console.js`` from the JSON endpoints here (no inline script).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from distillguard.accounts.stats import ELICITATION_THRESHOLD
from distillguard.analysis.campaign_views import TIMELINE, GraphSample, graphs, timelines, view_rows
from distillguard.analysis.inspect import find_intrusion_sets
from distillguard.campaigns.intrusion import IntrusionSet, set_of
from distillguard.console import audit
from distillguard.console.db import db
from distillguard.console.security import Role, require, templates
from distillguard.console.views import register
from distillguard.core.campaign import CampaignRecord
from distillguard.core.decision import Action
from distillguard.core.errors import StoreError
from distillguard.core.schema import CAPABILITIES
from distillguard.store import Store
from distillguard.store import console_views as views
from distillguard.store.campaign_views import keep_views, stored_view
from distillguard.store.enforcement import override_history
from distillguard.store.runs import latest_run_id, run_ids

PAGE_SIZE = 50
"""Rows per page of the campaign list and of a campaign's members."""
SAMPLE_EXCHANGES = 10
"""Newest exchanges shown (redacted) on an account page."""
LINKED_ACCOUNTS = 25
"""Most linked accounts listed on an account page."""
SEARCH_LIMIT = 50
"""Most results per kind of a search."""
ACTIONS = tuple(a.value for a in Action)
log = logging.getLogger(__name__)
GRAPH_SAMPLE = GraphSample()
"""How a campaign's graph is sampled (the analysis keeps each run's graphs sampled so)."""

register(templates.env)


def page_routes() -> list[BaseRoute]:
    """The routes of the read pages, mounted by :func:`distillguard.console.app.create_app`."""
    return [
        Route("/", overview, name="overview"),
        Route("/overview/series.json", overview_series, name="overview_series"),
        Route("/campaigns", campaign_list, name="campaigns"),
        Route("/campaigns/{campaign_id}", campaign_page, name="campaign"),
        Route("/campaigns/{campaign_id}/members", campaign_members, name="campaign_members"),
        Route("/campaigns/{campaign_id}/graph.json", campaign_graph, name="campaign_graph"),
        Route("/campaigns/{campaign_id}/timeline.json", campaign_timeline, name="campaign_timeline"),
        Route("/campaigns/{campaign_id}/intrusion", campaign_intrusion, name="campaign_intrusion"),
        Route("/account", account_page, name="account"),
        Route("/account/series.json", account_series, name="account_series"),
        Route("/exchanges/{rid:int}/reveal", reveal, methods=["POST"], name="reveal"),
        Route("/search", search, name="search"),
    ]


def _render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> Response:
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def _json(data: Any) -> Response:
    return Response(orjson.dumps(data), media_type="application/json")


def _not_found(request: Request, what: str) -> Response:
    return _render(request, "not_found.html", {"what": what}, status_code=404)


_MAX_INT = 1_000_000_000


def _int(request: Request, name: str, default: int | None = None, *, low: int = 0) -> int | None:
    raw = request.query_params.get(name, "").strip()
    if not raw:
        return default
    try:
        return min(max(low, int(raw)), _MAX_INT)
    except ValueError:
        raise HTTPException(400, f"query parameter {name}: {raw!r} is not a whole number") from None


def _float(request: Request, name: str) -> float | None:
    raw = request.query_params.get(name, "").strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise HTTPException(400, f"query parameter {name}: {raw!r} is not a number") from None


def _date(request: Request, name: str) -> datetime | None:
    raw = request.query_params.get(name, "").strip()
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise HTTPException(400, f"query parameter {name}: {raw!r} is not a date (YYYY-MM-DD)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _choice(request: Request, name: str, choices: tuple[str, ...]) -> str | None:
    raw = request.query_params.get(name, "").strip()
    if raw and raw not in choices:
        raise HTTPException(400, f"query parameter {name}: {raw!r}; expected one of {', '.join(choices)}")
    return raw or None


# overview


def _overview(store: Store) -> dict[str, Any]:
    runs = views.runs(store)
    if not runs:
        return {"run": None}
    run = runs[0]["run_id"]
    previous = runs[1] if len(runs) > 1 else None
    return {
        "run": runs[0],
        "previous": previous,
        "totals": views.run_totals(store, run),
        "actions": views.actions_in_force(store, run),
        "detectors": views.top_detectors(store, run),
        "changes": views.changes(store, run, previous["run_id"]) if previous else None,
        "top_campaigns": views.campaign_list(store, run, sort="size", limit=5),
    }


async def overview(request: Request) -> Response:
    """Flagged accounts and campaigns over time, actions in force, top detectors, changes since the previous run."""
    require(request, Role.VIEWER)
    return _render(request, "overview.html", await db(request).read(_overview))


async def overview_series(request: Request) -> Response:
    """``{t: [epoch s], flagged: [...], campaigns: [...], unit}`` of the newest run, for the overview chart."""
    require(request, Role.VIEWER)

    def read(store: Store) -> list[dict[str, Any]]:
        run = latest_run_id(store)
        return views.flagged_series(store, run) if run else []

    rows = await db(request).read(read)
    return _json({"t": [int(r["t"].timestamp()) for r in rows], "flagged": [r["flagged"] for r in rows],
                  "campaigns": [r["campaigns"] for r in rows], "unit": rows[0]["unit"] if rows else "hour"})


# campaign list


@dataclass(frozen=True)
class _ListQuery:
    sort: str
    descending: bool
    page: int
    filters: dict[str, Any]

    @classmethod
    def of(cls, request: Request) -> _ListQuery:
        sort = _choice(request, "sort", tuple(views.CAMPAIGN_SORTS)) or "confidence"
        order = _choice(request, "order", ("asc", "desc")) or "desc"
        filters = {"min_confidence": _float(request, "min_confidence"), "min_size": _int(request, "min_size"),
                   "max_size": _int(request, "max_size"), "capability": _choice(request, "capability", CAPABILITIES),
                   "action": _choice(request, "action", ACTIONS),
                   "seen_after": _date(request, "seen_after"), "seen_before": _date(request, "seen_before")}
        return cls(sort, order == "desc", _int(request, "page", 1, low=1) or 1, filters)


async def campaign_list(request: Request) -> Response:
    """The newest run's campaigns, filtered, sorted and paginated on the server (htmx swaps the table only)."""
    require(request, Role.VIEWER)
    query = _ListQuery.of(request)

    def read(store: Store) -> dict[str, Any]:
        run = latest_run_id(store)
        rows = views.campaign_list(store, run, sort=query.sort, descending=query.descending, limit=PAGE_SIZE,
                                   offset=(query.page - 1) * PAGE_SIZE, **query.filters) if run else []
        return {"run_id": run, "rows": rows, "total": rows[0]["total"] if rows else 0}

    found = await db(request).read(read)
    params = {k: v for k, v in request.query_params.items() if k != "page" and v}
    context = {**found, "listing": query, "params": params, "page": query.page, "page_size": PAGE_SIZE,
               "capabilities": CAPABILITIES, "actions": ACTIONS, "sorts": list(views.CAMPAIGN_SORTS)}
    partial = request.headers.get("HX-Request") == "true" and request.headers.get("HX-Target") == "campaign-table"
    return _render(request, "_campaign_rows.html" if partial else "campaigns.html", context)


# campaign


def _members_page(store: Store, run: str, campaign_id: str, page: int) -> dict[str, Any]:
    rows = views.campaign_members(store, run, campaign_id, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    return {"members": rows, "members_total": rows[0]["total"] if rows else 0, "page": page, "page_size": PAGE_SIZE}


async def campaign_page(request: Request) -> Response:
    """A campaign: summary, evidence families, shared indicators, members (paginated), graph and timeline."""
    require(request, Role.VIEWER)
    campaign_id = request.path_params["campaign_id"]

    def read(store: Store) -> dict[str, Any] | None:
        run = latest_run_id(store)
        raw = views.campaign_record(store, run, campaign_id) if run else None
        if run is None or raw is None:
            return None
        record = CampaignRecord.from_json(orjson.loads(raw))
        return {"run_id": run, "record": record, "counts": views.member_counts(store, run, campaign_id),
                **_members_page(store, run, campaign_id, 1)}

    found = await db(request).read(read)
    if found is None:
        return _not_found(request, f"campaign {campaign_id}")
    record: CampaignRecord = found["record"]
    families = sorted(record.linking_edges.items(), key=lambda kv: -kv[1])
    capabilities = sorted(((k, v) for k, v in record.capabilities.items() if v > 0), key=lambda kv: -kv[1])
    return _render(request, "campaign.html", {**found, "campaign_id": campaign_id, "families": families,
                                              "capabilities": capabilities, "actions": ACTIONS, "target_kind": "campaign",
                                              "target_id": campaign_id})


async def campaign_members(request: Request) -> Response:
    """One page of a campaign's members, riskiest first (an htmx partial)."""
    require(request, Role.VIEWER)
    campaign_id = request.path_params["campaign_id"]
    page = _int(request, "page", 1, low=1) or 1

    def read(store: Store) -> dict[str, Any] | None:
        run = latest_run_id(store)
        return _members_page(store, run, campaign_id, page) if run else None

    found = await db(request).read(read)
    if found is None:
        return _not_found(request, f"campaign {campaign_id}")
    return _render(request, "_members.html", {**found, "campaign_id": campaign_id})


async def _keep(request: Request, run_id: str, campaign_id: str, view: str, body: bytes) -> None:
    """Keep a view computed for a run saved without it, if the store is idle: else the next reader computes it."""
    try:
        kept = await db(request).write_if_idle(
            lambda store: keep_views(store, view_rows(run_id, {(campaign_id, view): body})))
    except StoreError as exc:
        log.warning("view %s of campaign %s not kept: %s", view, campaign_id, exc)
        return
    if not kept:
        log.info("view %s of campaign %s not kept: the store is busy", view, campaign_id)


def _served(body: bytes, kept: tuple[Request, str, str, str, bytes] | None) -> Response:
    """``body`` as JSON; a view computed on request is kept once it is sent."""
    return Response(body, media_type="application/json", background=BackgroundTask(_keep, *kept) if kept else None)


async def campaign_graph(request: Request) -> Response:
    """The campaign's account–indicator graph as cytoscape elements, sampled as :data:`GRAPH_SAMPLE` says; kept by
    the run's analysis (computed and kept here for a run saved before)."""
    require(request, Role.VIEWER)
    campaign_id = request.path_params["campaign_id"]
    sample = GRAPH_SAMPLE

    def read(store: Store) -> tuple[str, bytes, bool] | None:
        run = latest_run_id(store)
        if run is None:
            return None
        body = stored_view(store, run, campaign_id, sample.view)
        if body is not None:
            return run, body.encode(), False
        graph = graphs(store, run, [campaign_id], sample).get(campaign_id)
        return (run, orjson.dumps(graph), True) if graph else None

    found = await db(request).read(read)
    if found is None:
        return JSONResponse({"error": f"no campaign {campaign_id} in the newest run"}, status_code=404)
    run, body, computed = found
    return _served(body, (request, run, campaign_id, sample.view, body) if computed else None)


async def campaign_timeline(request: Request) -> Response:
    """The campaign's lifecycle (hourly series, models, phases with pivots) as JSON for the timeline; kept by the
    run's analysis (computed and kept here for a run saved before)."""
    require(request, Role.VIEWER)
    campaign_id = request.path_params["campaign_id"]

    def read(store: Store) -> tuple[str, bytes, bool] | None:
        run = latest_run_id(store)
        if run is None:
            return None
        body = stored_view(store, run, campaign_id, TIMELINE)
        if body is not None:
            return run, body.encode(), False
        raw = views.campaign_record(store, run, campaign_id)
        if raw is None:
            return None
        return run, orjson.dumps(timelines(store, {campaign_id: list(orjson.loads(raw)["accounts"])})[campaign_id]), True

    found = await db(request).read(read)
    if found is None:
        return JSONResponse({"error": f"no campaign {campaign_id} in the newest run"}, status_code=404)
    run, body, computed = found
    return _served(body, (request, run, campaign_id, TIMELINE, body) if computed else None)


_INTRUSION_SETS: OrderedDict[tuple[str, tuple[str, ...]], list[IntrusionSet]] = OrderedDict()
"""Intrusion sets per store and runs (they read every account's indicators): the newest few kept."""
_INTRUSION_KEPT = 4


def _intrusion_sets(store: Store) -> list[IntrusionSet]:
    key = (str(store.path.resolve()), tuple(run_ids(store)))
    if key not in _INTRUSION_SETS:
        _INTRUSION_SETS[key] = find_intrusion_sets(store)
        while len(_INTRUSION_SETS) > _INTRUSION_KEPT:
            _INTRUSION_SETS.popitem(last=False)
    return _INTRUSION_SETS[key]


async def campaign_intrusion(request: Request) -> Response:
    """The intrusion set holding the campaign, over every stored run (an htmx partial: it reads all indicators)."""
    require(request, Role.VIEWER)
    campaign_id = request.path_params["campaign_id"]
    found = set_of(await db(request).read(_intrusion_sets), campaign_id)
    others = [c for c in found.campaigns if c != campaign_id] if found else []
    links = [link for link in found.links if campaign_id in (link.a, link.b)][:10] if found else []
    return _render(request, "_intrusion.html", {"found": found, "others": others, "links": links,
                                                "campaign_id": campaign_id,
                                                "runs": sorted({r for rs in found.runs.values() for r in rs}) if found else []})


# account


def _account_id(request: Request) -> str:
    account_id = request.query_params.get("id", "")
    if not account_id:
        raise HTTPException(400, "query parameter id: the account id is missing")
    return account_id


async def account_page(request: Request) -> Response:
    """An account: decision with its evidence, signup and verification, traffic, redacted samples, linked accounts."""
    require(request, Role.VIEWER)
    account_id = _account_id(request)

    def read(store: Store) -> dict[str, Any] | None:
        run = latest_run_id(store)
        found = views.account(store, run, account_id)
        activity = views.account_activity(store, account_id)
        if found["account_id"] is None and found["risk"] is None and not activity["exchanges"]:
            return None
        return {"run_id": run, "account": found, "activity": activity,
                "samples": views.sample_exchanges(store, account_id, SAMPLE_EXCHANGES),
                "linked": views.linked_accounts(store, run, account_id, LINKED_ACCOUNTS),
                "overrides": override_history(store, account_id)}

    found = await db(request).read(read)
    if found is None:
        return _not_found(request, f"account {account_id}")
    return _render(request, "account.html", {**found, "account_id": account_id, "actions": ACTIONS, "target_kind": "account",
                                             "target_id": account_id})


async def account_series(request: Request) -> Response:
    """``{t, exchanges, eliciting, unit}``: an account's exchanges per hour (or day) for its chart."""
    require(request, Role.VIEWER)
    account_id = _account_id(request)

    def read(store: Store) -> dict[str, Any]:
        unit = views.account_activity(store, account_id)["unit"]
        return {"unit": unit, "rows": views.account_series(store, account_id, unit, ELICITATION_THRESHOLD)}

    found = await db(request).read(read)
    rows = found["rows"]
    return _json({"t": [int(r["t"].timestamp()) for r in rows], "exchanges": [r["exchanges"] for r in rows],
                  "eliciting": [r["eliciting"] for r in rows], "unit": found["unit"]})


async def reveal(request: Request) -> Response:
    """Reveal one exchange's text to an analyst who gives a reason; the reveal is audited (an htmx partial)."""
    require(request, Role.ANALYST)
    rid = int(request.path_params["rid"])
    form = await request.form()
    reason = str(form.get("reason", "")).strip()
    if not reason:
        return HTMLResponse('<p class="error">A reason is required to reveal the text.</p>', status_code=400)
    found = await db(request).read(lambda store: views.exchange_text(store, rid))
    if found is None:
        return HTMLResponse('<p class="error">No such exchange.</p>', status_code=404)
    await audit.record(request, "reveal", f"exchange:{rid}", reason, {"account": str(found["account_id"])})
    return _render(request, "_revealed.html", {"exchange": found})


# search


async def search(request: Request) -> Response:
    """Search by account id, IP, indicator value or campaign id."""
    require(request, Role.VIEWER)
    query = request.query_params.get("q", "").strip()

    def read(store: Store) -> dict[str, Any]:
        return views.search(store, latest_run_id(store), query, SEARCH_LIMIT)

    results = await db(request).read(read) if query else None
    return _render(request, "search.html", {"q": query, "results": results, "limit": SEARCH_LIMIT})
