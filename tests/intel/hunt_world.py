"""A small store with a known operator and known legitimate accounts, and partner bundles built per the contract."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from distillguard.intel.community import Community
from distillguard.intel.vocabulary import (
    COMMUNITY_PROPERTY,
    INDICATOR_TYPES,
    KIND_PROPERTY,
    TLP2_MARKING_IDS,
    Term,
    pattern,
    stix_id,
    tlp2_marking,
)
from distillguard.store import Store
from factories import T0, account, accounts, exchange, exchanges

COMMUNITY = Community("labs", b"a shared secret of the labs community")
PARTNER = "partner-lab"
NOW = datetime(2026, 3, 10, tzinfo=UTC)

DATACENTER_IP = "203.0.113.5"
HARVEST_JA4, HARVEST_UA = "t13d1516h2_8daaf6152771_e5627efa2ab1", "harvester/2.3"
OPERATOR_CARD = "pf_op_card_1"
OPERATOR_TEMPLATE = 4242424242
LEGIT_IP, LEGIT_UA = "81.2.69.160", "anthropic-python/0.49.0"

OPERATOR = {
    "acct-op-dc": {"ip": DATACENTER_IP, "user_agent": HARVEST_UA, "tls_ja4": HARVEST_JA4},
    "acct-op-client": {"ip": "192.0.2.10", "user_agent": HARVEST_UA, "tls_ja4": HARVEST_JA4},
    "acct-op-card": {"ip": "192.0.2.11"},
    "acct-op-net": {"ip": "198.51.100.77"},
    "acct-op-id": {"ip": "192.0.2.12"},
    "acct-op-mail": {"ip": "192.0.2.13"},
    "acct-op-home": {"ip": "100.64.7.9"},
    "acct-op-tpl": {"ip": "192.0.2.14"},
    "acct-op-domain": {"ip": "192.0.2.15"},
}
"""Operator accounts, each matched by one kind of indicator (named after it); acct-op-dc by its client too."""
LINKED = {"acct-op-dc", "acct-op-card", "acct-op-id", "acct-op-mail"}
"""The operator accounts the hunt links: an identifying match (account, e-mail, payment) or two families."""
LEGIT = ("acct-legit-1", "acct-legit-2", "acct-legit-3")
SDK_USER = "acct-legit-3"
"""A legitimate account on the operator's SDK build and TLS stack: matched by the client alone, never linked."""


def world_store(path: Path) -> Store:
    """A store with the operator's and the legitimate accounts: five exchanges each, and their account records."""
    rows, templates, i = [], [], 0
    sdk = {"user_agent": HARVEST_UA, "tls_ja4": HARVEST_JA4}
    for account_id, over in [*OPERATOR.items(), *((a, sdk if a == SDK_USER else {}) for a in LEGIT)]:
        for _ in range(5):
            rows.append(exchange(i, account_id=account_id, **{"ip": LEGIT_IP, "user_agent": LEGIT_UA, **over}))
            templates.append(OPERATOR_TEMPLATE if account_id == "acct-op-tpl" else 1000 + i)
            i += 1
    batch = exchanges(rows)
    signals = pa.table({"request_id": batch.column("request_id"),
                        "template_key": pa.array(templates, pa.uint64())})
    records = [account(a, email_local=a, email_domain="gmail.com", payment_fingerprint=f"pf_{a}",
                       signup_ip=LEGIT_IP) for a in LEGIT]
    records += [account(a, email_local=a.replace("acct-", ""),
                        email_domain="op-mail.example" if a == "acct-op-domain" else "gmail.com",
                        payment_fingerprint=OPERATOR_CARD if a == "acct-op-card" else f"pf_{a}",
                        signup_ip="198.51.100.200" if a == "acct-op-net" else over["ip"])
                for a, over in OPERATOR.items()]
    store = Store(path).open()
    store.ingest_batch(batch, signals)
    store.upsert_accounts(accounts(records))
    return store


def operator_terms(community: Community = COMMUNITY) -> list[Term]:
    """One term per operator account, as the partner that saw the same operator would export them."""
    return [
        Term("ip", DATACENTER_IP),
        Term("client", tls_ja4=HARVEST_JA4, user_agent=HARVEST_UA),
        Term("payment", community.keyed("payment", OPERATOR_CARD)),
        Term("cidr", "198.51.100.0/24"),
        Term("account", community.keyed("account", "acct-op-id")),
        Term("email", community.keyed("email", "OP-MAIL@gmail.com ")),
        Term("residential_ip", community.keyed("residential_ip", "100.64.7.9")),
        Term("template", community.keyed("template", str(OPERATOR_TEMPLATE))),
        Term("email_domain", "op-mail.example"),
    ]


def stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def indicator(term: Term, key: str, **over: Any) -> dict[str, Any]:
    """A contract indicator of ``term`` by :data:`PARTNER` (``over`` replaces or adds properties)."""
    obj: dict[str, Any] = {
        "type": "indicator", "spec_version": "2.1", "id": stix_id("indicator", PARTNER, key),
        "created": stamp(T0), "modified": stamp(T0), "created_by_ref": stix_id("identity", PARTNER, "identity"),
        "name": f"{term.kind} seen with the operator", "pattern": pattern(term), "pattern_type": "stix",
        "valid_from": stamp(T0), "valid_until": stamp(NOW + timedelta(days=90)), "confidence": 80,
        "labels": ["distillation"], "indicator_types": INDICATOR_TYPES, KIND_PROPERTY: term.kind,
        "object_marking_refs": [TLP2_MARKING_IDS["amber"]],
    }
    if term.kind in ("account", "email", "payment", "residential_ip", "template"):
        obj[COMMUNITY_PROPERTY] = COMMUNITY.name
    obj.update(over)
    return {k: v for k, v in obj.items() if v is not None}


def bundle(indicators: list[dict[str, Any]], *, campaign: bool = True, extra: list[dict[str, Any]] | None = None
           ) -> dict[str, Any]:
    """A partner bundle: identity, TLP marking, campaign, the indicators, and ``indicates`` relationships."""
    identity = {"type": "identity", "spec_version": "2.1", "id": stix_id("identity", PARTNER, "identity"),
                "created": stamp(T0), "modified": stamp(T0), "name": PARTNER, "identity_class": "organization"}
    objects: list[dict[str, Any]] = [identity, tlp2_marking("amber"), *indicators]
    if campaign:
        camp = {"type": "campaign", "spec_version": "2.1", "id": stix_id("campaign", PARTNER, "op-1"),
                "created": stamp(T0), "modified": stamp(T0), "name": "op-1", "created_by_ref": identity["id"]}
        objects.append(camp)
        objects += [{"type": "relationship", "spec_version": "2.1", "id": stix_id("relationship", PARTNER, i["id"]),
                     "created": stamp(T0), "modified": stamp(T0), "relationship_type": "indicates",
                     "source_ref": i["id"], "target_ref": camp["id"]} for i in indicators]
    objects += extra or []
    return {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}


def operator_bundle(**over: Any) -> dict[str, Any]:
    """Every operator term as one indicator each (``over`` applied to all)."""
    return bundle([indicator(t, f"op-{n}", **over) for n, t in enumerate(operator_terms())])


def dump(document: Any) -> bytes:
    return orjson.dumps(document)
