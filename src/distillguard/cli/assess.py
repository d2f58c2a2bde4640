"""From account statistics to decisions: risk, campaigns, propagation, policy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl
import pyarrow as pa

from distillguard.accounts import AccountStats, score_accounts
from distillguard.campaigns import (
    Campaign,
    CampaignSettings,
    LinkSettings,
    campaign_features,
    find_campaigns,
    link_accounts,
    load_indicators,
    propagate,
    shared_indicators,
)
from distillguard.core.decision import Decision, Evidence
from distillguard.policy import DecisionContext, Policy, decide
from distillguard.store import Store

_CONTEXT_SQL = "SELECT account_id, category, verification, created_at FROM accounts"
_INDICATOR_KINDS = {
    "ip": "ips", "subnet": "subnets", "client": "clients", "template": "templates",
    "payment": "payment_fingerprints", "signup_ip": "signup_ips", "signup_burst": "signup_bursts",
}


@dataclass
class Assessment:
    """Decisions for every account seen, and the campaigns found."""

    decisions: list[Decision]
    campaigns: list[dict[str, Any]]
    features: pa.Table


def assess(
    store: Store,
    stats: AccountStats,
    policy: Policy,
    until: datetime | None = None,
    link: LinkSettings | None = None,
    cluster: CampaignSettings | None = None,
) -> Assessment:
    """Score every account, link them into campaigns, and decide an action for each."""
    features = stats.get()
    ids = features.column("account_id").to_pylist()
    context = account_context(store, features)
    own_risk, evidence = score_accounts(features, context)
    indicators = load_indicators(store, until)
    edges = link_accounts(indicators, link)
    result = find_campaigns(edges, stats, context, cluster, indicators)
    risk = propagate(ids, own_risk, result)
    by_id = {c.campaign_id: c for c in result.campaigns}
    categories = context.column("category").to_pylist()
    decisions = []
    for i, account in enumerate(ids):
        found = list(evidence[i])
        cid = result.campaign_of.get(account)
        if cid is not None and risk[i] > own_risk[i]:
            camp = by_id[cid]
            found.insert(0, Evidence("campaign.membership", float(result.tie[account]),
                                     f"linked to campaign {cid} ({len(camp.members):,} accounts, risk {camp.risk:.2f})"))
        decisions.append(decide(policy, DecisionContext(account, float(risk[i]), tuple(found), categories[i], cid)))
    shared = shared_indicators(store, {c.campaign_id: c.members for c in result.campaigns}, until)
    records = _campaign_records(stats, result.campaigns, shared)
    return Assessment(decisions, records, features)


def account_context(store: Store, features: pa.Table) -> pa.Table:
    """Account records (category, verification, created_at) aligned with the feature rows; null where unknown."""
    accounts = pl.from_arrow(store.query(_CONTEXT_SQL))
    ids = pl.DataFrame({"account_id": features.column("account_id").to_pylist()}, schema={"account_id": pl.String})
    joined = ids.join(accounts, on="account_id", how="left", maintain_order="left") if len(accounts) else ids.with_columns(
        pl.lit(None, pl.String).alias("category"), pl.lit(None, pl.String).alias("verification"),
        pl.lit(None, pl.Datetime("us", "UTC")).alias("created_at"),
    )
    return joined.to_arrow()


def _campaign_records(stats: AccountStats, campaigns: list[Campaign], shared: pl.DataFrame) -> list[dict[str, Any]]:
    """The output records of the campaigns: volume, time span, capabilities, indicators, evidence."""
    if not campaigns:
        return []
    pooled = campaign_features(stats, campaigns).to_pylist()
    top: dict[str, dict[str, list[dict[str, Any]]]] = {}
    ordered = shared.sort(["campaign_id", "kind", "accounts", "value"], descending=[False, False, True, False])
    for cid, kind, value, n in ordered.iter_rows():
        top.setdefault(cid, {}).setdefault(_INDICATOR_KINDS[kind], []).append({"value": value, "accounts": n})
    records = []
    for camp, feat in zip(campaigns, pooled):
        records.append({
            "campaign_id": camp.campaign_id,
            "accounts": camp.members,
            "n_accounts": len(camp.members),
            "n_exchanges": feat["n_exchanges"],
            "first_seen": feat["first_seen"].isoformat(),
            "last_seen": feat["last_seen"].isoformat(),
            "capabilities": {k[4:]: round(v, 4) for k, v in feat.items() if k.startswith("cap_")},
            "risk": round(camp.risk, 4),
            "confidence": round(camp.confidence, 4),
            "reasons": [e.reason for e in camp.evidence],
            "evidence": {"linking_edges": camp.families},
            "indicators": top.get(camp.campaign_id, {}),
        })
    return records


def flag_times(decisions: list[Decision], earlier: dict[str, datetime], as_of: datetime | None) -> dict[str, datetime]:
    """When each flagged account was first flagged: an earlier run's flag, else ``as_of`` (the data's end)."""
    if as_of is None:
        return {}
    return {d.account_id: earlier.get(d.account_id, as_of) for d in decisions if d.flagged}
