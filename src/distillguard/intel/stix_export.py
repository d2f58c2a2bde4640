"""An export plan as a STIX 2.1 bundle, built with the ``stix2`` library.

The bundle holds: the TLP 2.0 marking (the official OASIS definition), the distillguard identity and the
extension definitions of its vocabulary (the ``x-distillguard-client`` and ``x-distillguard-keyed`` SCOs,
the indicators' ``x_distillguard_*`` properties), the producer's ``identity``, the technique as an
``attack-pattern`` (MITRE ATLAS AML.T0024.002, Extract AI Model, through the inference API), per campaign a
``campaign``, its ``intrusion-set`` (``attributed-to``), its exit pools as ``infrastructure`` (``uses``), and
its ``indicator``s (``indicates`` the campaign, and an address its pool), each with a ``sighting``
(count of exchanges, first and last seen). An indicator shown by several exported campaigns is one object.

Ids are deterministic (:func:`~distillguard.intel.vocabulary.stix_id`); ``created`` and ``modified`` come from
the previous export to the community when the object's content is unchanged (see :class:`Versions`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from typing import Any

import orjson
import pyarrow as pa
from stix2 import v21

from distillguard.intel.exports import CampaignShare, ExportPlan, NetworkClass, Sighted
from distillguard.intel.vocabulary import (
    CLIENT_EXTENSION_ID,
    CLIENT_SCO,
    COMMUNITY_PROPERTY,
    DISTILLGUARD_IDENTITY_ID,
    INDICATOR_EXTENSION_ID,
    INDICATOR_TYPES,
    KEYED_EXTENSION_ID,
    KEYED_SCO,
    KIND_PROPERTY,
    TLP2_MARKING_IDS,
    parse_pattern,
    pattern,
    stix_id,
    tlp2_marking,
)

ATLAS_TECHNIQUE = "AML.T0024.002"
ATLAS_NAME = "Extract AI Model"
ATLAS_URL = f"https://atlas.mitre.org/techniques/{ATLAS_TECHNIQUE}"
VOCABULARY_CREATED = datetime(2026, 12, 1, tzinfo=UTC)
"""When the vocabulary's extension definitions were published (fixed: same object at every producer)."""
MAX_SIGHTING_COUNT = 999_999_999
_CLIENT_SCHEMA = (f"SCO {CLIENT_SCO}: tls_ja4 (string, the JA4 TLS client fingerprint), user_agent (string, the "
                  "HTTP User-Agent); patterns compare either or both with '='.")
_KEYED_SCHEMA = (f"SCO {KEYED_SCO}: kind (one of account, email, payment, residential_ip, template), value (64 lower-case "
                 "hex digits: HMAC-SHA256 under the sharing community's key of 'kind:normalised value'; e-mail "
                 "lower-cased and stripped, IP in canonical form), community (the community's name).")
_INDICATOR_SCHEMA = (f"Indicator properties: {KIND_PROPERTY} (ip, cidr, email_domain, client, account, email, payment, "
                     f"residential_ip or template: the kind of its pattern) and {COMMUNITY_PROPERTY} (the community "
                     "whose key made a keyed value).")
_KEYED = ("account", "email", "payment", "residential_ip", "template")
_INFRA_TYPES: dict[NetworkClass, list[str]] = {
    "datacenter": ["unknown"], "vpn": ["anonymization"], "tor": ["anonymization"],
    "residential": ["anonymization"],
}
_NAMES = {
    "ip": "exit address", "cidr": "exit network", "email_domain": "e-mail domain", "client": "API client",
    "account": "keyed account id", "email": "keyed e-mail address", "payment": "keyed payment fingerprint",
    "residential_ip": "keyed exit address", "template": "keyed prompt-template fingerprint",
}


class VocabularyIndicator(v21.Indicator):  # type: ignore[misc]
    """An indicator whose pattern is in the shared vocabulary, checked by :func:`parse_pattern`.

    The vocabulary is a strict subset of STIX patterning (every form is checked against the STIX grammar in
    the tests), so the library's ANTLR parse of each pattern, two thirds of the cost of building a large
    bundle, is not run again; every other property and constraint is checked as for any indicator.
    """

    def _check_object_constraints(self) -> None:
        super(v21.Indicator, self)._check_object_constraints()
        if self["valid_until"] <= self["valid_from"]:
            raise ValueError(f"{self['id']}: valid_until must be after valid_from")
        parse_pattern(self["pattern"])


_CLASSES: dict[str, Callable[..., Any]] = {
    "identity": v21.Identity, "attack-pattern": v21.AttackPattern, "intrusion-set": v21.IntrusionSet,
    "campaign": v21.Campaign, "infrastructure": v21.Infrastructure, "indicator": VocabularyIndicator,
    "relationship": v21.Relationship, "sighting": v21.Sighting,
}


