"""Account risk from the fingerprint: an additive logistic model with plain-word reasons.

Each term is a share, a rate or a clipped score in 0..1 that does not grow
with the size of the population or the length of the observation: a
behaviour a distiller cannot easily drop without giving up what it came for
(asking for reasoning traces, sweeping ever-new one-shot prompts, round-the-
clock activity), or one that marks legitimate use (follow-up conversations,
tool loops, repeated benchmark items). Every such term of an account is scaled by
its evidence factor ``n / (n + EVIDENCE_HALF_COUNT)``: a few requests prove
little. One term weighs its evidence itself: ``elicitation_evidence``, the
log-likelihood ratio of the account's count of novel tasks that asked for the
reasoning, in words or by a large thinking budget, against both legitimate
explanations, an ordinary user and an evaluator rerunning a fixed item set (see
:func:`elicitation_nats`), so that six tasks out of six asking for it say more
than six out of sixty, however short-lived the account, and a harvester
diluting its traffic with resold chat still adds evidence with every trace it
takes. The risk is the logistic of the weighted sum, or, where it is higher,
the posterior of that counted evidence alone (see :func:`score_accounts`). Two weight sets are
fitted (``bench/fit_risk_weights.py``, see :mod:`distillguard.eval.risk_fit`)
on calibration scenarios and shipped: ``data/risk_weights.yaml`` for single
accounts, on their whole traffic, and ``data/campaign_weights.yaml`` for a
group of linked accounts pooled as one, on its traffic at any point of its
life, so that a campaign hours old is judged on what it shows already (many
new linked accounts asking for reasoning traces) rather than on a week of
round-the-clock activity it has not had time to show.

A log may lack some inputs (responses, account records: request-only logs):
the terms read from them are left out and the rest renormalised, so that a
missing input counts neither as benign nor as malicious (see
:func:`score_accounts`); the reasons say which inputs were missing.
"""

from __future__ import annotations

import functools
from collections.abc import Collection
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError
from scipy.special import expit

from distillguard.accounts.exits import EXIT_COLUMNS
from distillguard.accounts.identity import CLIENT_COLUMNS
from distillguard.accounts.parameters import PARAMETER_COLUMNS
from distillguard.accounts.sketch import TASK_PRECISION, TASK_REGISTERS, hll_sd
from distillguard.core.decision import Evidence
from distillguard.core.errors import ConfigError

