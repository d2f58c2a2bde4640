"""A campaign as the analysis reports it: members, volume, capabilities, confidence and evidence."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from distillguard.core.decision import Evidence

ONE_PAYER_DETECTOR = "one_payer"
"""Detector of the evidence that a campaign's accounts all pay with one card and link to no one paying otherwise:
one customer's accounts, each judged by its standing and none taking another's action."""
ONE_DOMAIN_DETECTOR = "one_domain"
"""Detector of the evidence that a campaign's accounts are on one organisation's mail domain (no public or disposable
provider's) and link to no one on another: one organisation's accounts, judged as one payer's are."""
ONE_CUSTOMER_DETECTORS = (ONE_PAYER_DETECTOR, ONE_DOMAIN_DETECTOR)
"""Detectors of the evidence that a campaign is one customer's accounts, whose members the policy judges by their
standing."""


@dataclass(frozen=True, slots=True)
class SharedIndicator:
    """An indicator value shown by several member accounts of a campaign."""

    value: str
    accounts: int


@dataclass(frozen=True, slots=True)
class CampaignRecord:
    """One campaign found by a run.

    ``linking_edges`` counts the edges between members per linking family;
    ``indicators`` holds, per indicator kind (``ips``, ``subnets``, ``clients``, ...), the values most
    members show.
    """

    campaign_id: str
    accounts: tuple[str, ...]
    n_exchanges: int
    first_seen: datetime
    last_seen: datetime
    capabilities: dict[str, float]
    risk: float
    confidence: float
    evidence: tuple[Evidence, ...] = ()
    linking_edges: dict[str, int] = field(default_factory=dict)
    indicators: dict[str, tuple[SharedIndicator, ...]] = field(default_factory=dict)

    @property
    def n_accounts(self) -> int:
        """How many accounts the campaign holds."""
        return len(self.accounts)

    @property
    def reasons(self) -> tuple[str, ...]:
        """The plain-words reasons of the evidence, in order."""
        return tuple(e.reason for e in self.evidence)

    def to_json(self) -> dict[str, Any]:
        """The record as written to ``campaigns.jsonl`` and the store (risk, confidence and shares to 4 places)."""
        return {
            "campaign_id": self.campaign_id,
            "accounts": list(self.accounts),
            "n_accounts": self.n_accounts,
            "n_exchanges": self.n_exchanges,
            "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(),
            "capabilities": {k: round(v, 4) for k, v in self.capabilities.items()},
            "risk": round(self.risk, 4),
            "confidence": round(self.confidence, 4),
            "reasons": list(self.reasons),
            "evidence": {"linking_edges": dict(self.linking_edges)},
            "indicators": {kind: [{"value": s.value, "accounts": s.accounts} for s in items]
                           for kind, items in self.indicators.items()},
            "findings": [e.to_json() for e in self.evidence],
        }

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> CampaignRecord:
        """A record read back from :meth:`to_json` (records without ``findings`` keep their reasons, detector unknown)."""
        findings = record.get("findings")
        evidence = (tuple(Evidence.from_json(f) for f in findings) if findings is not None
                    else tuple(Evidence("unknown", 0.0, r) for r in record.get("reasons") or ()))
        return cls(
            campaign_id=record["campaign_id"],
            accounts=tuple(record["accounts"]),
            n_exchanges=int(record["n_exchanges"]),
            first_seen=datetime.fromisoformat(record["first_seen"]),
            last_seen=datetime.fromisoformat(record["last_seen"]),
            capabilities=dict(record.get("capabilities") or {}),
            risk=float(record.get("risk", 0.0)),
            confidence=float(record["confidence"]),
            evidence=evidence,
            linking_edges=dict((record.get("evidence") or {}).get("linking_edges") or {}),
            indicators={kind: tuple(SharedIndicator(str(i["value"]), int(i["accounts"])) for i in items)
                        for kind, items in (record.get("indicators") or {}).items()},
        )