@dataclass
class Versions:
    """``created`` / ``modified`` of each object: kept from the last export while its content digest is the same.

    ``previous`` maps an object id to ``(digest, created, modified)``; :attr:`rows` collects every object's
    current version, for the store.
    """

    previous: Mapping[str, tuple[str, datetime, datetime]]
    now: datetime
    rows: list[tuple[str, str, datetime, datetime]] = field(default_factory=list)

    def stamp(self, object_id: str, content: dict[str, Any]) -> tuple[datetime, datetime]:
        """``(created, modified)`` of the object with ``content`` (its properties but those two)."""
        digest = sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()
        old = self.previous.get(object_id)
        if old is not None and old[0] == digest:
            created, modified = old[1], old[2]
        else:
            created = old[1] if old is not None else self.now
            modified = max(self.now, created)
        self.rows.append((object_id, digest, created, modified))
        return created, modified

    def table(self) -> pa.Table:
        """The versions of this export, as :data:`~distillguard.store.intel_exports.VERSION_SCHEMA` rows."""
        ids, digests, created, modified = zip(*self.rows) if self.rows else ((), (), (), ())
        return pa.table({"object_id": pa.array(ids, pa.string()), "digest": pa.array(digests, pa.string()),
                         "created": pa.array(created, pa.timestamp("us", "UTC")),
                         "modified": pa.array(modified, pa.timestamp("us", "UTC"))})


def export_now() -> datetime:
    """Now, to the millisecond (the precision STIX timestamps keep)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def object_ids(plan: ExportPlan) -> list[str]:
    """The ids of every versioned object :func:`stix_bundle` makes for ``plan`` (to read their versions first)."""
    return [oid for oid, _ in _contents(plan)]


def stix_bundle(plan: ExportPlan, versions: Versions) -> v21.Bundle:
    """The STIX 2.1 bundle of ``plan``; ``versions`` stamps each object and collects the new versions."""
    fixed = _fixed_objects(plan)
    objects: list[Any] = list(fixed)
    for oid, content in _contents(plan):
        created, modified = versions.stamp(oid, content)
        objects.append(_CLASSES[content["type"]](**content, created=created, modified=modified, allow_custom=True))
    digest = sha256("".join(f"{o['id']}|{o.get('modified', '')}" for o in objects).encode()).hexdigest()
    return v21.Bundle(objects=objects, id=stix_id("bundle", plan.options.producer, digest), allow_custom=True)


def _fixed_objects(plan: ExportPlan) -> list[Any]:
    """The TLP marking, the distillguard identity and the vocabulary's extension definitions (same everywhere)."""
    common = {"created": VOCABULARY_CREATED, "modified": VOCABULARY_CREATED, "created_by_ref": DISTILLGUARD_IDENTITY_ID}
    return [
        v21.MarkingDefinition(**tlp2_marking(plan.options.tlp)),
        v21.Identity(id=DISTILLGUARD_IDENTITY_ID, name="distillguard", identity_class="system",
                     description="The distillguard project: publisher of the intel vocabulary's extension definitions.",
                     created=VOCABULARY_CREATED, modified=VOCABULARY_CREATED),
        v21.ExtensionDefinition(
            id=CLIENT_EXTENSION_ID, name=CLIENT_SCO, version="1.0.0", extension_types=["new-sco"], schema=_CLIENT_SCHEMA,
            description="An API client as a provider sees it.", **common),
        v21.ExtensionDefinition(
            id=KEYED_EXTENSION_ID, name=KEYED_SCO, version="1.0.0", extension_types=["new-sco"], schema=_KEYED_SCHEMA,
            description="A personal value shared only keyed per sharing community.", **common),
        v21.ExtensionDefinition(
            id=INDICATOR_EXTENSION_ID, name="x-distillguard-indicator", version="1.0.0",
            extension_types=["toplevel-property-extension"], extension_properties=[KIND_PROPERTY, COMMUNITY_PROPERTY],
            schema=_INDICATOR_SCHEMA,
            description="The distillguard properties of an indicator.", **common),
    ]