HIGH_RISK_CATEGORIES = ("education", "research", "startup")
WEAK_VERIFICATIONS = ("none", "email")
EVIDENCE_HALF_COUNT = 10.0
"""Exchanges at which an account's own behaviour counts half."""
YOUNG_DAYS = 30.0
"""Account age at first use under which an account counts as (linearly more) young."""
ELICITATION_BASE_RATE = 0.08
"""Share of an ordinary user's tasks that ask in words for the reasoning (the classifier's false alarms included)."""
ELICITATION_HARVEST_RATE = 0.3
"""The share from which a harvester is worth telling apart: lower, and it takes few traces for its traffic."""
RERUN_HARVEST_RATE = 0.1
"""Share of a harvester's tasks that repeat an earlier prompt of its account (retries, a corpus drawn with
replacement): it wants new traces."""
RERUN_SKETCH_SD = 2.0
"""Standard deviations of the distinct-task sketch (:func:`~distillguard.accounts.sketch.hll_sd` at
:data:`~distillguard.accounts.sketch.TASK_PRECISION`) that an account's rerun count is lowered by before it is
weighed, at most those at as many prompts as the sketch has registers (38 reruns): at 36 new prompts the sketch may
count 34 (prompts whose hashes collide), and reruns would make a harvester of a few dozen tasks an evaluator, while
past a few hundred tasks the evidence either way dwarfs the sketch's error (4.6 %: a harvester rerunning 10 % of its
tasks is counted an evaluator only where the sketch is four standard deviations low)."""
RERUN_EVAL_RATE = 0.5
"""Share of an evaluator's tasks that repeat an earlier prompt: a fixed item set run several times, or sampled."""
BUDGET_BASE_RATE = 0.25
"""Share of an ordinary user's tasks that open with a large thinking budget or effort (apps that turn thinking on)."""
BUDGET_HARVEST_RATE = 0.75
"""The share from which a harvester asking only through the parameters is worth telling apart."""
EITHER_BASE_RATE = 1.0 - (1.0 - ELICITATION_BASE_RATE) * (1.0 - BUDGET_BASE_RATE)
"""Share of an ordinary user's tasks that ask for the reasoning either way (in words or by a budget, independently)."""
RESOLD_SHARE = 0.6
"""Share of a linked group's tasks that may be resold ordinary traffic: a reseller network mixes its customers' chat
into the harvest it runs on the same accounts."""
DILUTED_HARVEST_RATE = BUDGET_HARVEST_RATE * (1.0 - RESOLD_SHARE) + EITHER_BASE_RATE * RESOLD_SHARE
"""Share of a linked group's tasks that ask for the reasoning either way when :data:`RESOLD_SHARE` of them are
ordinary traffic (at :data:`EITHER_BASE_RATE`) and the rest a harvest (at :data:`BUDGET_HARVEST_RATE`)."""
RETRY_SHARE = 0.2
"""Share of a single account's tasks that may repeat an earlier prompt before its reasoning shares are discounted:
retries after an error or a timeout, a corpus drawn with replacement, the distinct-count sketch's error."""
ELICITATION_SATURATION = 1000.0
"""Log-likelihood ratio (nats) at which ``elicitation_evidence`` reaches 1 (on a log scale: 12 nats give 0.37)."""
FULL_DRIVE = 0.5
"""Share of a linked group's traffic that is what a harvester comes for (tasks without a person's follow-up, or
tasks asking for the reasoning) from which its coordination counts in full: a fleet whose members also resell
chat is still one."""
WEIGHTS_FILES: dict[str, str] = {"account": "risk_weights.yaml", "campaign": "campaign_weights.yaml"}
"""The shipped weight set of each model (single accounts, pooled groups of linked accounts)."""
Model = Literal["account", "campaign"]
RESPONSES = "responses"
ACCOUNT_RECORD = "account record"
TLS_FINGERPRINTS = "TLS fingerprints"
CREATION_TIME = "account creation time"
POPULATION = "population statistics"
ADDRESS_LISTS = "VPN or Tor exit lists"
TERM_INPUTS: dict[str, str] = {
    "reasoning_harvest": RESPONSES,
    "cover_category": ACCOUNT_RECORD,
    "weak_verification": ACCOUNT_RECORD,
    "young_fleet": ACCOUNT_RECORD,
    "maxed_reasoning": POPULATION,
    "parameter_sweep": POPULATION,
    "client_mismatch": TLS_FINGERPRINTS,
    "young_exit": CREATION_TIME,
    "anonymiser": ADDRESS_LISTS,
}
"""The terms read from an input a log may lack (or, for the address lists, the intel directory), and that input;
every other term reads the requests only."""
POPULATION_TERMS: dict[str, str] = {
    "maxed_reasoning": "maxed_reasoning_share",
    "parameter_sweep": "model_sweep",
    "client_mismatch": "client_mismatch_share",
    "young_exit": "young_exit_excess",
}
"""Terms read from columns judged against the whole population (``analysis.stats.population_signals``), and the
column whose null marks the term unknown; online scoring has no population, so the columns are absent there."""
POPULATION_COLUMNS: tuple[str, ...] = (*PARAMETER_COLUMNS, *CLIENT_COLUMNS, *EXIT_COLUMNS)
"""Per-account columns judged against the whole stored population (null where an account's log lacks the input); a
pooled group carries its members' mean, weighted by their exchanges."""


class RiskWeights(BaseModel):
    """Bias and per-term weights of the risk model (``data/risk_weights.yaml``)."""

    model_config = ConfigDict(extra="forbid")

    bias: float
    weights: dict[str, float]
    evidence_bias: float | None = None
    """Prior log-odds of the counted-evidence detector (:func:`score_accounts`); None turns it off."""
    fitted_on: list[str] = []
    note: str = ""


@dataclass(frozen=True, slots=True)
class RiskTerm:
    """One additive term: its name, value per account, the side it counts on and how to say it."""

    name: str
    values: np.ndarray
    sign: int
    describe: str
    counted: bool = False
    """The value already weighs how much evidence there is: not scaled by the evidence factor."""


def _col(features: pa.Table, name: str) -> np.ndarray:
    return features.column(name).fill_null(0).to_numpy().astype(np.float64)


def _optional_col(features: pa.Table, name: str) -> np.ndarray:
    """A column with nulls as 0, all 0 where ``features`` lacks it (a population column: the term is then missing)."""
    return _col(features, name) if name in features.column_names else np.zeros(features.num_rows)


def binomial_llr(k: np.ndarray, n: np.ndarray, p1: float, p0: float) -> np.ndarray:
    """Log-likelihood ratio (nats) of ``k`` successes in ``n`` trials at rate ``p1`` against rate ``p0``."""
    k = np.minimum(k, n)
    return k * np.log(p1 / p0) + (n - k) * np.log((1.0 - p1) / (1.0 - p0))


