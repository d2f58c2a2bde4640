"""Read a partner's MISP event (JSON with ``Event``): its attributes as indicators, checked whole first.

Hunted attribute types: ``ip-src`` / ``ip-dst`` (an address or a network), ``domain`` (an e-mail domain),
``user-agent``, and ``stix2-pattern`` holding a pattern of the shared vocabulary (clients, keyed values).
Attributes of other types, and those with ``to_ids`` false, are set aside and listed. The TLP comes from
the attribute's ``tlp:`` tag, else the event's; an unknown ``tlp:`` tag refuses the event, as do a missing
or malformed uuid, type or value, or a pattern that does not parse. A deleted attribute is revoked.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from stix2patterns.validator import run_validator

from distillguard.intel.imported import BundleRejected, ImportLimits, PartnerBundle, PartnerIndicator
from distillguard.intel.stix_import import load_json, plain_terms
from distillguard.intel.vocabulary import TLP_LEVELS, Term, parse_pattern

_TLP_TAG = re.compile(r"tlp:(.+)", re.IGNORECASE)
_TLP_NAMES: dict[str, str] = {**{level: level for level in TLP_LEVELS}, "white": "clear"}
_MAX_REASONS = 100
Fault = Callable[[str, str, str], None]


def is_misp(document: Any) -> bool:
    """Whether a JSON document is a MISP event (``{"Event": {...}}``)."""
    return isinstance(document, dict) and "Event" in document and "type" not in document


def read_misp(data: bytes, origin: str, community: str, limits: ImportLimits | None = None,
              now: datetime | None = None) -> PartnerBundle:
    """Check a MISP event (``data``: its JSON bytes) whole and read its hunted attributes as indicators."""
    limits = limits or ImportLimits()
    document = load_json(data, origin, limits)
    event = document.get("Event") if is_misp(document) else None
    if not isinstance(event, dict):
        raise BundleRejected(origin, ["Event: not a MISP event (a JSON object with an Event object)"])
    faults: list[str] = []

    def fault(where: str, field: str, reason: str) -> None:
        if len(faults) < _MAX_REASONS:
            faults.append(f"{where}: {field}: {reason}")

    event_id = _uuid(event.get("uuid"))
    if event_id is None:
        fault("Event", "uuid", f"not a uuid: {event.get('uuid')!r}")
    event_tlp = _tlp(event, "Event", fault)
    attributes: list[dict[str, Any]] = []
    for name, items in (("Attribute", event.get("Attribute", [])),
                        *(("Object", obj.get("Attribute", [])) for obj in _list(event, "Object", fault))):
        if not isinstance(items, list):
            fault("Event", name, "not a list")
            continue
        attributes.extend(items)
    if len(attributes) > limits.max_objects:
        raise BundleRejected(origin, [f"Event: {len(attributes):,} attributes, over the limit of {limits.max_objects:,}"])
    indicators, ignored = [], []
    reported_as = f"x-misp-event--{event_id}"
    for i, attribute in enumerate(attributes):
        if not isinstance(attribute, dict):
            fault(f"Attribute[{i}]", "(attribute)", "not a JSON object")
            continue
        aid = _uuid(attribute.get("uuid"))
        where = f"Attribute {attribute.get('uuid')!r}"
        kind, value = attribute.get("type"), attribute.get("value")
        if aid is None or not isinstance(kind, str) or not isinstance(value, str):
            fault(where, "uuid/type/value", "missing or malformed")
            continue
        tlp = _tlp(attribute, where, fault) or event_tlp
        if attribute.get("to_ids") is False and kind != "stix2-pattern":
            ignored.append(f"{where}: to_ids is false")
            continue
        try:
            terms = _terms(kind, value)
        except ValueError as exc:
            if kind == "stix2-pattern" and run_validator(value, stix_version="2.1"):
                fault(where, "value", f"pattern does not parse: {exc}")
            else:
                ignored.append(f"{where}: {kind} not hunted: {exc}")
            continue
        indicators.append(PartnerIndicator(
            stix_id=f"indicator--{aid}", kind=terms[0].kind, pattern=f"{kind}: {value}", terms=terms,
            reported_as=reported_as, tlp=tlp, modified=_epoch(attribute.get("timestamp")),
            revoked=bool(attribute.get("deleted", False)),
        ))
    if faults:
        raise BundleRejected(origin, faults)
    producer = event.get("Orgc", {}).get("name") if isinstance(event.get("Orgc"), dict) else None
    return PartnerBundle(origin, hashlib.sha256(data).hexdigest(), len(attributes),
                         producer if isinstance(producer, str) else None, indicators, ignored)


def _terms(kind: str, value: str) -> tuple[Term, ...]:
    if kind in ("ip-src", "ip-dst"):
        return plain_terms(f"[{'ipv6-addr' if ':' in value else 'ipv4-addr'}:value ISSUBSET '{value.strip()}']")
    if kind == "domain":
        return (Term("email_domain", value.strip().lower().rstrip(".")),)
    if kind == "user-agent":
        return (Term("client", user_agent=value),)
    if kind == "stix2-pattern":
        try:
            return (parse_pattern(value),)
        except ValueError:
            return plain_terms(value)
    raise ValueError("type not hunted")


def _tlp(item: dict[str, Any], where: str, fault: Fault) -> str | None:
    levels = []
    for tag in _list(item, "Tag", fault):
        name = tag.get("name") if isinstance(tag, dict) else None
        match = _TLP_TAG.fullmatch(name) if isinstance(name, str) else None
        if match is None:
            continue
        level = _TLP_NAMES.get(match[1].lower())
        if level is None:
            fault(where, "Tag", f"unknown marking {name!r}")
        else:
            levels.append(level)
    return max(levels, key=TLP_LEVELS.index) if levels else None


def _list(item: dict[str, Any], name: str, fault: Fault) -> list[Any]:
    value = item.get(name, [])
    if not isinstance(value, list):
        fault(name, "(list)", "not a list")
        return []
    return value


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
