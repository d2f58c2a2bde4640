"""Scenario files: pydantic models, built-in scenarios, ``extends`` and load-time errors."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from distillguard.core.errors import ConfigError
from distillguard.core.schema import CAPABILITIES, CATEGORIES, VERIFICATIONS

BUILTIN_SCENARIOS: tuple[str, ...] = ("smoke", "dev", "large")
LANGUAGES: tuple[str, ...] = ("en", "zh", "ru", "es", "de", "fr", "ja", "ko")
ELICITATION_STYLES: tuple[str, ...] = (
    "system_long_thinking",
    "inline",
    "reconstruct",
    "non_english",
    "thinking_budget",
    "rubric",
    "none",
)
EVASIONS: tuple[str, ...] = ("low_and_slow", "paraphrase", "aged_accounts", "ua_rotation")
LOG_FIELDS: tuple[str, ...] = ("responses", "usage", "tls", "accounts")

Weights = dict[str, float]


def _check_weights(value: Weights, allowed: tuple[str, ...] | None, what: str) -> Weights:
    if not value:
        raise ValueError(f"{what}: give at least one weight")
    for key, weight in value.items():
        if allowed is not None and key not in allowed:
            raise ValueError(f"{what}: unknown key {key!r} (expected one of {', '.join(allowed)})")
        if weight < 0:
            raise ValueError(f"{what}: weight of {key!r} is negative")
    if sum(value.values()) <= 0:
        raise ValueError(f"{what}: weights sum to zero")
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _unset(default: Any, description: str) -> Any:
    """A field added with the families: left out of the resolved scenario while it has its default."""
    return Field(default, description=description, exclude_if=lambda v: v == default)


class ModelRelease(_Model):
    """A model served by the API; ``released_hour`` > 0 makes it a new release.

    After release, legitimate traffic moves to it gradually, reaching
    ``adoption`` of requests after a day.
    """

    name: str = Field(min_length=1)
    released_hour: float = Field(0.0, ge=0)
    adoption: float = Field(0.3, ge=0, le=1)


class ErrorRates(_Model):
    """Share of requests answered 429 (then retried) or 500."""

    rate_limited: float = Field(0.004, ge=0, le=0.5)
    server_error: float = Field(0.002, ge=0, le=0.5)


class _Population(_Model):
    name: str | None = Field(None, description="defaults to the kind")
    family: str | None = _unset(None, "the negative family it was drawn from")
    accounts: int = Field(ge=1, le=2_000_000)
    exchanges: int = Field(ge=0, description="target number of exchanges over the scenario")
    anthropic_share: float = Field(0.6, ge=0, le=1, description="share of accounts on /v1/messages")
    models: Weights = Field(default_factory=lambda: {"atlas-2-pro": 0.5, "atlas-2-fast": 0.5})
    errors: ErrorRates = ErrorRates()
    epoch_ms_share: float = Field(0.03, ge=0, le=1, description="accounts whose gateway logs epoch ms")
    categories: Weights = Field(default_factory=lambda: {"individual": 1.0})
    countries: Weights | None = None
    volume_sigma: float = Field(1.0, ge=0, le=3, description="lognormal sigma of per-account volume")
    thinking_share: float = Field(0.1, ge=0, le=1)

    @field_validator("categories")
    @classmethod
    def _categories(cls, v: Weights) -> Weights:
        return _check_weights(v, CATEGORIES, "categories")

    @field_validator("models")
    @classmethod
    def _models(cls, v: Weights) -> Weights:
        return _check_weights(v, None, "models")

    @property
    def label(self) -> str:
        """The population's name (its kind unless named)."""
        return self.name or self.kind  # type: ignore[attr-defined]


class IndividualPopulation(_Population):
    """People chatting through apps and SDKs from home."""

    kind: Literal["individual"] = "individual"
    max_turns: int = Field(8, ge=1, le=40)
    cot_aside_share: float = Field(0.04, ge=0, le=1)
    tool_share: float = Field(0.05, ge=0, le=1)
    ipv6_share: float = Field(0.15, ge=0, le=1)
    new_account_share: float = Field(0.03, ge=0, le=1, description="accounts created during the run")
    proxy_exit_share: float = _unset(0.0, "accounts whose home address is also an exit of the shared residential "
                                          "proxy pool (devices enrolled in a bandwidth-sharing app)")


