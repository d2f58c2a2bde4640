"""Read a partner's STIX 2.1 bundle: check all of it first, then keep the indicators distillguard can hunt with.

A bundle is refused whole (:class:`BundleRejected`, every reason naming the object id and field) when it is
not JSON, too large, too deep, holds too many objects, is not STIX 2.1, or holds an indicator whose pattern
does not parse, whose marking is unknown, or whose confidence or validity is absurd. Indicators that are
well formed but outside what distillguard matches (another pattern language, a file hash, a keyed value of
another community) are set aside and listed, not refused. Patterns are read in the shared vocabulary
(:mod:`distillguard.intel.vocabulary`) and, from any producer, as plain address and domain comparisons
(``=`` / ``ISSUBSET``, joined by ``OR``).
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from stix2.pattern_visitor import create_pattern_object
from stix2.patterns import (
    EqualityComparisonExpression,
    IsSubsetComparisonExpression,
    ObservationExpression,
    OrBooleanExpression,
)
from stix2patterns.exceptions import ParseException
from stix2patterns.validator import run_validator

from distillguard.intel.community import KEYED_KINDS
from distillguard.intel.imported import BundleRejected, ImportLimits, PartnerBundle, PartnerIndicator
from distillguard.intel.vocabulary import (
    COMMUNITY_PROPERTY,
    INDICATOR_KINDS,
    KIND_PROPERTY,
    TLP_LEVELS,
    Term,
    parse_pattern,
    tlp_of_marking,
)

_ID = re.compile(r"([a-z0-9][a-z0-9-]{0,249})--[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z")
_TLP1: dict[str, str] = {  # the STIX 2.1 spec's TLP 1.0 marking definitions (white reads as clear)
    "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9": "clear",
    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": "green",
    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82": "amber",
    "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed": "red",
}
_SDO_SRO = frozenset({
    "attack-pattern", "campaign", "course-of-action", "grouping", "identity", "incident", "indicator",
    "infrastructure", "intrusion-set", "location", "malware", "malware-analysis", "note", "observed-data",
    "opinion", "report", "threat-actor", "tool", "vulnerability", "relationship", "sighting",
    "marking-definition", "extension-definition", "language-content",
})
_REPORTED_AS = ("campaign", "intrusion-set", "threat-actor")
"""Targets of ``indicates`` a matched account is grouped by, most specific first."""
_MAX_REASONS = 100


def read_stix(data: bytes, origin: str, community: str, limits: ImportLimits | None = None,
              now: datetime | None = None) -> PartnerBundle:
    """Check a STIX 2.1 bundle (``data``: its JSON bytes, from ``origin``) whole and read its indicators.

    ``community``: the sharing community whose keyed values this store can match.
    """
    limits = limits or ImportLimits()
    document = load_json(data, origin, limits)
    if not isinstance(document, dict) or document.get("type") != "bundle":
        raise BundleRejected(origin, ["bundle: type: not a STIX bundle (a JSON object with type 'bundle')"])
    faults: list[str] = []
    if not isinstance(document.get("id"), str) or not _id_ok(document["id"], "bundle"):
        faults.append(f"bundle: id: not a bundle id: {_show(document.get('id'))}")
    if "spec_version" in document:
        faults.append(f"bundle {document.get('id')}: spec_version: {_show(document['spec_version'])} "
                      "(a STIX 2.0 bundle; a 2.1 bundle carries none)")
    objects = document.get("objects", [])
    if not isinstance(objects, list):
        faults.append("bundle: objects: not a list")
        objects = []
    if faults:
        raise BundleRejected(origin, faults)
    return read_objects(objects, origin, hashlib.sha256(data).hexdigest(), community, limits, now, shape_checked=True)


def load_json(data: bytes, origin: str, limits: ImportLimits) -> Any:
    """The JSON document of ``data`` within ``limits`` (size, nesting, string length), else :class:`BundleRejected`."""
    if len(data) > limits.max_bytes:
        raise BundleRejected(origin, [f"bundle: {len(data):,} bytes, over the limit of {limits.max_bytes:,}"])
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BundleRejected(origin, [f"bundle: not JSON: {exc}"]) from None
    faults = list(_shape_faults(document, limits))
    if faults:
        raise BundleRejected(origin, faults)
    return document


def _shape_faults(document: Any, limits: ImportLimits) -> Iterator[str]:
    """Nesting deeper than the limit and over-long strings, named by the top-level object's id and field."""
    objects = document.get("objects") if isinstance(document, dict) else None
    if isinstance(objects, list) and len(objects) > limits.max_objects:
        yield f"bundle: objects: {len(objects):,} objects, over the limit of {limits.max_objects:,}"
        return
    found = 0
    # (value, depth, owner, field): owner is the top-level object (depth 2) holding it, field its property
    stack: list[tuple[Any, int, Any, str]] = [(document, 0, None, "")]
    while stack and found < _MAX_REASONS:
        value, depth, owner, field = stack.pop()
        if depth > limits.max_depth:
            found += 1
            yield f"{_owner(owner)}: {field or '(object)'}: nested over {limits.max_depth} levels deep"
            continue
        if depth == 2 and owner is None:
            owner = value.get("id", "?") if type(value) is dict else "?"
        items = value.items() if type(value) is dict else enumerate(value)
        for key, item in items:
            kind = type(item)
            if kind is str:
                if len(item) > limits.max_string:
                    found += 1
                    yield (f"{_owner(owner)}: {field or key}: a string of {len(item):,} characters, "
                           f"over the limit of {limits.max_string:,}")
            elif kind is dict or kind is list:
                stack.append((item, depth + 1, owner, field or (str(key) if depth == 2 else "")))


