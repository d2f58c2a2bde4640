"""Rules as data: risk and context → action."""

from distillguard.policy.rules import DecisionContext, Policy, Rule, decide, load_policy

__all__ = ["DecisionContext", "Policy", "Rule", "decide", "load_policy"]