def elicitation_llr(elicited: np.ndarray, tasks: np.ndarray, distinct_tasks: np.ndarray | None = None, *,
                    base_rate: float = ELICITATION_BASE_RATE, harvest_rate: float = ELICITATION_HARVEST_RATE
                    ) -> np.ndarray:
    """Log-likelihood ratio that ``elicited`` of ``tasks`` asking for the reasoning come from a harvester.

    The smaller of two ratios, the harvester against each legitimate explanation:

    * an ordinary user (binomial at ``harvest_rate`` against ``base_rate``: with the
      defaults each eliciting task adds log(0.3 / 0.08) = 1.32 nats, each other task
      takes 0.27 away, so a share above 15 % accumulates evidence with volume);
    * an evaluator running a fixed item set (when ``distinct_tasks`` is given): it asks
      for the reasoning as much, but repeats its prompts. Binomial on the tasks that
      repeat an earlier prompt of the account, at :data:`RERUN_HARVEST_RATE` against
      :data:`RERUN_EVAL_RATE`: a harvester wants new traces. The reruns are the tasks less the sketch's
      distinct count, less :data:`RERUN_SKETCH_SD` of its standard deviations (those of at most
      :data:`~distillguard.accounts.sketch.TASK_REGISTERS` prompts): the collisions of a few dozen prompts' hashes
      are no reruns.
    """
    llr = binomial_llr(elicited, tasks, harvest_rate, base_rate)
    if distinct_tasks is None:
        return llr
    allowance = RERUN_SKETCH_SD * hll_sd(np.minimum(distinct_tasks, TASK_REGISTERS), TASK_PRECISION)
    reruns = np.maximum(tasks - np.minimum(distinct_tasks, tasks) - allowance, 0.0)
    return np.minimum(llr, binomial_llr(reruns, tasks, RERUN_HARVEST_RATE, RERUN_EVAL_RATE))


def elicitation_nats(features: pa.Table) -> np.ndarray:
    """Per account, the counted evidence of harvesting (nats, >= 0): the largest of the evidence of its tasks that
    ask for the reasoning in words, of those that ask for it by a large thinking budget or effort, and of those
    that ask either way, each against an ordinary user and an evaluator (:func:`elicitation_llr`). The third
    channel holds a harvester that splits its asking between words and budgets, each under its own bar. A pooled
    group (linked accounts) is also weighed either way against a harvest diluted by resold chat
    (:data:`DILUTED_HARVEST_RATE`): its linking already says it is coordinated, what is left to ask is whether
    its traffic harvests, and a reseller's is up to :data:`RESOLD_SHARE` someone else's. A group's reruns, against
    the evaluator, are those of the group (``distinct_tasks``), a prompt one member sends after another included:
    a lab whose seats each run one benchmark once reruns it across its seats."""
    tasks, distinct = _col(features, "tasks"), _col(features, "distinct_tasks")
    either_tasks = _col(features, "either_tasks")
    words = elicitation_llr(_col(features, "elicited_tasks"), tasks, distinct)
    budgets = elicitation_llr(_col(features, "budget_tasks"), tasks, distinct, base_rate=BUDGET_BASE_RATE,
                              harvest_rate=BUDGET_HARVEST_RATE)
    either = elicitation_llr(either_tasks, tasks, distinct, base_rate=EITHER_BASE_RATE,
                             harvest_rate=BUDGET_HARVEST_RATE)
    diluted = elicitation_llr(either_tasks, tasks, distinct, base_rate=EITHER_BASE_RATE,
                              harvest_rate=DILUTED_HARVEST_RATE) * _pooled(features)
    return np.maximum.reduce([words, budgets, either, diluted, np.zeros_like(words)])


def _pooled(features: pa.Table) -> np.ndarray:
    """Per row, whether it is a pooled group of more than one linked account (``n_accounts > 1``)."""
    if "n_accounts" not in features.column_names:
        return np.zeros(features.num_rows, dtype=bool)
    return _col(features, "n_accounts") > 1.0


def fresh_share(features: pa.Table) -> np.ndarray:
    """Per account, the share of its tasks on a prompt it had not sent before (distinct task prompts over tasks; 1
    without tasks). A pooled group's is its members' own (``fresh_tasks``): a fleet drawing on one corpus repeats
    prompts across its accounts, not within them, while each member of an evaluation team reruns its items."""
    tasks = _col(features, "tasks")
    fresh = _col(features, "distinct_tasks")
    pooled = _pooled(features)
    if pooled.any():
        fresh = np.where(pooled, _col(features, "fresh_tasks"), fresh)
    share = np.clip(fresh / np.maximum(tasks, 1.0), 0.0, 1.0)
    return np.where(tasks > 0, share, 1.0)


def fresh_discount(features: pa.Table) -> np.ndarray:
    """The factor on an account's (or group's) reasoning shares: its :func:`fresh_share` over the share left once
    :data:`RETRY_SHARE` repeats are allowed, at most 1 (an evaluator running its items four times keeps 0.31)."""
    return np.clip(fresh_share(features) / (1.0 - RETRY_SHARE), 0.0, 1.0)


