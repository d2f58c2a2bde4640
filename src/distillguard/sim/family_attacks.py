"""Attack families: each draws a distillation campaign from a wide distribution over its parameters.

Every family draws the shared axes (dispatch and timing, exits, signup, resold
traffic, evasions) from the same wide ranges and narrows only what defines it:
what it harvests, how it elicits reasoning and how big its accounts are.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from distillguard.core.schema import CATEGORIES, VERIFICATIONS
from distillguard.sim.draw import Draw
from distillguard.sim.scenario import LANGUAGES, Campaign

_COUNTRIES = ("US", "SG", "GB", "DE", "CN", "RU", "IN", "BR", "JP", "KR", "VN", "ID", "NL", "FR", "CA")
_POOL_SIZES = {"datacenter": (4, 2000), "residential": (50, 50_000), "shared_residential": (50, 2000),
               "carrier_nat": (10, 400), "reseller": (2, 12), "vpn": (5, 400), "tor": (20, 800)}
_CLAIMED = ("claude-code", "anthropic-python", "openai-python", "anthropic-typescript", "cursor", "chrome", "okhttp")
_MAX_TOKENS = ((8192, 16_000, 32_000), (4096,), (32_000,), (64_000,), (1024, 2048, 4096, 8192, 16_384, 32_768, 65_536))


def _sizes(d: Draw, exchanges: tuple[float, float], per_account: tuple[float, float]) -> dict[str, Any]:
    """Exchanges, accounts and a per-account cap drawn from the family's ranges."""
    total = d.count(*exchanges)
    size = d.loguniform(*per_account)
    accounts = min(24_000, max(1, round(total / size)))
    out: dict[str, Any] = {"exchanges": total, "accounts": accounts}
    if d.chance(0.5):
        out["max_per_account"] = max(math.ceil(total / accounts), math.ceil(size * d.rng.uniform(1.0, 2.0)))
    return out


def _timing(d: Draw) -> dict[str, Any]:
    start = round(d.rng.uniform(0.0, 0.45) * d.hours, 1)
    out: dict[str, Any] = {
        "start_hour": start,
        "ramp_hours": round(d.rng.uniform(0.0, 12.0), 1),
        "timing": d.pick({"steady": 3, "round_robin": 1, "synchronized": 1, "diurnal": 2}),
        "wave_every_hours": round(d.rng.uniform(1.0, 8.0), 1),
        "wave_minutes": round(d.rng.uniform(2.0, 40.0), 1),
        "timezone_offset": float(d.rng.choice((-8, -5, 0, 1, 3, 5.5, 7, 8, 9))),
    }
    if d.chance(0.3):
        out["duration_hours"] = round(d.rng.uniform(0.25, 1.0) * (d.hours - start), 1) or None
    return out


def _exits(d: Draw, kinds: dict[str, float]) -> dict[str, Any]:
    kind = d.pick(kinds)
    lo, hi = _POOL_SIZES[kind]
    return {"kind": kind, "pool_size": d.count(lo, hi, scaled=False),
            "rotation": d.pick({"per_request": 2, "per_session": 1, "per_account": 1})}


def _signup(d: Draw, accounts: int, **over: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "burst_hours": round(d.loguniform(0.5, 72.0), 2),
        "lead_hours": round(d.rng.uniform(0.0, 96.0), 1),
        "categories": d.weights(CATEGORIES),
        "email_style": d.pick({"patterned": 1, "random": 1, "names": 1}),
        "disposable_share": d.share(0.0, 0.7, zero=0.3),
        "own_domain_share": d.share(0.0, 0.5, zero=0.7),
        "payment_fingerprints": d.rng.randint(1, max(1, accounts)),
        "verification": d.weights(VERIFICATIONS, at_most=3),
        "countries": d.weights(_COUNTRIES, at_most=5),
    }
    if out["disposable_share"] + out["own_domain_share"] > 1:
        out["own_domain_share"] = round(1 - out["disposable_share"], 3)
    out["pattern"] = d.pick({"burst": 2, "waves": 1, "trickle": 1, "aged": 1, "bought": 0.5})
    out["waves"] = d.rng.randint(2, 8)
    return {**out, **over}


def _evasions(d: Draw, odds: dict[str, float]) -> list[str]:
    return [e for e, p in odds.items() if d.chance(p)]


def _identity(d: Draw, odds: dict[str, float]) -> dict[str, Any]:
    identity = d.pick(odds)
    return {"identity": identity, "client": d.rng.choice(_CLAIMED) if identity == "spoofed" else None}


