"""Phase timings: ``analyze`` and ``replay`` report each phase (names, non-negative, adding up), not their values."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest

from distillguard.accounts import IpIntel
from distillguard.analysis import AnalysisResult, Timings, analyze, replay_logs
from distillguard.campaigns.settings import load_campaign_settings
from distillguard.config import Settings
from distillguard.policy import load_policy
from distillguard.sim.run import simulate
from distillguard.sim.scenario import load_scenario

ASSESS_STEPS = ("features from the statistics", "population signals", "account records", "account risk", "linking",
                "campaigns (clustering, group risk)", "decisions", "shared indicators", "campaign records")


def test_phases_nest_add_up_and_leave_the_rest_as_other() -> None:
    timings = Timings()
    with timings.phase("run"):
        for _ in range(3):
            with timings.phase("step"), timings.phase("inner"):
                pass
        with timings.aside("beside"):
            pass
    assert [p.path for p in timings.phases] == [("run",), ("run", "step"), ("run", "step", "inner"), ("run", "beside")]
    assert [p.aside for p in timings.phases] == [False, False, False, True]
    run, step, inner, _ = timings.phases
    labels = [label for label, _, _, _ in timings.rows()]
    assert labels == ["run", "  step", "    inner", "    other", "  beside (beside)", "  other"]
    wall = {label: w for label, w, _, _ in timings.rows()}
    peaks = [peak for _, _, _, peak in timings.rows()]
    assert [p is None for p in peaks] == [False, False, False, True, False, True]
    assert 0 < peaks[2] <= peaks[1] <= peaks[0]  # the peak only grows: an outer phase ends after its inner ones
    assert wall["  other"] == pytest.approx(run.wall - step.wall)  # the aside phase is not taken off
    assert wall["    other"] == pytest.approx(step.wall - inner.wall)
    assert all(p.wall >= 0 and p.cpu >= 0 for p in timings.phases)


@pytest.fixture(scope="module")
def traffic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("timed")
    simulate(load_scenario("smoke"), root, None)
    return root


def _check(result: AnalysisResult, root: str, elapsed: float) -> dict[tuple[str, ...], float]:
    phases = result.timings.phases
    assert phases[0].path == (root,)
    assert all(p.wall >= 0 and p.cpu >= 0 for p in phases)
    top = [p for p in phases if len(p.path) == 2]
    assert sum(p.wall for p in top) <= phases[0].wall <= elapsed
    assert sum(p.wall for p in top) >= 0.8 * elapsed - 0.5  # opening and closing the store aside, the phases are the run
    return {p.path: p.wall for p in phases}


def test_analyze_reports_its_phases_and_the_steps_of_assess(traffic: Path, tmp_path: Path) -> None:
    start = time.perf_counter()
    result = analyze(Settings(db=tmp_path / "s.duckdb"), load_policy(), load_campaign_settings(), IpIntel(),
                     [traffic / "exchanges.jsonl"], [traffic / "accounts.jsonl"], tmp_path / "out")
    walls = _check(result, "analyze", time.perf_counter() - start)
    assert [p[1] for p in walls if len(p) == 2] == ["ingest", "account fingerprints", "assess", "outputs", "save the run"]
    steps = [p[2] for p in walls if len(p) == 3 and p[1] == "assess"]
    assert set(ASSESS_STEPS) <= set(steps)
    assert "indicators" in steps and "waiting for the indicators" in steps  # read on a second connection beside
    fingerprints = [p[2] for p in walls if len(p) == 3 and p[1] == "account fingerprints"]
    assert "traffic aggregates" in fingerprints and "waiting for the traffic aggregates" in fingerprints  # beside too


def test_replay_adds_up_its_steps(traffic: Path, tmp_path: Path) -> None:
    start = time.perf_counter()
    result = replay_logs(Settings(db=tmp_path / "r.duckdb"), load_policy(), load_campaign_settings(), IpIntel(),
                         [traffic / "exchanges.jsonl"], [traffic / "accounts.jsonl"], tmp_path / "out", timedelta(hours=6))
    walls = _check(result, "replay", time.perf_counter() - start)
    redecide = ("replay", "re-decide every 6:00:00")
    assert [p[1] for p in walls if len(p) == 2] == ["ingest", redecide[1], "outputs", "save the run"]
    assert {(*redecide, "account fingerprints"), (*redecide, "assess"), (*redecide, "assess", "linking")} <= set(walls)
    assert len(result.steps) >= 2  # each phase entered once an interval, added up
