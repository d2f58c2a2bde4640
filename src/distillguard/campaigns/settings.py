"""Tunables of the campaigns layer, read from one versioned YAML file and validated at load.

The shipped values are in ``campaigns/default.yaml``; a deployment points the
``campaigns`` setting (:class:`distillguard.config.Settings`) at its own file.
A wrong key or type fails at load with the file and the field named. The
risk from which a community is reported as a campaign is not a tunable of
this layer: it is the policy's flagging threshold, which the caller passes to
:func:`~distillguard.campaigns.cluster.find_campaigns`.
"""

from __future__ import annotations

from collections.abc import Collection
from functools import cache
from pathlib import Path
from typing import Annotated, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from distillguard.campaigns.indicators import FAMILIES, KINDS
from distillguard.config.loading import load_yaml_model
from distillguard.core.schema import VERIFICATIONS

Names = TypeVar("Names", bound=Collection[str])


def _known(names: tuple[str, ...], what: str) -> AfterValidator:
    """A validator that the names in a value (a tuple's items, a mapping's keys) are among ``names``."""

    def check(value: Names) -> Names:
        unknown = sorted(set(value) - set(names))
        if unknown:
            raise ValueError(f"unknown {what} {unknown}; known: {list(names)}")
        return value

    return AfterValidator(check)


Share = Annotated[float, Field(ge=0.0, le=1.0)]
Positive = Annotated[int, Field(ge=1)]
Families = Annotated[tuple[str, ...], Field(strict=False), _known(FAMILIES, "families")]
Kinds = Annotated[tuple[str, ...], Field(strict=False), _known(tuple(KINDS), "indicator kinds")]
FamilyShares = Annotated[dict[str, Share], _known(FAMILIES, "families")]


class _Tunables(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, use_attribute_docstrings=True)


class RotationSettings(_Tunables):
    """When accounts rotating per request through one set of exits share a pool
    (:func:`~distillguard.campaigns.pools.rotation_pools`)."""

    min_rotation: Share
    """An account rotates when it took a new address for at least this share of its requests (a person's
    conversation keeps its connection; a harvesting driver takes a new exit for every request)."""
    min_exits: Positive
    """Addresses a rotating account must have used to count towards a pool (a few requests prove little)."""
    purity: Share
    """Share of the accounts seen at an address that must rotate for it to be a pool's exit (a carrier NAT or a
    household carries people who do not)."""
    min_share: Share
    """Share of a rotating account's requests that must leave through one pool's exits for it to be in that pool."""
    min_accounts: int = Field(ge=2)
    """Rotating accounts a pool needs."""


class LinkSettings(_Tunables):
    """Thresholds of the linking step (:mod:`distillguard.campaigns.edges`)."""

    max_full: int = Field(ge=2)
    """Indicator groups up to this size give all their pairs as candidates."""
    cycles: int = Field(ge=0)
    """Random cycles through each larger group (each member gets 2 × cycles neighbours)."""
    candidate_kinds: Kinds
    """Indicator kinds whose shared values make candidate pairs."""
    family_min: Share
    """Similarity within a family that counts as evidence."""
    min_families: Positive
    """Families whose evidence links two accounts."""
    weak_families: Families
    """... at least one of them not among these (a shared exit and shared request parameters are not enough)."""
    strong_families: FamilyShares
    """Families whose similarity alone (above the value) links two accounts."""
    min_shared: Annotated[dict[str, Positive], _known(FAMILIES, "families")]
    """Families that count only when the pair shares at least this many indicators."""
    hubs: FamilyShares
    """Families whose indicators shown by more than this share of the accounts are hubs, left out."""
    hub_min: int = Field(ge=0)
    """... and by more than this many accounts (in a small population every value is shared by a large share)."""
    cohort_share: Share
    """A hub most of whose holders are young accounts is a *young cohort* when at least this share of them are ..."""
    cohort_lift: float = Field(ge=1.0)
    """... and that share is at least this many times the population's young share: its young holders are matched
    on it (a fleet of new accounts on its harness's parameters), its established holders are not."""
    top_k: Positive
    """Indicators kept per account and family when scoring: its heaviest ones (the cosine
    then counts only the mass they share, a lower bound)."""
    chunk: Positive
    """Candidate pairs scored at once (bounds the temporary sparse rows)."""
    rotation: RotationSettings
    """When rotating accounts share a pool of exits (the ``rotation`` family)."""
    seed: int = Field(ge=0)


