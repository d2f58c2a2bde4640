"""Retro-hunt: match partners' indicators against the stored traffic and account records, keep and report the matches.

Raw addresses and networks match exchange and signup addresses, clients the exchanges' (JA4, user agent),
e-mail domains the account records. Keyed values match by keying this store's own values with the
community key (account ids, e-mails, payment fingerprints, addresses, template keys): nothing keyed is
ever reversed. Expired or revoked indicators match nothing.

A match links an account to the partner's campaign only when it identifies the account (a keyed account
id, e-mail or payment fingerprint) or comes from two indicator families at least (network: addresses,
networks, keyed exits; client; e-mail domain; template), as account linking asks two families: an exit
or an SDK build the operator shares with ordinary users here is no evidence alone. Those weak matches are
reported, not linked. Linked accounts go into
``partner_indicators`` (the next analysis links them through the ``partner`` family), the import and its
report are stored in one transaction, and each match can be shared back as a STIX ``sighting`` that holds
no personal data: the partner's indicator id, a count of accounts and the time span.
"""

from __future__ import annotations

import bisect
import hashlib
import ipaddress
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa
from rich.table import Table

from distillguard.core.errors import ConfigError
from distillguard.intel.community import KEYED_KINDS, Community
from distillguard.intel.imported import PartnerBundle, PartnerIndicator
from distillguard.intel.vocabulary import TLP2_MARKING_IDS, Term, stix_id, tlp2_marking
from distillguard.store import Store
from distillguard.store.partner import (
    INDICATOR_SCHEMA,
    MATCH_SCHEMA,
    WANTED_SCHEMA,
    distinct_ips,
    keyed_candidates,
    latest_decisions,
    matched_accounts,
    newer_stored,
    save_import,
)

FAMILY: dict[str, str] = {
    "ip": "network", "cidr": "network", "residential_ip": "network", "client": "client",
    "email_domain": "email_domain", "template": "template", "account": "identity", "email": "identity",
    "payment": "identity",
}
"""The indicator family of each kind; a match links an account with an ``identity`` family or two families."""
_RAW_KIND = {"account": "account", "email": "email", "payment": "payment", "template": "template",
             "residential_ip": "ip"}
"""What a keyed kind's resolved value is looked for as."""


@dataclass(frozen=True, slots=True)
class HuntedAccount:
    """One account the hunt matched: by which indicators, over which span of its traffic, decided how."""

    account_id: str
    indicators: list[str]
    kinds: list[str]
    first_seen: datetime | None
    last_seen: datetime | None
    n_exchanges: int
    campaign_id: str | None
    action: str | None
    risk: float | None
    flagged: bool | None
    linked: bool
    """Whether the match links it to the partner's campaign (see the module doc); else reported only."""


@dataclass(frozen=True, slots=True)
class IndicatorSighting:
    """What one partner indicator matched here: a count of accounts and the span of the matching traffic."""

    stix_id: str
    kind: str
    tlp: str | None
    accounts: int
    """Linked accounts it matched."""
    first_seen: datetime | None
    last_seen: datetime | None