def _owner(owner: Any) -> str:
    return "bundle" if owner is None else f"object {_show(owner) if not isinstance(owner, str) else owner}"


def read_objects(objects: list[Any], origin: str, sha256: str, community: str, limits: ImportLimits | None = None,
                 now: datetime | None = None, *, shape_checked: bool = False) -> PartnerBundle:
    """Check STIX 2.1 ``objects`` (a bundle's or a TAXII collection's) and read the indicators among them.

    ``shape_checked``: the objects came through :func:`load_json` (size, nesting and strings checked already).
    """
    limits = limits or ImportLimits()
    now = now or datetime.now(UTC)
    shape = [] if shape_checked else list(_shape_faults({"objects": objects}, limits))
    if shape:
        raise BundleRejected(origin, shape)
    check = _Checker(origin, community, limits, now)
    for i, obj in enumerate(objects):
        check.envelope(i, obj)
    if not check.faults:
        for obj in check.indicators:
            check.indicator(obj)
    if check.faults:
        raise BundleRejected(origin, check.faults)
    latest: dict[str, PartnerIndicator] = {}
    for ind in check.read:
        held = latest.get(ind.stix_id)
        if held is None or (ind.modified or _EPOCH) >= (held.modified or _EPOCH):
            latest[ind.stix_id] = ind
    producer = check.identities.get(check.creators.pop()) if len(check.creators) == 1 else None
    return PartnerBundle(origin, sha256, len(objects), producer, list(latest.values()), check.ignored)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class _Checker:
    """Faults and readings of one bundle, object by object."""

    origin: str
    community: str
    limits: ImportLimits
    now: datetime

    def __post_init__(self) -> None:
        self.faults: list[str] = []
        self.ignored: list[str] = []
        self.indicators: list[dict[str, Any]] = []
        self.read: list[PartnerIndicator] = []
        self.statements: set[str] = set()  # copyright-style statement markings the bundle defines
        self.identities: dict[str, str] = {}
        self.creators: set[str] = set()
        self.indicates: dict[str, list[str]] = {}

    def fault(self, where: str, field: str, reason: str) -> None:
        if len(self.faults) < _MAX_REASONS:
            self.faults.append(f"{where}: {field}: {reason}")

    def envelope(self, i: int, obj: Any) -> None:
        """The checks every object passes: a typed, identified STIX 2.1 object."""
        if not isinstance(obj, dict):
            self.fault(f"objects[{i}]", "(object)", f"not a JSON object: {_show(obj)}")
            return
        kind, oid = obj.get("type"), obj.get("id")
        if not isinstance(kind, str) or not isinstance(oid, str) or not _id_ok(oid, kind):
            self.fault(f"objects[{i}]", "id", f"not an id of its type {_show(kind)}: {_show(oid)}")
            return
        where = f"{kind} {oid}"
        if kind in _SDO_SRO and obj.get("spec_version") != "2.1":
            self.fault(where, "spec_version", f"{_show(obj.get('spec_version'))}, expected '2.1'")
        elif "spec_version" in obj and obj["spec_version"] != "2.1":
            self.fault(where, "spec_version", f"{_show(obj['spec_version'])}, expected '2.1'")
        if isinstance(obj.get("created_by_ref"), str) and kind == "indicator":
            self.creators.add(obj["created_by_ref"])
        if kind == "indicator":
            self.indicators.append(obj)
        elif kind == "marking-definition" and obj.get("definition_type") == "statement" \
                and isinstance(obj.get("definition"), dict) and isinstance(obj["definition"].get("statement"), str):
            self.statements.add(oid)
        elif kind == "identity" and isinstance(obj.get("name"), str):
            self.identities[oid] = obj["name"]
        elif kind == "relationship" and obj.get("relationship_type") == "indicates":
            source, target = obj.get("source_ref"), obj.get("target_ref")
            if isinstance(source, str) and isinstance(target, str):
                self.indicates.setdefault(source, []).append(target)

    def indicator(self, obj: dict[str, Any]) -> None:
        """Check one indicator and read it, or set it aside with the reason distillguard cannot hunt with it."""
        oid = obj["id"]
        where = f"indicator {oid}"
        n_faults = len(self.faults)
        times = {name: self.timestamp(obj, where, name, required=name in ("created", "modified", "valid_from"))
                 for name in ("created", "modified", "valid_from", "valid_until")}
        valid_from, valid_until = times["valid_from"], times["valid_until"]
        if valid_from is not None and valid_until is not None:
            if valid_until <= valid_from:
                self.fault(where, "valid_until", f"{obj['valid_until']} is not after valid_from {obj['valid_from']}")
            elif valid_until > self.now + timedelta(days=365 * self.limits.max_valid_years):
                self.fault(where, "valid_until", f"{obj['valid_until']} is more than {self.limits.max_valid_years} years ahead")
        confidence = obj.get("confidence")
        if confidence is not None and (type(confidence) is not int or not 0 <= confidence <= 100):
            self.fault(where, "confidence", f"{_show(confidence)}, expected an integer 0-100")
        revoked = obj.get("revoked", False)
        if not isinstance(revoked, bool):
            self.fault(where, "revoked", f"{_show(revoked)}, expected true or false")
        for name in ("labels", "indicator_types"):
            if name in obj and not (isinstance(obj[name], list) and all(isinstance(v, str) for v in obj[name])):
                self.fault(where, name, "not a list of strings")
        tlp = self.tlp(obj, where)
        declared = obj.get(KIND_PROPERTY)
        if declared is not None and declared not in INDICATOR_KINDS:
            self.fault(where, KIND_PROPERTY, f"{_show(declared)}, expected one of {', '.join(INDICATOR_KINDS)}")
        text, pattern_type = obj.get("pattern"), obj.get("pattern_type")
        if not isinstance(text, str) or not isinstance(pattern_type, str):
            self.fault(where, "pattern" if not isinstance(text, str) else "pattern_type", "missing or not a string")
            return
        if pattern_type != "stix":
            self.ignored.append(f"{where}: pattern_type {pattern_type!r} is not hunted")
            return
        terms, why = self.terms(text, where)
        if terms is None:
            if why is not None:
                self.ignored.append(f"{where}: pattern not hunted: {why}")
            return
        kind = terms[0].kind
        if declared is not None and declared != kind:
            self.fault(where, KIND_PROPERTY, f"{declared!r}, but the pattern is of kind {kind!r}")
        community = obj.get(COMMUNITY_PROPERTY)
        if kind in KEYED_KINDS and community is not None and community != self.community:
            self.ignored.append(f"{where}: keyed by community {community!r}, not {self.community!r}")
            return
        if len(self.faults) > n_faults:
            return
        self.read.append(PartnerIndicator(
            stix_id=oid, kind=kind, pattern=text, terms=terms, reported_as=self.reported_as(oid), tlp=tlp,
            confidence=confidence, valid_from=valid_from, valid_until=valid_until, modified=times["modified"],
            revoked=bool(revoked), community=community if kind in KEYED_KINDS else None,
        ))

    def timestamp(self, obj: dict[str, Any], where: str, name: str, *, required: bool) -> datetime | None:
        text = obj.get(name)
        if text is None:
            if required:
                self.fault(where, name, "missing")
            return None
        if not isinstance(text, str) or not _TIMESTAMP.fullmatch(text):
            self.fault(where, name, f"{_show(text)} is not a STIX timestamp (YYYY-MM-DDThh:mm:ss[.s+]Z)")
            return None
        try:
            return datetime.fromisoformat(text)
        except ValueError as exc:
            self.fault(where, name, f"{text}: {exc}")
            return None

    def tlp(self, obj: dict[str, Any], where: str) -> str | None:
        """The strictest TLP among the object's markings; every marking must be TLP or a statement the bundle defines."""
        refs = obj.get("object_marking_refs", [])
        if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
            self.fault(where, "object_marking_refs", "not a list of marking ids")
            return None
        levels = []
        for ref in refs:
            level = _tlp_of(ref)
            if level is None and ref not in self.statements:
                self.fault(where, "object_marking_refs",
                           f"unknown marking {ref!r} (neither TLP nor a statement defined in the bundle)")
            elif level is not None:
                levels.append(level)
        if "granular_markings" in obj:
            self.fault(where, "granular_markings", "not supported: mark the whole indicator")
        return max(levels, key=TLP_LEVELS.index) if levels else None

    def terms(self, text: str, where: str) -> tuple[tuple[Term, ...] | None, str | None]:
        """The terms of a pattern; (None, why) when it is outside what is hunted; a fault when it does not parse."""
        try:
            return (parse_pattern(text),), None
        except ValueError as vocabulary_error:
            errors = run_validator(text, stix_version="2.1")
            if errors:
                self.fault(where, "pattern", f"does not parse: {errors[0]}")
                return None, None
            try:
                return plain_terms(text), None
            except ValueError as exc:
                return None, f"{exc} ({vocabulary_error})"

    def reported_as(self, oid: str) -> str:
        targets = self.indicates.get(oid, [])
        for kind in _REPORTED_AS:
            for target in sorted(targets):
                if target.startswith(kind + "--"):
                    return target
        return oid


