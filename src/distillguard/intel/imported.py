"""What a partner's bundle brings in: its indicators, read and checked, ready to store and hunt with."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from distillguard.core.errors import DistillguardError
from distillguard.intel.vocabulary import IndicatorKind, Term


class BundleRejected(DistillguardError):
    """A partner's bundle or event is refused whole: ``reasons`` name the object id and field of each fault."""

    def __init__(self, origin: str, reasons: list[str]) -> None:
        shown = "; ".join(reasons[:10]) + (f"; … {len(reasons) - 10} more" if len(reasons) > 10 else "")
        super().__init__(f"{origin}: rejected, nothing imported: {shown}")
        self.origin = origin
        self.reasons = reasons


@dataclass(frozen=True, slots=True)
class ImportLimits:
    """Bounds a bundle must keep to be read at all (a hostile bundle is refused, not half-read)."""

    max_bytes: int = 256 * 1024 * 1024
    max_objects: int = 250_000
    max_depth: int = 32
    max_string: int = 65_536
    max_valid_years: int = 10


@dataclass(frozen=True, slots=True)
class PartnerIndicator:
    """One partner indicator in the latest version the bundle holds.

    ``terms`` are what it matches (several for a plain producer's ``a OR b`` list of addresses);
    ``reported_as`` is what the partner says it indicates (its campaign or intrusion set, else the
    indicator itself), the value the ``partner`` linking family groups matched accounts by.
    """

    stix_id: str
    kind: IndicatorKind
    pattern: str
    terms: tuple[Term, ...]
    reported_as: str
    tlp: str | None = None
    confidence: int | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    modified: datetime | None = None
    revoked: bool = False
    community: str | None = None

    def active(self, now: datetime) -> bool:
        """Whether it may match at ``now``: not revoked, not expired."""
        return not self.revoked and (self.valid_until is None or self.valid_until > now)


@dataclass(slots=True)
class PartnerBundle:
    """A checked bundle: its indicators, the partner that produced it, and what was set aside (not hunted)."""

    origin: str
    sha256: str
    n_objects: int
    producer: str | None
    indicators: list[PartnerIndicator] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
