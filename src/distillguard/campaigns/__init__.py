"""Account-linking edges, graph clustering into campaigns, and campaign evidence."""

from distillguard.campaigns.cluster import (
    Campaign,
    CampaignResult,
    campaign_features,
    find_campaigns,
    merge_campaigns,
    pooled_context,
    pooled_features,
    propagate,
)
from distillguard.campaigns.edges import link_accounts
from distillguard.campaigns.indicators import FAMILIES, Indicators
from distillguard.campaigns.settings import CampaignSettings, CampaignTunables, LinkSettings, load_campaign_settings

__all__ = [
    "FAMILIES",
    "Campaign",
    "CampaignResult",
    "CampaignSettings",
    "CampaignTunables",
    "Indicators",
    "LinkSettings",
    "campaign_features",
    "find_campaigns",
    "link_accounts",
    "load_campaign_settings",
    "merge_campaigns",
    "pooled_context",
    "pooled_features",
    "propagate",
]
