"""A campaign's lifecycle: its hourly time series and the phases found in it.

The input is the campaign's traffic aggregated per hour, account, model and
capability (read by :func:`distillguard.store.traffic.campaign_hours`);
everything here is pure functions over that table.
Phases are found from the data alone, by rules that hold whatever the
campaign's size or timing:

- **signup burst**: many member accounts created within a few hours, far denser
  than the members' signups overall;
- **ramp-up**: volume climbing from the first active hour to its usual level;
- **harvesting**: sustained activity between ramp-up and the end, split by dormancy;
- **dormancy**: a long run of silent hours, longer than the campaign's own rhythm;
- **pivot**: traffic moving to another model (binomial change point on the
  model's share), flagged when that model first appeared in the whole traffic
  only shortly before (a newly released model);
- **capability shift** / **elicitation shift**: the same change point on the
  capability mix and on the share of requests that demand reasoning in words;
- **account replacement**: many members stop and as many new ones start at
  once; **expansion**: many new members join the running ones at once;
  **account rotation**: members live a short part of the campaign and are
  replaced continuously.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

import numpy as np
import polars as pl

from distillguard.campaigns.settings import LifecycleSettings, load_campaign_settings

HOUR = timedelta(hours=1)
PHASE_KINDS: tuple[str, ...] = (
    "signup_burst", "ramp_up", "harvesting", "dormancy", "pivot", "capability_shift",
    "elicitation_shift", "account_replacement", "expansion", "account_rotation",
)



@dataclass(frozen=True)
class Phase:
    """One phase of a campaign: its kind (one of :data:`PHASE_KINDS`), time span and evidence."""

    kind: str
    start: datetime
    end: datetime
    evidence: str


@dataclass(frozen=True)
class Lifecycle:
    """A campaign's hourly series and phases.

    ``hourly``: ``hour, exchanges, active_accounts, new_accounts, stopped_accounts,
    elicit_share, words_share`` (every hour of the span, zeros filled in);
    ``models`` and ``capabilities``: long tables ``hour, <name>, n``;
    ``signups``: ``account_id, created_at`` of the members.
    """

    hourly: pl.DataFrame
    models: pl.DataFrame
    capabilities: pl.DataFrame
    signups: pl.DataFrame
    phases: list[Phase]


def build_lifecycle(
    traffic: pl.DataFrame,
    signups: pl.DataFrame,
    first_seen: dict[str, datetime],
    settings: LifecycleSettings | None = None,
) -> Lifecycle:
    """The hourly series of ``traffic`` (as :func:`distillguard.store.traffic.campaign_hours` returns it) and its phases."""
    settings = settings or load_campaign_settings().lifecycle
    hourly, models, capabilities = hourly_series(traffic)
    phases: list[Phase] = []
    if hourly.height:
        phases += signup_bursts(signups, settings)
        phases += activity_phases(hourly, settings)
        phases += mix_shifts(models, "model", hourly, first_seen, settings)
        phases += mix_shifts(capabilities, "capability", hourly, {}, settings)
        phases += elicitation_shifts(hourly, settings)
        phases += account_turnover(traffic, hourly, settings)
    phases.sort(key=lambda p: (p.start, PHASE_KINDS.index(p.kind)))
    return Lifecycle(hourly, models, capabilities, signups, phases)


def hourly_series(traffic: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The hourly series, the hourly model mix and the hourly capability mix over the whole span."""
    empty_mix = {"hour": pl.Datetime("us", "UTC"), "n": pl.Int64}
    if traffic.height == 0:
        hourly = pl.DataFrame(schema={
            "hour": pl.Datetime("us", "UTC"), "exchanges": pl.Int64, "active_accounts": pl.Int64,
            "new_accounts": pl.Int64, "stopped_accounts": pl.Int64, "elicit_share": pl.Float64,
            "words_share": pl.Float64})
        return (hourly, pl.DataFrame(schema={**empty_mix, "model": pl.String}),
                pl.DataFrame(schema={**empty_mix, "capability": pl.String}))
    traffic = traffic.with_columns(pl.col("hour").dt.cast_time_unit("us").dt.convert_time_zone("UTC"))
    lo, hi = traffic.get_column("hour").min(), traffic.get_column("hour").max()
    grid = pl.DataFrame({"hour": pl.datetime_range(lo, hi, "1h", eager=True, time_zone="UTC")})
    span = traffic.group_by("account_id").agg(pl.col("hour").min().alias("first"), pl.col("hour").max().alias("last"))
    per_hour = traffic.group_by("hour").agg(
        pl.col("n").sum().alias("exchanges"),
        pl.col("account_id").n_unique().alias("active_accounts"),
        (pl.col("n_elicit").sum() / pl.col("n").sum()).alias("elicit_share"),
        (pl.col("n_words").sum() / pl.col("n").sum()).alias("words_share"),
    )
    new = span.group_by("first").agg(pl.len().cast(pl.Int64).alias("new_accounts")).rename({"first": "hour"})
    stopped = span.group_by("last").agg(pl.len().cast(pl.Int64).alias("stopped_accounts")).rename({"last": "hour"})
    hourly = (
        grid.join(per_hour, on="hour", how="left").join(new, on="hour", how="left")
        .join(stopped, on="hour", how="left")
        .with_columns(pl.col("exchanges", "active_accounts", "new_accounts", "stopped_accounts")
                      .fill_null(0).cast(pl.Int64))
        .sort("hour")
    )
    models = traffic.group_by("hour", "model").agg(pl.col("n").sum()).sort("hour", "model")
    capabilities = traffic.group_by("hour", "capability").agg(pl.col("n").sum()).sort("hour", "capability")
    return hourly, models, capabilities


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``(start, end)`` index ranges (end exclusive) of the True runs of ``mask``."""
    padded = np.concatenate(([False], mask, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def _smoothed(volume: np.ndarray, width: int) -> np.ndarray:
    return pl.Series(volume.astype(np.float64)).rolling_mean(width, center=True, min_samples=1).to_numpy()


def usual_level(volume: np.ndarray, settings: LifecycleSettings) -> float:
    """The campaign's usual hourly volume: the median smoothed volume over its active hours."""
    smooth = _smoothed(volume, settings.smooth_hours)
    active = smooth[smooth > 0]
    return float(np.median(active)) if len(active) else 0.0


