"""Per-account mergeable statistics, network origin of addresses, and account risk."""

from distillguard.accounts.network import IpIntel, Origin, subnet_of
from distillguard.accounts.risk import default_weights, score_accounts
from distillguard.accounts.stats import STAT_INPUT_COLUMNS, SWEEP_COLUMN, AccountStats

__all__ = [
    "STAT_INPUT_COLUMNS", "SWEEP_COLUMN", "AccountStats", "IpIntel", "Origin", "default_weights", "score_accounts",
    "subnet_of",
]