class VpnPopulation(IndividualPopulation):
    """Individuals behind commercial VPN exits shared by many users."""

    kind: Literal["vpn_users"] = "vpn_users"  # type: ignore[assignment]
    exits: int = Field(30, ge=1, le=10_000)
    ipv6_share: float = Field(0.0, ge=0, le=1)


class AgenticDevPopulation(_Population):
    """Developers running agentic coding tools: long tool loops."""

    kind: Literal["agentic_dev"] = "agentic_dev"
    min_steps: int = Field(5, ge=1)
    max_steps: int = Field(40, ge=1, le=200)
    history_window: int = Field(5, ge=2, le=200, description="tool steps kept before compaction")
    thinking_share: float = Field(0.4, ge=0, le=1)
    categories: Weights = Field(default_factory=lambda: {"individual": 0.4, "startup": 0.35, "enterprise": 0.25})

    @model_validator(mode="after")
    def _steps(self) -> AgenticDevPopulation:
        if self.max_steps < self.min_steps:
            raise ValueError("max_steps must be >= min_steps")
        return self


class EnterprisePopulation(_Population):
    """Batch jobs: one template with slots, very high volume, cloud IPs."""

    kind: Literal["enterprise_batch"] = "enterprise_batch"
    accounts_per_org: int = Field(3, ge=1, le=50)
    nightly_share: float = Field(0.5, ge=0, le=1, description="accounts running nightly windows")
    volume_sigma: float = Field(1.2, ge=0, le=3)
    thinking_share: float = Field(0.0, ge=0, le=1)
    categories: Weights = Field(default_factory=lambda: {"enterprise": 0.8, "startup": 0.2})
    models: Weights = Field(default_factory=lambda: {"atlas-2-fast": 0.8, "atlas-2-pro": 0.2})


class BenchmarkPopulation(_Population):
    """Researchers running one benchmark a few times over a few hours."""

    kind: Literal["benchmark_eval"] = "benchmark_eval"
    runs: tuple[int, int] = (1, 4)
    lab_size: int = Field(4, ge=1, le=100, description="accounts per lab (shared card, domain, IPs)")
    cloud_share: float = Field(0.5, ge=0, le=1)
    thinking_share: float = Field(0.5, ge=0, le=1)
    requests_per_minute: tuple[float, float] = (5.0, 120.0)
    categories: Weights = Field(default_factory=lambda: {"research": 0.85, "education": 0.15})


class StudentsPopulation(_Population):
    """Students behind one university NAT, homework questions."""

    kind: Literal["students"] = "students"
    university: str | None = Field(None, description="domain of a university in world.yaml")
    nat_ips: int = Field(3, ge=1, le=64)
    home_share: float = Field(0.15, ge=0, le=1, description="sessions from home instead of the NAT")
    homework_size: int = Field(25, ge=1, description="problems per weekly assignment")
    followup_share: float = Field(0.35, ge=0, le=1)
    show_work_share: float = Field(0.3, ge=0, le=1)
    categories: Weights = Field(default_factory=lambda: {"education": 1.0})


class TutoringPopulation(_Population):
    """An education product relaying its students' maths questions, each asking for step-by-step explanations."""

    kind: Literal["tutoring"] = "tutoring"
    accounts_per_product: int = Field(2, ge=1, le=50, description="API accounts of one product (shared org)")
    age_days: tuple[float, float] = Field((60.0, 400.0), description="account age at the start, days")
    followup_share: float = Field(0.5, ge=0, le=1, description="sessions where the student asks follow-ups")
    max_followups: int = Field(3, ge=1, le=20)
    coding_share: float = Field(0.1, ge=0, le=1, description="programming questions besides maths")
    thinking_share: float = Field(0.2, ge=0, le=1)
    categories: Weights = Field(default_factory=lambda: {"education": 1.0})


class ResearchEvalPopulation(BenchmarkPopulation):
    """Research labs running reasoning evals: chain-of-thought prompts, several samples, model and budget sweeps."""

    kind: Literal["research_evals"] = "research_evals"  # type: ignore[assignment]
    samples: tuple[int, int] = (1, 8)
    model_sweep_share: float = Field(0.5, ge=0, le=1, description="jobs that send every item to every model")
    budget_sweep_share: float = Field(0.3, ge=0, le=1, description="jobs that sweep thinking budgets")
    cot_share: float = Field(0.7, ge=0, le=1, description="jobs whose prompt asks for step-by-step reasoning")


