"""Hard-negative families: each draws a legitimate population that looks a little like distillation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from distillguard.core.schema import CATEGORIES
from distillguard.sim.draw import Draw
from distillguard.sim.scenario import (
    AgenticDevPopulation,
    BenchmarkPopulation,
    EnterprisePopulation,
    IndividualPopulation,
    Population,
    StudentsPopulation,
    VpnPopulation,
)


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


NEGATIVE_DRAWS: dict[str, Callable[[Draw], Population]] = {
    "consumer-chat": consumer_chat,
    "vpn-users": vpn_users,
    "students": students,
    "agentic-devs": agentic_devs,
    "enterprise-batch": enterprise_batch,
    "benchmark-evals": benchmark_evals,
}
"""Draw function of each hard-negative family, by family name."""
