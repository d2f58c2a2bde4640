"""Evidence and decisions: every result says which detector produced it and why."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class Action(StrEnum):
    """What the system does about an account, mildest first."""

    ALLOW = "allow"
    MONITOR = "monitor"
    THROTTLE = "throttle"
    SUMMARIZE_REASONING = "summarize_reasoning"
    STRIP_REASONING = "strip_reasoning"
    REQUIRE_VERIFICATION = "require_verification"
    BLOCK = "block"

    @property
    def rank(self) -> int:
        """Position in the order, mildest first: ``a.rank > b.rank`` when ``a`` is the stronger action."""
        return _RANK[self]

    @property
    def flags(self) -> bool:
        """Whether the action flags an account: anything stronger than monitoring."""
        return self.rank > _RANK[Action.MONITOR]

    @property
    def degrades(self) -> bool:
        """Whether the action degrades the service: every flagging action but a demand to verify."""
        return self.flags and self is not Action.REQUIRE_VERIFICATION

    @classmethod
    def strongest(cls, *actions: Action) -> Action:
        """The strongest of ``actions`` (at least one)."""
        return max(actions, key=_RANK.__getitem__)


_RANK: dict[Action, int] = {action: rank for rank, action in enumerate(Action)}


@dataclass(frozen=True, slots=True)
class Evidence:
    """One detector's finding: its name, a score in 0..1 and a plain-words reason."""

    detector: str
    score: float
    reason: str

    def to_json(self) -> dict[str, Any]:
        """``{detector, score, reason}`` with the score to 4 places."""
        return {"detector": self.detector, "score": round(self.score, 4), "reason": self.reason}

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> Evidence:
        """Evidence read back from :meth:`to_json`."""
        return cls(str(item["detector"]), float(item["score"]), str(item["reason"]))


@dataclass(frozen=True, slots=True)
class Decision:
    """The action taken on an account, with the risk and evidence behind it."""

    account_id: str
    risk: float
    action: Action
    evidence: tuple[Evidence, ...] = ()
    campaign_id: str | None = None
    decided_at: datetime | None = None

    @property
    def reasons(self) -> tuple[str, ...]:
        """The plain-words reasons of the evidence, in order."""
        return tuple(e.reason for e in self.evidence)

    @property
    def flagged(self) -> bool:
        """An account is flagged when anything stronger than monitoring applies."""
        return self.action.flags