def _campaign(d: Draw, family: str, *, sizes: dict[str, Any], exits: dict[str, float],
              evasions: dict[str, float], signup: dict[str, Any] | None = None,
              identity: dict[str, float] | None = None, **spec: Any) -> Campaign:
    """A campaign with the shared axes drawn and the family's own fields on top."""
    base: dict[str, Any] = {
        "id": f"{family}-{d.index}",
        "operator": f"op-{family}-{d.index}",
        "family": family,
        **sizes,
        **_timing(d),
        "dispatch": d.pick({None: 2, "round_robin": 1, "random": 1, "sticky": 1, "bursty": 1}),
        "burst_sessions": round(d.loguniform(2, 40), 1),
        **_identity(d, identity or _ANY_IDENTITY),
        "max_tokens": d.rng.choice(_MAX_TOKENS),
        "api_format": d.pick({"anthropic": 2, "openai": 2, "mixed": 1}),
        "proxy": _exits(d, exits),
        "blend_legit": d.share(0.0, 0.6, zero=0.5),
        "order": d.pick({"shuffled": 2, "sequential": 1}),
        "fixed_phrases": d.rng.randint(1, 12),
        "thinking_budget": d.rng.choice((4096, 8000, 16_000, 32_000, 64_000)),
        "thinking_share": d.share(0.0, 1.0),
        "model": d.pick({"atlas-2-pro": 3, "atlas-2-fast": 1}),
        "evasions": _evasions(d, evasions),
        "signup": _signup(d, sizes["accounts"], **(signup or {})),
    }
    base.update(spec)
    if "low_and_slow" in base["evasions"]:
        _spread(d, base)
    return Campaign.model_validate(base)


def _spread(d: Draw, base: dict[str, Any]) -> None:
    """Low and slow: a few requests per account a day, so as many accounts as the volume needs."""
    cap = d.rng.randint(3, 40)
    days = max(1.0, (d.hours - base["start_hour"]) / 24)
    base["daily_cap"] = cap
    base["accounts"] = min(24_000, max(base["accounts"], math.ceil(base["exchanges"] / (cap * days * 0.7))))
    if base.get("max_per_account") is not None:
        base["max_per_account"] = max(base["max_per_account"], math.ceil(base["exchanges"] / base["accounts"]))


def _languages(d: Draw) -> dict[str, float]:
    return d.weights(LANGUAGES[1:], at_most=4)


_ANY_EXIT = {"datacenter": 2, "residential": 2, "shared_residential": 1, "carrier_nat": 0.5, "reseller": 1, "vpn": 1,
             "tor": 0.5}
_ANY_IDENTITY: dict[str, float] = {"sdk": 3, "spoofed": 1, "rotating": 1, "browser": 1}
_EVASIONS = {"low_and_slow": 0.15, "paraphrase": 0.5, "aged_accounts": 0.05, "ua_rotation": 0.2}


def reasoning_harvest(d: Draw) -> Campaign:
    """Maths and logic prompts swept for chain-of-thought, elicited every way there is."""
    return _campaign(
        d, "reasoning-harvest", sizes=_sizes(d, (800, 6000), (20, 5000)), exits=_ANY_EXIT, evasions=_EVASIONS,
        focus={"reasoning": 1.0} if d.chance(0.5) else {"reasoning": 0.8, "general": 0.2},
        elicitation=d.weights(("system_long_thinking", "inline", "thinking_budget", "reconstruct", "none"),
                              at_most=3),
    )


def agentic_harvest(d: Draw) -> Campaign:
    """Tool-use and agent loops replayed to harvest trajectories."""
    return _campaign(
        d, "agentic-harvest", sizes=_sizes(d, (1000, 6000), (50, 5000)), exits=_ANY_EXIT, evasions=_EVASIONS,
        focus=d.weights(("agentic", "tool_use", "coding"), at_least=1, at_most=3)
        | ({"agentic": 1.0} if d.chance(0.3) else {}),
        elicitation=d.weights(("thinking_budget", "inline", "system_long_thinking", "none"), at_most=2),
    )


def coding_pivot(d: Draw) -> Campaign:
    """Coding tasks harvested, then moved to a newly released model."""
    start = round(d.rng.uniform(0.0, 0.9) * d.released_hour, 1)
    after = round(d.released_hour - start + d.rng.uniform(0.5, max(1.0, 0.5 * (d.hours - d.released_hour))), 1)
    return _campaign(
        d, "coding-pivot", sizes=_sizes(d, (800, 6000), (30, 3000)), exits=_ANY_EXIT, evasions=_EVASIONS,
        start_hour=start,
        duration_hours=None,
        focus=d.weights(("coding", "agentic", "reasoning"), at_most=2) | {"coding": 1.0},
        elicitation=d.weights(("thinking_budget", "inline", "reconstruct", "system_long_thinking"), at_most=2),
        pivot={"model": d.new_model, "after_hours": after, "share": round(d.rng.uniform(0.6, 1.0), 2)},
    )


def reseller_hydra(d: Draw) -> Campaign:
    """A reseller network: many small burner accounts, resold ordinary chat mixed in."""
    total = d.count(1500, 6000)
    size = d.loguniform(3, 60)
    accounts = min(24_000, max(2, round(total / size)))
    cap = max(math.ceil(total / accounts), math.ceil(size * d.rng.uniform(1.0, 1.8)))
    return _campaign(
        d, "reseller-hydra", sizes={"exchanges": total, "accounts": accounts, "max_per_account": cap},
        exits={"residential": 3, "shared_residential": 2, "carrier_nat": 1, "datacenter": 1, "vpn": 1},
        evasions={**_EVASIONS, "low_and_slow": 0.3},
        signup={"pattern": d.pick({"burst": 1, "waves": 2, "trickle": 2, "bought": 0.5})},
        account_lifetime_hours=round(d.rng.uniform(4.0, 96.0), 1) if d.chance(0.7) else None,
        blend_legit=round(d.rng.uniform(0.0, 0.6), 3),
        focus=d.weights(("reasoning", "coding", "tool_use", "general"), at_least=2),
        elicitation=d.weights(("inline", "thinking_budget", "none", "non_english", "system_long_thinking"),
                              at_least=2, at_most=4),
        languages=_languages(d),
    )