def risk_terms(features: pa.Table, context: pa.Table | None = None) -> list[RiskTerm]:
    """The terms of the risk model for every account (or pooled campaign) of ``features``.

    ``context`` (optional) is row-aligned with ``features`` and holds the
    account record fields ``category``, ``verification`` and, optionally,
    ``created_at`` (null when unknown). A pooled fingerprint (a group of
    accounts taken as one, as the campaign layer scores them) carries
    ``n_accounts``, which feeds the coordination terms (0 for a single
    account); youth counts only through them: new users are common, a fleet
    of linked accounts put to work within days of their creation is what a
    campaign's burner accounts are. Coordination is weighed by the group's
    drive, the share of its traffic that is what a harvester comes for: tasks
    run without a person's follow-up (one-shot, or on through a tool loop), or
    tasks asking for the reasoning, in full from :data:`FULL_DRIVE`. Linked
    accounts whose users chat, such as an app's behind one carrier NAT, are no
    campaign however young. Novelty is not asked of the group: a fleet of
    thousands drawing on one corpus repeats its own prompts across accounts.
    A group's novelty, in its one-shot sweep and its benchmark reruns, is its
    members' own (:func:`fresh_share`): a prompt one member sends after
    another is no rerun.
    An account's shares of reasoning asked for and received are discounted by
    the share of its tasks that are fresh (:func:`fresh_discount`; a group's
    by its members' own): a harvester wants traces it does not have yet, while
    an evaluator rerunning a fixed item set asks for the reasoning on every run
    (as :func:`elicitation_llr` weighs the counted evidence).
    ``sign`` is +1 for a term
    that marks distillation and -1 for one that marks legitimate use; the fit
    keeps each weight on its side.
    """
    n = np.maximum(_col(features, "n_exchanges"), 1.0)
    continuation = _col(features, "continuation_share")
    novelty = np.where(_pooled(features), fresh_share(features), _col(features, "prompt_novelty"))
    active = _col(features, "active_hours")
    span = np.maximum(_col(features, "span_hours"), 1.0)
    max_entropy = np.log2(np.clip(n, 2.0, 24.0))
    n_accounts = _col(features, "n_accounts") if "n_accounts" in features.column_names else np.ones(features.num_rows)
    coordination = np.clip(np.log10(np.maximum(n_accounts, 1.0)) / 2.0, 0.0, 1.0)
    fresh = fresh_discount(features)
    harvest = np.clip(_col(features, "cot_share") + _col(features, "reasoning_param_share"), 0.0, 1.0) * (1.0 - continuation)
    follow_ups = np.clip(continuation - _col(features, "tool_loop_share"), 0.0, 1.0)
    drive = np.clip(np.maximum(harvest, 1.0 - follow_ups) / FULL_DRIVE, 0.0, 1.0)
    rotation = np.clip((_col(features, "ip_rotation") - 0.3) / 0.5, 0.0, 1.0) * (n >= 5)
    if context is not None:
        category = context.column("category").to_pylist()
        verification = context.column("verification").to_pylist()
    else:
        category = verification = [None] * features.num_rows
    young = np.clip(1.0 - account_age_days(features, context) / YOUNG_DAYS, 0.0, 1.0)
    return [
        RiskTerm("cot_elicitation", _col(features, "cot_share") * fresh, 1,
                 "{pct} of {n} requests ask in words for the full reasoning{fresh}"),
        RiskTerm("elicitation_evidence", np.clip(np.log1p(elicitation_nats(features)) / np.log1p(ELICITATION_SATURATION),
                                                 0.0, 1.0), 1,
                 "{elicited} of {tasks} new tasks ask for the full reasoning", counted=True),
        RiskTerm("reasoning_parameters", _col(features, "reasoning_param_share") * fresh, 1,
                 "{pct} of requests open a task with a large thinking budget or effort{fresh}"),
        RiskTerm("reasoning_harvest", _col(features, "mean_reasoning_share") * fresh, 1,
                 "reasoning is {pct} of output tokens{fresh}"),
        RiskTerm("one_shot_sweep", novelty * (1.0 - continuation), 1,
                 "{pct} new one-shot prompts, no follow-ups"),
        RiskTerm("sustained", np.clip(active / 24.0, 0.0, 1.0), 1,
                 "active in {active} distinct hours over {span}"),
        RiskTerm("duty_cycle", np.clip(active / np.ceil(span + 1.0), 0.0, 1.0) * np.clip(active / 24.0, 0.0, 1.0), 1,
                 "active {duty} of the hours since its first request"),
        RiskTerm("round_the_clock", np.clip(_col(features, "hour_entropy") / max_entropy, 0.0, 1.0)
                 * np.clip(active / 24.0, 0.0, 1.0), 1, "active {hours} h/day"),
        RiskTerm("capability_focus",
                 _col(features, "capability_concentration") * (1.0 - _col(features, "cap_general")), 1,
                 "{pct} of traffic on one capability ({capability})"),
        RiskTerm("ip_rotation", rotation, 1,
                 "a new IP address for {rotation} of requests"),
        RiskTerm("datacenter", _col(features, "datacenter_share"), 1,
                 "{pct} of traffic from datacenter addresses"),
        RiskTerm("anonymiser", np.clip(_col(features, "vpn_share") + _col(features, "tor_share"), 0.0, 1.0), 1,
                 "{pct} of traffic from VPN or Tor exits"),
        RiskTerm("cover_category", np.array([c in HIGH_RISK_CATEGORIES for c in category], np.float64), 1,
                 "{category} account"),
        RiskTerm("weak_verification",
                 np.array([context is not None and (v in WEAK_VERIFICATIONS or v is None) for v in verification],
                          np.float64), 1, "verification: {verification}"),
        RiskTerm("conversation", continuation, -1, "{pct} of requests continue a conversation or tool loop"),
        RiskTerm("rerun", (1.0 - novelty) * (1.0 - continuation), -1,
                 "{pct} of prompts are one-shot repeats (benchmark reruns)"),
        RiskTerm("single_template", np.clip(1.0 - np.log1p(_col(features, "distinct_templates")) / np.log1p(n), 0.0, 1.0)
                 * (n >= 20), -1, "{templates} prompt templates over {n} requests"),
        RiskTerm("coordination", coordination * drive, 1,
                 "{accounts} linked accounts send tasks without follow-ups"),
        RiskTerm("coordinated_harvest", coordination * harvest, 1,
                 "{accounts} linked accounts ask for reasoning traces, one-shot"),
        RiskTerm("coordinated_rotation", coordination * rotation * drive, 1,
                 "{accounts} linked accounts rotate addresses (a new IP for {rotation} of requests)"),
        RiskTerm("young_fleet", coordination * np.nan_to_num(young) * drive, 1,
                 "{accounts} linked accounts first used {age}"),
        RiskTerm("maxed_reasoning", _optional_col(features, "maxed_reasoning_share"), 1,
                 "{pct} of requests max the reasoning (a thinking budget at the model's largest, or effort high)"),
        RiskTerm("parameter_sweep", np.maximum(_optional_col(features, "model_sweep"),
                                               _optional_col(features, "reasoning_sweep")), 1,
                 "sweeps models or reasoning settings within a day ({pct} of a full sweep)"),
        RiskTerm("client_mismatch", _optional_col(features, "client_mismatch_share"), 1,
                 "{pct} of requests claim a client whose TLS stack the population rarely shows with it"),
        RiskTerm("young_exit", _optional_col(features, "young_exit_excess"), 1,
                 "a new account at an exit shared by more new accounts than its kind of network has "
                 "(excess {pct})"),
    ]