def _contents(plan: ExportPlan) -> list[tuple[str, dict[str, Any]]]:
    """Every versioned object as ``(id, properties without created / modified)``, in bundle order."""
    options = plan.options
    producer = stix_id("identity", options.producer, options.producer)
    base = {"created_by_ref": producer, "object_marking_refs": [TLP2_MARKING_IDS[options.tlp]]}
    objects: dict[str, dict[str, Any]] = {}

    def add(kind: str, key: str, **props: Any) -> str:
        oid = stix_id(kind, options.producer, key)
        objects[oid] = {"type": kind, "id": oid, **base, **props}
        return oid

    def relate(source: str, rel: str, target: str) -> None:
        add("relationship", f"{source}|{rel}|{target}", relationship_type=rel, source_ref=source, target_ref=target)

    objects[producer] = {"type": "identity", "id": producer, "name": options.producer, "identity_class": "organization",
                         "object_marking_refs": base["object_marking_refs"]}
    technique = add("attack-pattern", ATLAS_TECHNIQUE, name=ATLAS_NAME, description=(
        "Model distillation: many accounts harvest a model's outputs (and reasoning) through its inference API "
        "to train another model on them."),
        external_references=[{"source_name": "mitre-atlas", "external_id": ATLAS_TECHNIQUE, "url": ATLAS_URL}])
    merged: dict[str, tuple[Sighted, list[str], int, datetime]] = {}
    for share in plan.campaigns:
        campaign = _campaign(share, add, relate, technique)
        confidence = _confidence(share)
        pools: dict[NetworkClass, str] = {}
        for s in share.indicators:
            if s.network is not None and s.network not in pools:
                pools[s.network] = add("infrastructure", f"{share.record.campaign_id}:{s.network}",
                                       name=f"{share.record.campaign_id} {s.network} exits",
                                       infrastructure_types=_INFRA_TYPES[s.network],
                                       description=f"The {s.network} exits the campaign's accounts used.")
                relate(campaign, "uses", pools[s.network])
            key = pattern(s.term)
            old = merged.get(key)
            merged[key] = (s if old is None else _widen(old[0], s),
                           (old[1] if old else []) + [campaign] + ([pools[s.network]] if s.network else []),
                           max(confidence, old[2] if old else 0),
                           max(share.analysed_at, old[3]) if old else share.analysed_at)
    for key, (s, targets, confidence, analysed_at) in merged.items():
        indicator = add("indicator", key, **_indicator(s, key, confidence, analysed_at, plan))
        for target in dict.fromkeys(targets):
            relate(indicator, "indicates", target)
        add("sighting", indicator, sighting_of_ref=indicator, count=min(s.exchanges, MAX_SIGHTING_COUNT),
            first_seen=s.first_seen, last_seen=max(s.last_seen, s.first_seen), where_sighted_refs=[producer],
            confidence=confidence)
    return list(objects.items())


def _campaign(share: CampaignShare, add: Callable[..., str], relate: Callable[[str, str, str], None],
              technique: str) -> str:
    record = share.record
    capabilities = ", ".join(f"{k} {v:.0%}" for k, v in sorted(record.capabilities.items(), key=lambda kv: -kv[1]))
    detectors = ", ".join(sorted({e.detector for e in record.evidence})) or "none"
    campaign = add("campaign", record.campaign_id, name=record.campaign_id, first_seen=record.first_seen,
                   last_seen=max(record.last_seen, record.first_seen), confidence=_confidence(share),
                   objective=f"distill model capabilities ({capabilities})" if capabilities else "distill a model",
                   description=f"{record.n_accounts} linked accounts, {record.n_exchanges} exchanges; "
                               f"evidence from {detectors}.")
    relate(campaign, "uses", technique)
    found = share.intrusion_set
    if found is not None:
        intrusion = add("intrusion-set", found.set_id, name=found.set_id,
                        description=f"{len(found.campaigns)} campaigns of one operator across "
                                    f"{len({r for runs in found.runs.values() for r in runs})} analysis runs.")
        relate(campaign, "attributed-to", intrusion)
    return campaign


def _confidence(share: CampaignShare) -> int:
    return max(0, min(100, round(share.record.confidence * 100)))


def _widen(a: Sighted, b: Sighted) -> Sighted:
    return Sighted(a.term, a.exchanges + b.exchanges, a.accounts + b.accounts, min(a.first_seen, b.first_seen),
                   max(a.last_seen, b.last_seen), a.network or b.network)


def _indicator(s: Sighted, stix_pattern: str, confidence: int, analysed_at: datetime,
               plan: ExportPlan) -> dict[str, Any]:
    """The indicator's properties: valid from its first sighting until ``valid_days`` after its last sighting or
    the analysis that found it, the later (an analysis of old traffic still shares indicators valid from now)."""
    kind = s.term.kind
    props: dict[str, Any] = {
        "name": f"distillation campaign {_NAMES[kind]}",
        "description": (f"Shown by {s.accounts} account(s) of distillation campaigns in {s.exchanges} exchanges"
                        + (f"; a {s.network} exit" if s.network else "")
                        + (f"; keyed for community {plan.options.community.name}" if kind in _KEYED else "") + "."),
        "pattern": stix_pattern, "pattern_type": "stix", "pattern_version": "2.1",
        "valid_from": s.first_seen,
        "valid_until": max(s.last_seen, s.first_seen, analysed_at) + timedelta(days=plan.options.valid_days),
        "indicator_types": INDICATOR_TYPES, "labels": ["model-distillation", kind], "confidence": confidence,
        "extensions": {INDICATOR_EXTENSION_ID: {"extension_type": "toplevel-property-extension"}},
        KIND_PROPERTY: kind,
    }
    if kind in _KEYED:
        props[COMMUNITY_PROPERTY] = plan.options.community.name
    return props


def bundle_json(bundle: v21.Bundle) -> bytes:
    """The bundle serialized (compact, UTF-8)."""
    return str(bundle.serialize()).encode("utf-8")
