"""Rules as data: risk and context → action."""

from distillguard.policy.rules import DecisionContext, EstablishedStanding, Policy, Rule, decide, load_policy

__all__ = ["DecisionContext", "EstablishedStanding", "Policy", "Rule", "decide", "load_policy"]