def non_english(d: Draw) -> Campaign:
    """Chain-of-thought coerced in other languages than English."""
    return _campaign(
        d, "non-english", sizes=_sizes(d, (800, 5000), (20, 3000)), exits=_ANY_EXIT, evasions=_EVASIONS,
        focus=d.weights(("reasoning", "coding", "tool_use", "general"), at_most=2),
        elicitation={"non_english": 1.0} if d.chance(0.6) else {"non_english": 0.7, "thinking_budget": 0.3},
        languages=_languages(d),
    )


def trace_reconstruction(d: Draw) -> Campaign:
    """An answer is given and the model is asked to reconstruct the reasoning that leads to it."""
    return _campaign(
        d, "trace-reconstruction", sizes=_sizes(d, (800, 5000), (20, 3000)), exits=_ANY_EXIT, evasions=_EVASIONS,
        focus=d.weights(("reasoning", "coding"), at_most=2),
        elicitation={"reconstruct": 1.0} if d.chance(0.6) else d.weights(("inline", "thinking_budget")) | {
            "reconstruct": 2.0},
    )


def thinking_budget(d: Draw) -> Campaign:
    """No words at all: only the thinking budget asks for reasoning."""
    return _campaign(
        d, "thinking-budget", sizes=_sizes(d, (800, 5000), (20, 4000)), exits=_ANY_EXIT, evasions=_EVASIONS,
        focus=d.weights(("reasoning", "coding", "general"), at_most=2),
        elicitation={"thinking_budget": 1.0},
        thinking_budget=d.rng.choice((2048, 8000, 16_000, 32_000, 64_000, 128_000)),
    )


def aged_accounts(d: Draw) -> Campaign:
    """Accounts aged by the operator or bought from their owners, behind VPN or Tor, often not in English."""
    return _campaign(
        d, "aged-accounts", sizes=_sizes(d, (600, 4000), (20, 800)),
        exits={"vpn": 3, "tor": 2, "residential": 1, "shared_residential": 1}, evasions=_EVASIONS,
        signup={"pattern": d.pick({"aged": 1, "bought": 1})},
        focus=d.weights(("reasoning", "coding", "tool_use", "general"), at_most=3),
        elicitation=d.weights(("non_english", "system_long_thinking", "inline", "thinking_budget"), at_most=3)
        | ({"non_english": 2.0} if d.chance(0.6) else {}),
        languages=_languages(d),
    )


def rubric_grading(d: Draw) -> Campaign:
    """The model grades given answers against a rubric, criterion by criterion (reward-model distillation)."""
    return _campaign(
        d, "rubric-grading", sizes=_sizes(d, (800, 5000), (20, 3000)), exits=_ANY_EXIT, evasions=_EVASIONS,
        focus=d.weights(("reasoning", "coding", "general"), at_most=3),
        elicitation={"rubric": 1.0} if d.chance(0.6) else d.weights(("reconstruct", "system_long_thinking")) | {
            "rubric": 2.0},
    )


def consumer_mimic(d: Draw) -> Campaign:
    """Small accounts that look like consumers: browser clients, day-time use, exits shared with real users."""
    return _campaign(
        d, "consumer-mimic", sizes=_sizes(d, (800, 5000), (10, 300)),
        exits={"shared_residential": 3, "carrier_nat": 2, "residential": 1}, evasions=_EVASIONS,
        identity={"browser": 3, "rotating": 1, "spoofed": 1},
        signup={"email_style": "names", "pattern": d.pick({"trickle": 2, "waves": 1, "bought": 1, "burst": 0.5})},
        timing="diurnal",
        blend_legit=round(d.rng.uniform(0.1, 0.6), 3),
        focus=d.weights(("reasoning", "coding", "general"), at_least=2),
        elicitation=d.weights(("inline", "none", "thinking_budget", "system_long_thinking"), at_least=2),
    )


ATTACK_DRAWS: dict[str, Callable[[Draw], Campaign]] = {
    "reasoning-harvest": reasoning_harvest,
    "agentic-harvest": agentic_harvest,
    "coding-pivot": coding_pivot,
    "reseller-hydra": reseller_hydra,
    "aged-accounts": aged_accounts,
    "non-english": non_english,
    "rubric-grading": rubric_grading,
    "trace-reconstruction": trace_reconstruction,
    "thinking-budget": thinking_budget,
    "consumer-mimic": consumer_mimic,
}
"""Draw function of each attack family, by family name."""
