"""What an export shares: stored campaigns with their indicators, every personal value keyed for one community.

Privacy by construction: the plan holds no raw account id, e-mail address, payment fingerprint,
residential address or template key, only :class:`~distillguard.intel.vocabulary.Term` values in the
shared vocabulary, and those five kinds are keyed under the community's key when the term is made.
Prompt text is never read. What goes out raw: datacenter / VPN / Tor exits (and their /24 or /48 when
a campaign used several addresses of one), unless the exit policy keys them too; e-mail domains that
are neither free-mail / consumer nor disposable; clients (TLS JA4, user agent).

A value counts only when campaign members own it: shown by at least two members (one in a one-account
campaign) for shared kinds, and by members for ``min_ownership`` of the accounts of the whole store
showing it, so a NAT exit or a popular SDK shared with ordinary users is never reported.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, cast

import polars as pl
import pyarrow as pa

from distillguard.accounts.network import IpIntel, Origin, subnet_of
from distillguard.analysis.inspect import find_intrusion_sets
from distillguard.campaigns.intrusion import IntrusionSet, set_of
from distillguard.campaigns.settings import IntrusionSettings
from distillguard.core.campaign import ONE_CUSTOMER_DETECTORS, CampaignRecord
from distillguard.core.email import shared_mail_domain
from distillguard.core.errors import DistillguardError
from distillguard.intel.community import Community
from distillguard.intel.vocabulary import Term, TlpLevel
from distillguard.store import Store
from distillguard.store.intel_exports import export_observables, run_times
from distillguard.store.results import find_campaign, run_campaigns
from distillguard.store.runs import run_ids

ExitPolicy = Literal["raw", "keyed"]
NetworkClass = Literal["datacenter", "vpn", "tor", "residential"]
_NETWORK: dict[Origin, NetworkClass] = {
    Origin.DATACENTER: "datacenter", Origin.VPN: "vpn", Origin.TOR: "tor", Origin.RESIDENTIAL: "residential",
}


@dataclass(frozen=True)
class ExportOptions:
    """How to share: with whom (community, TLP), as whom (producer), and which exits go out raw."""

    community: Community
    tlp: TlpLevel = "amber"
    exits: ExitPolicy = "raw"
    producer: str = "distillguard"
    min_ownership: float = 0.5
    valid_days: int = 90
    """An indicator stays valid this long after its last sighting or the analysis that found it, the later."""


@dataclass(frozen=True)
class Sighted:
    """One indicator of a campaign and how the campaign's members showed it."""

    term: Term
    exchanges: int
    accounts: int
    first_seen: datetime
    last_seen: datetime
    network: NetworkClass | None = None
    """The kind of network of an address or CIDR term."""


@dataclass(frozen=True)
class CampaignShare:
    """A campaign to share: its run (and when that analysis finished), record, intrusion set and indicators."""

    run_id: str
    analysed_at: datetime
    record: CampaignRecord
    intrusion_set: IntrusionSet | None
    indicators: tuple[Sighted, ...]


@dataclass(frozen=True)
class ExportPlan:
    """Everything one export shares, already keyed."""

    options: ExportOptions
    campaigns: tuple[CampaignShare, ...]
    runs: tuple[str, ...] = field(default=())
    held: tuple[str, ...] = field(default=())
    """Campaigns of the run held back: one customer's accounts, shared only when named."""

    @property
    def campaign_ids(self) -> list[str]:
        """The shared campaigns' ids, in order."""
        return [c.record.campaign_id for c in self.campaigns]


def actor_token(community: Community, actor: str) -> str:
    """Who exported, as the audit log keeps it: a keyed hash of the name, never the name."""
    digest = hmac.new(community.key, f"actor:{actor}".encode(), hashlib.sha256).hexdigest()
    return f"actor:{digest[:16]}"


def select_campaigns(store: Store, run: str | None, campaign_ids: list[str] | None
                     ) -> tuple[list[tuple[str, CampaignRecord]], list[str]]:
    """``(run_id, record)`` of the named campaigns (newest run holding each, or ``run``), or of every campaign of
    ``run`` (the newest run by default) when ``campaign_ids`` is None, and the ids of the campaigns held back;
    clear errors for unknown ones.

    Unnamed, a campaign that is one customer's accounts (a finding of :data:`ONE_CUSTOMER_DETECTORS`: one card or
    one organisation's mail domain, its members judged by their standing, a research team's asked to verify, not
    yet known as an operator) is held back: a lab's seats on its card and its own e-mail domain are not an
    operator's indicators to hand to partners. Named, it is shared.
    """
    runs = run_ids(store)
    if run is not None and run not in runs:
        raise DistillguardError(f"{store.path}: no run {run!r} (newest runs: {', '.join(runs[:5]) or 'none'})")
    if campaign_ids is None:
        if not runs:
            raise DistillguardError(f"{store.path}: the store holds no runs (run `distillguard analyze` first)")
        run_id = run or runs[0]
        records = run_campaigns(store, run_id)
        held = [r.campaign_id for r in records if any(e.detector in ONE_CUSTOMER_DETECTORS for e in r.evidence)]
        found = [(run_id, r) for r in records if r.campaign_id not in held]
        if not found:
            more = (f" but {len(held)} that are one customer's accounts, held back (name them to share)" if held
                    else "")
            raise DistillguardError(f"{store.path}: run {run_id} found no campaigns{more}: nothing to export")
        return found, held
    selected = []
    for cid in dict.fromkeys(campaign_ids):
        hit = find_campaign(store, cid, run)
        if hit is None:
            where = f"run {run}" if run is not None else "any stored run"
            raise DistillguardError(f"{store.path}: no campaign {cid!r} in {where}")
        selected.append(hit)
    return selected, []


