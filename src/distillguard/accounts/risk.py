"""Account risk from the fingerprint: a transparent additive model with reasons.

First version: each term is a behaviour a distiller cannot easily drop without
giving up what it came for (asking for reasoning traces, sweeping ever-new
one-shot prompts, round-the-clock volume), or one that marks legitimate use
(follow-up conversations, repeated benchmark items). Weights are priors, not
fitted; the risk is the logistic of their sum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from distillguard.core.decision import Evidence

HIGH_RISK_CATEGORIES = ("education", "research", "startup")
WEAK_VERIFICATIONS = ("none", "email")


@dataclass(frozen=True, slots=True)
class RiskTerm:
    """One additive term: its weight, value per account and how to say it."""

    name: str
    weight: float
    values: np.ndarray
    describe: str


def _col(features: pa.Table, name: str) -> np.ndarray:
    return features.column(name).fill_null(0).to_numpy().astype(np.float64)


def risk_terms(features: pa.Table, context: pa.Table | None = None) -> list[RiskTerm]:
    """The terms of the risk model for every account (or pooled campaign) of ``features``.

    ``context`` (optional) is row-aligned with ``features`` and holds the
    account record fields ``category`` and ``verification``. A pooled
    fingerprint carries ``n_accounts``, which adds a coordination term.
    """
    n = _col(features, "n_exchanges")
    continuation = _col(features, "continuation_share")
    novelty = _col(features, "prompt_novelty")
    rotation = np.where(n >= 5, np.clip((_col(features, "ip_rotation") - 0.3) / 0.5, 0.0, 1.0), 0.0)
    terms = [
        RiskTerm("cot_elicitation", 3.5, _col(features, "cot_share"),
                 "{pct} of {n} requests ask in words for the full reasoning"),
        RiskTerm("reasoning_parameters", 1.0, _col(features, "reasoning_param_share"),
                 "{pct} of requests set a large thinking budget or effort"),
        RiskTerm("reasoning_harvest", 1.5, _col(features, "mean_reasoning_share"),
                 "reasoning is {pct} of output tokens"),
        RiskTerm("one_shot_sweep", 1.5, novelty * (1.0 - continuation),
                 "{pct} new one-shot prompts, no follow-ups"),
        RiskTerm("volume", 1.0, np.clip(np.log10(np.maximum(n, 1.0)) - 1.5, 0.0, 3.0), "{n} requests"),
        RiskTerm("sustained", 2.0, np.clip(_col(features, "active_hours") / 24.0, 0.0, 1.0),
                 "active in {active} distinct hours over {span}"),
        RiskTerm("round_the_clock", 1.0, np.clip(_col(features, "hour_entropy") - 3.5, 0.0, 1.0),
                 "active {hours} h/day"),
        RiskTerm("capability_focus", 1.0,
                 _col(features, "capability_concentration") * (1.0 - _col(features, "cap_general")),
                 "{pct} of traffic on one capability ({capability})"),
        RiskTerm("ip_rotation", 2.0, rotation, "a new IP address for {rotation} of requests"),
        RiskTerm("anonymised_network", 1.0,
                 _col(features, "vpn_share") + _col(features, "tor_share") + 0.3 * _col(features, "datacenter_share"),
                 "{pct} of traffic from VPN, Tor or datacenter addresses"),
        RiskTerm("conversation", -3.0, continuation, "{pct} of requests continue a conversation or tool loop"),
        RiskTerm("repeats", -1.0, 1.0 - novelty, "{pct} of prompts are repeats"),
    ]
    if "n_accounts" in features.column_names:
        terms.append(RiskTerm("coordination", 2.0, np.clip(np.log10(_col(features, "n_accounts")) / 2.0, 0.0, 1.0),
                              "{accounts} accounts linked by shared infrastructure"))
    if context is not None:
        category = context.column("category").to_pylist()
        verification = context.column("verification").to_pylist()
        terms.append(RiskTerm("cover_category", 0.5,
                              np.array([c in HIGH_RISK_CATEGORIES for c in category], np.float64),
                              "{category} account"))
        terms.append(RiskTerm("weak_verification", 0.3,
                              np.array([v in WEAK_VERIFICATIONS or v is None for v in verification], np.float64),
                              "verification: {verification}"))
    return terms


RISK_BIAS = -9.0
EVIDENCE_HALF_COUNT = 10.0
"""Exchanges at which an account's own behaviour counts half: a few requests prove little."""


def score_accounts(features: pa.Table, context: pa.Table | None = None, top: int = 3) -> tuple[np.ndarray, list[list[Evidence]]]:
    """Risk in 0..1 per account and its top positive reasons as evidence."""
    terms = risk_terms(features, context)
    contrib = np.stack([t.weight * t.values for t in terms], axis=1)
    n = _col(features, "n_exchanges")
    contrib *= (n / (n + EVIDENCE_HALF_COUNT))[:, None]
    risk = 1.0 / (1.0 + np.exp(-(contrib.sum(axis=1) + RISK_BIAS)))
    facts = _facts(features, context)
    evidence: list[list[Evidence]] = []
    order = np.argsort(-contrib, axis=1)[:, :top]
    for i in range(features.num_rows):
        found = []
        for j in order[i]:
            if contrib[i, j] <= 0.25:
                break
            term = terms[j]
            reason = term.describe.format(pct=f"{min(term.values[i], 1.0):.0%}", **facts[i])
            found.append(Evidence(f"account.{term.name}", float(min(contrib[i, j] / 4.0, 1.0)), reason))
        evidence.append(found)
    return risk, evidence


def _facts(features: pa.Table, context: pa.Table | None) -> list[dict[str, str]]:
    """Per-account values quoted in reasons."""
    n = features.column("n_exchanges").to_pylist()
    span = features.column("span_hours").to_pylist()
    hours = _col(features, "hour_entropy")
    active = features.column("active_hours").to_pylist()
    rotation = _col(features, "ip_rotation")
    accounts = features.column("n_accounts").to_pylist() if "n_accounts" in features.column_names else [1] * len(n)
    cap = features.column("top_capability").to_pylist()
    category = context.column("category").to_pylist() if context is not None else [None] * len(n)
    verification = context.column("verification").to_pylist() if context is not None else [None] * len(n)
    return [
        {
            "n": f"{n[i]:,}",
            "span": f"{span[i] / 24:.1f} days" if span[i] >= 48 else f"{span[i]:.0f} h",
            "hours": f"{min(24, round(2 ** hours[i]))}",
            "active": f"{active[i]:,.0f}",
            "rotation": f"{rotation[i]:.0%}",
            "accounts": f"{accounts[i]:,}",
            "capability": cap[i],
            "category": category[i] or "unknown",
            "verification": verification[i] or "unknown",
        }
        for i in range(len(n))
    ]
