"""``distillguard campaign list | show ID``: campaigns of a stored run, their evidence, lifecycle and intrusion set."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, cast

import polars as pl
import typer
from rich.console import Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from distillguard.accounts.exits import YOUNG_DAYS
from distillguard.analysis.indicators import load_indicators
from distillguard.analysis.inspect import campaign_lifecycle, find_intrusion_sets
from distillguard.campaigns import link_accounts
from distillguard.campaigns.indicators import Indicators
from distillguard.campaigns.intrusion import IntrusionSet, set_of
from distillguard.campaigns.lifecycle import Lifecycle
from distillguard.campaigns.settings import CampaignTunables, LinkSettings, load_campaign_settings
from distillguard.cli.console import ConfigOpt, DbOpt, errors, out, stored_settings
from distillguard.cli.plots import plot_account_graph, plot_lifecycle
from distillguard.core.campaign import CampaignRecord
from distillguard.core.errors import DistillguardError
from distillguard.store import Store
from distillguard.store.results import find_campaign, member_decisions, run_campaigns
from distillguard.store.runs import run_ids

campaign_app = typer.Typer(
    no_args_is_help=True, help="Inspect the campaigns of a stored run: evidence, lifecycle, intrusion set.")
RunOpt = Annotated[str | None, typer.Option("--run", help="Run id [default: the newest run (holding the campaign)].")]

def _open(db: Path | None, config: Path | None) -> tuple[Store, CampaignTunables]:
    """The store named by the options or the config, opened, and the campaign tunables."""
    settings = stored_settings(db, config)
    tunables = load_campaign_settings(settings.campaigns)
    return Store(settings.db).open(), tunables


def _run(store: Store, run: str | None) -> str:
    """The named run (checked), or the newest."""
    runs = run_ids(store)
    if run is not None:
        if run not in runs:
            known = ", ".join(runs[:5]) or "none"
            raise DistillguardError(f"{store.path}: no run {run!r} (newest runs: {known})")
        return run
    if not runs:
        raise DistillguardError(f"{store.path}: the store holds no runs (run `distillguard analyze` first)")
    return runs[0]


@campaign_app.command("list")
def list_cmd(db: DbOpt = None, run: RunOpt = None, config: ConfigOpt = None) -> None:
    """List the campaigns of a run (the newest by default) with their intrusion sets."""
    with errors():
        store, tunables = _open(db, config)
    with errors(), store:
        run_id = _run(store, run)
        rows = run_campaigns(store, run_id)
        sets = find_intrusion_sets(store, settings=tunables.intrusion) if rows else []
        table = Table(title=f"campaigns of run {run_id} ({store.path})", title_justify="left")
        for name, justify in (("campaign", "left"), ("accounts", "right"), ("exchanges", "right"),
                              ("first seen", "left"), ("last seen", "left"), ("confidence", "right"),
                              ("main capability", "left"), ("intrusion set", "left")):
            table.add_column(name, justify=cast(Any, justify))
        for r in rows:
            main = max(r.capabilities.items(), key=lambda kv: kv[1], default=("-", 0.0))
            found = set_of(sets, r.campaign_id)
            set_label = f"{found.set_id} ({len(found.campaigns)})" if found else "-"
            table.add_row(r.campaign_id, f"{r.n_accounts:,}", f"{r.n_exchanges:,}", _time(r.first_seen),
                          _time(r.last_seen), f"{r.confidence:.2f}", f"{main[0]} {main[1]:.0%}", set_label)
        out.print(table if rows else f"run {run_id} found no campaigns")
        if rows:
            out.print("show one with: distillguard campaign show ID" + (f" --db {db}" if db else ""))


@campaign_app.command("show")
def show_cmd(
    campaign_id: Annotated[str, typer.Argument(help="Campaign id (see `distillguard campaign list`).")],
    db: DbOpt = None,
    run: RunOpt = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Directory for the PNGs [default: ./campaign-ID].")] = None,
    by: Annotated[str, typer.Option("--by", help="Stack the volume by model or capability.")] = "model",
    max_nodes: Annotated[int, typer.Option("--max-nodes", min=10, help="Most accounts drawn in the graph.")] = 300,
    config: ConfigOpt = None,
) -> None:
    """Print a campaign's evidence, lifecycle and intrusion set; write its lifecycle and account-graph PNGs."""
    if by not in ("model", "capability"):
        raise typer.BadParameter(f"--by {by!r}: expected model or capability")
    with errors():
        store, tunables = _open(db, config)
    with errors(), store:
        found = find_campaign(store, campaign_id, run)
        if found is None:
            where = f"run {run}" if run else "any run"
            raise DistillguardError(
                f"{store.path}: no campaign {campaign_id!r} in {where}; "
                f"`distillguard campaign list --db {store.path}` lists the campaign ids of the newest run "
                "(add --run RUN for another run)")
        run_id, record = found
        members = list(record.accounts)
        lifecycle = campaign_lifecycle(store, members, tunables.lifecycle)
        indicators = load_indicators(store, templates=tunables.templates, young_days=YOUNG_DAYS)
        edges = _member_edges(indicators, members, tunables.link)
        sets = find_intrusion_sets(store, indicators, settings=tunables.intrusion)
        decisions = cast(pl.DataFrame, pl.from_arrow(member_decisions(store, run_id, members)))
        nodes = pl.DataFrame({"account_id": members}).join(decisions, on="account_id", how="left")
        target = out_dir or Path(f"campaign-{campaign_id}")
        title = f"{campaign_id} — {len(members):,} accounts, {record.n_exchanges:,} exchanges"
        life_png = plot_lifecycle(lifecycle, title, target / f"{campaign_id}-lifecycle.png", by)
        graph_png, drawn = plot_account_graph(edges, nodes, f"{campaign_id}: linked accounts",
                                              target / f"{campaign_id}-accounts.png", max_nodes)
        out.print(_summary(run_id, record, nodes))
        out.print(_evidence(record, edges, len(members)))
        out.print(_phases(lifecycle))
        out.print(_intrusion(set_of(sets, campaign_id), campaign_id))
        note = "" if drawn == len(members) else (
            f" ({drawn:,} linked accounts of {len(members):,} drawn: raise --max-nodes for more)")
        out.print(f"lifecycle plot: {life_png}\naccount graph:  {graph_png}{note}")


