"""Campaigns: Leiden communities of linked accounts, scored as one pooled actor.

A community's members are pooled into one fingerprint (the account statistics
merge) and scored by the risk model's terms, with the weights fitted for pooled
groups early in their life and those fitted on whole traffic (the higher of
the two, see :func:`score_groups`): two thousand
accounts sending twenty requests each look, together, like the one harvester
they are. Communities that rotate through one shared pool of clients or
datacenter exits, or are handed conversations in one cyclic order (a load
balancer's round robin, :mod:`distillguard.campaigns.dispatch`), are scored
together as one fleet (:func:`merge_pools`), and taken as one campaign when
the fleet is risky. Risk then flows back to each
member in proportion to its ties, so a low-volume account of a hydra cluster
is flagged with its campaign while an account loosely tied to it is not.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import cast

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from distillguard.accounts import AccountStats, score_accounts
from distillguard.accounts.risk import POPULATION_COLUMNS, RiskModels, load_risk_models
from distillguard.campaigns.communities import Communities, detect_communities, split_shared_pools
from distillguard.campaigns.dispatch import Dispatch, group_dispatch, linked_by_dispatch
from distillguard.campaigns.indicators import FAMILIES, Indicators
from distillguard.campaigns.pools import (
    cohort_evidence,
    cohort_users,
    harness_evidence,
    harness_members,
    infrastructure_evidence,
    infrastructure_users,
    pool_evidence,
    pool_members,
)
from distillguard.campaigns.settings import CampaignSettings, CustomerSettings, load_campaign_settings
from distillguard.core.campaign import ONE_DOMAIN_DETECTOR, ONE_PAYER_DETECTOR
from distillguard.core.decision import Evidence
from distillguard.core.email import shared_mail_domain
from distillguard.core.ids import campaign_id

_POOL_BLOCK = 1024
"""Cells compared with all others at a time in :func:`pool_cells` (a block of 1,024 × 10,000 is 80 MB)."""


@dataclass
class Campaign:
    """One campaign: its members, pooled risk, confidence and evidence."""

    campaign_id: str
    members: list[str]
    risk: float
    confidence: float
    evidence: list[Evidence]
    families: dict[str, int] = field(default_factory=dict)
    """Linking family → number of member-to-member edges it supports."""
    one_customer: bool = False
    """Whether its members all pay with one card and link to no one paying otherwise (:func:`one_payer`), or are on
    one organisation's mail domain and link to no one on another (:func:`one_organisation`): one customer's
    accounts, whom the policy judges by their standing as it judges accounts in no campaign."""


@dataclass
class CampaignResult:
    """Campaigns found, and per account its campaign and tie strength."""

    campaigns: list[Campaign]
    campaign_of: dict[str, str]
    tie: dict[str, float]


@dataclass(frozen=True)
class Fleet:
    """Communities found rotating through one shared pool: their members, how many, and through what."""

    members: list[str]
    communities: int
    kinds: tuple[str, ...]

    @staticmethod
    def combined(fleets: list[Fleet]) -> Fleet:
        """Several fleets found inside one campaign, as one."""
        kinds = tuple(dict.fromkeys(k for f in fleets for k in f.kinds))
        return Fleet(sorted({m for f in fleets for m in f.members}), sum(f.communities for f in fleets), kinds)

    @property
    def reason(self) -> str:
        """The fleet in plain words."""
        pools = " and ".join(dict.fromkeys(_POOL_WORDS[k] for k in self.kinds if k in _POOL_WORDS))
        ways = [f"rotate through one shared pool of {pools}"] if pools else []
        if "dispatch" in self.kinds:
            ways.append("are handed conversations in one cyclic order")
        return f"{self.communities} linked groups " + " and ".join(ways)


_POOL_WORDS = {"client": "clients", "ip": "datacenter exits", "subnet": "datacenter exits"}


def find_campaigns(
    edges: pl.DataFrame,
    stats: AccountStats,
    context: pa.Table | None = None,
    settings: CampaignSettings | None = None,
    indicators: Indicators | None = None,
    *,
    min_risk: float,
    models: RiskModels | None = None,
) -> CampaignResult:
    """Cluster the linked accounts and keep the groups whose pooled risk reaches ``min_risk``.

    ``min_risk`` is the policy's flagging threshold
    (:attr:`distillguard.policy.Policy.flag_threshold`): a group of accounts
    none of whom would be flagged is not reported as a campaign. ``context``
    holds ``account_id, category, verification, created_at`` of the accounts
    (and ``email_domain``, when known); a group is scored with its members'
    most common category and verification level, and, where ``context`` also
    has ``n_exchanges`` and population signals, with their means
    (:func:`pooled_features`).
    ``settings`` and the risk ``models`` default to the shipped ones. The steps:

    1. :func:`~distillguard.campaigns.communities.detect_communities`: Leiden
       communities of the edge graph, those a proxy pool holds together split
       into their operators (:func:`~distillguard.campaigns.communities.split_shared_pools`,
       with ``indicators``), less those that are one customer
       (:func:`one_customer`, with ``indicators``);
    2. :func:`join_fleets` (with ``indicators``, the linking input): communities
       rotating through one pool, or dealt conversations in one cyclic order,
       replaced by their fleet when it is risky;
    3. :func:`score_groups`: the pooled risk of each group;
    4. :func:`merge_operations` (with ``indicators``): risky groups that are
       one operation merged (:func:`merge_campaigns`), the groups that are
       fragments of one joined to it (:func:`absorb_fragments`), the other
       cells of one operation that are risky only together pooled
       (:func:`pool_cells`), none joining two organisations by their harness alone, and scored again;
    5. :func:`anchored_groups` (with ``indicators``): the members that share
       no infrastructure of the campaigns' own left out, and the groups
       scored again;
    6. :func:`with_payer_pairs`: the communities of two accounts on one card
       (or a partner's report) scored pooled, below ``min_accounts``;
    7. :func:`report_campaigns`: the risky groups as campaigns, with their
       evidence, and each member's tie to its campaign;
    8. :func:`add_pool_members` (with ``indicators``): the accounts linked to
       no campaign that rotate through one's own exits or on its own
       clients, or use both, or are the young accounts most of its clients'
       other users are, added to it, and its members that use both
       fully tied;
    9. :func:`mark_one_customer` (with ``indicators``): the campaigns that are
       one customer's accounts marked.

    The campaigns come largest first (then by id).
    """
    settings = settings or load_campaign_settings().cluster
    if edges.height == 0:
        return CampaignResult([], {}, {})
    communities = detect_communities(edges, settings.seed, settings.resolution)
    if indicators is not None:
        known = indicators
        communities = split_shared_pools(communities, edges, settings,
                                         lambda fleets: merge_campaigns(fleets, known, settings, settings.split.families))
    cards = payment_cards(indicators) if indicators is not None else None
    rotating = rotating_accounts(indicators) if indicators is not None else frozenset()
    if cards is not None and context is not None:
        for cid in one_customer(communities.cells, stats, context, cards, settings.customer, edges, rotating):
            del communities.cells[cid]
    groups = {cid: m for cid, m in communities.cells.items() if len(m) >= settings.min_accounts}
    fleets: list[Fleet] = []
    if indicators is not None:
        groups, fleets = join_fleets(communities, groups, stats, context, indicators, settings, min_risk, models)
    scored = score_groups(stats, groups, context, models) if groups else ScoredGroups({}, np.zeros(0), [])
    if indicators is not None and groups:
        scored = merge_operations(communities, scored, stats, context, indicators, settings, min_risk, models, edges)
        risky = scored.risky(min_risk)
        anchored = anchored_groups(communities, risky, indicators, settings)
        if anchored != risky:
            scored = score_groups(stats, anchored, context, models)
    scored = with_payer_pairs(scored, communities, edges, stats, context, models, min_risk)
    if not scored.groups:
        return CampaignResult([], {}, {})
    result = report_campaigns(edges, communities, scored, fleets, indicators, settings, min_risk)
    if indicators is not None and cards is not None:
        add_pool_members(result, indicators, settings)
        mark_one_customer(result, cards, edges, rotating, settings.customer, context)
    result.campaigns.sort(key=lambda c: (-len(c.members), c.campaign_id))
    return result


def with_payer_pairs(scored: ScoredGroups, communities: Communities, edges: pl.DataFrame, stats: AccountStats,
                     context: pa.Table | None, models: RiskModels | None, min_risk: float) -> ScoredGroups:
    """``scored`` with the risky *payer pairs* added: communities of two accounts in no group, joined by a strong
    edge (one card, an indicator a partner reported, one rotating proxy pool), scored pooled.

    Two accounts on one card are one payer's traffic, too few to be a campaign but not two strangers: each alone
    may ask for too few traces to be acted on, while their pooled evidence is that payer's. An operator paying for
    its accounts two to a card no longer halves its evidence that way (a card per account still splits it). A
    pair is reported as a campaign only where its pooled risk reaches ``min_risk``; one customer's pair is then
    judged by its members' standing (:func:`mark_one_customer`), as larger groups on one card are.
    """
    taken = {a for members in scored.groups.values() for a in members}
    pairs = {cid: members for cid, members in communities.cells.items()
             if len(members) == 2 and not taken.intersection(members)}
    ends = [a for members in pairs.values() for a in members]
    strong = {frozenset(pair) for pair in edges.filter(pl.col("strong") & pl.col("a").is_in(ends)).select("a", "b")
              .iter_rows()}
    pairs = {cid: members for cid, members in pairs.items() if frozenset(members) in strong}
    if not pairs:
        return scored
    found = score_groups(stats, pairs, context, models)
    risky = [k for k, r in enumerate(found.risk) if r >= min_risk]
    if not risky:
        return scored
    ids = list(found.groups)
    return ScoredGroups({**scored.groups, **{ids[k]: found.groups[ids[k]] for k in risky}},
                        np.concatenate([scored.risk, found.risk[risky]]),
                        [*scored.evidence, *(found.evidence[k] for k in risky)])


def mark_one_customer(result: CampaignResult, cards: pl.DataFrame, edges: pl.DataFrame, rotating: frozenset[str],
                      settings: CustomerSettings, context: pa.Table | None) -> None:
    """Mark the campaigns of ``result`` that are one customer's accounts, with a note in their evidence: one payer
    (:func:`one_payer`, ``cards`` as :func:`payment_cards` gives them, ``rotating`` for their egress, ``context``
    for their mail domains), else one organisation (:func:`one_organisation`)."""
    groups = {c.campaign_id: c.members for c in result.campaigns}
    payers = set(one_payer(groups, cards, edges, rotating, settings, context))
    domains = one_organisation({cid: m for cid, m in groups.items() if cid not in payers}, edges, rotating, settings,
                               context)
    for camp in result.campaigns:
        n = f"{len(camp.members):,}"
        if camp.campaign_id in payers:
            camp.evidence.append(Evidence(
                ONE_PAYER_DETECTOR, 1.0, f"its {n} accounts pay with one card and are linked to no one paying otherwise: "
                "one customer's accounts, each judged by its standing"))
        elif camp.campaign_id in domains:
            camp.evidence.append(Evidence(
                ONE_DOMAIN_DETECTOR, 1.0, f"its {n} accounts are on {domains[camp.campaign_id]}, no public or "
                "disposable mail provider, and linked to no one on another domain: one organisation's accounts, "
                "each judged by its standing"))
        else:
            continue
        camp.one_customer = True


def add_pool_members(result: CampaignResult, indicators: Indicators, settings: CampaignSettings) -> None:
    """Add to each campaign of ``result`` the accounts linked to no campaign that rotate through its exits
    (:func:`~distillguard.campaigns.pools.pool_members`) or, rotating, use its own clients
    (:func:`~distillguard.campaigns.pools.harness_members`), or use both its exits and its clients
    (:func:`~distillguard.campaigns.pools.infrastructure_users`), or, young, are most of its clients' other users
    beyond chance (:func:`~distillguard.campaigns.pools.cohort_users`), fully tied to it, and the members that,
    rotating, use its clients or use both fully tied too; its confidence (risk times the members' mean tie) counts
    them."""
    campaigns = {c.campaign_id: c.members for c in result.campaigns}
    exits = pool_members(campaigns, indicators, settings)
    harness = harness_members(campaigns, indicators, settings, [a for found in exits.values() for a in found])
    clients = harness.joining
    both, tied = infrastructure_users(campaigns, indicators, settings,
                                      [a for found in [*exits.values(), *clients.values()] for a in found])
    young = cohort_users(campaigns, indicators, settings,
                         [a for found in [*exits.values(), *clients.values(), *both.values()] for a in found])
    raised = {a for a in [*harness.tied, *tied] if result.tie.get(a, 1.0) < 1.0}
    for account in raised:
        result.tie[account] = 1.0
    for camp in result.campaigns:
        by_exit, by_client = exits.get(camp.campaign_id, []), clients.get(camp.campaign_id, [])
        by_both, by_cohort = both.get(camp.campaign_id, []), young.get(camp.campaign_id, [])
        extra = [*by_exit, *by_client, *by_both, *by_cohort]
        if not extra and raised.isdisjoint(camp.members):
            continue
        camp.members = sorted([*camp.members, *extra])
        if by_cohort:
            camp.evidence.insert(0, cohort_evidence(len(by_cohort)))
        if by_both:
            camp.evidence.insert(0, infrastructure_evidence(len(by_both)))
        if by_client:
            camp.evidence.insert(0, harness_evidence(len(by_client)))
        if by_exit:
            camp.evidence.insert(0, pool_evidence(len(by_exit)))
        for account in extra:
            result.campaign_of[account] = camp.campaign_id
            result.tie[account] = 1.0
        camp.confidence = float(camp.risk * np.mean([result.tie[m] for m in camp.members]))


def one_customer(
    cells: dict[str, list[str]], stats: AccountStats, context: pa.Table, cards: pl.DataFrame,
    settings: CustomerSettings, edges: pl.DataFrame, rotating: frozenset[str],
) -> list[str]:
    """The communities of ``cells`` that are one verified customer, not a campaign.

    One organisation's accounts share its card and its egress, so they link;
    pooled, a busy customer can look like a fleet and lose the standing its
    verified, established accounts have (the policy reviews those instead of
    degrading them). A community is one customer when it is one payer
    (:func:`one_payer`, with the ``cards`` of :func:`payment_cards`, ``rotating`` and ``context``) and at least
    ``min_verified`` of its members hold one of ``verifications`` and were created ``min_age_days`` before the
    community's first request. Its members keep their own risk.
    """
    verified = {a for a, v in zip(context.column("account_id").to_pylist(), context.column("verification").to_pylist())
                if v in settings.verifications}
    candidates = {cid: cells[cid] for cid in one_payer(cells, cards, edges, rotating, settings, context)
                  if sum(a in verified for a in cells[cid]) >= settings.min_verified * len(cells[cid])}
    if not candidates:
        return []
    created = dict(zip(context.column("account_id").to_pylist(), context.column("created_at").to_pylist()))
    first = stats.pool(candidates).get().column("first_seen").to_pylist()
    found = []
    for (cid, members), start in zip(candidates.items(), first):
        cutoff = start - timedelta(days=settings.min_age_days)
        established = sum(a in verified and created.get(a) is not None and created[a] <= cutoff for a in members)
        if established >= settings.min_verified * len(members):
            found.append(cid)
    return found


def _one_domain(groups: dict[str, list[str]], context: pa.Table | None, share: float) -> set[str]:
    """The groups of which at least ``share`` of the members with an e-mail domain on record (``context``'s
    ``email_domain``) signed up on one and the same domain.

    An organisation's seats are on its domain, which others may share (a university's); an operator's cells of
    bought accounts keep their owners' addresses, spread over the population's mail providers. A group with no
    domain on record is one of them: a missing input says nothing either way.
    """
    domain = _mail_domains(context)
    if domain is None:
        return set(groups)
    found = set()
    for cid, members in groups.items():
        known = Counter(domain[a] for a in members if a in domain)
        if not known or known.most_common(1)[0][1] >= share * known.total():
            found.add(cid)
    return found


def _mail_domains(context: pa.Table | None) -> dict[str, str] | None:
    """Account → its e-mail domain, lower-cased, for the accounts of ``context`` with one on record; None when
    ``context`` has no ``email_domain`` column."""
    if context is None or "email_domain" not in context.column_names:
        return None
    return {a: d.lower() for a, d in zip(context.column("account_id").to_pylist(),
                                         context.column("email_domain").to_pylist()) if d}


def _steady(groups: dict[str, list[str]], rotating: frozenset[str], share: float) -> dict[str, list[str]]:
    """The groups of ``groups`` at most ``share`` of whose members are ``rotating`` (a new address for nearly every
    request: a fleet behind a proxy pool, not an organisation's egress)."""
    return {cid: members for cid, members in groups.items()
            if sum(a in rotating for a in members) <= share * len(members)}


def rotating_accounts(indicators: Indicators) -> frozenset[str]:
    """The accounts ``indicators`` mark as rotating (none when they do not say)."""
    if indicators.rotating is None:
        return frozenset()
    return frozenset(indicators.accounts.cast(pl.String).filter(pl.Series(indicators.rotating.astype(bool))).to_list())


def payment_cards(indicators: Indicators) -> pl.DataFrame:
    """``account_id, card``: the accounts that pay with exactly one payment fingerprint, and its hash."""
    single = (indicators.table.filter(pl.col("kind").cast(pl.String) == "payment").group_by("i")
              .agg(pl.col("h").unique()).filter(pl.col("h").list.len() == 1))
    return pl.DataFrame({"account_id": indicators.accounts.cast(pl.String).gather(single.get_column("i")),
                         "card": single.get_column("h").list.first()})


def one_payer(groups: dict[str, list[str]], cards: pl.DataFrame, edges: pl.DataFrame, rotating: frozenset[str],
              settings: CustomerSettings, context: pa.Table | None) -> list[str]:
    """The groups whose members all pay with one and the same payment fingerprint (``cards``, as
    :func:`payment_cards` gives them), at most ``settings.max_rotating`` of them ``rotating`` (taking a new address
    for nearly every request), at least ``settings.one_domain`` of those with an e-mail domain in ``context`` on one
    domain, and that no edge of ``edges`` links to an account outside them paying otherwise (with another card,
    several, or none).

    An organisation's accounts share its card, its mail domain and its own egress; an operator's cells of bought
    accounts each share a card too, keep their owners' addresses, and link to each other, and a fleet of them on
    one card leaves through a proxy pool or a carrier NAT: one card alone says one customer only when nothing
    ties the group to other payers and its seats do not rotate.
    """
    groups = _steady(groups, rotating, settings.max_rotating)
    same_domain = _one_domain(groups, context, settings.one_domain)
    groups = {cid: members for cid, members in groups.items() if cid in same_domain}
    if not groups:
        return []
    owner = pl.DataFrame([(m, cid) for cid, members in groups.items() for m in members], schema={
        "account_id": pl.String, "group": pl.String}, orient="row").join(cards, on="account_id", how="left")
    single = owner.group_by("group").agg(pl.col("card").null_count().alias("none"), pl.col("card").n_unique()
                                         .alias("cards")).filter((pl.col("none") == 0) & (pl.col("cards") == 1))
    side = owner.join(single.select("group"), on="group", how="semi")
    pairs = _both_ways(edges)
    crossing = (pairs.join(side.rename({"account_id": "inside"}), on="inside")
                .join(owner.select(pl.col("account_id").alias("outside"), pl.col("group").alias("other")), on="outside",
                      how="left")
                .join(cards.rename({"account_id": "outside", "card": "paid"}), on="outside", how="left")
                .filter(pl.col("other").ne_missing(pl.col("group")) & pl.col("paid").ne_missing(pl.col("card"))))
    found = set(single.get_column("group").to_list()) - set(crossing.get_column("group").to_list())
    return [cid for cid in groups if cid in found]


def _both_ways(edges: pl.DataFrame) -> pl.DataFrame:
    """``inside, outside``: each edge of ``edges`` from either end."""
    return pl.concat([edges.select(pl.col("a").alias("inside"), pl.col("b").alias("outside")),
                      edges.select(pl.col("b").alias("inside"), pl.col("a").alias("outside"))])


def one_organisation(groups: dict[str, list[str]], edges: pl.DataFrame, rotating: frozenset[str],
                     settings: CustomerSettings, context: pa.Table | None) -> dict[str, str]:
    """The groups of ``groups`` that are one organisation's accounts, with its mail domain: at least
    ``settings.one_domain`` of all members signed up on one domain that no public or disposable provider serves
    (:func:`~distillguard.core.email.shared_mail_domain`), at most ``settings.max_rotating`` of them are
    ``rotating``, and no edge of ``edges`` links to an account outside on another domain (or none on record).

    A lab's seats may each pay with their own card, but they are on the lab's or its university's domain; an
    operator's bought accounts keep their owners' addresses at the population's providers, and one on a domain of
    its own is then asked to prove who owns it. A member with no domain on record counts against the share: the
    finding needs the domain, not its absence.
    """
    domain = _mail_domains(context)
    if domain is None or edges.height == 0:
        return {}
    found: dict[str, str] = {}
    for cid, members in _steady(groups, rotating, settings.max_rotating).items():
        known = Counter(domain[a] for a in members if a in domain)
        if not known:
            continue
        top, count = known.most_common(1)[0]
        if count >= settings.one_domain * len(members) and not shared_mail_domain(top):
            found[cid] = top
    if not found:
        return {}
    owner = pl.DataFrame([(m, cid) for cid in found for m in groups[cid]],
                         schema={"account_id": pl.String, "group": pl.String}, orient="row")
    mail = pl.DataFrame({"outside": list(domain), "on": list(domain.values())},
                        schema={"outside": pl.String, "on": pl.String})
    own = pl.DataFrame({"group": list(found), "domain": list(found.values())}, schema={"group": pl.String,
                                                                                        "domain": pl.String})
    pairs = _both_ways(edges)
    crossing = (pairs.join(owner.rename({"account_id": "inside"}), on="inside")
                .join(owner.select(pl.col("account_id").alias("outside"), pl.col("group").alias("other")),
                      on="outside", how="left")
                .filter(pl.col("other").ne_missing(pl.col("group")))
                .join(own, on="group").join(mail, on="outside", how="left")
                .filter(pl.col("on").ne_missing(pl.col("domain"))))
    crossed = set(crossing.get_column("group").to_list())
    return {cid: d for cid, d in found.items() if cid not in crossed}


def join_fleets(
    communities: Communities,
    groups: dict[str, list[str]],
    stats: AccountStats,
    context: pa.Table | None,
    indicators: Indicators,
    settings: CampaignSettings,
    min_risk: float,
    models: RiskModels | None = None,
) -> tuple[dict[str, list[str]], list[Fleet]]:
    """``groups`` with the groups of each risky fleet replaced by the fleet, and the fleets joined.

    The fleets are found among all communities of two accounts or more
    (:func:`merge_pools`); a fleet whose pooled risk is under ``min_risk``
    leaves its communities as they were. The members of a fleet joined are
    put in one community.
    """
    found = merge_pools(communities.cells, stats, indicators, settings)
    if not found:
        return groups, []
    risk = score_groups(stats, {fid: f.members for fid, f in found.items()}, context, models).risk
    joined = []
    for (fid, fleet), r in zip(found.items(), risk):
        if r >= min_risk:
            inside = set(fleet.members)
            groups = {cid: m for cid, m in groups.items() if not inside.intersection(m)}
            groups[fid] = fleet.members
            communities.unite(fleet.members)
            joined.append(fleet)
    return groups, joined


@dataclass(frozen=True)
class ScoredGroups:
    """Groups of accounts by campaign id, with the pooled risk and evidence of each (in the same order)."""

    groups: dict[str, list[str]]
    risk: np.ndarray
    evidence: list[list[Evidence]]

    def risky(self, min_risk: float) -> dict[str, list[str]]:
        """The groups whose risk reaches ``min_risk``."""
        return {cid: m for (cid, m), r in zip(self.groups.items(), self.risk) if r >= min_risk}


def score_groups(
    stats: AccountStats, groups: dict[str, list[str]], context: pa.Table | None, models: RiskModels | None = None
) -> ScoredGroups:
    """Pooled risk of each group of accounts, with the coordination terms: the higher of the two ``models``.

    The campaign model knows what a campaign shows hours into its life; the
    account model, fitted on whole traffic, what it shows over weeks (a
    round-the-clock tool harvester that never asks for reasoning in words).
    Each is calibrated to the false-positive budget on its own; the reasons
    are those of the model that scored higher. ``models`` default to the shipped weights.
    """
    models = models or load_risk_models()
    pooled = pooled_features(stats, groups, context)
    group_context = pooled_context(context, groups)
    early, early_evidence = score_accounts(pooled, group_context, weights=models.campaign)
    late, late_evidence = score_accounts(pooled, group_context, weights=models.account)
    evidence = [e if a >= b else f for a, b, e, f in zip(early, late, early_evidence, late_evidence)]
    return ScoredGroups(groups, np.maximum(early, late), evidence)


def merge_operations(
    communities: Communities,
    scored: ScoredGroups,
    stats: AccountStats,
    context: pa.Table | None,
    indicators: Indicators,
    settings: CampaignSettings,
    min_risk: float,
    models: RiskModels | None = None,
    edges: pl.DataFrame | None = None,
) -> ScoredGroups:
    """``scored`` with its risky groups that are one operation merged (:func:`merge_campaigns`), the fragments of
    each joined to it (:func:`absorb_fragments`), the other cells that are risky only together pooled
    (:func:`pool_cells`), and scored again.

    Groups that are two organisations (:func:`one_organisation`, from ``edges``; on different domains) are kept
    apart by agreement in the families of ``settings.customer.apart`` alone. The members of each merged group are
    put in one community. A risky group whose fragments take its pooled risk below ``min_risk`` is scored without
    them.
    """
    domains = ({} if edges is None else
               one_organisation(scored.groups, edges, rotating_accounts(indicators), settings.customer, context))
    risky = scored.risky(min_risk)
    merged = merge_campaigns(risky, indicators, settings, domains=domains)
    rest = {cid: m for cid, m in scored.groups.items() if cid not in risky}
    fragments = absorb_fragments(merged, rest, indicators, settings, domains)
    taken = {f for parts in fragments.values() for f in parts}
    pooled = pool_cells(merged, {cid: m for cid, m in rest.items() if cid not in taken}, stats, context, indicators,
                        settings, min_risk, models, domains)
    if len(merged) == len(risky) and not fragments and not pooled:
        return scored
    groups = _joined(merged, rest, fragments, pooled)
    rescored = score_groups(stats, groups, context, models)
    flagged = {m for members in rescored.risky(min_risk).values() for m in members}
    diluted = {cid for cid in fragments if merged[cid][0] not in flagged}
    if diluted:
        fragments = {cid: parts for cid, parts in fragments.items() if cid not in diluted}
        groups = _joined(merged, rest, fragments, pooled)
        rescored = score_groups(stats, groups, context, models)
    for cid, members in groups.items():
        if cid not in rest:
            communities.unite(members)
    return rescored


def pool_cells(risky: dict[str, list[str]], rest: dict[str, list[str]], stats: AccountStats,
               context: pa.Table | None, indicators: Indicators, settings: CampaignSettings, min_risk: float,
               models: RiskModels | None = None, domains: dict[str, str] | None = None) -> dict[str, list[str]]:
    """Cells of ``rest`` (groups neither risky nor a fragment of one of ``risky``) that are one operation, by the
    campaign id of their pooled members: those whose pooled risk reaches ``min_risk`` although no cell's does.

    A fleet that pays each handful of accounts with its own card is many small cells, none of which sends
    enough to be told from a customer. Two cells are one operation under the test of :func:`absorb_fragments`
    (agreement in ``merge_families`` families, in each more than either shows with the accounts in no group);
    the cells so connected are scored as one group, and kept together only when that group is risky. Two
    organisations' cells (``domains``, as :func:`merge_operations` gives them) agree in no family of
    ``settings.customer.apart``.
    """
    if len(rest) < 2:
        return {}
    names, n_risky, n = list(rest), len(risky), len(rest)
    families = [(family, vectors[n_risky:-1], (vectors[n_risky:-1] @ vectors[-1:].T).toarray()[:, 0])
                for family, vectors, _ in _family_vectors({**risky, **rest}, indicators, settings)]
    pairs: list[npt.NDArray[np.int64]] = []
    for start in range(0, n, _POOL_BLOCK):  # a block of rows at a time: all cells × all at once would not fit
        agree = np.zeros((min(_POOL_BLOCK, n - start), n), np.int32)
        apart = _apart(names[start:start + _POOL_BLOCK], names, domains)
        for family, cells, everyone in families:
            sim = (cells[start:start + _POOL_BLOCK] @ cells.T).toarray()
            agree += _agrees(sim, everyone[start:start + _POOL_BLOCK], everyone, settings) & ~(
                apart & (family in settings.customer.apart))
        a, b = np.nonzero(agree >= settings.merge_families)
        pairs.append(np.stack([a + start, b]))
    links = np.concatenate(pairs, axis=1)
    links = links[:, links[0] < links[1]]
    if links.shape[1] == 0:
        return {}
    graph = sparse.coo_array((np.ones(links.shape[1], np.int8), (links[0], links[1])), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    components: dict[int, list[str]] = {}
    for k in np.flatnonzero(np.bincount(label)[label] >= 2).tolist():
        components.setdefault(int(label[k]), []).append(names[k])
    members = {campaign_id(m): m for m in (sorted(a for c in cells for a in rest[c]) for cells in components.values())}
    cells_of = dict(zip(members, components.values(), strict=True))
    kept = score_groups(stats, members, context, models).risky(min_risk)
    return {cid: cells_of[cid] for cid in kept}


def absorb_fragments(risky: dict[str, list[str]], rest: dict[str, list[str]], indicators: Indicators,
                     settings: CampaignSettings, domains: dict[str, str] | None = None) -> dict[str, list[str]]:
    """Per group of ``risky`` that has any, the groups of ``rest`` that are fragments of it.

    Leiden splits a reseller network whose cells each pay with their own cards into many communities; the few
    that pool enough traffic are risky, the rest are not, although each runs the same harness, client and
    parameters. A group of ``rest`` is a fragment of a risky group when their pooled indicators agree
    (``merge_min``) in ``merge_families`` families, in each more than either resembles the accounts in no group:
    students who share a popular client and the population's habits with a small cell agree with it no more than
    with everyone. A fragment belongs to the risky group it agrees with most. Two organisations' groups
    (``domains``, as :func:`merge_operations` gives them) agree in no family of ``settings.customer.apart``.
    """
    if not risky or not rest:
        return {}
    ids, n_risky = list(risky) + list(rest), len(risky)
    agree = np.zeros((len(rest), n_risky), np.int32)
    strength = np.zeros((len(rest), n_risky))
    apart = _apart(list(rest), list(risky), domains)
    for family, vectors, _ in _family_vectors({**risky, **rest}, indicators, settings):
        # fragments × risky groups only: all groups × all would not fit in memory on a large population
        sim = (vectors[n_risky:-1] @ vectors[:n_risky].T).toarray()
        everyone = (vectors @ vectors[-1:].T).toarray()[:-1, 0]
        above = _agrees(sim, everyone[n_risky:], everyone[:n_risky], settings) & ~(
            apart & (family in settings.customer.apart))
        agree += above
        strength += np.where(above, sim, 0.0)
    part = agree >= settings.merge_families
    anchor = np.where(part, strength, -1.0).argmax(axis=1)
    fragments: dict[str, list[str]] = {}
    for k in np.flatnonzero(part.any(axis=1)):
        fragments.setdefault(ids[int(anchor[k])], []).append(ids[n_risky + int(k)])
    return fragments


def _apart(rows: list[str], columns: list[str], domains: dict[str, str] | None) -> npt.NDArray[np.bool_]:
    """Where the groups ``rows`` × ``columns`` (ids) are two organisations: both in ``domains`` (group → its
    organisation's mail domain), on different domains."""
    known = domains or {}
    code = {d: k for k, d in enumerate(sorted(set(known.values())))}
    r = np.array([code.get(known.get(g, ""), -1) for g in rows], np.int64)
    c = np.array([code.get(known.get(g, ""), -1) for g in columns], np.int64)
    return (r[:, None] >= 0) & (c[None, :] >= 0) & (r[:, None] != c[None, :])


def _agrees(sim: npt.NDArray[np.float64], rows: npt.NDArray[np.float64], columns: npt.NDArray[np.float64],
            settings: CampaignSettings) -> npt.NDArray[np.bool_]:
    """Where the similarities ``sim`` of groups (``rows`` × ``columns``) in one family are agreement: at least
    ``merge_min`` and more than either group's similarity with the accounts in no group (``rows``, ``columns``)."""
    return (sim >= settings.merge_min) & (sim > rows[:, None]) & (sim > columns[None, :])


def _joined(risky: dict[str, list[str]], rest: dict[str, list[str]], fragments: dict[str, list[str]],
            pooled: dict[str, list[str]]) -> dict[str, list[str]]:
    """The groups of ``risky`` and ``rest`` with each group's ``fragments`` (ids of ``rest``) joined to it, and each
    group of ``pooled`` cells (ids of ``rest``) in place of its cells."""
    taken = {f for parts in (*fragments.values(), *pooled.values()) for f in parts}
    groups = {cid: m for cid, m in rest.items() if cid not in taken}
    for cid, members in risky.items():
        if cid in fragments:
            members = sorted([*members, *(m for f in fragments[cid] for m in rest[f])])
            cid = campaign_id(members)
        groups[cid] = members
    for cid, cells in pooled.items():
        groups[cid] = sorted(m for c in cells for m in rest[c])
    return groups


def anchored_groups(communities: Communities, groups: dict[str, list[str]], indicators: Indicators,
                    settings: CampaignSettings) -> dict[str, list[str]]:
    """The risky ``groups`` without their members that share no infrastructure of the campaigns' own (groups left
    with fewer than ``min_accounts`` members dropped).

    A member stays when it has a strong edge to a fellow member (a card: one operator), or shows an indicator
    of ``anchor_kinds`` (an exit, a client, a signup address or burst, a card, a request-parameter set) shown
    by at least ``anchor_min`` accounts, at least ``anchor_share`` of them members of ``groups``. A fleet's
    exits and harness are its own; an ordinary user linked to it because both use one popular browser on the
    same model and budget shares only what the population shares, however close the match, and keeps its own
    risk. The members left out are each put in a community of their own.
    """
    if not groups:
        return groups
    inside = _member_codes(groups, indicators).get_column("i")
    rows = indicators.table.filter(pl.col("kind").cast(pl.String).is_in(settings.anchor_kinds)).select(
        pl.col("i").cast(pl.UInt32), "h").with_columns(pl.col("i").is_in(inside.implode()).alias("inside"))
    own = rows.group_by("h").agg(pl.len().alias("m"), pl.col("inside").mean().alias("share")).filter(
        (pl.col("m") >= settings.anchor_min) & (pl.col("share") >= settings.anchor_share))
    held = rows.filter(pl.col("inside")).join(own, on="h", how="semi").get_column("i").unique()
    anchored = set(indicators.accounts.cast(pl.String).gather(held).to_list())
    kept: dict[str, list[str]] = {}
    for cid, members in groups.items():
        stay = [m for m in members if m in anchored or communities.certain[communities.index[m]]]
        if len(stay) < len(members):
            communities.detach([m for m in members if m not in stay])
        if len(stay) >= settings.min_accounts:
            kept[cid] = stay
    return kept


def report_campaigns(
    edges: pl.DataFrame,
    communities: Communities,
    scored: ScoredGroups,
    fleets: list[Fleet],
    indicators: Indicators | None,
    settings: CampaignSettings,
    min_risk: float,
) -> CampaignResult:
    """The groups whose risk reaches ``min_risk``, as campaigns, and each member's campaign and tie.

    A member's tie is its strength (:attr:`Communities.strength`) over
    ``full_tie``, at most 1, and 1 when one of its edges is strong (a payment
    fingerprint or partner report it shares: the same operator, not a chance
    likeness of software or exits); a campaign's confidence is its risk times its
    members' mean tie. Its evidence: the fleets joined into it, a cyclic
    dispatch order among its members (with ``indicators``), then the reasons
    of its risk; it says how many of its internal edges each linking family
    supports.
    """
    families = _family_support(edges, communities.index, communities.membership)
    reported = scored.risky(min_risk)
    orders = _dispatch(reported, indicators) if indicators is not None else {}
    campaigns: list[Campaign] = []
    campaign_of: dict[str, str] = {}
    tie: dict[str, float] = {}
    for row, (cid, members) in enumerate(scored.groups.items()):
        if cid not in reported:
            continue
        risk = float(scored.risk[row])
        ties = [1.0 if communities.certain[i] else min(1.0, communities.strength[i] / settings.full_tie)
                for i in (communities.index[m] for m in members)]
        inside = [fleet for fleet in fleets if not set(fleet.members).isdisjoint(members)]
        notes = [Evidence("fleet_pool", 1.0, Fleet.combined(inside).reason)] if inside else []
        order = orders.get(cid)
        if order is not None and order.cyclic(settings.dispatch):
            notes.append(Evidence("round_robin", 1.0 - order.p_value, order.reason))
        campaigns.append(
            Campaign(
                campaign_id=cid,
                members=sorted(members),
                risk=risk,
                confidence=float(risk * np.mean(ties)),
                evidence=notes + scored.evidence[row],
                families=families.get(communities.community(members), {}),
            )
        )
        for member, t in zip(members, ties):
            campaign_of[member] = cid
            tie[member] = t
    return CampaignResult(campaigns, campaign_of, tie)


def merge_campaigns(groups: dict[str, list[str]], indicators: Indicators, settings: CampaignSettings,
                    decisive: tuple[str, ...] = (), domains: dict[str, str] | None = None) -> dict[str, list[str]]:
    """Merge communities that are one operation: their pooled indicators agree in several families.

    Two halves of one reseller network, split by payment instrument, still
    share their rotating client pool, their activity rhythm and their prompt
    templates; pooled over hundreds of accounts those agree far more than two
    unrelated groups' do. Only communities already risky enough to be
    campaigns are merged; a weaker one joins a campaign only under the
    stricter test of :func:`absorb_fragments`.
    Agreement the rest of the population shares is no tie: two fleets that
    both draw their browser strings from the population's own mix agree with
    each other as much as with everyone, so a family counts only when one of
    the two differs from the accounts in no group (``merge_min``). A family of
    ``decisive`` that counts merges two groups alone. Two organisations' groups (``domains``, as
    :func:`merge_operations` gives them) agree in no family of ``settings.customer.apart``.
    """
    if len(groups) < 2:
        return groups
    ids = list(groups)
    agree = np.zeros((len(ids), len(ids)), np.int32)
    broad = np.zeros((len(ids), len(ids)), bool)
    apart = _apart(ids, ids, domains)
    for family, vectors, squares in _family_vectors(groups, indicators, settings):
        everyone = (vectors @ vectors.T).toarray()
        typical = everyone[:-1, -1] >= settings.merge_min
        sim = np.where(typical[:, None] & typical[None, :], 0.0, everyone[:-1, :-1])
        if family in settings.customer.apart:
            sim = np.where(apart, 0.0, sim)
        concentration = (squares @ squares.T).toarray()[:-1, :-1]
        with np.errstate(divide="ignore", invalid="ignore"):
            breadth = np.where(concentration > 0, sim**2 / concentration, 0.0)
        agree += (sim >= settings.merge_min) * (settings.merge_families if family in decisive else 1)
        broad |= (sim >= settings.broad_min) & (breadth >= settings.broad_breadth)
    np.fill_diagonal(agree, 0)
    np.fill_diagonal(broad, False)
    linked = (agree >= settings.merge_families) | broad
    n_parts, labels = connected_components(sparse.csr_array(linked), directed=False)
    if n_parts == len(ids):
        return groups
    merged: dict[int, list[str]] = {}
    for k, label in enumerate(labels):
        merged.setdefault(int(label), []).extend(groups[ids[k]])
    return {campaign_id(m): sorted(m) for m in merged.values()}


def _family_vectors(groups: dict[str, list[str]], indicators: Indicators, settings: CampaignSettings
                    ) -> Iterator[tuple[str, sparse.csr_array, sparse.csr_array]]:
    """Per indicator family the groups show (but ``merge_ignore``): its name, each group's pooled indicator vector
    of unit length (a row per group in order, then one for the accounts in no group), and its square (whose inner
    products say how few indicators carry a similarity)."""
    ids = list(groups)
    codes = _member_codes(groups, indicators)
    # each account's group by account code, the accounts in none pooled as one more (``len(ids)``); pooled one
    # family at a time, so that at most one family's rows are copied (all of them joined held 1.3 GB on large)
    group_of = np.full(len(indicators.accounts), len(ids), np.int64)
    group_of[codes.get_column("i").to_numpy()] = codes.get_column("c").to_numpy()
    group = pl.lit(pl.Series(group_of)).gather(pl.col("i")).alias("c")
    for family in FAMILIES:
        if family in settings.merge_ignore:
            continue
        rows = (
            indicators.table.filter(pl.col("family") == family).select(group, "h", "x")
            .group_by("c", "h").agg(pl.col("x").cast(pl.Float64).sum())
            .with_columns((pl.col("x") / (pl.col("x") ** 2).sum().sqrt().over("c")).alias("v"))
        )
        if rows.height == 0:
            continue
        k = rows.get_column("h").rank("dense").to_numpy() - 1
        where = (rows.get_column("c").to_numpy(), k)
        shape = (len(ids) + 1, int(k.max()) + 1)
        yield (family, sparse.csr_array((rows.get_column("v").to_numpy(), where), shape=shape),
               sparse.csr_array((rows.get_column("v").to_numpy() ** 2, where), shape=shape))


def merge_pools(
    cells: dict[str, list[str]], stats: AccountStats, indicators: Indicators, settings: CampaignSettings
) -> dict[str, Fleet]:
    """Communities rotating through one shared pool of clients or datacenter exits, or handed conversations
    in one cyclic order, merged (groups of several only).

    A reseller spreads a hydra over payment cells that share nothing stable:
    each request leaves from a new residential address or datacenter exit and
    with another user agent. What the cells do share is the pool they rotate
    through: every cell shows many distinct clients (user agent and TLS
    fingerprint) or datacenter addresses for its few requests, and the values
    it shows are shown almost only by other rotating cells. Legitimate teams
    keep their clients and addresses; a value that many ordinary accounts show
    (a popular client, a cloud range) is not part of any pool. Hours into a
    campaign each cell has sent a handful of requests, too few to score alone;
    pooled, the fleet is plain to see. Cells fed by one load balancer keep
    handing conversations over in the same order
    (:func:`~distillguard.campaigns.dispatch.linked_by_dispatch`) and leave
    through the same proxies or clients (:func:`_sharing_infrastructure`).
    """
    ids = list(cells)
    if len(ids) < 2:
        return {}
    features = stats.pool(cells).get()
    n = np.maximum(features.column("n_exchanges").to_numpy().astype(np.float64), 1.0)
    datacenter = features.column("datacenter_share").to_numpy()
    member_of = _member_codes(cells, indicators)
    pairs: list[tuple[int, int]] = []
    kinds: list[str] = []
    for kind, column in settings.pool_kinds.items():
        distinct = features.column(column).to_numpy().astype(np.float64)
        eligible = datacenter >= settings.pool_datacenter if kind in ("ip", "subnet") else True
        rotating = np.flatnonzero((distinct >= settings.pool_min) & (distinct / n >= settings.pool_rate) & eligible)
        if len(rotating) < 2:
            continue
        shown = (
            indicators.table.filter(pl.col("kind") == kind).select("i", "h").unique()
            .join(member_of, on="i", how="left")
            .with_columns(pl.col("c").is_in(rotating.tolist()).fill_null(False).alias("r"))
        )
        pool = (
            shown.group_by("h").agg(pl.col("r").mean().alias("purity"), pl.col("c").filter(pl.col("r")).unique())
            .filter((pl.col("purity") >= settings.pool_purity) & (pl.col("c").list.len() >= 2))
        )
        found = [(c[0], other) for c in pool.get_column("c").to_list() for other in c[1:]]
        pairs += found
        kinds += [kind] * len(found)
    dealt = linked_by_dispatch(indicators.starts.join(member_of, on="i").select(
        pl.col("c").alias("cell"), pl.col("i").alias("a"), "t"), settings.dispatch)
    dealt = _sharing_infrastructure(dealt, member_of, indicators, settings)
    pairs += dealt
    kinds += ["dispatch"] * len(dealt)
    if not pairs:
        return {}
    a, b = np.array(pairs).T
    linked = sparse.coo_array((np.ones(len(a), bool), (a, b)), shape=(len(ids), len(ids)))
    _, labels = connected_components(linked, directed=False)
    merged: dict[int, list[str]] = {}
    sizes = Counter(labels.tolist())
    for k, label in enumerate(labels):
        if sizes[label] > 1:
            merged.setdefault(int(label), []).extend(cells[ids[k]])
    through: dict[int, set[str]] = {}
    for first, kind in zip(a.tolist(), kinds):
        through.setdefault(int(labels[first]), set()).add(kind)
    return {
        campaign_id(m): Fleet(
            sorted(m), sizes[label], tuple(k for k in (*settings.pool_kinds, "dispatch") if k in through[label]))
        for label, m in merged.items()
    }


def _sharing_infrastructure(pairs: list[tuple[int, int]], member_of: pl.DataFrame, indicators: Indicators,
                            settings: CampaignSettings) -> list[tuple[int, int]]:
    """The ``pairs`` of cells whose pooled indicators agree (``merge_min``) in one of ``dispatch_families``.

    One operator's load balancer deals conversations to accounts that leave through its proxies and
    clients; two unrelated operations that each deal in a cycle of a similar period (an eval harness
    going round its lab's accounts beside a harvester's round robin) interleave by chance and share
    none of them.
    """
    if not pairs:
        return pairs
    a, b = np.array(pairs, np.int64).T
    cells = np.unique(np.r_[a, b])
    pooled = (
        indicators.table.filter(pl.col("family").cast(pl.String).is_in(settings.dispatch_families))
        .join(member_of.filter(pl.col("c").is_in(cells.tolist())), on="i")
        .group_by("family", "c", "h").agg(pl.col("x").cast(pl.Float64).sum())
        .with_columns((pl.col("x") / (pl.col("x") ** 2).sum().sqrt().over("family", "c")).alias("v"))
    )
    agree = np.zeros(len(a), bool)
    size = int(cells.max()) + 1
    for _, rows in pooled.group_by("family"):
        k = rows.get_column("h").rank("dense").to_numpy() - 1
        vectors = sparse.csr_array((rows.get_column("v").to_numpy(), (rows.get_column("c").to_numpy(), k)),
                                   shape=(size, int(k.max()) + 1))
        agree |= np.asarray(vectors[a].multiply(vectors[b]).sum(axis=1)).ravel() >= settings.merge_min
    return [(int(x), int(y)) for x, y in zip(a[agree], b[agree])]


def _memberships(groups: dict[str, list[str]]) -> pl.DataFrame:
    """``group, account_id``: each member of ``groups``, in order, with the position of its group."""
    return pl.DataFrame({
        "group": [k for k, members in enumerate(groups.values()) for _ in members],
        "account_id": [m for members in groups.values() for m in members],
    }, schema={"group": pl.Int64, "account_id": pl.String})


def _member_codes(groups: dict[str, list[str]], indicators: Indicators) -> pl.DataFrame:
    """``i, c``: each member's account code in ``indicators`` and the position of its group in ``groups``."""
    return _memberships(groups).join(
        indicators.accounts.to_frame("account_id").with_row_index("i"), on="account_id"
    ).select(pl.col("i").cast(pl.UInt32), pl.col("group").alias("c"))


def _dispatch(groups: dict[str, list[str]], indicators: Indicators) -> dict[str, Dispatch]:
    """How conversations are dealt to each group's accounts."""
    codes = _member_codes(groups, indicators)
    members: dict[str, list[int]] = {gid: [] for gid in groups}
    ids = list(groups)
    for i, c in codes.iter_rows():
        members[ids[c]].append(i)
    return group_dispatch(indicators.starts.select(pl.col("i").alias("a"), "t"), members)


def pooled_features(stats: AccountStats, groups: dict[str, list[str]], accounts: pa.Table | None) -> pa.Table:
    """The fingerprint of each group of accounts taken as one (:meth:`AccountStats.pool`), with ``n_accounts`` and
    the :data:`~distillguard.accounts.risk.POPULATION_COLUMNS` that ``accounts`` (``account_id``, ``n_exchanges``)
    has: per group, the mean over its members with a value, weighted by their exchanges; null where none has one."""
    pooled = stats.pool(groups).get()
    pooled = pooled.append_column("n_accounts", pa.array([len(m) for m in groups.values()], pa.int64()))
    columns = [c for c in POPULATION_COLUMNS if accounts is not None and c in accounts.column_names]
    if accounts is None or not columns:
        return pooled
    members = _memberships(groups)
    known = cast(pl.DataFrame, pl.from_arrow(accounts.select(["account_id", "n_exchanges", *columns])))
    weight = pl.col("n_exchanges").cast(pl.Float64)
    means = members.join(known.with_columns(pl.col("account_id").cast(pl.String)), on="account_id", how="inner").group_by(
        "group").agg(**{c: (pl.col(c) * weight).sum() / weight.filter(pl.col(c).is_not_null()).sum() for c in columns})
    rows = pl.DataFrame({"group": range(len(groups))}, schema={"group": pl.Int64}).join(
        means, on="group", how="left", maintain_order="left")
    for name in columns:
        pooled = pooled.append_column(name, rows.get_column(name).fill_nan(None).to_arrow())
    return pooled


def pooled_context(context: pa.Table | None, groups: dict[str, list[str]]) -> pa.Table | None:
    """The most common category and verification level of each group's members (of equal counts, the first member's
    value; an account ``context`` lacks counts as null), and their median creation time (the upper of two)."""
    if context is None:
        return None
    schema = pa.schema([("category", pa.string()), ("verification", pa.string()),
                        ("created_at", pa.timestamp("us", tz="UTC"))])
    if not groups:
        return schema.empty_table()
    names = ["account_id", "category", "verification", *(["created_at"] if "created_at" in context.column_names else [])]
    known = cast(pl.DataFrame, pl.from_arrow(context.select(names))).unique("account_id", keep="last")
    if "created_at" not in names:
        known = known.with_columns(pl.lit(None, pl.Datetime("us", "UTC")).alias("created_at"))
    members = _memberships(groups).with_row_index("at").join(
        known.with_columns(pl.col("account_id").cast(pl.String)), on="account_id", how="left", maintain_order="left")
    out = pl.DataFrame({"group": range(len(groups))}, schema={"group": pl.Int64})
    for name in ("category", "verification"):
        mode = (members.group_by("group", name).agg(pl.len().alias("n"), pl.col("at").min().alias("first"))
                .sort(["group", "n", "first"], descending=[False, True, False])
                .group_by("group", maintain_order=True).first().select("group", name))
        out = out.join(mode, on="group", how="left", maintain_order="left")
    median = (members.filter(pl.col("created_at").is_not_null()).group_by("group")
              .agg(pl.col("created_at").sort().gather(pl.len() // 2).first()))
    out = out.join(median, on="group", how="left", maintain_order="left")
    return out.select("category", "verification", "created_at").to_arrow().cast(schema)


def _family_support(edges: pl.DataFrame, index: dict[str, int], membership: np.ndarray) -> dict[int, dict[str, int]]:
    """Per community, how many internal edges each linking family supports, most edges first (ties by name)."""
    community = {name: int(membership[i]) for name, i in index.items()}
    internal = edges.select(
        pl.col("a").replace_strict(community, return_dtype=pl.Int64).alias("ca"),
        pl.col("b").replace_strict(community, return_dtype=pl.Int64).alias("cb"),
        "families",
    ).filter(pl.col("ca") == pl.col("cb"))
    counts = (
        internal.explode("families")
        .with_columns(pl.col("families").str.split("=").list.first().alias("family"))
        .group_by("ca", "family").len()
        .sort(["ca", "len", "family"], descending=[False, True, False])
    )
    support: dict[int, dict[str, int]] = {}
    for c, family, n in counts.iter_rows():
        support.setdefault(int(c), {})[family] = int(n)
    return support


def propagate(account_ids: list[str], risk: np.ndarray, result: CampaignResult) -> np.ndarray:
    """Each account's risk raised to its campaign's risk times its tie to the campaign."""
    by_id = {c.campaign_id: c.risk for c in result.campaigns}
    out = risk.copy()
    for i, account in enumerate(account_ids):
        cid = result.campaign_of.get(account)
        if cid is not None:
            out[i] = max(out[i], by_id[cid] * result.tie[account])
    return out


def campaign_features(stats: AccountStats, campaigns: list[Campaign]) -> pa.Table:
    """Pooled fingerprints of the campaigns (one row per campaign)."""
    return stats.pool({c.campaign_id: c.members for c in campaigns}).get()
