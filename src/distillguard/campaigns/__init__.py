"""Account-linking edges, graph clustering into campaigns, and campaign evidence."""

from distillguard.campaigns.cluster import (
    Campaign,
    CampaignResult,
    CampaignSettings,
    campaign_features,
    find_campaigns,
    propagate,
)
from distillguard.campaigns.edges import LinkSettings, link_accounts
from distillguard.campaigns.indicators import FAMILIES, load_indicators

__all__ = [
    "FAMILIES",
    "Campaign",
    "CampaignResult",
    "CampaignSettings",
    "LinkSettings",
    "campaign_features",
    "find_campaigns",
    "link_accounts",
    "load_indicators",
    "propagate",
]