def _age_text(days: float) -> str:
    """How long after creation an account (or a group, by its members' median creation) was first used."""
    if np.isnan(days):
        return "an unknown time after creation"
    if days < 0:  # a group's first request came before most of its members existed: replacements
        return "while most of them were still being created"
    return f"{days * 24:.0f} h after creation" if days < 2 else f"{days:.0f} days after creation"


def account_age_days(features: pa.Table, context: pa.Table | None) -> np.ndarray:
    """Days from each account's creation to its first request (NaN when the creation time is unknown)."""
    if context is None or "created_at" not in context.column_names:
        return np.full(features.num_rows, np.nan)
    first = features.column("first_seen").cast(pa.timestamp("us", tz="UTC")).to_numpy(zero_copy_only=False)
    created = context.column("created_at").cast(pa.timestamp("us", tz="UTC")).to_numpy(zero_copy_only=False)
    age = (first - created).astype("timedelta64[us]")
    return np.where(np.isnat(age), np.nan, age.astype(np.float64) / 86_400e6)


TERM_SIGNS: dict[str, int] = {
    t.name: t.sign for t in risk_terms(pa.table({
        name: pa.array([0.0]) for name in (
            "n_exchanges", "continuation_share", "tool_loop_share", "prompt_novelty", "active_hours", "span_hours",
            "cot_share", "reasoning_param_share", "mean_reasoning_share", "hour_entropy", "capability_concentration",
            "cap_general", "ip_rotation", "datacenter_share", "vpn_share", "tor_share", "distinct_templates",
            "tasks", "elicited_tasks", "distinct_tasks", "budget_tasks", "either_tasks",
        )
    }))
}
"""Each term's side (+1 marks distillation, -1 legitimate use), as the fit needs them."""


