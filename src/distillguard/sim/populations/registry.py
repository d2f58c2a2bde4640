"""The generator class of each legitimate population kind."""

from __future__ import annotations

from distillguard.sim.populations.agent_frameworks import AgentFrameworks
from distillguard.sim.populations.agentic_devs import AgenticDevs
from distillguard.sim.populations.base import LegitPopulation
from distillguard.sim.populations.benchmarks import BenchmarkEvals
from distillguard.sim.populations.enterprise import EnterpriseBatch
from distillguard.sim.populations.individuals import Individuals, VpnUsers
from distillguard.sim.populations.phone_app import PhoneApp
from distillguard.sim.populations.research_evals import ResearchEvals
from distillguard.sim.populations.students import Students
from distillguard.sim.populations.translation import Translation
from distillguard.sim.populations.tutoring import Tutoring

POPULATIONS: dict[str, type[LegitPopulation]] = {
    "individual": Individuals,
    "vpn_users": VpnUsers,
    "students": Students,
    "agentic_dev": AgenticDevs,
    "enterprise_batch": EnterpriseBatch,
    "benchmark_eval": BenchmarkEvals,
    "tutoring": Tutoring,
    "research_evals": ResearchEvals,
    "translation": Translation,
    "agent_framework": AgentFrameworks,
    "phone_app": PhoneApp,
}
"""Generator class of each population kind."""
