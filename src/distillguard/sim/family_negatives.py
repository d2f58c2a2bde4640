"""Hard-negative families: each draws a legitimate population that looks a little like distillation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from distillguard.core.schema import CATEGORIES
from distillguard.sim.draw import Draw
from distillguard.sim.scenario import (
    LANGUAGES,
    AgentFrameworkPopulation,
    AgenticDevPopulation,
    BenchmarkPopulation,
    EnterprisePopulation,
    IndividualPopulation,
    PhoneAppPopulation,
    Population,
    ResearchEvalPopulation,
    StudentsPopulation,
    TranslationPopulation,
    TutoringPopulation,
    VpnPopulation,
)

_CARRIER_COUNTRIES = ("US", "IN", "BR", "ID", "VN", "CN", "GB", "DE", "JP", "KR", "FR", "ES", "RU")


def _common(d: Draw, family: str, accounts: int, per_account: tuple[float, float]) -> dict[str, Any]:
    """Name, size and the wire habits every population draws."""
    return {
        "name": family,
        "family": family,
        "accounts": accounts,
        "exchanges": max(1, round(accounts * d.loguniform(*per_account))),
        "anthropic_share": round(d.rng.uniform(0.2, 0.9), 2),
        "epoch_ms_share": d.share(0.0, 0.1, zero=0.5),
        "volume_sigma": round(d.rng.uniform(0.4, 1.6), 2),
    }


def consumer_chat(d: Draw) -> Population:
    """People chatting through apps and SDKs from home, a few asking to see the steps."""
    return IndividualPopulation(
        **_common(d, "consumer-chat", d.count(300, 1500), (3, 15)),
        categories=d.weights(CATEGORIES, at_most=3) | {"individual": 3.0},
        max_turns=d.rng.randint(2, 16),
        cot_aside_share=d.share(0.0, 0.2),
        tool_share=d.share(0.0, 0.2),
        ipv6_share=d.share(0.0, 0.4),
        new_account_share=d.share(0.0, 0.15),
        thinking_share=d.share(0.0, 0.4),
        proxy_exit_share=d.share(0.0, 0.05, zero=0.3),
    )


def vpn_users(d: Draw) -> Population:
    """Individuals behind commercial VPN exits shared by many users."""
    return VpnPopulation(
        **_common(d, "vpn-users", d.count(80, 500), (3, 15)),
        exits=d.count(3, 80, scaled=False),
        cot_aside_share=d.share(0.0, 0.2),
        tool_share=d.share(0.0, 0.2),
        new_account_share=d.share(0.0, 0.2),
        thinking_share=d.share(0.0, 0.4),
    )


def students(d: Draw) -> Population:
    """Students behind one university NAT asking homework questions, showing their work."""
    return StudentsPopulation(
        **_common(d, "students", d.count(100, 800), (5, 40)),
        nat_ips=d.rng.randint(1, 8),
        home_share=d.share(0.0, 0.5),
        homework_size=d.rng.randint(5, 60),
        followup_share=d.share(0.1, 0.7),
        show_work_share=d.share(0.1, 0.9),
        thinking_share=d.share(0.0, 0.4),
    )


def agentic_devs(d: Draw) -> Population:
    """Developers running agentic coding tools: long tool loops in working hours."""
    lo = d.rng.randint(2, 8)
    return AgenticDevPopulation(
        **_common(d, "agentic-devs", d.count(20, 200), (40, 400)),
        min_steps=lo,
        max_steps=d.rng.randint(lo + 5, 120),
        history_window=d.rng.randint(3, 40),
        thinking_share=d.share(0.1, 0.9),
    )


def enterprise_batch(d: Draw) -> Population:
    """Batch jobs: one template with slots, very high volume, cloud addresses."""
    return EnterprisePopulation(
        **_common(d, "enterprise-batch", d.count(3, 20), (200, 2000)),
        accounts_per_org=d.rng.randint(1, 6),
        nightly_share=d.share(0.0, 1.0),
    )


def benchmark_evals(d: Draw) -> Population:
    """Researchers running benchmarks a few times over a few hours, with and without thinking."""
    lo = d.rng.randint(1, 3)
    rpm_lo = d.loguniform(2, 60)
    return BenchmarkPopulation(
        **_common(d, "benchmark-evals", d.count(4, 30), (100, 1200)),
        runs=(lo, d.rng.randint(lo, 6)),
        lab_size=d.rng.randint(1, 8),
        cloud_share=d.share(0.0, 1.0),
        thinking_share=d.share(0.0, 1.0),
        requests_per_minute=(rpm_lo, rpm_lo * d.loguniform(1.5, 10)),
    )


def tutoring(d: Draw) -> Population:
    """An education product relaying students' maths questions: every request asks for step-by-step explanations."""
    young = d.rng.uniform(30, 150)
    return TutoringPopulation(
        **_common(d, "tutoring", d.count(2, 10), (300, 3000)),
        accounts_per_product=d.rng.randint(1, 4),
        age_days=(young, young + d.rng.uniform(30, 600)),
        followup_share=d.share(0.2, 0.9),
        max_followups=d.rng.randint(1, 5),
        coding_share=d.share(0.0, 0.3, zero=0.4),
        thinking_share=d.share(0.0, 0.6),
    )


