"""Gateway settings (pydantic), read from YAML once at start."""

from __future__ import annotations

from enum import StrEnum
from ipaddress import IPv4Network, IPv6Network, ip_address
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, IPvAnyNetwork, field_validator, model_validator

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
    """How a presented API key maps to the store's ``api_key_id``: HMAC-SHA256 under the gateway's secret key."""

    PLAIN = "plain"
    HMAC = "hmac"


class LogIp(StrEnum):
    """Client addresses in the exchange log: as seen, or the network kept and the host keyed-hashed."""

    KEEP = "keep"
    PSEUDONYMIZE = "pseudonymize"


class LogText(StrEnum):
    """Prompt and answer text in the exchange log: kept, or dropped (the structure and parameters stay)."""

    KEEP = "keep"
    DROP = "drop"


class RouteRule(StrEnum):
    """What happens to a request outside the three APIs."""

    FORWARD = "forward"
    DENY = "deny"


class UnknownRoutes(BaseModel):
    """Requests outside the three APIs (other paths, other methods): forwarded or refused by the account's action.

    Blocked accounts and those that must verify are always refused. ``restricted``
    is for throttled accounts and those whose reasoning is stripped or summarised
    (the gateway cannot degrade an answer it does not know the shape of);
    ``allowed`` for every other account, unidentified ones included. At most
    ``max_concurrent`` such requests are forwarded at once, so that they cannot
    take the upstream connections the APIs need.
    """

    model_config = ConfigDict(extra="forbid")

    restricted: RouteRule = RouteRule.DENY
    allowed: RouteRule = RouteRule.FORWARD
    max_concurrent: int = Field(64, ge=1)


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
    ``trusted_proxies`` are the networks whose requests may carry the account
    and client-address headers (by default loopback only: an auth sidecar on the
    same host): from any other peer those headers are ignored (a client cannot
    claim another account by sending them), and the account comes from the API
    key; an empty list trusts no one. The client address is the right-most hop
    of ``client_ip_header`` (X-Forwarded-For) outside ``trusted_proxies``, read
    only from a trusted peer.
    ``client_max_concurrent`` bounds the requests one client (its account, else
    its address) has in flight; ``body_timeout_s`` the time it has to send a
    request body (408 and the connection closed after it).
    ``api_key_ids: plain`` logs raw API keys: the gateway refuses it unless
    ``plain_key_ids_for_tests`` is set.
    """

    model_config = ConfigDict(extra="forbid")

    upstream: str | None = None
    account_header: str = "x-distillguard-account"
    api_key_ids: KeyIds = KeyIds.HMAC
    secret_key_file: Path | None = None
    """The gateway's secret key for keyed hashes (see ``gateway/secret.py``); beside ``db`` when None."""
    plain_key_ids_for_tests: bool = False
    client_ip_header: str | None = None
    trusted_proxies: list[IPvAnyNetwork] = [IPv4Network("127.0.0.0/8"), IPv6Network("::1/128")]
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
    exchange_log_ip: LogIp = LogIp.PSEUDONYMIZE
    """Client addresses in the exchange log: /24 (IPv4) or /48 (IPv6) kept, host part keyed-hashed; or ``keep``."""
    exchange_log_text: LogText = LogText.KEEP
    """Prompts and answers in the exchange log (analyze's content signals read them); ``drop`` blanks every text."""
    admin_write_timeout_s: float = Field(10.0, gt=0)
    """How long an admin override waits for the store while another process writes it (then 503)."""
    learn_in: LearnIn = LearnIn.PROCESS
    learner_priority: LearnerPriority = LearnerPriority.IDLE
    learn_batch: int = Field(1000, ge=1)
    flush_interval_s: float = Field(0.1, gt=0, le=60)
    refresh_interval_s: float = Field(5.0, gt=0)
    max_accounts: int = Field(100_000, ge=2)
    max_pending: int = Field(50_000, ge=1)
    stats_ttl_s: float = Field(7 * 86400, gt=0)
    summary_max_chars: int = Field(300, ge=20)
    upstream_timeout_s: float = Field(120.0, gt=0)
    max_body_bytes: int = Field(32 * 1024 * 1024, ge=1024)
    body_timeout_s: float = Field(60.0, gt=0)
    client_max_concurrent: int = Field(100, ge=1)
    unknown_routes: UnknownRoutes = UnknownRoutes()

    @field_validator("upstream")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return None if url is None else url.rstrip("/")

    @model_validator(mode="after")
    def _no_plain_keys(self) -> GatewayConfig:
        if self.api_key_ids is KeyIds.PLAIN and not self.plain_key_ids_for_tests:
            raise ValueError("api_key_ids: plain would log raw API keys; it is for tests only "
                             "(plain_key_ids_for_tests: true)")
        return self

    def trusts(self, peer: str | None) -> bool:
        """Whether the identity headers of a request from ``peer`` are believed (see ``trusted_proxies``)."""
        try:
            address = ip_address(peer or "")
        except ValueError:
            return False
        return any(address in network for network in self.trusted_proxies)

    @field_validator("account_header", "client_ip_header", "replay_time_header")
    @classmethod
    def _lower(cls, name: str | None) -> str | None:
        return None if name is None else name.lower()


def load_gateway_config(path: Path | None = None, **overrides: Any) -> GatewayConfig:
    """Settings from ``path`` (YAML, optional) with non-None ``overrides``; ConfigError if invalid."""
    data = read_yaml_mapping(path, "gateway settings") if path is not None else {}
    data.update({k: v for k, v in overrides.items() if v is not None})
    return validate_model(GatewayConfig, data, str(path) if path else "gateway settings", "gateway settings")