@functools.cache
def default_weights(model: Model = "account") -> RiskWeights:
    """The fitted weights shipped with the package for single accounts or pooled groups."""
    name = WEIGHTS_FILES[model]
    text = (resources.files("distillguard.accounts") / "data" / name).read_text("utf-8")
    return load_weights(text, f"distillguard/accounts/data/{name}")


def load_weights(text: str, source: str) -> RiskWeights:
    """Parse and validate risk weights; every term must have a weight on its side."""
    try:
        weights = RiskWeights.model_validate(yaml.safe_load(text))
    except (yaml.YAMLError, ValidationError) as exc:
        raise ConfigError(f"{source}: invalid risk weights: {exc}") from exc
    missing = sorted(set(TERM_SIGNS) - set(weights.weights))
    unknown = sorted(set(weights.weights) - set(TERM_SIGNS))
    if missing or unknown:
        raise ConfigError(f"{source}: weights: missing terms {missing}, unknown terms {unknown}")
    for name, value in weights.weights.items():
        if value * TERM_SIGNS[name] < 0:
            raise ConfigError(f"{source}: weights.{name}: {value} is on the wrong side (sign {TERM_SIGNS[name]:+d})")
    return weights


@dataclass(frozen=True, slots=True)
class RiskModels:
    """The weights analysis scores with: ``account`` for single accounts, ``campaign`` for pooled groups."""

    account: RiskWeights
    campaign: RiskWeights


def load_risk_models(account: Path | None = None, campaign: Path | None = None) -> RiskModels:
    """The weights in the YAML files ``account`` and ``campaign`` (the shipped ones where None); ConfigError if invalid."""
    return RiskModels(_weights_file(account, "account"), _weights_file(campaign, "campaign"))


def _weights_file(path: Path | None, model: Model) -> RiskWeights:
    if path is None:
        return default_weights(model)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {model} risk weights: {exc}") from exc
    return load_weights(text, str(path))


def evidence_factor(features: pa.Table) -> np.ndarray:
    """``n / (n + EVIDENCE_HALF_COUNT)`` per account: how much its own behaviour counts."""
    n = _col(features, "n_exchanges")
    return n / (n + EVIDENCE_HALF_COUNT)


def term_matrix(terms: list[RiskTerm], features: pa.Table) -> np.ndarray:
    """Accounts × terms: each term's value, scaled by the evidence factor unless it is ``counted``."""
    factor = evidence_factor(features)
    return np.stack([t.values if t.counted else t.values * factor for t in terms], axis=1)


_COUNTS = 0.25  # a term's contribution (logit) from which it is a reason


def term_detector(name: str) -> str:
    """The detector a risk term is named by in evidence (and in a policy's ``verify_on``)."""
    return f"account.{name}"


