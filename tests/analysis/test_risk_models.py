"""Risk weights injected through the settings: the shipped ones by default, a file's when configured."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import polars as pl
import pyarrow as pa
import pytest
import yaml

from distillguard.accounts import AccountStats, IpIntel, default_weights
from distillguard.accounts.risk import RiskModels, RiskWeights
from distillguard.analysis import analyze
from distillguard.analysis.run import risk_models
from distillguard.campaigns import find_campaigns, load_campaign_settings
from distillguard.config import load_settings, with_overrides
from distillguard.core.errors import ConfigError
from distillguard.core.schema import TS_TYPE
from distillguard.policy import load_policy

T0_MS = 1_772_442_902_114  # 2026-03-02T09:15:02.114Z
T0 = datetime(2026, 3, 2, tzinfo=UTC)
FLAG_RISK = load_policy().flag_threshold


def _write_weights(path: Path, weights: RiskWeights) -> Path:
    path.write_text(yaml.safe_dump(weights.model_dump()), encoding="utf-8")
    return path


def _biased(model: str, bias: float) -> RiskWeights:
    return default_weights(model).model_copy(update={"bias": bias})  # type: ignore[arg-type]


def test_shipped_weights_by_default() -> None:
    models = risk_models(load_settings(None, environ={}))
    assert models.account is default_weights("account") and models.campaign is default_weights("campaign")


def test_configured_files_are_loaded(tmp_path: Path) -> None:
    account = _write_weights(tmp_path / "account.yaml", _biased("account", 3.0))
    settings_file = tmp_path / "settings.yaml"
    settings_file.write_text(f"risk_weights: {account}\n")
    models = risk_models(load_settings(settings_file, environ={}))
    assert models.account == _biased("account", 3.0)
    assert models.campaign is default_weights("campaign")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "cannot read account risk weights"),
        ("bias: [1", "invalid risk weights"),
        ("bias: 1.0\nweights: {cot_elicitation: 1.0}\n", "missing terms"),
    ],
)
def test_a_bad_weights_file_fails_at_load_naming_it(tmp_path: Path, text: str | None, message: str) -> None:
    path = tmp_path / "weights.yaml"
    if text is not None:
        path.write_text(text)
    settings = with_overrides(load_settings(None, environ={}), "test", risk_weights=path, db=tmp_path / "s.duckdb")
    with pytest.raises(ConfigError, match=message) as info:
        analyze(settings, load_policy(), load_campaign_settings(), IpIntel(), [tmp_path / "none.jsonl"], [],
                tmp_path / "out")
    assert str(path) in str(info.value)
    assert not (tmp_path / "s.duckdb").exists()  # failed before any work


def test_wrong_side_campaign_weight_names_file_and_term(tmp_path: Path) -> None:
    bad = default_weights("campaign").model_copy(update={"weights": {**default_weights("campaign").weights,
                                                                     "rerun": 1.0}})
    path = _write_weights(tmp_path / "campaign.yaml", bad)
    settings = with_overrides(load_settings(None, environ={}), "test", campaign_weights=path)
    with pytest.raises(ConfigError, match=f"{path}: weights.rerun"):
        risk_models(settings)


def _log(path: Path) -> Path:
    records = [{
        "request_id": f"req_{k}", "ts": T0_MS + 60_000 * k, "account_id": f"acct_{k % 2}", "ip": "198.51.100.7",
        "endpoint": "/v1/messages", "model": "atlas-2-fast",
        "request": {"messages": [{"role": "user", "content": f"Translate 'good morning {k}' into French."}]},
        "response": {"text": "Bonjour.", "reasoning": None, "tool_calls": None, "stop_reason": "end_turn"},
        "usage": {"input_tokens": 3, "output_tokens": 7},
    } for k in range(8)]
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


def test_analysis_scores_with_the_configured_account_weights(tmp_path: Path) -> None:
    log = _log(tmp_path / "exchanges.jsonl")
    flagged = {}
    for name, path in (("shipped", None), ("biased", _write_weights(tmp_path / "a.yaml", _biased("account", 40.0)))):
        settings = with_overrides(load_settings(None, environ={}), "test", db=tmp_path / f"{name}.duckdb",
                                  risk_weights=path)
        result = analyze(settings, load_policy(), load_campaign_settings(), IpIntel(), [log], [], tmp_path / name)
        assert result.assessment is not None
        flagged[name] = sorted(d.account_id for d in result.assessment.decisions if d.flagged)
    assert flagged == {"shipped": [], "biased": ["acct_0", "acct_1"]}


def _team_traffic() -> pa.Table:
    """Six ordinary accounts, four conversations each: no campaign under the shipped weights."""
    rows = [{
        "account_id": f"team-{a}", "ts": T0 + timedelta(hours=5 * k, minutes=a), "ip": f"81.2.{a}.1",
        "user_agent": "ua", "tls_ja4": "t13d", "n_user_turns": 3, "n_tool_results": 0, "cot_score": 0.05,
        "prompt_cot_score": 0.05,
        "reasoning_requested": 0.0, "capability": "general", "template_key": 1000 + k,
        "prompt_hash": hash(("team", a, k)) & (2**63 - 1), "reasoning_share": 0.0, "output_len": 150, "has_tool_calls": False,
    } for a in range(6) for k in range(4)]
    table = pa.Table.from_pylist(rows)
    return table.set_column(1, "ts", table.column("ts").cast(TS_TYPE))


def test_campaigns_are_scored_with_the_given_models() -> None:
    stats = AccountStats()
    stats.update(_team_traffic())
    edges = pl.DataFrame([{"a": f"team-{i}", "b": f"team-{j}", "weight": 0.9, "families": ["payment=1.0"],
                           "strong": True}
                          for i in range(6) for j in range(i + 1, 6)])
    assert find_campaigns(edges, stats, min_risk=FLAG_RISK).campaigns == []
    risky = RiskModels(default_weights("account"), _biased("campaign", 40.0))
    found = find_campaigns(edges, stats, min_risk=FLAG_RISK, models=risky)
    assert [c.members for c in found.campaigns] == [[f"team-{a}" for a in range(6)]]