def research_evals(d: Draw) -> Population:
    """Research labs running reasoning evals: chain-of-thought, several samples, model and thinking-budget sweeps."""
    lo = d.rng.randint(1, 2)
    rpm_lo = d.loguniform(5, 60)
    return ResearchEvalPopulation(
        **_common(d, "research-evals", d.count(3, 20), (100, 800)),
        runs=(lo, d.rng.randint(lo, 4)),
        lab_size=d.rng.randint(1, 8),
        cloud_share=d.share(0.0, 1.0),
        thinking_share=d.share(0.2, 1.0),
        requests_per_minute=(rpm_lo, rpm_lo * d.loguniform(1.5, 10)),
        samples=(1, d.rng.randint(1, 16)),
        model_sweep_share=d.share(0.0, 1.0),
        budget_sweep_share=d.share(0.0, 0.8),
        cot_share=d.share(0.3, 1.0),
    )


def translation(d: Draw) -> Population:
    """Translation and localisation pipelines: batches of documents into other languages."""
    return TranslationPopulation(
        **_common(d, "translation", d.count(3, 15), (100, 1000)),
        accounts_per_org=d.rng.randint(1, 5),
        target_languages=d.weights(LANGUAGES, at_most=5),
        batch_share=d.share(0.0, 1.0),
    )


def agent_frameworks(d: Draw) -> Population:
    """Products built on agent frameworks: ReAct loops that think step by step, then act, and function calls."""
    return AgentFrameworkPopulation(
        **_common(d, "agent-frameworks", d.count(5, 40), (100, 800)),
        accounts_per_org=d.rng.randint(1, 5),
        react_share=d.share(0.2, 1.0),
        max_steps=d.rng.randint(3, 20),
        thinking_share=d.share(0.0, 0.6),
    )


def phone_app(d: Draw) -> Population:
    """People chatting from their phones: young accounts behind a few carrier NAT addresses."""
    return PhoneAppPopulation(
        **_common(d, "phone-app", d.count(200, 1500), (3, 15)),
        carriers=d.weights(_CARRIER_COUNTRIES, at_most=4),
        wifi_share=d.share(0.0, 0.5),
        new_account_share=d.share(0.1, 0.7),
        max_turns=d.rng.randint(2, 12),
        cot_aside_share=d.share(0.0, 0.15),
        thinking_share=d.share(0.0, 0.3),
    )


NEGATIVE_DRAWS: dict[str, Callable[[Draw], Population]] = {
    "consumer-chat": consumer_chat,
    "vpn-users": vpn_users,
    "students": students,
    "agentic-devs": agentic_devs,
    "enterprise-batch": enterprise_batch,
    "benchmark-evals": benchmark_evals,
    "tutoring": tutoring,
    "research-evals": research_evals,
    "translation": translation,
    "agent-frameworks": agent_frameworks,
    "phone-app": phone_app,
}
"""Draw function of each hard-negative family, by family name."""