@dataclass
class HuntReport:
    """The outcome of one import and its hunt."""

    import_id: str
    origin: str
    source: str
    community: str
    hunted_at: datetime
    n_objects: int
    n_indicators: int
    n_active: int
    n_expired: int
    n_revoked: int
    n_kept_newer: int
    ignored: list[str] = field(default_factory=list)
    accounts: list[HuntedAccount] = field(default_factory=list)
    sightings: list[IndicatorSighting] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-ready data (times as ISO text)."""
        return orjson.loads(orjson.dumps(asdict(self)))  # type: ignore[no-any-return]

    def table(self) -> Table:
        """A readable summary and the matched accounts."""
        table = Table(title=f"intel import {self.import_id} from {self.source} ({self.origin})", title_justify="left")
        for name in ("account", "linked", "campaign", "action", "risk", "indicators", "first seen", "last seen",
                     "exchanges"):
            table.add_column(name, justify="right" if name in ("risk", "exchanges") else "left")
        for a in self.accounts:
            table.add_row(a.account_id, "yes" if a.linked else "no (weak)", a.campaign_id or "-", a.action or "-",
                          "-" if a.risk is None else f"{a.risk:.2f}", ", ".join(sorted(set(a.kinds))),
                          _when(a.first_seen), _when(a.last_seen), f"{a.n_exchanges:,}")
        table.caption = (
            f"{self.n_indicators:,} indicators ({self.n_active:,} active, {self.n_expired:,} expired, "
            f"{self.n_revoked:,} revoked, {self.n_kept_newer:,} older than stored, {len(self.ignored):,} not hunted); "
            f"{len(self.accounts):,} accounts matched, {sum(a.linked for a in self.accounts):,} linked "
            f"(identifying or two indicator families), by {len(self.sightings):,} indicators"
        )
        return table


def import_and_hunt(store: Store, bundle: PartnerBundle, community: Community, source: str,
                    now: datetime | None = None) -> HuntReport:
    """Store a checked bundle's indicators, hunt with the active ones, keep matches and report in one transaction."""
    now = now or datetime.now(UTC)
    import_id = hashlib.sha256(f"{source}|{community.name}|{bundle.sha256}".encode()).hexdigest()[:32]
    rows = _indicator_rows(bundle.indicators, source, import_id)
    newer = newer_stored(store, rows)
    current = [i for i in bundle.indicators if i.stix_id not in newer]
    active = [i for i in current if i.active(now)]
    hits = hunt(store, active, community)
    by_id = {i.stix_id: i for i in active}
    linked = linked_accounts(hits, by_id)
    hits_linked = hits.filter(pa.array([a in linked for a in hits.column("account_id").to_pylist()], pa.bool_()))
    matches = _match_rows(hits_linked, by_id, source, import_id, now)
    report = HuntReport(
        import_id=import_id, origin=bundle.origin, source=source, community=community.name, hunted_at=now,
        n_objects=bundle.n_objects, n_indicators=len(bundle.indicators), n_active=len(active),
        n_expired=sum(1 for i in current if not i.revoked and not i.active(now)),
        n_revoked=sum(1 for i in current if i.revoked), n_kept_newer=len(newer), ignored=bundle.ignored,
        accounts=_hunted_accounts(store, hits, by_id, linked), sightings=_sightings(hits_linked, by_id),
    )
    record = {"import_id": import_id, "imported_at": now, "source": source, "community": community.name,
              "origin": bundle.origin, "sha256": bundle.sha256, "n_objects": bundle.n_objects,
              "n_indicators": len(bundle.indicators), "n_ignored": len(bundle.ignored)}
    kept = rows.filter(pa.array([i not in newer for i in rows.column("stix_id").to_pylist()], pa.bool_()))
    save_import(store, record, kept, matches, orjson.dumps(report.to_json()).decode())
    return report


def hunt(store: Store, indicators: Iterable[PartnerIndicator], community: Community) -> pa.Table:
    """``account_id, stix_id, first_seen, last_seen, n``: the stored accounts the indicators match."""
    wanted: list[tuple[str, str, str, str | None]] = []
    networks: list[tuple[str, ipaddress.IPv4Network | ipaddress.IPv6Network]] = []
    keyed: dict[str, dict[str, list[str]]] = {}  # kind -> token -> stix ids
    for ind in indicators:
        for term in ind.terms:
            if term.kind == "ip":
                wanted.append((ind.stix_id, "ip", term.value, None))
            elif term.kind == "cidr":
                networks.append((ind.stix_id, ipaddress.ip_network(term.value)))
            elif term.kind == "email_domain":
                wanted.append((ind.stix_id, "email_domain", term.value.lower(), None))
            elif term.kind == "client":
                wanted.append(_client_wanted(ind.stix_id, term))
            elif term.kind in KEYED_KINDS:
                keyed.setdefault(term.kind, {}).setdefault(term.value, []).append(ind.stix_id)
    if networks or "residential_ip" in keyed:
        ips = distinct_ips(store)
        wanted.extend((sid, "ip", ip, None) for sid, ip in _in_networks(ips, networks))
        if "residential_ip" in keyed:
            wanted.extend(_resolved(community, "residential_ip", ips, keyed.pop("residential_ip")))
    if keyed:
        candidates = keyed_candidates(store)
        for kind, tokens in keyed.items():
            values = [v for k, v in zip(candidates.column("kind").to_pylist(), candidates.column("value").to_pylist())
                      if k == kind]
            wanted.extend(_resolved(community, kind, values, tokens))
    table = pa.Table.from_pylist(
        [{"stix_id": s, "kind": k, "value": v, "value2": v2} for s, k, v, v2 in wanted], schema=WANTED_SCHEMA)
    return matched_accounts(store, table)