def _member_edges(indicators: Indicators, members: list[str], link: LinkSettings) -> pl.DataFrame:
    """The linking edges between members, linked over only the indicators members show.

    Every account's rows of those indicators are kept, so rarity and the
    members' own indicator vectors are those of the whole store: the edges
    between members are the run's, at a fraction of the cost of linking everyone.
    """
    codes = pl.DataFrame({"account_id": indicators.accounts}).with_row_index("i").filter(
        pl.col("account_id").is_in(pl.Series(members).implode())).get_column("i").cast(pl.UInt32)
    shown = indicators.table.filter(pl.col("i").is_in(codes.implode())).get_column("h").unique()
    subset = Indicators(indicators.accounts, indicators.table.filter(pl.col("h").is_in(shown.implode())),
                        young=indicators.young)
    return link_accounts(subset, link).filter(pl.col("a").is_in(members) & pl.col("b").is_in(members))


def _time(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M}"


def _duration(start: datetime, end: datetime) -> str:
    hours = (end - start).total_seconds() / 3600
    return f"{hours:,.0f} h" if hours < 48 else f"{hours / 24:,.1f} d"


def _summary(run_id: str, record: CampaignRecord, nodes: pl.DataFrame) -> Panel:
    flagged = int(nodes.get_column("flagged").fill_null(False).sum())
    first, last = record.first_seen, record.last_seen
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("run", run_id)
    grid.add_row("members", f"{record.n_accounts:,} accounts, {flagged:,} flagged")
    grid.add_row("confidence", f"{record.confidence:.2f} (pooled risk {record.risk:.2f})")
    grid.add_row("volume", f"{record.n_exchanges:,} exchanges")
    grid.add_row("seen", f"{_time(first)} → {_time(last)} UTC ({_duration(first, last)})")
    caps = sorted(record.capabilities.items(), key=lambda kv: -kv[1])
    grid.add_row("capabilities", ", ".join(f"{k} {v:.0%}" for k, v in caps if v > 0) or "-")
    for i, reason in enumerate(record.reasons):
        grid.add_row("why" if i == 0 else "", escape(reason))
    return Panel(grid, title=f"campaign {record.campaign_id}", title_align="left")


