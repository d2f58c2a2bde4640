"""The STIX vocabulary distillguard shares: one pattern form per indicator kind, both ways.

The exporter writes each indicator's ``pattern`` with :func:`pattern` and the importer reads it back with
:func:`parse_pattern`; a pattern of any other form is refused (``ValueError`` with the reason), so what
one provider exports is exactly what another imports:

- ``ip``: ``[ipv4-addr:value = '198.51.100.7']`` (``ipv6-addr`` for v6), a datacenter / proxy-provider exit;
- ``cidr``: ``[ipv4-addr:value ISSUBSET '198.51.100.0/24']``;
- ``email_domain``: ``[domain-name:value = 'mail.example']``;
- ``client``: ``[x-distillguard-client:tls_ja4 = '…' AND x-distillguard-client:user_agent = '…']`` (either alone);
- keyed kinds (account, email, payment, residential_ip, template):
  ``[x-distillguard-keyed:kind = 'payment' AND x-distillguard-keyed:value = '<64 hex>']``.

Ids are deterministic (:func:`stix_id`): uuid5 over the object type, the producer and a stable key.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from dataclasses import dataclass
from typing import Literal, get_args

from distillguard.intel.community import KEYED_KINDS

IndicatorKind = Literal[
    "ip", "cidr", "email_domain", "client", "account", "email", "payment", "residential_ip", "template"
]
INDICATOR_KINDS: tuple[IndicatorKind, ...] = get_args(IndicatorKind)
KIND_PROPERTY = "x_distillguard_kind"
"""The indicator's custom property that names its kind."""
COMMUNITY_PROPERTY = "x_distillguard_community"
"""The indicator's custom property that names the community whose key made a keyed value."""
INDICATOR_TYPES = ["malicious-activity"]

CLIENT_SCO = "x-distillguard-client"
KEYED_SCO = "x-distillguard-keyed"

ID_NAMESPACE = uuid.UUID("6f3c2a4e-8d1b-5c7a-9e2f-0b4d6a8c1e3f")
"""The uuid5 namespace of every distillguard STIX id."""
DISTILLGUARD_IDENTITY_ID = f"identity--{uuid.uuid5(ID_NAMESPACE, 'identity|distillguard')}"
"""The distillguard project's identity: the creator of its extension definitions (same id at every provider)."""
CLIENT_EXTENSION_ID = f"extension-definition--{uuid.uuid5(ID_NAMESPACE, 'extension-definition|' + CLIENT_SCO)}"
KEYED_EXTENSION_ID = f"extension-definition--{uuid.uuid5(ID_NAMESPACE, 'extension-definition|' + KEYED_SCO)}"
INDICATOR_EXTENSION_ID = f"extension-definition--{uuid.uuid5(ID_NAMESPACE, 'extension-definition|indicator')}"
"""The toplevel-property extension that declares the indicators' ``x_distillguard_*`` properties."""

TlpLevel = Literal["clear", "green", "amber", "amber+strict", "red"]
TLP_LEVELS: tuple[TlpLevel, ...] = get_args(TlpLevel)
TLP2_EXTENSION_ID = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
"""The OASIS TLP 2.0 property extension (cti-stix-common-objects, extension-definition-specifications/tlp-2.0)."""
TLP2_MARKING_IDS: dict[TlpLevel, str] = {
    "clear": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "green": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "amber": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "amber+strict": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "red": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
"""The official OASIS TLP 2.0 marking definitions' fixed ids."""
TLP2_CREATED = "2022-10-01T00:00:00.000Z"


def stix_id(object_type: str, producer: str, key: str) -> str:
    """The deterministic id of the ``object_type`` object of ``producer`` with stable ``key``."""
    return f"{object_type}--{uuid.uuid5(ID_NAMESPACE, f'{object_type}|{producer}|{key}')}"


def tlp2_marking(level: TlpLevel) -> dict[str, object]:
    """The official OASIS TLP 2.0 ``marking-definition`` of ``level``, as a STIX dict."""
    return {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": TLP2_MARKING_IDS[level],
        "created": TLP2_CREATED,
        "name": f"TLP:{level.upper()}",
        "extensions": {TLP2_EXTENSION_ID: {"extension_type": "property-extension", "tlp_2_0": level}},
    }


def tlp_of_marking(marking_id: str) -> TlpLevel | None:
    """The TLP 2.0 level of an official marking-definition id, None for any other marking."""
    return next((level for level, mid in TLP2_MARKING_IDS.items() if mid == marking_id), None)


@dataclass(frozen=True)
class Term:
    """What one indicator matches.

    ``value`` is the IP, the CIDR, the e-mail domain or the keyed hex token (64 hex digits); a client has
    ``tls_ja4`` and/or ``user_agent`` instead (``value`` empty).
    """

    kind: IndicatorKind
    value: str = ""
    tls_ja4: str | None = None
    user_agent: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in INDICATOR_KINDS:
            raise ValueError(f"unknown indicator kind {self.kind!r}")
        if self.kind == "client":
            if self.value or (self.tls_ja4 is None and self.user_agent is None):
                raise ValueError("a client term has tls_ja4 and/or user_agent, and no value")
        elif self.tls_ja4 is not None or self.user_agent is not None or not self.value:
            raise ValueError(f"a {self.kind} term has a value only")
        if self.kind == "ip":
            ipaddress.ip_address(self.value)
            if str(ipaddress.ip_address(self.value)) != self.value:
                raise ValueError(f"ip not in canonical form: {self.value!r}")
        elif self.kind == "cidr":
            if str(ipaddress.ip_network(self.value, strict=True)) != self.value:
                raise ValueError(f"cidr not in canonical form: {self.value!r}")
        elif self.kind == "email_domain":
            if not _DOMAIN.fullmatch(self.value):
                raise ValueError(f"not a domain name: {self.value!r}")
        elif self.kind in KEYED_KINDS and not _HEX64.fullmatch(self.value):
            raise ValueError(f"a keyed {self.kind} value is 64 lower-case hex digits, got {self.value!r}")


_DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}")
_HEX64 = re.compile(r"[0-9a-f]{64}")


