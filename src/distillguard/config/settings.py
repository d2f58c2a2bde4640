"""Settings (pydantic) read from an optional YAML file, then ``DISTILLGUARD_*`` env vars."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from distillguard.config.loading import read_yaml_mapping, validate_model

ENV_PREFIX = "DISTILLGUARD_"


class IngestLimits(BaseModel):
    """Bounds on one input record; a record past any of them is rejected naming the field."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_id_chars: int = Field(256, ge=16, le=1_000_000)
    """Ids and names: request, account, key, org, TLS fingerprint, model, endpoint, tool names, account fields."""
    max_user_agent_chars: int = Field(2048, ge=64, le=1_000_000)
    max_text_chars: int = Field(4_000_000, ge=1000, le=1_000_000_000)
    """Each of system, prompt, response text, response reasoning and ``extra`` (the fields not read, as JSON)."""
    max_depth: int = Field(64, ge=8, le=200)
    """Nesting of objects and arrays in a decoded record (a JSON line, a JSON array's element, a Parquet row of
    structs), the record itself being level 1. A body held as JSON text in a Parquet string column is text at
    level 2: its own nesting is bounded only by the decoder (1,024 levels; past them the body is rejected as
    broken JSON): walking every decoded body would add, by the walk's measured cost, about a fifth to a quarter to
    the fast path's parsing."""


class AnalyzeSettings(BaseModel):
    """How ``analyze`` and ``replay`` stream through the logs."""

    model_config = ConfigDict(extra="forbid")

    batch_size: int = Field(20_000, ge=100, le=1_000_000)
    store_text: bool = True
    strict: bool = False
    prompt_sets: Path | None = None
    """Directory of known public prompt sets (``*.jsonl`` with ``turns``) for the dataset-sweep signal."""
    limits: IngestLimits = IngestLimits()


class Settings(BaseModel):
    """All settings of one distillguard process."""

    model_config = ConfigDict(extra="forbid")

    db: Path = Path("distillguard.duckdb")
    intel_dir: Path | None = None
    campaigns: Path | None = None
    """YAML of the campaigns layer's tunables (linking, clustering, lifecycle, templates, intrusion sets);
    the shipped ``distillguard/campaigns/default.yaml`` when None."""
    risk_weights: Path | None = None
    """YAML of the account risk model's weights (as ``bench/fit_risk_weights.py`` writes them);
    the shipped ``distillguard/accounts/data/risk_weights.yaml`` when None."""
    campaign_weights: Path | None = None
    """YAML of the pooled-group (campaign) risk model's weights; the shipped
    ``distillguard/accounts/data/campaign_weights.yaml`` when None."""
    analyze: AnalyzeSettings = AnalyzeSettings()


def _env_overrides(environ: dict[str, str]) -> dict[str, Any]:
    """Top-level settings named ``DISTILLGUARD_<FIELD>`` in the environment."""
    out: dict[str, Any] = {}
    for name in ("db", "intel_dir"):
        value = environ.get(ENV_PREFIX + name.upper())
        if value:
            out[name] = value
    return out


def load_settings(path: Path | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Read settings from ``path`` (YAML, optional) and the environment; raise ConfigError if invalid."""
    data = read_yaml_mapping(path, "settings") if path is not None else {}
    data.update(_env_overrides(dict(os.environ) if environ is None else environ))
    return _validate(data, str(path) if path is not None else "environment")


def with_overrides(settings: Settings, where: str, **changes: Any) -> Settings:
    """``settings`` with nested ``changes`` (e.g. ``analyze={"strict": True}``), validated again."""
    data = settings.model_dump()
    for key, value in changes.items():
        data[key] = {**data[key], **value} if isinstance(value, dict) else value
    return _validate(data, where)


def _validate(data: dict[str, Any], where: str) -> Settings:
    return validate_model(Settings, data, where, "settings")
