"""Account-linking edges, graph clustering into campaigns, and campaign evidence."""

from distillguard.campaigns.cluster import (
    Campaign,
    CampaignResult,
    CampaignSettings,
    campaign_features,
    find_campaigns,
    merge_campaigns,
    propagate,
)
from distillguard.campaigns.edges import LinkSettings, link_accounts
from distillguard.campaigns.indicators import (
    FAMILIES,
    Indicators,
    describe_indicators,
    load_indicators,
    shared_indicators,
)

__all__ = [
    "FAMILIES",
    "Indicators",
    "Campaign",
    "CampaignResult",
    "CampaignSettings",
    "LinkSettings",
    "campaign_features",
    "describe_indicators",
    "find_campaigns",
    "link_accounts",
    "load_indicators",
    "merge_campaigns",
    "propagate",
    "shared_indicators",
]