class TranslationPopulation(_Population):
    """Translation and localisation pipelines: batches of documents into other languages."""

    kind: Literal["translation"] = "translation"
    accounts_per_org: int = Field(2, ge=1, le=50)
    target_languages: Weights = Field(default_factory=lambda: {"zh": 0.3, "ja": 0.2, "de": 0.2, "es": 0.3})
    batch_share: float = Field(0.6, ge=0, le=1, description="accounts running nightly batches (else steady)")
    thinking_share: float = Field(0.0, ge=0, le=1)
    categories: Weights = Field(default_factory=lambda: {"enterprise": 0.6, "startup": 0.4})
    models: Weights = Field(default_factory=lambda: {"atlas-2-fast": 0.7, "atlas-2-pro": 0.3})

    @field_validator("target_languages")
    @classmethod
    def _targets(cls, v: Weights) -> Weights:
        return _check_weights(v, LANGUAGES, "target_languages")


class AgentFrameworkPopulation(_Population):
    """Products built on agent frameworks: ReAct loops ("think step by step, then act") and function calls."""

    kind: Literal["agent_framework"] = "agent_framework"
    accounts_per_org: int = Field(2, ge=1, le=50)
    react_share: float = Field(0.6, ge=0, le=1, description="sessions run as multi-step ReAct loops")
    max_steps: int = Field(10, ge=2, le=100)
    thinking_share: float = Field(0.2, ge=0, le=1)
    categories: Weights = Field(default_factory=lambda: {"startup": 0.6, "enterprise": 0.4})


class PhoneAppPopulation(_Population):
    """People using a chat app on their phones: young accounts behind their carrier's NAT."""

    kind: Literal["phone_app"] = "phone_app"
    carriers: Weights = Field(default_factory=lambda: {"US": 0.4, "IN": 0.3, "BR": 0.3},
                              description="countries whose carrier NAT the app's users sit behind")
    wifi_share: float = Field(0.3, ge=0, le=1, description="sessions from home Wi-Fi instead of the carrier")
    new_account_share: float = Field(0.4, ge=0, le=1, description="accounts created during the run")
    max_turns: int = Field(6, ge=1, le=40)
    cot_aside_share: float = Field(0.04, ge=0, le=1)

    @field_validator("carriers")
    @classmethod
    def _carriers(cls, v: Weights) -> Weights:
        return _check_weights(v, None, "carriers")


Population = Annotated[
    IndividualPopulation | VpnPopulation | AgenticDevPopulation | EnterprisePopulation | BenchmarkPopulation
    | StudentsPopulation | TutoringPopulation | ResearchEvalPopulation | TranslationPopulation
    | AgentFrameworkPopulation | PhoneAppPopulation,
    Field(discriminator="kind"),
]


class Signup(_Model):
    """How a campaign's accounts were opened."""

    burst_hours: float = Field(6.0, gt=0)
    lead_hours: float = Field(24.0, ge=0, description="signup burst ends this long before start")
    categories: Weights = Field(default_factory=lambda: {"education": 0.4, "research": 0.3, "startup": 0.3})
    email_style: Literal["patterned", "random", "names"] = "patterned"
    disposable_share: float = Field(0.3, ge=0, le=1)
    own_domain_share: float = Field(0.0, ge=0, le=1, description="accounts on the operator's own domain")
    payment_fingerprints: int = Field(3, ge=1, description="distinct cards across the accounts")
    verification: Weights = Field(default_factory=lambda: {"email": 0.7, "none": 0.2, "phone": 0.1})
    countries: Weights = Field(default_factory=lambda: {"US": 0.5, "SG": 0.2, "GB": 0.15, "DE": 0.15})
    pattern: Literal["burst", "waves", "trickle", "aged", "bought"] = _unset(
        "burst", "one burst before the start, waves through the campaign, a steady trickle, accounts aged by the "
                 "operator or bought from their first owners")
    waves: int = _unset(3, "number of signup waves (pattern waves)")

    @field_validator("categories")
    @classmethod
    def _categories(cls, v: Weights) -> Weights:
        return _check_weights(v, CATEGORIES, "categories")

    @field_validator("verification")
    @classmethod
    def _verification(cls, v: Weights) -> Weights:
        return _check_weights(v, VERIFICATIONS, "verification")


