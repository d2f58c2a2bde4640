"""The generator interface shared by legitimate populations and distillation campaigns."""

from __future__ import annotations

from distillguard.sim.exchange import Emitter
from distillguard.sim.identity import Account


class Group:
    """Accounts that generate traffic together (a population or a campaign)."""

    name: str
    label: str
    campaign: str | None
    accounts: list[Account]
    emitter: Emitter

    def run_hour(self, hour: int) -> None:
        """Generate every session that starts in scenario hour ``hour``."""
        raise NotImplementedError
