"""Evidence and decisions: every result says which detector produced it and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Action(StrEnum):
    """What the system does about an account, mildest first."""

    ALLOW = "allow"
    MONITOR = "monitor"
    THROTTLE = "throttle"
    SUMMARIZE_REASONING = "summarize_reasoning"
    STRIP_REASONING = "strip_reasoning"
    REQUIRE_VERIFICATION = "require_verification"
    BLOCK = "block"


@dataclass(frozen=True, slots=True)
class Evidence:
    """One detector's finding: its name, a score in 0..1 and a plain-words reason."""

    detector: str
    score: float
    reason: str


@dataclass(frozen=True, slots=True)
class Decision:
    """The action taken on an account, with the risk and evidence behind it."""

    account_id: str
    risk: float
    action: Action
    evidence: tuple[Evidence, ...] = ()
    campaign_id: str | None = None
    decided_at: datetime | None = None
    reasons: tuple[str, ...] = field(default=())

    @property
    def flagged(self) -> bool:
        """An account is flagged when anything stronger than monitoring applies."""
        return self.action not in (Action.ALLOW, Action.MONITOR)
