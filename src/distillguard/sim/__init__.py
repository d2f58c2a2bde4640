"""Traffic simulator: legitimate populations and distillation campaigns on real prompt corpora.

``load_scenario`` reads a built-in scenario (``smoke``, ``dev``, ``large``) or a
YAML file; ``simulate`` writes exchanges (in real Anthropic / OpenAI log shapes),
accounts, ground-truth labels and a campaign truth file.
:mod:`distillguard.sim.families` draws scenarios from parameterised attack and
hard-negative families (``family_scenario``).
"""

from distillguard.sim.run import SimSummary, simulate
from distillguard.sim.scenario import Campaign, Scenario, load_scenario

__all__ = ["Campaign", "Scenario", "SimSummary", "load_scenario", "simulate"]
