"""PNG figures of a campaign: its lifecycle and the graph of its linked accounts (matplotlib, Agg)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import igraph as ig
import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import polars as pl
from matplotlib.collections import LineCollection
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from distillguard.campaigns.lifecycle import PHASE_KINDS, Lifecycle

PHASE_COLOURS = {
    "signup_burst": "#8c564b", "ramp_up": "#ff7f0e", "harvesting": "#2ca02c", "dormancy": "#7f7f7f",
    "pivot": "#d62728", "capability_shift": "#9467bd", "elicitation_shift": "#e377c2",
    "account_replacement": "#17becf", "expansion": "#1f77b4", "account_rotation": "#bcbd22",
}
FAMILY_COLOURS = {
    "payment": "#9467bd", "network": "#1f77b4", "client": "#ff7f0e", "template": "#2ca02c",
    "signup": "#8c564b", "timing": "#e377c2", "rotation": "#17becf",
}
_SHADED = {"ramp_up", "dormancy", "pivot", "signup_burst", "account_replacement", "expansion"}
"""Phases shaded over the volume panel (the others would cover most of it)."""
_MAX_SERIES = 7
_LEAD_SHOWN = timedelta(days=3)
"""How far before the first exchange the time axis reaches (for signup bursts)."""


def plot_lifecycle(lifecycle: Lifecycle, title: str, path: Path, by: str = "model") -> Path:
    """Stacked hourly volume by ``by`` (model or capability) with phases shaded, accounts, and a phase timeline."""
    hourly = lifecycle.hourly
    path.parent.mkdir(parents=True, exist_ok=True)
    if hourly.height == 0:
        fig, ax = plt.subplots(figsize=(8, 3), layout="constrained")
        ax.set_axis_off()
        ax.set_title(title, loc="left", fontsize=12)
        ax.text(0.5, 0.5, "no stored traffic for these accounts", ha="center", va="center", transform=ax.transAxes)
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return path
    mix = lifecycle.models if by == "model" else lifecycle.capabilities
    hours = hourly.get_column("hour").to_list()
    wide = hourly.select("hour").join(mix.pivot(on=by, index="hour", values="n"), on="hour", how="left").fill_null(0)
    names = sorted((c for c in wide.columns if c != "hour"), key=lambda c: -wide.get_column(c).sum())
    if len(names) > _MAX_SERIES:
        rest = names[_MAX_SERIES - 1:]
        wide = wide.with_columns(pl.sum_horizontal(rest).alias("other"))
        names = names[:_MAX_SERIES - 1] + ["other"]
    kinds = [k for k in PHASE_KINDS if any(p.kind == k for p in lifecycle.phases)]
    fig, (ax_vol, ax_acc, ax_ph) = plt.subplots(
        3, 1, figsize=(13, 8.5), sharex=True, height_ratios=[3.2, 1.4, 0.35 * max(1, len(kinds)) + 0.4],
        layout="constrained")
    width = timedelta(hours=1)
    bottom = np.zeros(len(hours))
    palette = plt.get_cmap("tab10")
    colour = {name: palette(i % 10) for i, name in enumerate(sorted(names))}
    for name in names:
        values = wide.get_column(name).to_numpy().astype(float)
        ax_vol.bar(hours, values, width=width, bottom=bottom, align="edge", color=colour[name],
                   label=name, linewidth=0)
        bottom += values
    top = max(1.0, float(bottom.max()))
    for phase in lifecycle.phases:
        if phase.kind in _SHADED:
            ax_vol.axvspan(phase.start, phase.end, color=PHASE_COLOURS[phase.kind], alpha=0.13, linewidth=0)
            ax_vol.axvline(phase.start, color=PHASE_COLOURS[phase.kind], linewidth=1.2, linestyle="--")
            ax_vol.annotate(phase.kind.replace("_", " "), (mdates.date2num(phase.start), top * 1.02),
                            color=PHASE_COLOURS[phase.kind], fontsize=9, fontweight="bold", rotation=0,
                            xytext=(3, 0), textcoords="offset points", va="bottom")
    ax_vol.set_ylim(0, top * 1.15)
    ax_vol.set_ylabel("exchanges per hour")
    ax_vol.set_title(title, loc="left", fontsize=12)
    ax_vol.legend(title=by, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, title_fontsize=8)
    ax_vol.grid(axis="y", alpha=0.3)

    active = hourly.get_column("active_accounts").to_numpy()
    new = hourly.get_column("new_accounts").to_numpy()
    ax_acc.plot(hours, active, drawstyle="steps-post", color="#1f77b4", linewidth=1.2, label="active accounts")
    ax_acc.bar(hours, new, width=width, align="edge", color="#ff7f0e", alpha=0.8, label="accounts first seen")
    ax_acc.set_ylabel("accounts")
    ax_acc.grid(axis="y", alpha=0.3)
    share = ax_acc.twinx()
    volume = hourly.get_column("exchanges").cast(pl.Float64)
    eliciting = (hourly.get_column("elicit_share").fill_null(0.0) * volume).rolling_sum(6, center=True, min_samples=1)
    smoothed = (eliciting / volume.rolling_sum(6, center=True, min_samples=1)).to_numpy()
    share.plot(hours, smoothed, color="#d62728", linewidth=1.0, alpha=0.8, label="reasoning-eliciting share (6 h)")
    share.set_ylim(0, 1.05)
    share.set_ylabel("share", color="#d62728")
    handles = ax_acc.get_legend_handles_labels()[0] + share.get_legend_handles_labels()[0]
    ax_acc.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.06, 1.0), fontsize=8)

    for row, kind in enumerate(kinds):
        for phase in (p for p in lifecycle.phases if p.kind == kind):
            start = mdates.date2num(phase.start)
            ax_ph.barh(row, mdates.date2num(phase.end) - start, left=start, height=0.6,
                       color=PHASE_COLOURS[kind], alpha=0.85)
    ax_ph.set_yticks(range(len(kinds)), [k.replace("_", " ") for k in kinds], fontsize=9)
    ax_ph.set_ylim(len(kinds) - 0.5, -0.5)
    ax_ph.set_xlabel("time (UTC)")
    ax_ph.grid(axis="x", alpha=0.3)
    if not kinds:
        ax_ph.set_yticks([])
        ax_ph.text(0.5, 0.5, "no phases found", transform=ax_ph.transAxes, ha="center", va="center")
    start = max(min([hours[0]] + [p.start for p in lifecycle.phases]), hours[0] - _LEAD_SHOWN)
    ax_ph.set_xlim(start, hours[-1] + width)
    locator = mdates.AutoDateLocator(maxticks=14)
    ax_ph.xaxis.set_major_locator(locator)
    ax_ph.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_account_graph(
    edges: pl.DataFrame,
    nodes: pl.DataFrame,
    title: str,
    path: Path,
    max_nodes: int = 300,
    seed: int = 0,
) -> tuple[Path, int]:
    """The linked accounts (``nodes``: ``account_id, risk, flagged``; ``edges``: ``a, b, weight, families``).

    Node colour is the account's risk, a black ring marks a flagged account,
    edge colour the strongest linking family. Above ``max_nodes`` accounts, a
    connected sample is drawn (breadth first from the most strongly tied
    account). Returns the path and the number drawn.
    """
    names = _snowball(nodes.get_column("account_id").to_list(), edges, max_nodes)
    drawn = pl.DataFrame({"account_id": names}).join(nodes, on="account_id", how="left", maintain_order="left")
    index = {name: i for i, name in enumerate(names)}
    kept = edges.filter(pl.col("a").is_in(names) & pl.col("b").is_in(names))
    pairs = [(index[a], index[b]) for a, b in kept.select("a", "b").iter_rows()]
    weights = kept.get_column("weight").to_list()
    graph = ig.Graph(n=len(names), edges=pairs, directed=False)
    layout = np.array(graph.layout_fruchterman_reingold(weights=weights or None, seed=_seed_layout(len(names), seed)).coords
                      ) if names else np.zeros((0, 2))
    fig, ax = plt.subplots(figsize=(10, 9), layout="constrained")
    if pairs:
        segments = [(layout[a], layout[b]) for a, b in pairs]
        colours = [FAMILY_COLOURS.get(_strongest(f), "#999999") for f in kept.get_column("families").to_list()]
        ax.add_collection(LineCollection(segments, colors=colours, linewidths=0.4 + 1.6 * np.array(weights),
                                         alpha=0.35, zorder=1))
    risk = drawn.get_column("risk").fill_null(0.0).to_numpy()
    flagged = drawn.get_column("flagged").fill_null(False).to_numpy()
    size = 30 + 250 / np.sqrt(max(1, len(names)))
    points = ax.scatter(layout[:, 0] if len(names) else [], layout[:, 1] if len(names) else [], c=risk,
                        cmap="RdYlGn_r", vmin=0, vmax=1, s=size, zorder=2,
                        edgecolors=np.where(flagged, "black", "#bbbbbb"), linewidths=np.where(flagged, 1.2, 0.5))
    fig.colorbar(points, ax=ax, shrink=0.6, label="account risk")
    families = sorted({_strongest(f) for f in kept.get_column("families").to_list()} & FAMILY_COLOURS.keys())
    legend = [Line2D([0], [0], color=FAMILY_COLOURS[f], linewidth=2, label=f"linked by {f}") for f in families]
    legend += [Patch(facecolor="white", edgecolor="black", label="flagged (black ring)")]
    ax.legend(handles=legend, loc="lower left", fontsize=8, framealpha=0.85)
    note = "" if len(names) == nodes.height else f" — {len(names):,} linked accounts of {nodes.height:,} drawn"
    ax.set_title(f"{title}\n{nodes.height:,} accounts, {edges.height:,} links{note}", loc="left", fontsize=11)
    ax.set_axis_off()
    ax.autoscale()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path, len(names)


def _snowball(accounts: list[str], edges: pl.DataFrame, limit: int) -> list[str]:
    """At most ``limit`` accounts, breadth first from the most strongly tied one, so that the drawn part stays linked."""
    if len(accounts) <= limit:
        return accounts
    index = {name: i for i, name in enumerate(accounts)}
    graph = ig.Graph(n=len(accounts), edges=[(index[a], index[b]) for a, b in edges.select("a", "b").iter_rows()])
    graph.es["weight"] = edges.get_column("weight").to_list()
    strength = np.array(graph.strength(weights="weight"))
    chosen: list[int] = []
    seen = np.zeros(len(accounts), dtype=bool)
    for start in np.argsort(-strength, kind="stable"):
        if seen[start]:
            continue
        order = graph.bfs(int(start))[0]
        for v in order:
            seen[v] = True
        chosen += order[: limit - len(chosen)]
        if len(chosen) >= limit:
            break
    return [accounts[i] for i in chosen]


def _strongest(families: list[str]) -> str:
    """The family of the strongest similarity in an edge's ``family=similarity`` list."""
    best = max(families, key=lambda item: float(item.split("=", 1)[1]) if "=" in item else 0.0, default="")
    return best.split("=", 1)[0]


def _seed_layout(n: int, seed: int) -> list[tuple[float, float]]:
    """A reproducible starting layout (igraph's own start is random)."""
    rng = np.random.default_rng(seed)
    return [tuple(xy) for xy in rng.uniform(-1, 1, size=(n, 2)).tolist()]