class DispatchSettings(_Tunables):
    """When a group's (or a pair of groups') hand-overs count as a cyclic order (:mod:`~distillguard.campaigns.dispatch`)."""

    min_repeats: Positive
    """Repeated hand-overs needed at all."""
    min_rate: Share
    """Share of the hand-overs that must repeat the previous cycle's."""
    max_p: Share
    """Poisson tail of the repeats under independent use."""
    candidate_rate: Share
    """Share of a group's own hand-overs that must repeat for it to be tested against others (a slice
    of a pool whose membership changes repeats less than the whole pool)."""
    neighbours: Positive
    """Pairs of groups tested per group: those whose cycle periods are nearest."""
    max_events: int = Field(ge=2)
    """A group's most recent conversation starts used in pair tests (a few cycles suffice)."""


class CustomerSettings(_Tunables):
    """When a community is one verified customer, not a campaign (:func:`~distillguard.campaigns.cluster.one_customer`)."""

    verifications: Annotated[tuple[str, ...], Field(strict=False), _known(VERIFICATIONS, "verification levels")]
    """Verification levels that prove who a customer is."""
    min_age_days: float = Field(ge=0.0)
    """Days an account must have existed before the community's first request to count as established."""
    min_verified: Share
    """Share of the members that must be verified and established (all share one payment fingerprint)."""
    max_rotating: Share
    """Share of the members that may take a new address for nearly every request (``link.rotation.min_rotation``)."""
    one_domain: Share
    """Share of the members with an e-mail domain on record that must share one for one payer (an organisation's
    seats are on its domain; bought accounts keep their owners' addresses at the population's mail providers), and
    of all members on one organisation's domain for one organisation whatever they pay with."""
    apart: Families
    """Families whose agreement does not make the groups of two organisations one operation (each group one
    organisation's by :func:`~distillguard.campaigns.cluster.one_organisation`, on different domains): labs running
    one public benchmark through one popular harness agree in its prompts, its client and how it calls the API,
    not in their cards, exits or signups."""


class SplitSettings(_Tunables):
    """When a community a proxy pool holds together is several operators
    (:func:`~distillguard.campaigns.communities.split_shared_pools`)."""

    body: Share
    """Share of the community's members a part tied by its own evidence (not the pool) must hold to be an operator's
    fleet: one operator's accounts that share nothing but the pool form islands of a few accounts (two on one card,
    three on one client)."""
    cover: Share
    """Share of the community's members such parts must hold together for it to be split: where the pool alone holds
    most of a fleet together, it is one operator's."""
    families: Families
    """Families in which two parts agreeing (``merge_min``), where the population does not, are one operator alone:
    two operators renting one pool run their own clients."""
    max_cross: Share
    """Share of the larger of two parts' own evidence that may tie it to the other for them to be told apart: two
    operators share little but their pool; a cut through one operator's fleet leaves a good part of it across."""