def _evidence(record: CampaignRecord, edges: pl.DataFrame, n_members: int) -> Group:
    links = Table(title="linking edges between members", title_justify="left")
    links.add_column("family")
    links.add_column("edges in the run", justify="right")
    links.add_column("members with such an edge", justify="right")
    stored = record.linking_edges
    exploded = edges.explode("families").with_columns(pl.col("families").str.split("=").list.first().alias("family"))
    for family in sorted(set(stored) | set(exploded.get_column("family").to_list()), key=lambda f: -stored.get(f, 0)):
        mine = exploded.filter(pl.col("family") == family)
        covered = pl.concat([mine.get_column("a"), mine.get_column("b")]).n_unique() if mine.height else 0
        links.add_row(family, f"{stored.get(family, mine.height):,}", f"{covered:,} of {n_members:,}")
    shared = Table(title="shared indicators (top 10 of each kind)", title_justify="left")
    shared.add_column("kind")
    shared.add_column("value", overflow="fold")
    shared.add_column("accounts", justify="right")
    for kind, items in record.indicators.items():
        for i, item in enumerate(items[:5]):
            shared.add_row(kind if i == 0 else "", escape(item.value), f"{item.accounts:,}")
        if len(items) > 5:
            shared.add_row("", f"… {len(items) - 5} more", "")
    return Group(links, shared)


def _phases(lifecycle: Lifecycle) -> Table:
    table = Table(title="lifecycle phases", title_justify="left")
    table.add_column("phase")
    table.add_column("start (UTC)")
    table.add_column("end (UTC)")
    table.add_column("length", justify="right")
    table.add_column("evidence", overflow="fold")
    for p in lifecycle.phases:
        table.add_row(p.kind.replace("_", " "), _time(p.start), _time(p.end), _duration(p.start, p.end), escape(p.evidence))
    if not lifecycle.phases:
        table.add_row("-", "", "", "", "no phase found (too little traffic)")
    return table


def _intrusion(found: IntrusionSet | None, campaign_id: str) -> Panel:
    if found is None or len(found.campaigns) == 1:
        return Panel(f"{found.set_id if found else '-'}: no other campaign in the store shares its infrastructure",
                     title="intrusion set", title_align="left")
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    others = [c for c in found.campaigns if c != campaign_id]
    more = " …" if len(others) > 8 else ""
    table.add_row("campaigns", f"{len(found.campaigns):,}: this one and " + ", ".join(others[:8]) + more)
    runs = sorted({r for rs in found.runs.values() for r in rs})
    table.add_row("runs", f"{len(runs):,}")
    direct = [link for link in found.links if campaign_id in (link.a, link.b)][:5]
    for i, link in enumerate(direct):
        other = link.b if link.a == campaign_id else link.a
        families = ", ".join(f"{f} {v:.0%}" for f, v in link.families.items())
        table.add_row("linked to" if i == 0 else "", f"{other}: overlap {families}")
    for i, item in enumerate(found.shared):
        table.add_row("shared" if i == 0 else "",
                      escape(item.indicator) + f" — {item.campaigns} campaigns, {item.accounts:,} accounts")
    return Panel(table, title=f"intrusion set {found.set_id}", title_align="left")
