"""Campaign lifecycle: the hourly series and each phase rule, on traffic tables written here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from distillguard.campaigns.lifecycle import (
    Phase,
    build_lifecycle,
    change_points,
    hourly_series,
)
from distillguard.campaigns.settings import load_campaign_settings

T0 = datetime(2026, 3, 2, tzinfo=UTC)
H = timedelta(hours=1)


def _rows(hour: int, account: str, n: int, model: str = "m-old", capability: str = "reasoning",
          elicit: float = 1.0) -> dict[str, object]:
    return {"hour": T0 + hour * H, "account_id": account, "model": model, "capability": capability, "n": n,
            "n_elicit": round(n * elicit), "n_words": round(n * elicit)}


def _frame(rows: list[dict[str, object]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"hour": pl.Datetime("us", "UTC"), "account_id": pl.String, "model": pl.String,
                                      "capability": pl.String, "n": pl.Int64, "n_elicit": pl.Int64,
                                      "n_words": pl.Int64})


def _signups(times: list[datetime]) -> pl.DataFrame:
    return pl.DataFrame({"account_id": [f"a{i}" for i in range(len(times))], "created_at": times},
                        schema={"account_id": pl.String, "created_at": pl.Datetime("us", "UTC")})


NO_SIGNUPS = _signups([])


def _steady(hours: int, accounts: int = 10, rate: int = 40, seed: int = 0, start: int = 0,
            model_of: object = None, capability_of: object = None) -> pl.DataFrame:
    """``rate`` exchanges an hour spread over ``accounts`` accounts, Poisson noise; mixes chosen per hour."""
    rng = np.random.default_rng(seed)
    rows = []
    for h in range(start, start + hours):
        total = int(rng.poisson(rate))
        for a, n in enumerate(rng.multinomial(total, [1 / accounts] * accounts)):
            if not n:
                continue
            new_share = model_of(h) if callable(model_of) else 0.0
            k_new = int(rng.binomial(n, new_share))
            cap_share = capability_of(h) if callable(capability_of) else 0.0
            for model, k in (("m-old", n - k_new), ("m-new", k_new)):
                k_code = int(rng.binomial(k, cap_share))
                for cap, kk in (("reasoning", k - k_code), ("coding", k_code)):
                    if kk:
                        rows.append(_rows(h, f"acct-{a}", kk, model, cap))
    return _frame(rows)


def _kinds(phases: list[Phase], kind: str) -> list[Phase]:
    return [p for p in phases if p.kind == kind]


def test_hourly_series_fills_every_hour_and_counts_new_and_stopped_accounts() -> None:
    traffic = _frame([_rows(0, "a", 5), _rows(0, "b", 3), _rows(3, "a", 2), _rows(4, "c", 1)])
    hourly, models, _ = hourly_series(traffic)
    assert hourly.get_column("hour").to_list() == [T0 + k * H for k in range(5)]
    assert hourly.get_column("exchanges").to_list() == [8, 0, 0, 2, 1]
    assert hourly.get_column("active_accounts").to_list() == [2, 0, 0, 1, 1]
    assert hourly.get_column("new_accounts").to_list() == [2, 0, 0, 0, 1]
    assert hourly.get_column("stopped_accounts").to_list() == [1, 0, 0, 1, 1]
    assert models.get_column("n").sum() == 11


@pytest.mark.parametrize(("pivot_hour", "share", "release_lead"), [(30, 0.9, 6), (17, 0.5, 2), (41, 0.3, 30)])
def test_pivot_to_a_new_model_is_found_within_two_hours(pivot_hour: int, share: float, release_lead: int) -> None:
    traffic = _steady(72, model_of=lambda h: share if h >= pivot_hour else 0.0, seed=pivot_hour)
    released = T0 + (pivot_hour - release_lead) * H
    life = build_lifecycle(traffic, NO_SIGNUPS, {"m-new": released, "m-old": T0 - 90 * 24 * H})
    pivots = _kinds(life.phases, "pivot")
    assert len(pivots) == 1
    assert abs((pivots[0].start - (T0 + pivot_hour * H)).total_seconds()) <= 2 * 3600
    assert "m-new" in pivots[0].evidence and "newly released" in pivots[0].evidence


def test_a_model_in_use_all_along_is_no_pivot_and_an_old_model_is_not_called_new() -> None:
    steady_mix = _steady(72, model_of=lambda h: 0.4, seed=3)
    assert not _kinds(build_lifecycle(steady_mix, NO_SIGNUPS, {}).phases, "pivot")
    moved = _steady(72, model_of=lambda h: 0.9 if h >= 36 else 0.0, seed=4)
    old = {"m-new": T0 - 200 * H}
    pivots = _kinds(build_lifecycle(moved, NO_SIGNUPS, old).phases, "pivot")
    assert len(pivots) == 1 and "newly released" not in pivots[0].evidence


def test_capability_shift() -> None:
    traffic = _steady(60, capability_of=lambda h: 0.7 if h >= 25 else 0.05, seed=5)
    shifts = _kinds(build_lifecycle(traffic, NO_SIGNUPS, {}).phases, "capability_shift")
    assert [p.start for p in shifts] == [T0 + 25 * H]
    assert "coding" in shifts[0].evidence


def test_change_points_finds_both_edges_of_a_temporary_switch() -> None:
    n = np.full(90, 50.0)
    x = np.where((np.arange(90) >= 30) & (np.arange(90) < 60), 45.0, 2.0)
    assert change_points(x, n, 0.25, load_campaign_settings().lifecycle) == [30, 60]
    assert change_points(np.full(90, 10.0), n, 0.25, load_campaign_settings().lifecycle) == []


def test_dormancy_is_a_long_silence_and_waves_are_not() -> None:
    gap = pl.concat([_steady(30, seed=6), _steady(30, start=50, seed=7)])
    life = build_lifecycle(gap, NO_SIGNUPS, {})
    dormant = _kinds(life.phases, "dormancy")
    assert [(p.start, p.end) for p in dormant] == [(T0 + 30 * H, T0 + 50 * H)]
    assert len(_kinds(life.phases, "harvesting")) == 2
    waves = _frame([_rows(h, f"a{h % 5}", 60) for h in range(0, 120, 3)])
    assert not _kinds(build_lifecycle(waves, NO_SIGNUPS, {}).phases, "dormancy")


def test_ramp_up_ends_where_the_volume_reaches_its_plateau() -> None:
    rows = [_rows(h, f"a{k}", 2 + 3 * min(h, 12)) for h in range(60) for k in range(4)]
    life = build_lifecycle(_frame(rows), NO_SIGNUPS, {})
    ramps = _kinds(life.phases, "ramp_up")
    assert len(ramps) == 1 and ramps[0].start == T0
    assert T0 + 5 * H <= ramps[0].end <= T0 + 12 * H
    assert not _kinds(build_lifecycle(_steady(60, seed=8), NO_SIGNUPS, {}).phases, "ramp_up")


def test_signup_burst_is_a_dense_window_of_member_creations() -> None:
    rng = np.random.default_rng(9)
    burst = [T0 - 24 * H + timedelta(minutes=float(m)) for m in rng.uniform(0, 90, 30)]
    spread = [T0 - timedelta(days=float(d)) for d in rng.uniform(2, 300, 10)]
    bursts = _kinds(build_lifecycle(_steady(24), _signups(burst + spread), {}).phases, "signup_burst")
    assert len(bursts) == 1
    assert abs((bursts[0].start - min(burst)).total_seconds()) < 1
    assert bursts[0].end >= max(burst)
    assert "30 of 40" in bursts[0].evidence
    uniform = [T0 - timedelta(hours=float(h)) for h in np.linspace(1, 2000, 40)]
    assert not _kinds(build_lifecycle(_steady(24), _signups(uniform), {}).phases, "signup_burst")


def test_account_replacement_when_members_stop_and_new_ones_start_at_once() -> None:
    first = [_rows(h, f"old{k}", 3) for h in range(40) for k in range(20)]
    second = [_rows(h, f"new{k}", 3) for h in range(40, 80) for k in range(20)]
    life = build_lifecycle(_frame(first + second), NO_SIGNUPS, {})
    replaced = _kinds(life.phases, "account_replacement")
    assert len(replaced) == 1
    assert replaced[0].start <= T0 + 40 * H <= replaced[0].end
    assert "20 of 20" in replaced[0].evidence
    steady = _frame([_rows(h, f"acct{k}", 3) for h in range(80) for k in range(20)])
    turnover = build_lifecycle(steady, NO_SIGNUPS, {}).phases
    assert not _kinds(turnover, "account_replacement") and not _kinds(turnover, "account_rotation")


def test_account_rotation_when_short_lived_members_replace_each_other_continuously() -> None:
    rows = [_rows(h, f"acct{k}", 2) for k in range(100) for h in range(k, k + 12)]
    life = build_lifecycle(_frame(rows), NO_SIGNUPS, {})
    rotation = _kinds(life.phases, "account_rotation")
    assert len(rotation) == 1 and "median 12 h" in rotation[0].evidence
    assert not _kinds(life.phases, "account_replacement")


def test_empty_traffic_gives_no_phases() -> None:
    life = build_lifecycle(_frame([]), NO_SIGNUPS, {})
    assert life.hourly.height == 0 and life.phases == []


def test_harvesting_evidence_names_waves_and_daily_cycles() -> None:
    waves = _frame([_rows(h, f"a{h % 5}", 60) for h in range(0, 120, 4)])
    harvest = _kinds(build_lifecycle(waves, NO_SIGNUPS, {}).phases, "harvesting")
    assert len(harvest) == 1 and "in waves every 4 h" in harvest[0].evidence
    daily = _frame([_rows(h, "a", 50 if 8 <= h % 24 < 14 else 5) for h in range(96)])
    harvest = _kinds(build_lifecycle(daily, NO_SIGNUPS, {}).phases, "harvesting")
    assert "daily cycle" in harvest[0].evidence and "busiest around" in harvest[0].evidence
    flat = _kinds(build_lifecycle(_steady(96, seed=11), NO_SIGNUPS, {}).phases, "harvesting")
    assert "waves" not in flat[0].evidence and "daily" not in flat[0].evidence


def test_expansion_when_a_new_cohort_joins_the_running_accounts() -> None:
    first = [_rows(h, f"old{k}", 3) for h in range(80) for k in range(10)]
    joined = [_rows(h, f"new{k}", 3) for h in range(40, 80) for k in range(15)]
    phases = build_lifecycle(_frame(first + joined), NO_SIGNUPS, {}).phases
    grown = _kinds(phases, "expansion")
    assert len(grown) == 1 and grown[0].start == T0 + 40 * H
    assert "15 new member accounts" in grown[0].evidence and "30 → 75" in grown[0].evidence
    assert not _kinds(phases, "account_replacement")


def test_a_second_cohort_after_the_first_stopped_is_an_expansion_not_a_rotation() -> None:
    first = [_rows(h, f"one{k}", 3) for h in range(40) for k in range(10)]
    steady = [_rows(h, f"keep{k}", 3) for h in range(96) for k in range(10)]
    second = [_rows(h, f"two{k}", 3) for h in range(55, 96) for k in range(12)]
    phases = build_lifecycle(_frame(first + steady + second), NO_SIGNUPS, {}).phases
    assert not _kinds(phases, "account_rotation")
    assert [p.start for p in _kinds(phases, "expansion")] == [T0 + 55 * H]