def activity_phases(hourly: pl.DataFrame, settings: LifecycleSettings) -> list[Phase]:
    """Ramp-up, harvesting and dormancy phases from the hourly volume."""
    hours = hourly.get_column("hour").to_list()
    volume = hourly.get_column("exchanges").to_numpy()
    accounts = hourly.get_column("active_accounts").to_numpy()
    smooth = _smoothed(volume, settings.smooth_hours)
    level = usual_level(volume, settings)
    if level <= 0:
        return []
    phases: list[Phase] = []
    quiet = smooth <= settings.quiet_share * level
    silent = volume == 0
    dormant = np.zeros(len(volume), dtype=bool)
    for a, b in _runs(silent):
        if b - a >= settings.min_dormancy_hours and quiet[a:b].any() and a > 0 and b < len(volume):
            dormant[a:b] = True
            before = volume[max(0, a - settings.smooth_hours):a].mean()
            phases.append(Phase("dormancy", hours[a], hours[b - 1] + HOUR,
                                f"no traffic for {b - a} h (about {before:,.0f} exchanges/h before; "
                                f"usual level {level:,.0f}/h)"))
    ramp_end = _ramp_end(smooth, settings)
    if ramp_end >= settings.min_ramp_hours:
        ahead = float(np.median(smooth[ramp_end:ramp_end + settings.plateau_hours]))
        first = volume[: max(1, settings.smooth_hours // 2)].mean()
        phases.append(Phase("ramp_up", hours[0], hours[ramp_end],
                            f"volume rose from {first:,.0f} to about {ahead:,.0f} exchanges/h over {ramp_end} h; "
                            f"accounts per active hour {_per_active_hour(accounts[:ramp_end // 2 + 1])} → "
                            f"{_per_active_hour(accounts[ramp_end:ramp_end + settings.smooth_hours])}"))
    else:
        ramp_end = 0
    busy = ~dormant
    busy[:ramp_end] = False
    for a, b in _runs(busy):
        if b - a < settings.min_harvest_hours:
            continue
        v = volume[a:b]
        active = int((v > 0).sum())
        spread = v.std() / v.mean() if v.mean() else 0.0
        rhythm = f"active in {active} of {b - a} h" if active < b - a else f"every one of {b - a} h"
        pattern = _pattern(v, [h.hour for h in hours[a:b]])
        phases.append(Phase("harvesting", hours[a], hours[b - 1] + HOUR,
                            f"sustained {v.mean():,.0f} exchanges/h, {rhythm}{pattern} (hour-to-hour variation {spread:.0%}), "
                            f"{_per_active_hour(accounts[a:b])} accounts per active hour; {int(v.sum()):,} exchanges"))
    return phases


def _pattern(volume: np.ndarray, hour_of_day: list[int]) -> str:
    """The rhythm of a stretch of activity, in words: waves at a fixed period, or a daily cycle."""
    if len(volume) < 24 or volume.std() == 0:
        return ""
    centred = volume - volume.mean()
    lags = range(2, 13)
    acf = [float(np.dot(centred[:-k], centred[k:]) / np.dot(centred, centred)) for k in lags]
    best = int(np.argmax(acf))
    if (volume == 0).mean() >= 0.3 and acf[best] >= 0.5:
        return f", in waves every {lags[best]} h"
    if len(volume) >= 48:
        profile = np.array([volume[np.array(hour_of_day) == h].mean() for h in range(24)])
        if profile.max() >= 3 * max(profile.min(), 1e-9):
            return (f", in a daily cycle (busiest around {int(np.argmax(profile)):02d}:00 UTC, "
                    f"quietest around {int(np.argmin(profile)):02d}:00)")
    return ""


def _ramp_end(smooth: np.ndarray, settings: LifecycleSettings) -> int:
    """First hour whose smoothed volume reaches ``ramp_level`` of the median of the hours that follow."""
    for i in range(len(smooth)):
        ahead = smooth[i:i + settings.plateau_hours]
        if smooth[i] >= settings.ramp_level * float(np.median(ahead)):
            return i
    return 0


def _per_active_hour(accounts: np.ndarray) -> str:
    active = accounts[accounts > 0]
    return f"{int(np.median(active)):,}" if len(active) else "0"


def change_points(x: np.ndarray, n: np.ndarray, min_shift: float, settings: LifecycleSettings) -> list[int]:
    """Indices where the binomial rate ``x / n`` changes, by binary segmentation.

    A split is kept when its log-likelihood gain is at least ``min_gain``, the
    rates on either side differ by at least ``min_shift`` and each side holds
    ``min_segment_exchanges`` exchanges over ``min_segment_hours`` hours.
    """
    found: list[int] = []
    stack = [(0, len(x))]
    while stack:
        lo, hi = stack.pop()
        split = _best_split(x[lo:hi], n[lo:hi], min_shift, settings)
        if split is not None:
            found.append(lo + split)
            stack += [(lo, lo + split), (lo + split, hi)]
    return sorted(found)


def _loglik(x: np.ndarray, n: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(n > 0, x / np.maximum(n, 1), 0.0)
        a = np.where(x > 0, x * np.log(np.where(p > 0, p, 1.0)), 0.0)
        b = np.where(n - x > 0, (n - x) * np.log(np.where(p < 1, 1 - p, 1.0)), 0.0)
    return cast(np.ndarray, a + b)


def _best_split(x: np.ndarray, n: np.ndarray, min_shift: float, settings: LifecycleSettings) -> int | None:
    if len(x) < 2:
        return None
    cx, cn = np.cumsum(x)[:-1].astype(np.float64), np.cumsum(n)[:-1].astype(np.float64)
    tx, tn = float(x.sum()), float(n.sum())
    gain = _loglik(cx, cn) + _loglik(tx - cx, tn - cn) - _loglik(np.array([tx]), np.array([tn]))[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = np.abs(cx / cn - (tx - cx) / (tn - cn))
    ok = (cn >= settings.min_segment_exchanges) & (tn - cn >= settings.min_segment_exchanges)
    position = np.arange(1, len(x))
    ok &= (position >= settings.min_segment_hours) & (len(x) - position >= settings.min_segment_hours)
    ok &= (shift >= min_shift) & (gain >= settings.min_gain) & (n[1:] > 0)
    if not ok.any():
        return None
    return int(np.argmax(np.where(ok, gain, -np.inf))) + 1


def mix_shifts(
    mix: pl.DataFrame,
    column: str,
    hourly: pl.DataFrame,
    first_seen: dict[str, datetime],
    settings: LifecycleSettings,
) -> list[Phase]:
    """Pivots (``column == "model"``) or capability shifts: a value's share rising by ``min_shift``.

    The phase runs from the change point to the next change of the same value
    (or the end); its evidence names the values that lost share and, for a
    model, when it first appeared in all traffic.
    """
    if mix.height == 0:
        return []
    hours = hourly.get_column("hour").to_list()
    wide = hourly.select("hour").join(
        mix.pivot(on=column, index="hour", values="n"), on="hour", how="left").fill_null(0)
    names = [c for c in wide.columns if c != "hour"]
    min_shift = settings.min_pivot_shift if column == "model" else settings.min_shift
    counts = {name: wide.get_column(name).to_numpy().astype(np.float64) for name in names}
    total = np.sum([counts[name] for name in names], axis=0)
    phases: list[Phase] = []
    for name in names:
        points = change_points(counts[name], total, min_shift, settings)
        bounds = [0, *points, len(hours)]
        for i, k in enumerate(points):
            before = _share(counts[name], total, bounds[i], k)
            after = _share(counts[name], total, k, bounds[i + 2])
            if after - before < min_shift:
                continue
            losers = sorted(((_share(counts[o], total, bounds[i], k) - _share(counts[o], total, k, bounds[i + 2]), o)
                             for o in names if o != name), reverse=True)
            moved = ", ".join(f"{o} {_share(counts[o], total, bounds[i], k):.0%} → "
                              f"{_share(counts[o], total, k, bounds[i + 2]):.0%}" for d, o in losers[:2] if d > 0.05)
            text = f"{name} {before:.0%} → {after:.0%} of the campaign's exchanges" + (f" ({moved})" if moved else "")
            kind = "capability_shift"
            if column == "model":
                kind = "pivot"
                text = "traffic moved to " + text + _release_note(name, hours[k], first_seen, settings)
            phases.append(Phase(kind, hours[k], hours[bounds[i + 2] - 1] + HOUR, text))
    return phases


def _share(x: np.ndarray, n: np.ndarray, lo: int, hi: int) -> float:
    total = n[lo:hi].sum()
    return float(x[lo:hi].sum() / total) if total else 0.0


def _release_note(model: str, at: datetime, first_seen: dict[str, datetime], settings: LifecycleSettings) -> str:
    seen = first_seen.get(model)
    if seen is None:
        return ""
    lead = (at - seen).total_seconds() / 3600
    when = f"{model} first appeared in all traffic at {seen:%Y-%m-%d %H:%M} UTC"
    if 0 <= lead <= settings.new_model_hours:
        return f"; {when}, {lead:.0f} h earlier: a newly released model"
    if lead < 0:
        return f"; this campaign is among the first users of {model}"
    return f"; {when}"


def elicitation_shifts(hourly: pl.DataFrame, settings: LifecycleSettings) -> list[Phase]:
    """Changes in the share of requests that demand reasoning in words (e.g. a reconstruction phase)."""
    hours = hourly.get_column("hour").to_list()
    n = hourly.get_column("exchanges").to_numpy().astype(np.float64)
    words = hourly.get_column("words_share").fill_null(0).to_numpy() * n
    points = change_points(words, n, settings.min_shift, settings)
    bounds = [0, *points, len(hours)]
    phases = []
    for i, k in enumerate(points):
        before, after = _share(words, n, bounds[i], k), _share(words, n, k, bounds[i + 2])
        direction = "rose" if after > before else "fell"
        phases.append(Phase("elicitation_shift", hours[k], hours[bounds[i + 2] - 1] + HOUR,
                            f"share of requests demanding the reasoning in words {direction} from "
                            f"{before:.0%} to {after:.0%}"))
    return phases


def signup_bursts(signups: pl.DataFrame, settings: LifecycleSettings) -> list[Phase]:
    """Windows in which a large share of the members were created, far denser than their signups overall."""
    if signups.height < settings.min_burst_accounts:
        return []
    times = np.sort(signups.get_column("created_at").dt.epoch("s").to_numpy()).astype(np.float64)
    n = len(times)
    window = settings.burst_window_hours * 3600
    spread = max(times[-1] - times[0], window)
    expected = n * window / spread
    need = max(settings.min_burst_accounts, settings.burst_share * n, settings.burst_density * expected)
    taken = np.zeros(n, dtype=bool)
    phases = []
    while True:
        free = np.flatnonzero(~taken)
        if len(free) < need:
            break
        t = times[free]
        ends = np.searchsorted(t, t + window, side="right")
        counts = ends - np.arange(len(t))
        i = int(np.argmax(counts))
        if counts[i] < need:
            break
        chosen = free[i:ends[i]]
        taken[chosen] = True
        start, end = _utc(times[chosen[0]]), _utc(times[chosen[-1]])
        minutes = (times[chosen[-1]] - times[chosen[0]]) / 60
        phases.append(Phase("signup_burst", start, end + timedelta(minutes=1),
                            f"{len(chosen):,} of {n:,} member accounts created within {minutes:,.0f} min "
                            f"({counts[i] / max(expected, 1e-9):,.0f}× their mean signup rate)"))
    return phases


def _utc(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, tz=UTC)


def account_turnover(traffic: pl.DataFrame, hourly: pl.DataFrame, settings: LifecycleSettings) -> list[Phase]:
    """Account replacement (many members stop and new ones start at once), continuous rotation
    (short-lived members replacing each other) and, outside rotation, expansion (new ones join at once)."""
    hours = hourly.get_column("hour").to_list()
    span = traffic.group_by("account_id").agg(pl.col("hour").min().alias("first"), pl.col("hour").max().alias("last"))
    first = ((span.get_column("first") - hours[0]).dt.total_hours()).to_numpy()
    last = ((span.get_column("last") - hours[0]).dt.total_hours()).to_numpy()
    if len(first) < settings.min_accounts:
        return []
    w = settings.replacement_window_hours
    replaced: list[_Turnover] = []
    joined: list[_Turnover] = []
    for h in range(w, len(hours) - 1):
        event = _Turnover(h, before=int(((first < h) & (last >= h - w)).sum()),
                          stopped=int(((last >= h - w) & (last < h)).sum()),
                          started=int(((first >= h) & (first < h + w)).sum()))
        need = max(settings.min_accounts, settings.replacement_share * event.before)
        if event.stopped >= need and event.started >= need:
            replaced.append(event)
        elif (event.started >= max(settings.min_accounts, settings.expansion_share * event.before)
              and event.before >= settings.min_accounts and h >= settings.plateau_hours):
            joined.append(event)
    phases = _rotation(first, last, hours, settings)
    if not phases:
        phases += _expansions(joined, hourly, settings)
    for group in _consecutive(replaced):
        top = max(group, key=lambda e: e.stopped + e.started)
        phases.append(Phase("account_replacement", hours[max(0, group[0].hour - w)],
                            hours[min(len(hours) - 1, group[-1].hour + w - 1)] + HOUR,
                            f"{top.stopped:,} of {top.before:,} active member accounts stopped for good and "
                            f"{top.started:,} new ones started within {w} h of each other"))
    return phases


@dataclass(frozen=True)
class _Turnover:
    """Members around one hour: active before it, stopped for good just before it, started just after it."""

    hour: int
    before: int
    stopped: int
    started: int


def _rotation(first: np.ndarray, last: np.ndarray, hours: list[datetime], settings: LifecycleSettings) -> list[Phase]:
    """One rotation phase when members live a short part of the campaign and later ones keep replacing them."""
    lifetime = last - first + 1
    late = first > last.min()
    n = len(first)
    if (n < 2 * settings.min_accounts or np.median(lifetime) > settings.rotation_lifetime_share * len(hours)
            or late.sum() < max(settings.min_accounts, 0.2 * n)):
        return []
    a, b = int(last.min()), int(first[late].max())
    if len(np.unique(first[late])) < settings.rotation_spread * (b - a + 1):
        return []
    rate = late.sum() / max(1, b - a + 1)
    return [Phase("account_rotation", hours[a], hours[b] + HOUR,
                  f"members are active a median {np.median(lifetime):,.0f} h of the campaign's {len(hours):,} h; "
                  f"{int(late.sum()):,} of {n:,} accounts started after others had stopped "
                  f"(about {rate:,.1f} new accounts/h)")]


def _expansions(joined: list[_Turnover], hourly: pl.DataFrame, settings: LifecycleSettings) -> list[Phase]:
    """New cohorts joining the running members, kept when the volume of the day after rises with them."""
    w = settings.replacement_window_hours
    hours = hourly.get_column("hour").to_list()
    volume = hourly.get_column("exchanges").to_numpy()
    new = hourly.get_column("new_accounts").to_numpy()
    phases = []
    for group in _consecutive(joined):
        h0, h1 = group[0].hour, group[-1].hour
        h0 += int(np.argmax(new[h0:h1 + w] > 0))
        top = max(group, key=lambda e: e.started)
        before = float(volume[max(0, h0 - settings.plateau_hours):h0].mean())
        ahead = volume[h1 + w:h1 + w + settings.plateau_hours]
        after = float(ahead.mean()) if len(ahead) else 0.0
        if after >= settings.expansion_rise * before:
            phases.append(Phase("expansion", hours[h0], hours[min(len(hours) - 1, h1 + w - 1)] + HOUR,
                                f"{top.started:,} new member accounts started within {w} h beside {top.before:,} "
                                f"active ones; volume {before:,.0f} → {after:,.0f} exchanges/h"))
    return phases


def _consecutive(events: list[_Turnover]) -> list[list[_Turnover]]:
    """Events grouped into runs of consecutive hours."""
    groups: list[list[_Turnover]] = []
    for event in events:
        if groups and event.hour - groups[-1][-1].hour <= 1:
            groups[-1].append(event)
        else:
            groups.append([event])
    return groups