def plan_export(store: Store, options: ExportOptions, *, run: str | None = None, campaign_ids: list[str] | None = None,
                intel: IpIntel | None = None, intrusion: IntrusionSettings | None = None) -> ExportPlan:
    """The campaigns to share (see :func:`select_campaigns`) with their keyed indicators and intrusion sets."""
    selected, held = select_campaigns(store, run, campaign_ids)
    members = pa.table({
        "campaign_id": pa.array([r.campaign_id for _, r in selected for _ in r.accounts], pa.string()),
        "account_id": pa.array([a for _, r in selected for a in r.accounts], pa.string()),
    })
    observed = cast(pl.DataFrame, pl.from_arrow(export_observables(store, members)))
    sets = find_intrusion_sets(store, settings=intrusion)
    analysed = run_times(store, [r for r, _ in selected])
    intel = intel or IpIntel()
    shares = []
    for run_id, record in selected:
        rows = observed.filter(pl.col("campaign_id") == record.campaign_id)
        indicators = _indicators(rows, record.n_accounts, options, intel)
        shares.append(CampaignShare(run_id, analysed.get(run_id, record.last_seen), record,
                                    set_of(sets, record.campaign_id), tuple(indicators)))
    return ExportPlan(options, tuple(shares), tuple(dict.fromkeys(r for r, _ in selected)), tuple(held))


def _indicators(rows: pl.DataFrame, n_accounts: int, options: ExportOptions, intel: IpIntel) -> list[Sighted]:
    """The campaign's indicators from its observables (one row per kind and value), keyed where personal."""
    keyed = options.community.keyed
    shared_min = min(2, n_accounts)
    out: dict[Term, Sighted] = {}
    exits: list[Sighted] = []
    for row in rows.iter_rows(named=True):
        kind, value, detail = row["kind"], row["value"], row["detail"]
        owned = row["accounts"] >= options.min_ownership * row["population"]
        shared = row["accounts"] >= shared_min and owned
        term: Term | None = None
        network: NetworkClass | None = None
        if kind in ("account", "email", "payment"):
            term = Term(kind, keyed(kind, value))
        elif kind == "template" and shared:
            term = Term("template", keyed("template", value))
        elif kind == "client" and shared:
            term = Term("client", tls_ja4=value or None, user_agent=detail or None)
        elif kind == "email_domain" and owned and not shared_mail_domain(value):
            term = _domain_term(value)
        elif kind in ("ip", "signup_ip") and owned:
            term, network = _exit_term(value, options, intel)
        if term is None:
            continue
        sighted = _merge(out.get(term), Sighted(term, int(row["exchanges"]), int(row["accounts"]), row["first_seen"],
                                                row["last_seen"], network))
        out[term] = sighted
        if term.kind == "ip":
            exits.append(sighted)
    for cidr in _pools(exits):
        out[cidr.term] = cidr
    return sorted(out.values(), key=lambda s: (s.term.kind, s.term.value, s.term.tls_ja4 or "", s.term.user_agent or ""))


def _domain_term(value: str) -> Term | None:
    try:
        return Term("email_domain", value)
    except ValueError:
        return None


def _exit_term(value: str, options: ExportOptions, intel: IpIntel) -> tuple[Term | None, NetworkClass | None]:
    """An exit address: raw when it is a datacenter / VPN / Tor exit and the policy allows, else keyed."""
    try:
        address = str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None, None
    network = _NETWORK[intel.origin(address)]
    if network != "residential" and options.exits == "raw":
        return Term("ip", address), network
    return Term("residential_ip", options.community.keyed("residential_ip", address)), network


def _merge(old: Sighted | None, new: Sighted) -> Sighted:
    if old is None:
        return new
    return Sighted(new.term, old.exchanges + new.exchanges, max(old.accounts, new.accounts),
                   min(old.first_seen, new.first_seen), max(old.last_seen, new.last_seen), old.network or new.network)


def _pools(exits: Iterable[Sighted]) -> list[Sighted]:
    """A CIDR (/24 or /48) per subnet where the campaign used several raw exit addresses."""
    by_subnet: dict[str, list[Sighted]] = {}
    for s in exits:
        by_subnet.setdefault(subnet_of(s.term.value), []).append(s)
    pools = []
    for subnet, items in sorted(by_subnet.items()):
        if len(items) < 2:
            continue
        pools.append(Sighted(Term("cidr", subnet), sum(s.exchanges for s in items), max(s.accounts for s in items),
                             min(s.first_seen for s in items), max(s.last_seen for s in items), items[0].network))
    return pools