class CampaignSettings(_Tunables):
    """Thresholds of the clustering step (:mod:`distillguard.campaigns.cluster`)."""

    min_accounts: int = Field(ge=2)
    """Members a community needs to be scored as a campaign (a pair on one card is scored too:
    :func:`~distillguard.campaigns.cluster.with_payer_pairs`)."""
    resolution: float = Field(gt=0.0)
    """Leiden's resolution (1: modularity). Lower keeps a sparsely linked fleet whole: modularity cuts a graph of
    hundreds of accounts linked at random within it into pieces, each pooling too little to be scored a campaign."""
    full_tie: float = Field(gt=0.0)
    """Summed edge weight to fellow members at which an account is fully tied."""
    merge_min: Share
    """Similarity of two campaigns' pooled indicators, per family, that counts towards merging them (or joining a
    group too weak to be a campaign to one, where it exceeds both groups' similarity with everyone else)."""
    merge_families: Positive
    """Families that must agree for two campaigns to be merged into one, or for a group to join one."""
    merge_ignore: Families
    """Families that say nothing about a common operator once pooled: two round-the-clock
    campaigns are active in the same time slots whoever runs them."""
    broad_min: Share
    broad_breadth: float = Field(ge=0.0)
    """One family alone merges two campaigns when it agrees above ``broad_min`` over at least
    ``broad_breadth`` indicators' worth of shared mass (a shared pool of rotating clients or
    addresses, not one popular client)."""
    pool_kinds: Annotated[dict[str, str], _known(tuple(KINDS), "indicator kinds")]
    """Indicator kinds a fleet rotates through, with the pooled fingerprint column counting them."""
    pool_datacenter: Share
    """Addresses (``ip``, ``subnet``) make a pool only for communities with at least this share of
    their traffic from datacenter ranges: unrelated operations rent exits of one residential proxy
    network (on ``dev``, residential address pools merged two operators' campaigns: ARI 0.993 → 0.918)."""
    pool_min: float = Field(ge=0.0)
    pool_rate: Share
    """A community rotates a kind when it shows at least ``pool_min`` distinct values of it, and
    at least ``pool_rate`` per exchange (a new client or address every other request)."""
    pool_purity: Share
    """Share of the accounts showing a value that must be members of rotating communities for the
    value to be part of a fleet's pool (a popular client or cloud range is not)."""
    dispatch: DispatchSettings
    """When communities handed conversations in one cyclic order are one fleet."""
    dispatch_families: Families
    """... if their pooled indicators also agree (``merge_min``) in one of these families."""
    anchor_kinds: Kinds
    anchor_min: int = Field(ge=2)
    anchor_share: Share
    """A campaign member with no strong edge to a fellow member must hold an indicator of ``anchor_kinds``
    shown by at least ``anchor_min`` accounts, at least ``anchor_share`` of them members of campaigns
    (:func:`~distillguard.campaigns.cluster.anchored_groups`)."""
    customer: CustomerSettings
    """When a community is one verified customer, not a campaign."""
    split: SplitSettings
    """When a community a proxy pool holds together is several operators."""
    seed: int = Field(ge=0)


class LifecycleSettings(_Tunables):
    """Thresholds of the phase rules (:mod:`~distillguard.campaigns.lifecycle`; none is specific to a
    campaign's size or timing)."""

    smooth_hours: Positive
    """Width of the centred moving average that evens out bursts and waves."""
    ramp_level: Share
    """Share of the usual hourly level at which a ramp-up ends."""
    min_ramp_hours: int = Field(ge=0)
    plateau_hours: Positive
    """A ramp-up ends where the volume reaches ``ramp_level`` of the median of this many hours ahead."""
    quiet_share: Share
    """Smoothed volume at or under this share of the usual level counts as quiet."""
    min_dormancy_hours: Positive
    min_harvest_hours: int = Field(ge=0)
    min_shift: Share
    """Change in a capability's share (or the elicitation share) that counts as a shift."""
    min_pivot_shift: Share
    """Change in a model's share that counts as a pivot (a campaign merged from several moves only in part)."""
    min_gain: float = Field(ge=0.0)
    """Log-likelihood gain of a change point over no change (binomial, per exchange)."""
    min_segment_exchanges: Positive
    min_segment_hours: Positive
    """Each side of a change point lasts at least this long (a switch back and forth within hours is no phase)."""
    new_model_hours: float = Field(ge=0.0)
    """A model first seen in all traffic at most this long before a pivot is newly released."""
    burst_window_hours: float = Field(gt=0.0)
    burst_share: Share
    """Share of the members created within one window that makes a signup burst."""
    burst_density: float = Field(ge=0.0)
    """... and the window must hold this many times the members' mean signup rate."""
    min_burst_accounts: Positive
    replacement_window_hours: Positive
    replacement_share: Share
    """Share of the active accounts that stop, and start, within one window."""
    expansion_share: float = Field(ge=0.0)
    """New members joining within one window, as a share of the active ones, that make an expansion ..."""
    expansion_rise: float = Field(ge=0.0)
    """... when the hourly volume of the day after is at least this many times that of the day before."""
    rotation_lifetime_share: Share
    """Members active a median of at most this share of the campaign's span rotate ..."""
    rotation_spread: Share
    """... when later members start in at least this share of the hours of the rotation (not as one cohort)."""
    min_accounts: Positive