def score_accounts(
    features: pa.Table, context: pa.Table | None = None, top: int = 3, weights: RiskWeights | None = None,
    report: Collection[str] = (),
) -> tuple[np.ndarray, list[list[Evidence]]]:
    """Risk in 0..1 per account (or pooled group, see :func:`risk_terms`) and its top positive reasons.

    ``weights`` defaults to the shipped account model; pass ``default_weights("campaign")`` for pooled groups.
    The reasons are the ``top`` terms that count (a contribution over a quarter of a logit), then any other term
    that counts whose detector is in ``report`` (the detectors a policy reads: an account whose traffic asks
    for three kinds of traces keeps its spoofed client on record).

    Two detectors, and the risk is the larger: the logistic model of the terms, and, when
    ``weights.evidence_bias`` is set, the *counted evidence* alone: the posterior of
    :func:`elicitation_nats` under the prior log-odds ``evidence_bias`` (a nat of likelihood
    ratio is a unit of log-odds). Counted evidence needs no share, duration or account
    record: a short-lived account, or a harvester diluting its traffic with resold chat,
    is acted on once it has asked for enough traces on new prompts. Its reason
    (``account.counted_elicitation``) comes first where it decides.

    Missing inputs (:func:`missing_inputs`) count neither for nor against: a term whose input
    the account's log lacks is dropped (a term known in part keeps its known part, the rest
    missing), and the present terms of its side (distillation or legitimate use) are scaled
    by that side's weight mass over the mass present, the bias
    staying as fitted. As an imputation: a missing term shows, per unit of weight, what the
    present terms of its side show, so the logit is what the log can say, on the scale the bias
    was calibrated for (read as their null values, absent inputs counted as benign, like a
    reasoning share of 0, or malicious, like an unknown verification read as weak). The other
    side's terms say nothing about them: every input a log may lack feeds distillation-side
    terms, and reruns or conversations are no evidence about an account record. Imputing each
    term's training mean would need class statistics the fit does not record. A term that does
    not depend on the missing input is not missing (a single account's youth: no coordination).
    With nothing missing every factor is exactly 1: the fitted model's risk. The reasons then
    end with ``risk.missing_inputs``, scored by the share of the weight mass missing.
    """
    weights = weights or default_weights()
    terms = risk_terms(features, context)
    contrib = term_matrix(terms, features) * np.array([weights.weights[t.name] for t in terms])
    lacking = missing_inputs(features, context)
    missing = _missing_terms(terms, lacking, features)
    scale = _side_scale(terms, weights, missing)
    contrib = np.where(missing >= 1.0, 0.0, contrib) * scale
    mass = np.abs([weights.weights[t.name] for t in terms])
    missing_share = (missing * mass).sum(axis=1) / max(mass.sum(), np.finfo(np.float64).tiny)
    risk = expit(contrib.sum(axis=1) + weights.bias)
    nats = elicitation_nats(features)
    counted = np.zeros(features.num_rows) if weights.evidence_bias is None else expit(nats + weights.evidence_bias)
    facts = _facts(features, context)
    evidence: list[list[Evidence]] = []
    reported = np.array([term_detector(t.name) in report for t in terms], bool)
    order = np.argsort(-contrib, axis=1)[:, :len(terms) if reported.any() else top]
    for i in range(features.num_rows):
        found = []
        if counted[i] > risk[i]:
            found.append(Evidence("account.counted_elicitation", float(counted[i]), COUNTED_REASON.format(
                nats=nats[i], **facts[i])))
        for rank, j in enumerate(order[i]):
            if contrib[i, j] <= _COUNTS:
                break
            if rank >= top and not reported[j]:
                continue
            term = terms[j]
            reason = term.describe.format(pct=f"{min(term.values[i], 1.0):.0%}", **facts[i])
            found.append(Evidence(term_detector(term.name), float(min(contrib[i, j] / 4.0, 1.0)), reason))
        if missing_share[i] > 0:
            found.append(_missing_evidence(
                {POPULATION if terms[j].name in POPULATION_TERMS and lacking[POPULATION][i] else TERM_INPUTS[terms[j].name]
                 for j in np.flatnonzero(missing[i] * mass)}, float(missing_share[i]), float(scale[i].max())))
        evidence.append(found)
    return np.maximum(risk, counted), evidence


COUNTED_REASON = ("{elicited} of {tasks} new tasks ask for the full reasoning: {nats:,.0f} nats of evidence against "
                  "an ordinary user or an evaluator rerunning a fixed set")


def missing_inputs(features: pa.Table, context: pa.Table | None) -> dict[str, np.ndarray]:
    """Per input a log may lack (:data:`TERM_INPUTS`), whether each account's log lacks it.

    An account has responses when any of its exchanges has output (a response
    or its token usage: ``mean_output_len > 0``), and an account record when
    ``context`` gives it a category, a verification level or a creation time.
    A pooled group (``n_accounts``) has the population as its members have it
    (:data:`POPULATION_COLUMNS`). The address lists are missing where
    ``unlisted_share`` is positive: no VPN or Tor exit list was given.
    """
    no_responses = _col(features, "mean_output_len") <= 0
    population = _null(features, POPULATION_TERMS["maxed_reasoning"])
    tls = _null(features, POPULATION_TERMS["client_mismatch"]) & ~population
    lists = _optional_col(features, "unlisted_share") > 0
    if context is None:
        unknown = np.ones(features.num_rows, bool)
        return {RESPONSES: no_responses, ACCOUNT_RECORD: unknown, CREATION_TIME: unknown,
                TLS_FINGERPRINTS: tls, POPULATION: population, ADDRESS_LISTS: lists}
    fields = [name for name in ("category", "verification", "created_at") if name in context.column_names]
    no_record = np.logical_and.reduce([context.column(name).is_null().to_numpy(zero_copy_only=False) for name in fields])
    return {RESPONSES: no_responses, ACCOUNT_RECORD: no_record, CREATION_TIME: _null(context, "created_at"),
            TLS_FINGERPRINTS: tls, POPULATION: population, ADDRESS_LISTS: lists}


def _null(table: pa.Table, name: str) -> np.ndarray:
    """Per row, whether ``table`` has no value in column ``name`` (all True when the column is absent)."""
    if name not in table.column_names:
        return np.ones(table.num_rows, bool)
    return np.asarray(table.column(name).is_null().to_numpy(zero_copy_only=False), bool)