class Proxy(_Model):
    """Where a campaign's requests come from."""

    kind: Literal["residential", "shared_residential", "carrier_nat", "datacenter", "reseller", "vpn", "tor"] = Field(
        "residential", description="residential: the operator's own pool; shared_residential: a proxy pool whose "
                                   "addresses legitimate users also have; carrier_nat: mobile proxies behind carriers' NAT")
    pool_size: int = Field(2000, ge=1, le=1_000_000)
    rotation: Literal["per_request", "per_session", "per_account"] = "per_request"


class Pivot(_Model):
    """Move traffic to a newly released model."""

    model: str
    after_hours: float = Field(ge=0, description="hours after the campaign's start")
    share: float = Field(0.9, ge=0, le=1)


class Campaign(_Model):
    """One distillation campaign run by an operator."""

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    operator: str = Field(min_length=1)
    family: str | None = _unset(None, "the attack family it was drawn from")
    accounts: int = Field(ge=1, le=24_000)
    exchanges: int = Field(ge=0)
    start_hour: float = Field(0.0, ge=0)
    duration_hours: float | None = Field(None, gt=0, description="default: until the scenario ends")
    ramp_hours: float = Field(6.0, ge=0)
    account_lifetime_hours: float | None = Field(None, gt=0, description="burner accounts, staggered")
    max_per_account: int | None = Field(None, ge=1)
    daily_cap: int | None = Field(None, ge=1, description="per-account requests per day")
    signup: Signup = Signup()
    proxy: Proxy = Proxy()
    api_format: Literal["anthropic", "openai", "mixed"] = "anthropic"
    client: str | None = Field(None, description="client family in clients.yaml")
    focus: Weights = Field(default_factory=lambda: {"reasoning": 1.0})
    elicitation: Weights = Field(default_factory=lambda: {"system_long_thinking": 1.0})
    languages: Weights = Field(default_factory=lambda: {"zh": 1.0})
    sources: list[str] | None = Field(
        None,
        description="corpus files (stems) swept; default: distill files of each focus capability "
        "(the built-in corpus always goes by capability)",
    )
    order: Literal["sequential", "shuffled"] = "shuffled"
    timing: Literal["steady", "round_robin", "synchronized", "diurnal"] = "steady"
    dispatch: Literal["round_robin", "random", "sticky", "bursty"] | None = _unset(
        None, "which account sends each session (default: cyclic for round_robin and synchronized timing, else "
              "volume-weighted); sticky: one account until it has had its share; bursty: bursts of sessions")
    burst_sessions: float = _unset(8.0, "mean sessions per burst (dispatch bursty)")
    identity: Literal["sdk", "spoofed", "rotating", "browser"] | None = _unset(
        None, "client identity (default sdk: the operator's SDK); spoofed: claims client over another TLS stack; "
              "rotating: a client per account and a user agent per request; browser: browser-like clients")
    timezone_offset: float = Field(8.0, ge=-12, le=14, description="for diurnal timing")
    wave_every_hours: float = Field(3.0, gt=0)
    wave_minutes: float = Field(8.0, gt=0)
    blend_legit: float = Field(0.0, ge=0, le=0.95, description="share of resold ordinary chat")
    model: str = "atlas-2-pro"
    pivot: Pivot | None = None
    evasions: list[Literal["low_and_slow", "paraphrase", "aged_accounts", "ua_rotation"]] = []
    max_tokens: tuple[int, ...] = _unset((8192, 16_000, 32_000), "max_tokens values requests draw from")
    thinking_budget: int = Field(32_000, ge=1024, le=128_000)
    thinking_share: float = Field(0.5, ge=0, le=1, description="thinking on, besides thinking_budget style")
    fixed_phrases: int = Field(2, ge=1, le=50, description="phrases reused verbatim without paraphrase")
    errors: ErrorRates = ErrorRates(rate_limited=0.01)

    @field_validator("focus")
    @classmethod
    def _focus(cls, v: Weights) -> Weights:
        return _check_weights(v, CAPABILITIES, "focus")

    @field_validator("elicitation")
    @classmethod
    def _elicitation(cls, v: Weights) -> Weights:
        return _check_weights(v, ELICITATION_STYLES, "elicitation")

    @field_validator("languages")
    @classmethod
    def _languages(cls, v: Weights) -> Weights:
        return _check_weights(v, LANGUAGES[1:], "languages")

    @model_validator(mode="after")
    def _caps(self) -> Campaign:
        if self.max_per_account is not None and self.max_per_account * self.accounts < self.exchanges:
            raise ValueError(
                f"max_per_account x accounts = {self.max_per_account * self.accounts} "
                f"is below exchanges = {self.exchanges}"
            )
        return self