class TemplateSettings(_Tunables):
    """Thresholds of template grouping (:mod:`~distillguard.campaigns.templates`)."""

    radius: int = Field(ge=0, le=64)
    """Bits within which two fingerprints are rows of one template."""
    band_bits: int = Field(ge=1, le=64)
    """Rotation step of the banded LSH (64 / band_bits rotations)."""
    window: Positive
    """Sorted neighbours compared per fingerprint and rotation."""
    min_rows: Positive
    """Rows an atom needs to take part in merging near-identical templates."""
    merge_radius: int = Field(ge=0, le=64)
    """Bits within which two atoms' centroids are variants of one template."""
    max_atoms: Positive
    """Heaviest atoms considered for merging."""
    hub_share: Share
    hub_min: int = Field(ge=0)
    """A template shown by more than ``hub_share`` of the accounts and ``hub_min`` accounts is a hub."""


class IntrusionSettings(_Tunables):
    """Thresholds of grouping campaigns into intrusion sets (:mod:`~distillguard.campaigns.intrusion`)."""

    families: Families
    """Families of infrastructure an operator reuses (activity timing is not one: campaigns run side by side)."""
    min_members: Positive
    """An indicator is the campaign's when this many of its members show it (or all, if fewer)."""
    family_min: Share
    """Rarity-weighted overlap within a family that counts as evidence."""
    min_families: Positive
    """Families whose evidence links two campaigns."""
    strong_families: FamilyShares
    """Families whose overlap alone (at least the value) links two campaigns."""
    pool_indicators: Positive
    pool_overlap: Share
    """A whole pool of owned indicators (at least ``pool_indicators``, overlapping this much) links alone."""
    min_ownership: Share
    """Share of the accounts showing an indicator that must be campaign members for it to count."""
    max_evidence: int = Field(ge=0)
    """Shared indicators reported per intrusion set."""


class CampaignTunables(_Tunables):
    """Every tunable of the campaigns layer: one section per step."""

    version: Literal[1]
    """Version of the file's layout."""
    link: LinkSettings
    cluster: CampaignSettings
    lifecycle: LifecycleSettings
    templates: TemplateSettings
    intrusion: IntrusionSettings


_PACKAGE, _DEFAULT, _WHAT = "distillguard.campaigns", "default.yaml", "campaign settings"


def load_campaign_settings(path: Path | None = None) -> CampaignTunables:
    """The tunables in the YAML file ``path`` (the shipped ``default.yaml`` when None); ConfigError if invalid.

    The shipped file is read and validated once per process.
    """
    return _shipped() if path is None else load_yaml_model(CampaignTunables, path, _PACKAGE, _DEFAULT, _WHAT)


@cache
def _shipped() -> CampaignTunables:
    return load_yaml_model(CampaignTunables, None, _PACKAGE, _DEFAULT, _WHAT)
