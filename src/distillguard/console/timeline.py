"""A campaign's lifecycle as the timeline draws it: hourly series, models and phases (pivots among them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import polars as pl

from distillguard.campaigns.lifecycle import Lifecycle

TOP_MODELS = 6
"""Models drawn as series of their own; the others are summed as ``other``."""


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