class LogFields(_Model):
    """Which fields the logs have: request-only logs lack responses and usage, some gateways TLS fingerprints,
    and a peer's data has no account records."""

    responses: bool = True
    usage: bool = True
    tls: bool = True
    accounts: bool = True

    @classmethod
    def without(cls, names: list[str]) -> LogFields:
        """Complete logs but for ``names`` (of :data:`LOG_FIELDS`)."""
        unknown = [n for n in names if n not in LOG_FIELDS]
        if unknown:
            raise ConfigError(f"log fields: unknown {', '.join(unknown)} (expected some of {', '.join(LOG_FIELDS)})")
        return cls(**{n: False for n in names})


class Scenario(_Model):
    """A whole simulated traffic scenario."""

    name: str = Field(min_length=1)
    description: str = ""
    seed: int = Field(0, ge=0)
    start: datetime = datetime(2026, 3, 2, tzinfo=UTC)
    duration_hours: float = Field(168.0, gt=0, le=24 * 120)
    models: list[ModelRelease] = Field(
        default_factory=lambda: [ModelRelease(name="atlas-2-pro"), ModelRelease(name="atlas-2-fast")]
    )
    populations: list[Population] = []
    campaigns: list[Campaign] = []
    log: LogFields = _unset(LogFields(), "which fields the logs keep")

    @field_validator("start")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        models = {m.name: m for m in self.models}
        if len(models) != len(self.models):
            raise ValueError("models: duplicate model name")
        names = [p.label for p in self.populations]
        if len(set(names)) != len(names):
            raise ValueError("populations: duplicate population name")
        ids = [c.id for c in self.campaigns]
        if len(set(ids)) != len(ids):
            raise ValueError("campaigns: duplicate campaign id")
        if set(names) & {"campaign"}:
            raise ValueError("populations: 'campaign' is reserved")
        for p in self.populations:
            for m in p.models:
                if m not in models:
                    raise ValueError(f"populations ({p.label}).models: unknown model {m!r}")
        for c in self.campaigns:
            if c.model not in models:
                raise ValueError(f"campaigns ({c.id}).model: unknown model {c.model!r}")
            if c.start_hour >= self.duration_hours:
                raise ValueError(f"campaigns ({c.id}).start_hour: after the scenario ends")
            if c.pivot is not None:
                release = models.get(c.pivot.model)
                if release is None:
                    raise ValueError(f"campaigns ({c.id}).pivot.model: unknown model {c.pivot.model!r}")
                if c.start_hour + c.pivot.after_hours < release.released_hour:
                    raise ValueError(
                        f"campaigns ({c.id}).pivot.after_hours: pivot before {c.pivot.model} is released"
                    )
        return self

    @property
    def expected_exchanges(self) -> int:
        """Target number of exchanges (the real count differs by sampling noise)."""
        return sum(p.exchanges for p in self.populations) + sum(c.exchanges for c in self.campaigns)

    @property
    def expected_accounts(self) -> int:
        """Number of accounts the scenario opens."""
        return sum(p.accounts for p in self.populations) + sum(c.accounts for c in self.campaigns)

    def end_ms(self) -> int:
        """End of the scenario, epoch milliseconds."""
        return self.start_ms() + int(self.duration_hours * 3_600_000)

    def start_ms(self) -> int:
        """Start of the scenario, epoch milliseconds."""
        return int(self.start.timestamp() * 1000)


# ----------------------------------------------------------------- loading --


