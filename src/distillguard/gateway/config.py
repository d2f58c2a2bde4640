"""Gateway settings (pydantic), read from YAML once at start."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, IPvAnyNetwork, field_validator

from distillguard.config.loading import read_yaml_mapping, validate_model


class FailMode(StrEnum):
    """What the gateway does when Redis or the store cannot be read."""

    OPEN = "open"
    CLOSED = "closed"


class LearnIn(StrEnum):
    """Where the learning side runs: a lower-priority process (default), or a thread of the gateway."""

    PROCESS = "process"
    THREAD = "thread"


class LearnerPriority(StrEnum):
    """CPU priority of the learner process: only idle CPU (``SCHED_IDLE``, Linux), or ``SCHED_BATCH`` at nice 19."""

    IDLE = "idle"
    LOW = "low"


class KeyIds(StrEnum):
    """How a presented API key maps to the store's ``api_key_id``."""

    PLAIN = "plain"
    SHA256 = "sha256"


class GatewayConfig(BaseModel):
    """Everything one gateway process needs; unknown keys are an error.

    ``client_ip_header`` names the header a trusted front proxy puts the client
    address in; ``replay_time_header`` (replays of recorded traffic only) the
    header carrying a request's original time in epoch milliseconds.
    ``learner_priority`` ``idle`` gives the learner process, once it has built
    its models, only CPU time that no other process wants, so that it never
    delays a request (nor the upstream's or any other server's work on that
    core); on a saturated machine its queue then fills (``max_pending``) and
    the oldest handled requests are dropped unlogged, counted in
    ``GET /admin/status``, and stopping waits for it to catch up. ``low``
    (``SCHED_BATCH``, nice 19) is never starved but delays other processes
    by a scheduler slice now and then (p99 added at 500 req/s in
    ``bench/bench_gateway.py``: 3.6 ms, against a median of 1.3 ms with ``idle``).
    ``learn_batch`` bounds the handled requests handed to the learner at once
    (a larger backlog goes in several hand-overs, each short for the loop).
    ``trusted_proxies``, when not empty, are the networks whose requests may
    carry the account and client-address headers: from any other peer those
    headers are ignored (a client cannot claim another account by sending
    them), and the account comes from the API key.
    """

    model_config = ConfigDict(extra="forbid")

    upstream: str | None = None
    account_header: str = "x-distillguard-account"
    api_key_ids: KeyIds = KeyIds.SHA256
    client_ip_header: str | None = None
    trusted_proxies: list[IPvAnyNetwork] = []
    replay_time_header: str | None = None
    db: Path | None = None
    policy: Path | None = None
    intel_dir: Path | None = None
    risk_weights: Path | None = None
    """Account risk weights the online scoring uses (YAML, as ``analyze``'s ``risk_weights`` setting); shipped when None."""
    state: str = "memory://"
    state_prefix: str = "dg:"
    fail: FailMode = FailMode.OPEN
    dry_run: bool = False
    exchange_log: Path | None = None
    learn_in: LearnIn = LearnIn.PROCESS
    learner_priority: LearnerPriority = LearnerPriority.IDLE
    learn_batch: int = Field(1000, ge=1)
    flush_interval_s: float = Field(0.1, gt=0, le=60)
    refresh_interval_s: float = Field(5.0, gt=0)
    max_accounts: int = Field(100_000, ge=2)
    max_pending: int = Field(50_000, ge=1)
    stats_ttl_s: float = Field(7 * 86400, gt=0)
    summary_max_chars: int = Field(300, ge=20)
    upstream_timeout_s: float = Field(600.0, gt=0)
    max_body_bytes: int = Field(32 * 1024 * 1024, ge=1024)

    @field_validator("upstream")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return None if url is None else url.rstrip("/")

    @field_validator("account_header", "client_ip_header", "replay_time_header")
    @classmethod
    def _lower(cls, name: str | None) -> str | None:
        return None if name is None else name.lower()


def load_gateway_config(path: Path | None = None, **overrides: Any) -> GatewayConfig:
    """Settings from ``path`` (YAML, optional) with non-None ``overrides``; ConfigError if invalid."""
    data = read_yaml_mapping(path, "gateway settings") if path is not None else {}
    data.update({k: v for k, v in overrides.items() if v is not None})
    return validate_model(GatewayConfig, data, str(path) if path else "gateway settings", "gateway settings")
