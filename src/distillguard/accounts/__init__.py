"""Per-account mergeable statistics, network origin of addresses, and account risk."""

from distillguard.accounts.inputs import (
    STAT_EXCHANGE_COLUMNS,
    STAT_INPUT,
    STAT_INPUT_COLUMNS,
    STAT_SIGNAL_COLUMNS,
    SWEEP_COLUMN,
    stat_input,
)
from distillguard.accounts.network import IpIntel, Origin, subnet_of
from distillguard.accounts.risk import default_weights, score_accounts
from distillguard.accounts.stats import FEATURE_SCHEMA, AccountStats

__all__ = [
    "FEATURE_SCHEMA", "STAT_EXCHANGE_COLUMNS", "STAT_INPUT", "STAT_INPUT_COLUMNS", "STAT_SIGNAL_COLUMNS", "SWEEP_COLUMN",
    "AccountStats", "IpIntel", "Origin", "default_weights", "score_accounts", "stat_input", "subnet_of",
]