def linked_accounts(hits: pa.Table, by_id: dict[str, PartnerIndicator]) -> set[str]:
    """The matched accounts the matches link: an identifying family, or two families."""
    families: dict[str, set[str]] = {}
    for account_id, sid in zip(hits.column("account_id").to_pylist(), hits.column("stix_id").to_pylist(), strict=True):
        families.setdefault(account_id, set()).add(FAMILY[by_id[sid].kind])
    return {a for a, f in families.items() if "identity" in f or len(f) >= 2}


def sighting_bundle(report: HuntReport, identity_name: str, now: datetime | None = None) -> dict[str, Any]:
    """A STIX 2.1 bundle of ``sighting`` objects, one per partner indicator that matched, sighted by us.

    Each holds the partner's indicator id, the number of our accounts it matched and the first / last
    seen of the matching traffic; no account id, address or other personal value. Marked with the
    indicator's TLP (amber when it had none).
    """
    now = now or datetime.now(UTC)
    stamp = _stix_time(now)
    identity = {"type": "identity", "spec_version": "2.1", "id": stix_id("identity", identity_name, "identity"),
                "created": stamp, "modified": stamp, "name": identity_name, "identity_class": "organization"}
    objects: list[dict[str, Any]] = [identity]
    levels: set[str] = set()
    for s in report.sightings:
        tlp = s.tlp if s.tlp in TLP2_MARKING_IDS else "amber"
        levels.add(tlp)
        sighting: dict[str, Any] = {
            "type": "sighting", "spec_version": "2.1",
            "id": stix_id("sighting", identity_name, f"{report.community}|{s.stix_id}"),
            "created": stamp, "modified": stamp, "created_by_ref": identity["id"],
            "sighting_of_ref": s.stix_id, "count": s.accounts, "where_sighted_refs": [identity["id"]],
            "object_marking_refs": [TLP2_MARKING_IDS[tlp]],
        }
        if s.first_seen is not None and s.last_seen is not None:
            sighting["first_seen"] = _stix_time(s.first_seen)
            sighting["last_seen"] = _stix_time(s.last_seen)
        objects.append(sighting)
    objects.extend(tlp2_marking(level) for level in sorted(levels))  # type: ignore[arg-type]
    return {"type": "bundle", "id": stix_id("bundle", identity_name, f"{report.import_id}|{stamp}"), "objects": objects}


def _client_wanted(sid: str, term: Term) -> tuple[str, str, str, str | None]:
    if term.tls_ja4 is not None and term.user_agent is not None:
        return sid, "client", term.tls_ja4, term.user_agent
    if term.tls_ja4 is not None:
        return sid, "ja4", term.tls_ja4, None
    return sid, "user_agent", term.user_agent or "", None


def _resolved(community: Community, kind: str, values: Iterable[str],
              tokens: dict[str, list[str]]) -> list[tuple[str, str, str, str | None]]:
    """Wanted rows for this store's values of ``kind`` whose community token a partner reported."""
    out: list[tuple[str, str, str, str | None]] = []
    for value in values:
        try:
            token = community.keyed(kind, value)
        except ConfigError:
            continue
        for sid in tokens.get(token, ()):
            out.append((sid, _RAW_KIND[kind], value, None))
    return out