def quote(text: str) -> str:
    """``text`` as a STIX pattern string literal (backslash and quote escaped)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _addr_type(value: str) -> str:
    return "ipv6-addr" if ":" in value else "ipv4-addr"


def pattern(term: Term) -> str:
    """The STIX pattern of ``term``, in the shared vocabulary."""
    if term.kind == "ip":
        return f"[{_addr_type(term.value)}:value = {quote(term.value)}]"
    if term.kind == "cidr":
        return f"[{_addr_type(term.value)}:value ISSUBSET {quote(term.value)}]"
    if term.kind == "email_domain":
        return f"[domain-name:value = {quote(term.value)}]"
    if term.kind == "client":
        parts = [f"{CLIENT_SCO}:{prop} = {quote(v)}"
                 for prop, v in (("tls_ja4", term.tls_ja4), ("user_agent", term.user_agent)) if v is not None]
        return "[" + " AND ".join(parts) + "]"
    return f"[{KEYED_SCO}:kind = {quote(term.kind)} AND {KEYED_SCO}:value = {quote(term.value)}]"


_LITERAL = r"'((?:[^'\\]|\\.)*)'"
_COMPARISON = re.compile(r"([a-z0-9-]+):([a-z0-9_]+) (=|ISSUBSET) " + _LITERAL)


def _unquote(body: str) -> str:
    return re.sub(r"\\(.)", r"\1", body)


def parse_pattern(text: str) -> Term:
    """The :class:`Term` of a pattern in the shared vocabulary; ``ValueError`` naming why for any other."""
    if not (text.startswith("[") and text.endswith("]")):
        raise ValueError(f"not a single observation expression: {text[:80]!r}")
    body, comparisons, pos = text[1:-1], [], 0
    while True:
        match = _COMPARISON.match(body, pos)
        if match is None:
            raise ValueError(f"unexpected pattern at {pos}: {body[pos:pos + 40]!r}")
        comparisons.append((match[1], match[2], match[3], _unquote(match[4])))
        pos = match.end()
        if pos == len(body):
            break
        if not body.startswith(" AND ", pos):
            raise ValueError(f"only AND joins comparisons, at {pos}: {body[pos:pos + 40]!r}")
        pos += len(" AND ")
    return _term(comparisons)


def _term(comparisons: list[tuple[str, str, str, str]]) -> Term:
    types = {c[0] for c in comparisons}
    if len(types) != 1:
        raise ValueError(f"comparisons over several object types: {sorted(types)}")
    sco = types.pop()
    props = {c[1]: (c[2], c[3]) for c in comparisons}
    if len(props) != len(comparisons):
        raise ValueError("a property compared twice")
    if sco in ("ipv4-addr", "ipv6-addr") and set(props) == {"value"}:
        op, value = props["value"]
        term = Term("cidr" if op == "ISSUBSET" else "ip", value)
        if _addr_type(value) != sco:
            raise ValueError(f"{sco} with a value of the other family: {value!r}")
        return term
    if any(op != "=" for op, _ in props.values()):
        raise ValueError(f"ISSUBSET applies to addresses only, not {sco}")
    if sco == "domain-name" and set(props) == {"value"}:
        return Term("email_domain", props["value"][1])
    if sco == CLIENT_SCO and props and set(props) <= {"tls_ja4", "user_agent"}:
        return Term("client", tls_ja4=props.get("tls_ja4", ("", None))[1],
                    user_agent=props.get("user_agent", ("", None))[1])
    if sco == KEYED_SCO and set(props) == {"kind", "value"}:
        kind = props["kind"][1]
        if kind not in KEYED_KINDS:
            raise ValueError(f"unknown keyed kind {kind!r}")
        return Term(next(k for k in KEYED_KINDS if k == kind), props["value"][1])
    raise ValueError(f"not in the distillguard vocabulary: {sco} with {sorted(props)}")