def _merge_keyed(base: list[Any], over: list[Any], key: str) -> list[Any]:
    out = [dict(b) for b in base]
    index = {b.get(key) or b.get("kind"): i for i, b in enumerate(out)}
    for item in over:
        if not isinstance(item, dict):
            out.append(item)
            continue
        k = item.get(key) or item.get("kind")
        if k in index:
            if item.get("remove"):
                out[index[k]] = None  # type: ignore[call-overload]
            else:
                out[index[k]] = _deep_merge(out[index[k]], item)
        elif not item.get("remove"):
            out.append(item)
    return [o for o in out if o is not None]


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if k == "populations" and isinstance(v, list) and isinstance(base.get(k), list):
            out[k] = _merge_keyed(base[k], v, "name")
        elif k == "campaigns" and isinstance(v, list) and isinstance(base.get(k), list):
            out[k] = _merge_keyed(base[k], v, "id")
        elif isinstance(v, dict) and isinstance(base.get(k), dict):
            out[k] = _deep_merge(base[k], v)
        else:
            out[k] = v
    return out


def _read_yaml(text: str, source: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a scenario must be a YAML mapping")
    return data


def _raw(name_or_path: str, seen: tuple[str, ...] = ()) -> tuple[dict[str, Any], str]:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ConfigError(f"{name_or_path}: scenario file not found")
        source, text, base_dir = str(path), path.read_text(encoding="utf-8"), path.parent
    elif name_or_path in BUILTIN_SCENARIOS:
        source = f"<builtin {name_or_path}>"
        text = (resources.files("distillguard.sim") / "scenarios" / f"{name_or_path}.yaml").read_text("utf-8")
        base_dir = None
    else:
        raise ConfigError(
            f"{name_or_path}: no such scenario (built-in: {', '.join(BUILTIN_SCENARIOS)}; or a .yaml path)"
        )
    if source in seen:
        raise ConfigError(f"{source}: extends loops back on itself")
    data = _read_yaml(text, source)
    parent = data.pop("extends", None)
    if parent is not None:
        if not isinstance(parent, str):
            raise ConfigError(f"{source}: extends: give a scenario name or path")
        parent_ref = parent
        if base_dir is not None and parent not in BUILTIN_SCENARIOS and not Path(parent).is_absolute():
            parent_ref = str(base_dir / parent)
        base, _ = _raw(parent_ref, seen + (source,))
        data = _deep_merge(base, data)
    return data, source


def _where(loc: tuple[Any, ...], data: dict[str, Any]) -> str:
    parts: list[str] = []
    node: Any = data
    for item in loc:
        if isinstance(item, int):
            label = ""
            if isinstance(node, list) and item < len(node) and isinstance(node[item], dict):
                ident = node[item].get("id") or node[item].get("name") or node[item].get("kind")
                label = f" ({ident})" if ident else ""
            parts[-1:] = [f"{parts[-1] if parts else ''}[{item}]{label}"]
            node = node[item] if isinstance(node, list) and item < len(node) else None
        else:
            if isinstance(node, dict) and item in node:
                node = node[item]
                parts.append(str(item))
            elif isinstance(node, dict) and node.get("kind") == item:
                continue  # discriminator tag pydantic inserts
            else:
                node = None
                parts.append(str(item))
    return ".".join(parts) or "<scenario>"


def parse_scenario(data: dict[str, Any], source: str) -> Scenario:
    """Validate a scenario mapping; raise :class:`ConfigError` naming file and field."""
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        lines = [f"{_where(tuple(e['loc']), data)}: {e['msg']}" for e in exc.errors()]
        raise ConfigError(f"{source}: invalid scenario:\n  " + "\n  ".join(lines)) from None


def load_scenario(name_or_path: str) -> Scenario:
    """Load a built-in scenario (``smoke``, ``dev``, ``large``) or a YAML file.

    A file may say ``extends: <name or path>`` and override any field;
    populations merge by ``name`` (or kind) and campaigns by ``id``
    (``remove: true`` drops one).
    """
    data, source = _raw(name_or_path)
    return parse_scenario(data, source)


def dump_scenario(scenario: Scenario) -> str:
    """The resolved scenario as YAML (round-trips through :func:`load_scenario`)."""
    data = scenario.model_dump(mode="json")
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
