"""Read a partner's MISP events (JSON with ``Event``, or ``response``: a list of them), checked whole first.

Hunted, as :mod:`distillguard.intel.misp_export` writes them and as plain MISP producers do:

- attributes ``ip-src`` / ``ip-dst`` (an address or a network), ``domain`` (an e-mail domain),
  ``user-agent`` (a client), ``stix2-pattern`` (a pattern of the shared vocabulary or a plain address one);
- object ``distillguard-client`` (``tls-ja4``, ``user-agent``): one client indicator;
- object ``distillguard-keyed`` (``kind``, ``value``, ``community``): one keyed indicator; another
  community's is set aside.

Other attributes, and those with ``to_ids`` false, are set aside and listed. The TLP comes from the
attribute's ``tlp:`` tag, else its event's; an unknown ``tlp:`` tag refuses the file, as do a missing or
malformed uuid, type or value, a malformed address, domain or keyed value, or a pattern that does not
parse. A deleted attribute is revoked. Matched accounts are grouped by their event (the partner's campaign).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from stix2patterns.validator import run_validator

from distillguard.intel.community import KEYED_KINDS
from distillguard.intel.imported import BundleRejected, ImportLimits, PartnerBundle, PartnerIndicator
from distillguard.intel.stix_import import load_json, plain_term, plain_terms
from distillguard.intel.vocabulary import TLP_LEVELS, Term, parse_pattern

_TLP_TAG = re.compile(r"tlp:(.+)", re.IGNORECASE)
_TLP_NAMES: dict[str, str] = {**{level: level for level in TLP_LEVELS}, "white": "clear"}
_MAX_REASONS = 100
_MALFORMED = "malformed"


def is_misp(document: Any) -> bool:
    """Whether a JSON document is MISP: ``{"Event": {...}}`` or ``{"response": [{"Event": {...}}, ...]}``."""
    return isinstance(document, dict) and "type" not in document and ("Event" in document or "response" in document)


def read_misp(data: bytes, origin: str, community: str, limits: ImportLimits | None = None,
              now: datetime | None = None) -> PartnerBundle:
    """Check MISP events (``data``: the file's JSON bytes) whole and read their hunted attributes as indicators."""
    limits = limits or ImportLimits()
    document = load_json(data, origin, limits)
    events = _events(document)
    if events is None:
        raise BundleRejected(origin, ["Event: not a MISP event (a JSON object with Event, or response: [{Event}])"])
    reader = _Reader(community)
    for i, event in enumerate(events):
        reader.event(i, event)
    if reader.n_items > limits.max_objects:
        raise BundleRejected(origin, [f"Event: {reader.n_items:,} attributes, over the limit of {limits.max_objects:,}"])
    if reader.faults:
        raise BundleRejected(origin, reader.faults)
    return PartnerBundle(origin, hashlib.sha256(data).hexdigest(), reader.n_items, reader.producer,
                         reader.indicators, reader.ignored)


def _events(document: Any) -> list[Any] | None:
    if not is_misp(document):
        return None
    if "Event" in document:
        return [document["Event"]]
    response = document["response"]
    if not isinstance(response, list):
        return None
    return [item.get("Event") if isinstance(item, dict) else item for item in response]


class _Reader:
    """Faults, set-aside items and indicators of one MISP file, event by event."""

    def __init__(self, community: str) -> None:
        self.community = community
        self.faults: list[str] = []
        self.ignored: list[str] = []
        self.indicators: list[PartnerIndicator] = []
        self.producer: str | None = None
        self.n_items = 0

    def fault(self, where: str, field: str, reason: str) -> None:
        if len(self.faults) < _MAX_REASONS:
            self.faults.append(f"{where}: {field}: {reason}")

    def event(self, i: int, event: Any) -> None:
        if not isinstance(event, dict):
            self.fault(f"Event[{i}]", "(event)", "not a JSON object")
            return
        event_id = _uuid(event.get("uuid"))
        where = f"Event {event.get('uuid')!r}"
        if event_id is None:
            self.fault(where, "uuid", "not a uuid")
        org = event.get("Orgc")
        if isinstance(org, dict) and isinstance(org.get("name"), str):
            self.producer = self.producer or org["name"]
        tlp = self.tlp(event, where)
        reported_as = f"x-misp-event--{event_id}"
        for attribute in self.items(event, "Attribute", where):
            self.attribute(attribute, tlp, reported_as)
        for obj in self.items(event, "Object", where):
            self.object(obj, tlp, reported_as)

    def items(self, item: dict[str, Any], name: str, where: str) -> list[Any]:
        value = item.get(name, [])
        if not isinstance(value, list):
            self.fault(where, name, "not a list")
            return []
        self.n_items += len(value)
        return value

    def tlp(self, item: dict[str, Any], where: str) -> str | None:
        """The strictest ``tlp:`` tag of the item; an unknown ``tlp:`` level is a fault."""
        levels = []
        for tag in self.items(item, "Tag", where):
            name = tag.get("name") if isinstance(tag, dict) else None
            match = _TLP_TAG.fullmatch(name) if isinstance(name, str) else None
            if match is None:
                continue
            level = _TLP_NAMES.get(match[1].lower())
            if level is None:
                self.fault(where, "Tag", f"unknown marking {name!r}")
            else:
                levels.append(level)
        return max(levels, key=TLP_LEVELS.index) if levels else None

    def checked(self, attribute: Any, where: str) -> tuple[str, str, str] | None:
        """``(uuid, type, value)`` of a well-formed attribute, else a fault."""
        if not isinstance(attribute, dict):
            self.fault(where, "(attribute)", "not a JSON object")
            return None
        aid = _uuid(attribute.get("uuid"))
        kind, value = attribute.get("type"), attribute.get("value")
        if aid is None:
            self.fault(f"Attribute {attribute.get('uuid')!r}", "uuid", "not a uuid")
            return None
        if not isinstance(kind, str) or not isinstance(value, str):
            self.fault(f"Attribute {aid}", "type" if not isinstance(kind, str) else "value", "missing or not a string")
            return None
        return aid, kind, value

    def attribute(self, attribute: Any, event_tlp: str | None, reported_as: str) -> None:
        got = self.checked(attribute, "Attribute")
        if got is None:
            return
        aid, kind, value = got
        where = f"Attribute {aid}"
        tlp = self.tlp(attribute, where) or event_tlp
        if attribute.get("to_ids") is False:
            self.ignored.append(f"{where}: to_ids is false")
            return
        try:
            terms = _terms(kind, value)
        except ValueError as exc:
            if str(exc).startswith(_MALFORMED) or (kind == "stix2-pattern" and run_validator(value, stix_version="2.1")):
                self.fault(where, "value", str(exc))
            else:
                self.ignored.append(f"{where}: {kind} not hunted: {exc}")
            return
        self.add(aid, f"{kind}: {value}", terms, tlp, reported_as, attribute)

    def object(self, obj: Any, event_tlp: str | None, reported_as: str) -> None:
        if not isinstance(obj, dict):
            self.fault("Object", "(object)", "not a JSON object")
            return
        oid, name = _uuid(obj.get("uuid")), obj.get("name")
        where = f"Object {obj.get('uuid')!r}"
        attributes = self.items(obj, "Attribute", where)
        if oid is None:
            self.fault(where, "uuid", "not a uuid")
            return
        if name not in ("distillguard-client", "distillguard-keyed"):
            for attribute in attributes:
                self.attribute(attribute, event_tlp, reported_as)
            return
        values: dict[str, str] = {}
        tlps: list[str] = []
        revoked, to_ids = False, False
        for attribute in attributes:
            got = self.checked(attribute, f"Object {oid}")
            if got is None:
                continue
            values[str(attribute.get("object_relation"))] = got[2]
            tlps += [t for t in (self.tlp(attribute, f"Attribute {got[0]}"),) if t is not None]
            revoked = revoked or bool(attribute.get("deleted", False))
            to_ids = to_ids or attribute.get("to_ids") is not False
        tlp = max(tlps, key=TLP_LEVELS.index) if tlps else event_tlp
        where = f"Object {oid}"
        if not to_ids:
            self.ignored.append(f"{where}: to_ids is false")
            return
        try:
            if name == "distillguard-client":
                term = Term("client", tls_ja4=values.get("tls-ja4"), user_agent=values.get("user-agent"))
            else:
                kind = values.get("kind", "")
                if kind not in KEYED_KINDS:
                    raise ValueError(f"unknown keyed kind {kind!r}")
                term = Term(next(k for k in KEYED_KINDS if k == kind), values.get("value", ""))
        except ValueError as exc:
            self.fault(where, "Attribute", str(exc))
            return
        if name == "distillguard-keyed" and values.get("community", self.community) != self.community:
            self.ignored.append(f"{where}: keyed by community {values.get('community')!r}, not {self.community!r}")
            return
        shown = ", ".join(f"{k}={v}" for k, v in sorted(values.items()))
        revoked = revoked or bool(obj.get("deleted", False))
        self.add(oid, f"{name}: {shown}", (term,), tlp, reported_as, {**obj, "deleted": revoked})

    def add(self, item_id: str, shown: str, terms: tuple[Term, ...], tlp: str | None, reported_as: str,
            item: dict[str, Any]) -> None:
        self.indicators.append(PartnerIndicator(
            stix_id=f"indicator--{item_id}", kind=terms[0].kind, pattern=shown, terms=terms, reported_as=reported_as,
            tlp=tlp, modified=_epoch(item.get("timestamp")), revoked=bool(item.get("deleted", False)),
        ))


def _terms(kind: str, value: str) -> tuple[Term, ...]:
    """The terms of one hunted attribute; ``ValueError`` (starting "malformed" for a bad value of a hunted type)."""
    try:
        if kind in ("ip-src", "ip-dst"):
            return (plain_term("ipv6-addr" if ":" in value else "ipv4-addr", value, subset=True),)
        if kind == "domain":
            return (Term("email_domain", value.strip().lower().rstrip(".")),)
        if kind == "user-agent":
            return (Term("client", user_agent=value),)
    except ValueError as exc:
        raise ValueError(f"{_MALFORMED} {kind}: {exc}") from None
    if kind == "stix2-pattern":
        try:
            return (parse_pattern(value),)
        except ValueError:
            return plain_terms(value)
    raise ValueError("type not hunted")


def _uuid(value: Any) -> str | None:
    try:
        return str(uuid.UUID(value)) if isinstance(value, str) else None
    except ValueError:
        return None


def _epoch(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), UTC) if value is not None else None
    except (TypeError, ValueError, OverflowError, OSError):
        return None