def plain_terms(text: str) -> tuple[Term, ...]:
    """A plain producer's address / domain pattern: one observation, comparisons joined by OR.

    ``ValueError`` naming why a pattern is outside it (or does not parse).
    """
    try:
        expression = create_pattern_object(text, version="2.1")
    except ParseException as exc:
        raise ValueError(f"does not parse: {exc}") from None
    if not isinstance(expression, ObservationExpression):
        raise ValueError("several observations or qualifiers")
    operand = expression.operand
    comparisons = operand.operands if isinstance(operand, OrBooleanExpression) else [operand]
    terms = []
    for comparison in comparisons:
        if not isinstance(comparison, (EqualityComparisonExpression, IsSubsetComparisonExpression)) \
                or comparison.negated:
            raise ValueError("only = and ISSUBSET comparisons, joined by OR, are hunted")
        sco = comparison.lhs.object_type_name
        path = [str(p) for p in comparison.lhs.property_path]
        value = comparison.rhs.value
        if path != ["value"] or not isinstance(value, str):
            raise ValueError(f"{sco}:{'.'.join(path)} is not hunted")
        terms.append(plain_term(sco, value, subset=isinstance(comparison, IsSubsetComparisonExpression)))
    return tuple(dict.fromkeys(terms))


def plain_term(sco: str, value: str, *, subset: bool) -> Term:
    """The term of one plain comparison (``sco:value = / ISSUBSET value``); ``ValueError`` when not hunted."""
    if sco in ("ipv4-addr", "ipv6-addr"):
        try:
            network = ipaddress.ip_network(value.strip(), strict=False)
        except ValueError:
            raise ValueError(f"{sco}: not an address or network: {value!r}") from None
        if network.version != (4 if sco == "ipv4-addr" else 6):
            raise ValueError(f"{sco} with a value of the other family: {value!r}")
        if network.num_addresses == 1 and ("/" not in value or not subset):
            return Term("ip", str(network.network_address))
        return Term("cidr", str(network))
    if sco == "domain-name" and not subset:
        return Term("email_domain", value.strip().lower().rstrip("."))
    raise ValueError(f"{sco} {'ISSUBSET' if subset else '='} is not hunted")


def _tlp_of(marking_id: str) -> str | None:
    return tlp_of_marking(marking_id) or _TLP1.get(marking_id)


def _id_ok(value: str, kind: object) -> bool:
    match = _ID.fullmatch(value)
    return match is not None and match[1] == kind


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