def _in_networks(ips: list[str], networks: list[tuple[str, ipaddress.IPv4Network | ipaddress.IPv6Network]]
                 ) -> list[tuple[str, str]]:
    """(indicator id, address) for every stored address inside a reported network."""
    if not networks:
        return []
    by_version: dict[int, list[tuple[int, str]]] = {4: [], 6: []}
    for ip in ips:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            continue
        by_version[address.version].append((int(address), ip))
    for rows in by_version.values():
        rows.sort()
    out: list[tuple[str, str]] = []
    for sid, network in networks:
        rows = by_version[network.version]
        lo = bisect.bisect_left(rows, (int(network.network_address), ""))
        hi = bisect.bisect_right(rows, (int(network.broadcast_address), "\uffff"))
        out.extend((sid, ip) for _, ip in rows[lo:hi])
    return out


def _indicator_rows(indicators: list[PartnerIndicator], source: str, import_id: str) -> pa.Table:
    return pa.Table.from_pylist([{
        "stix_id": i.stix_id, "source": source, "kind": i.kind, "pattern": i.pattern,
        "matches": orjson.dumps([asdict(t) for t in i.terms]).decode(), "tlp": i.tlp, "confidence": i.confidence,
        "valid_from": i.valid_from, "valid_until": i.valid_until, "modified": i.modified, "revoked": i.revoked,
        "reported_as": i.reported_as, "import_id": import_id,
    } for i in indicators], schema=INDICATOR_SCHEMA)


def _shown(indicator: PartnerIndicator) -> str:
    shown = [t.value or " | ".join(v or "" for v in (t.tls_ja4, t.user_agent)) for t in indicator.terms[:10]]
    return ", ".join(shown) + (", …" if len(indicator.terms) > 10 else "")


def _match_rows(hits: pa.Table, by_id: dict[str, PartnerIndicator], source: str, import_id: str,
                now: datetime) -> pa.Table:
    rows = []
    for hit in hits.select(["account_id", "stix_id"]).to_pylist():
        ind = by_id[hit["stix_id"]]
        rows.append({"account_id": hit["account_id"], "indicator": ind.reported_as, "source": source,
                     "reported_at": now, "kind": ind.kind, "value": _shown(ind), "stix_id": ind.stix_id,
                     "tlp": ind.tlp, "confidence": ind.confidence, "valid_until": ind.valid_until,
                     "import_id": import_id})
    return pa.Table.from_pylist(rows, schema=MATCH_SCHEMA)


def _hunted_accounts(store: Store, hits: pa.Table, by_id: dict[str, PartnerIndicator], linked: set[str]
                     ) -> list[HuntedAccount]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for hit in hits.to_pylist():
        grouped.setdefault(hit["account_id"], []).append(hit)
    decided = {row["account_id"]: row for row in latest_decisions(store, list(grouped)).to_pylist()}
    accounts = []
    for account_id, rows in sorted(grouped.items()):
        d = decided.get(account_id, {})
        firsts = [r["first_seen"] for r in rows if r["first_seen"] is not None]
        lasts = [r["last_seen"] for r in rows if r["last_seen"] is not None]
        accounts.append(HuntedAccount(
            account_id=account_id, indicators=sorted(r["stix_id"] for r in rows),
            kinds=sorted({by_id[r["stix_id"]].kind for r in rows}),
            first_seen=min(firsts, default=None), last_seen=max(lasts, default=None),
            n_exchanges=max(int(r["n"]) for r in rows), campaign_id=d.get("campaign_id"), action=d.get("action"),
            risk=d.get("risk"), flagged=d.get("flagged"), linked=account_id in linked,
        ))
    return accounts


def _sightings(hits: pa.Table, by_id: dict[str, PartnerIndicator]) -> list[IndicatorSighting]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for hit in hits.to_pylist():
        grouped.setdefault(hit["stix_id"], []).append(hit)
    out = []
    for sid, rows in sorted(grouped.items()):
        firsts = [r["first_seen"] for r in rows if r["first_seen"] is not None]
        lasts = [r["last_seen"] for r in rows if r["last_seen"] is not None]
        out.append(IndicatorSighting(sid, by_id[sid].kind, by_id[sid].tlp, len({r["account_id"] for r in rows}),
                                     min(firsts, default=None), max(lasts, default=None)))
    return out


def _stix_time(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _when(t: datetime | None) -> str:
    return "-" if t is None else t.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