def _missing_terms(terms: list[RiskTerm], missing: dict[str, np.ndarray], features: pa.Table) -> np.ndarray:
    """Accounts × terms: the share of the term unknown because its input is missing from the account's log.

    A term is unknown whole (1) or not at all (0), except ``anonymiser`` without
    exit lists: its traffic found on a VPN or Tor exit is known, the rest
    (``unlisted_share``) is not. ``young_fleet`` is coordination × youth: 0 for a
    single account whatever its record says, so it is unknown only in a group. A
    :data:`POPULATION_TERMS` term is unknown without the population or where its
    column is null.
    """
    names = [t.name for t in terms]
    coordinated = terms[names.index("coordination")].values > 0
    columns = [
        missing[TERM_INPUTS[name]] & (coordinated if name == "young_fleet" else True) if name in TERM_INPUTS
        else np.zeros(len(coordinated), bool)
        for name in names
    ]
    columns = [missing[POPULATION] | _null(features, POPULATION_TERMS[name]) | column if name in POPULATION_TERMS
               else column for name, column in zip(names, columns)]
    shares = np.stack(columns, axis=1).astype(np.float64)
    shares[:, names.index("anonymiser")] = np.clip(_optional_col(features, "unlisted_share"), 0.0, 1.0)
    return shares


def _side_scale(terms: list[RiskTerm], weights: RiskWeights, missing: np.ndarray) -> np.ndarray:
    """Accounts × terms: each side's weight mass over its mass present, on the present terms of that side."""
    mass = np.abs([weights.weights[t.name] for t in terms])
    sign = np.array([t.sign for t in terms])
    scale = np.ones(missing.shape)
    for side in (1, -1):
        on = sign == side
        total = mass[on].sum()
        lost = (missing[:, on] * mass[on]).sum(axis=1)
        renormalised = (lost > 0) & (lost < total)
        scale[:, on] = np.where(renormalised, total / np.where(renormalised, total - lost, 1.0), 1.0)[:, None]
    return scale


def _missing_evidence(inputs: set[str], share: float, scale: float) -> Evidence:
    """Which inputs the account's log lacked, scored by the share of the model's weight they carry."""
    base = [name for name in (RESPONSES, ACCOUNT_RECORD) if name in inputs]
    more = (TLS_FINGERPRINTS, POPULATION) if ACCOUNT_RECORD in inputs else (TLS_FINGERPRINTS, CREATION_TIME, POPULATION)
    ordered = base + [name for name in more if name in inputs]
    rest = "the request side" if len(base) == 2 else "the requests and the account record" if (
        base == [RESPONSES]) else "the traffic" if base else "the other inputs"
    said = [f"no {', no '.join(ordered)} in the log"] if ordered else []
    if ADDRESS_LISTS in inputs:
        said.append(f"no {ADDRESS_LISTS} (intel directory)")
    return Evidence("risk.missing_inputs", share,
                    f"{'; '.join(said)}: risk from {rest} only (distillation evidence x{scale:.2f})")


def _facts(features: pa.Table, context: pa.Table | None) -> list[dict[str, str]]:
    """Per-account values quoted in reasons."""
    n = features.column("n_exchanges").to_pylist()
    span = _col(features, "span_hours")
    hours = features.column("hour_entropy").fill_null(0).to_numpy()
    active = _col(features, "active_hours")
    rotation = _col(features, "ip_rotation")
    templates = _col(features, "distinct_templates")
    tasks = _col(features, "tasks")
    fresh, discount = fresh_share(features), fresh_discount(features)
    elicited = np.minimum(_col(features, "either_tasks"), tasks)
    accounts = features.column("n_accounts").to_pylist() if "n_accounts" in features.column_names else [1] * len(n)
    cap = features.column("top_capability").to_pylist()
    category = context.column("category").to_pylist() if context is not None else [None] * len(n)
    age = account_age_days(features, context)
    verification = context.column("verification").to_pylist() if context is not None else [None] * len(n)
    return [
        {
            "n": f"{n[i]:,}",
            "span": f"{span[i] / 24:.1f} days" if span[i] >= 48 else f"{span[i]:.0f} h",
            "hours": f"{min(24, round(2 ** hours[i]))}",
            "active": f"{active[i]:,.0f}",
            "duty": f"{min(active[i] / np.ceil(max(span[i], 1.0) + 1.0), 1.0):.0%}",
            "rotation": f"{rotation[i]:.0%}",
            "templates": f"{templates[i]:,.0f}",
            "tasks": f"{tasks[i]:,.0f}",
            "elicited": f"{elicited[i]:,.0f}",
            "fresh": f", discounted: {fresh[i]:.0%} of its tasks fresh" if discount[i] < 0.995 else "",
            "accounts": f"{accounts[i]:,}",
            "capability": cap[i],
            "category": category[i] or "unknown",
            "age": _age_text(age[i]),
            "verification": verification[i] or "unknown",
        }
        for i in range(len(n))
    ]
