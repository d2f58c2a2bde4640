"""From account statistics to decisions: risk, campaigns, propagation, policy."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from datetime import datetime
from typing import cast

import numpy as np
import polars as pl
import pyarrow as pa

from distillguard.accounts import AccountStats, score_accounts
from distillguard.accounts.exits import YOUNG_DAYS
from distillguard.accounts.risk import (
    POPULATION_COLUMNS,
    RiskModels,
    account_age_days,
    elicitation_nats,
    load_risk_models,
)
from distillguard.analysis.indicators import load_indicators, shared_indicators
from distillguard.analysis.memory import release_free_memory
from distillguard.analysis.stats import account_features
from distillguard.analysis.timings import Timings
from distillguard.campaigns import Campaign, CampaignResult, campaign_features, find_campaigns, link_accounts, propagate
from distillguard.campaigns.indicators import Indicators
from distillguard.campaigns.pools import with_exit_pools
from distillguard.campaigns.settings import CampaignTunables, LinkSettings, RotationSettings, load_campaign_settings
from distillguard.core.campaign import CampaignRecord, SharedIndicator
from distillguard.core.decision import Decision, Evidence
from distillguard.policy import DecisionContext, Policy, decide
from distillguard.store import Store
from distillguard.store.source import SqlSource
from distillguard.store.traffic import account_records

INDICATOR_KINDS: dict[str, str] = {
    "ip": "ips", "subnet": "subnets", "client": "clients", "template": "templates",
    "payment": "payment_fingerprints", "signup_ip": "signup_ips", "signup_burst": "signup_bursts",
    "params": "request_parameters",
}
"""Indicator kind → its key in a campaign record's ``indicators``."""


@dataclass
class Assessment:
    """Decisions for every account seen, the campaigns found, and the account features they rest on."""

    decisions: list[Decision]
    campaigns: list[CampaignRecord]
    features: pa.Table


def assess(
    store: SqlSource,
    stats: AccountStats,
    policy: Policy,
    until: datetime | None = None,
    tunables: CampaignTunables | None = None,
    decided_at: datetime | None = None,
    models: RiskModels | None = None,
    timings: Timings | None = None,
) -> Assessment:
    """Score every account, link them into campaigns, and decide an action for each.

    ``until`` cuts the traffic the indicators are read from (a replay's interval end); ``tunables`` are the
    campaign layer's (the shipped ones when None); ``decided_at`` stamps the decisions (default: ``until``);
    ``models`` are the risk weights (the shipped ones when None); ``timings`` records each step under the caller's
    current phase. Campaigns are reported from the risk at which the policy flags an account.
    """
    tunables = tunables or load_campaign_settings()
    models = models or load_risk_models()
    timings = timings or Timings()
    # A DuckDB store's indicators are read on a connection and thread of their own meanwhile: mostly DuckDB's
    # work, beside the features' and scores' (large: ~15 s of the ~50 s the two take one after the other).
    side = store.twin() if isinstance(store, Store) else None
    with side or nullcontext(), ThreadPoolExecutor(1) as pool:
        reading = pool.submit(_indicators_aside, timings.aside("indicators"), side, until, tunables) if side else None
        features = account_features(store, stats, until, timings)
        with timings.phase("account records"):
            context = account_context(store, features)
        with timings.phase("account risk"):
            own_risk, evidence = score_accounts(features, context, weights=models.account, report=policy.reads)
        with timings.phase("indicators" if reading is None else "waiting for the indicators"):
            indicators = reading.result() if reading else load_indicators(store, until, tunables.templates)
        return _decided(side or store, stats, policy, until, tunables, decided_at, models, features, context,
                        own_risk, evidence, indicators, timings)


def _indicators_aside(timed: AbstractContextManager[None], store: SqlSource, until: datetime | None,
                      tunables: CampaignTunables) -> Indicators:
    with timed:
        return load_indicators(store, until, tunables.templates)


def _decided(store: SqlSource, stats: AccountStats, policy: Policy, until: datetime | None, tunables: CampaignTunables,
             decided_at: datetime | None, models: RiskModels, features: pa.Table, context: pa.Table,
             own_risk: np.ndarray, evidence: list[list[Evidence]], indicators: Indicators, timings: Timings) -> Assessment:
    """:func:`assess` once the accounts are scored and the indicators read (``store`` holds their template groups)."""
    with timings.phase("linking"):
        release_free_memory()  # what scoring and reading the indicators freed
        indicators, edges = linked_accounts(indicators, features, context, tunables.link,
                                            own_risk >= policy.flag_threshold)
    with timings.phase("campaigns (clustering, group risk)"):
        release_free_memory()  # what linking freed
        result = find_campaigns(edges, stats, _with_population(context, features), tunables.cluster, indicators,
                                min_risk=policy.flag_threshold, models=models)
    with timings.phase("decisions"):
        decisions = _decisions(policy, until, decided_at, features, context, own_risk, evidence, result)
    with timings.phase("shared indicators"):
        shared = shared_indicators(store, {c.campaign_id: c.members for c in result.campaigns}, until, tunables.templates)
    with timings.phase("campaign records"):
        return Assessment(decisions, campaign_records(stats, result.campaigns, shared), features)


def _with_population(context: pa.Table, features: pa.Table) -> pa.Table:
    """``context`` with the exchanges and population signals of ``features`` (row-aligned), which groups pool."""
    for name in ("n_exchanges", *POPULATION_COLUMNS):
        if name in features.column_names:
            context = context.append_column(name, features.column(name))
    return context


def linked_accounts(indicators: Indicators, features: pa.Table, context: pa.Table, settings: LinkSettings,
                    flagged: np.ndarray | None = None) -> tuple[Indicators, pl.DataFrame]:
    """``indicators`` with each account's youth and rotation (:func:`with_youth_and_rotation`, with ``flagged``), as
    clustering takes them, and the edges linking the accounts, the proxy pools the rotating ones share and the
    exits the flagged ones share included."""
    indicators = with_youth_and_rotation(indicators, features, context, settings.rotation, flagged)
    return indicators, link_accounts(with_exit_pools(indicators, settings.rotation), settings)


def with_youth_and_rotation(indicators: Indicators, features: pa.Table, context: pa.Table,
                            settings: RotationSettings, flagged: np.ndarray | None = None) -> Indicators:
    """``indicators`` with each account's youth (first used within ``YOUNG_DAYS`` of its creation; unknown: not
    young), whether it rotates (a new address for at least ``settings.min_rotation`` of its requests), whether
    its own tasks weigh for a harvester (:func:`~distillguard.accounts.risk.elicitation_nats` above 0) and, where
    ``flagged`` (row-aligned with ``features``) is given, whether its own evidence flags it."""
    age = np.nan_to_num(account_age_days(features, context), nan=np.inf)
    rotating = features.column("ip_rotation").fill_null(0.0).to_numpy() >= settings.min_rotation
    ids = cast(pl.Series, pl.from_arrow(features.column("account_id"))).cast(pl.String)
    flags = pl.DataFrame({"account_id": indicators.accounts.cast(pl.String)}).join(
        pl.DataFrame({"account_id": ids, "young": age <= YOUNG_DAYS, "rotating": rotating,
                      "harvesting": elicitation_nats(features) > 0.0,
                      "flagged": np.zeros(len(ids), bool) if flagged is None else flagged}),
        on="account_id", how="left", maintain_order="left",
    ).fill_null(False)
    return replace(indicators, young=flags.get_column("young").to_numpy(), rotating=flags.get_column("rotating").to_numpy(),
                   harvesting=flags.get_column("harvesting").to_numpy(),
                   flagged=None if flagged is None else flags.get_column("flagged").to_numpy())


def _decisions(policy: Policy, until: datetime | None, decided_at: datetime | None, features: pa.Table,
               context: pa.Table, own_risk: np.ndarray, evidence: list[list[Evidence]], result: CampaignResult
               ) -> list[Decision]:
    """Every account's decision: its own risk raised to its campaign's, with the campaign's evidence first."""
    ids = features.column("account_id").to_pylist()
    risk = propagate(ids, own_risk, result)
    by_id = {c.campaign_id: c for c in result.campaigns}
    categories = context.column("category").to_pylist()
    verifications = context.column("verification").to_pylist()
    created = context.column("created_at").to_pylist()
    stamp = decided_at or until
    decisions = []
    for i, account in enumerate(ids):
        found = list(evidence[i])
        cid = result.campaign_of.get(account)
        if cid is not None and risk[i] > own_risk[i]:
            camp = by_id[cid]
            found.insert(0, Evidence("campaign.membership", float(result.tie[account]),
                                     f"linked to campaign {cid} ({len(camp.members):,} accounts, risk {camp.risk:.2f})"))
        age = stamp - created[i] if stamp is not None and created[i] is not None else None
        decision = decide(policy, DecisionContext(account, float(risk[i]), tuple(found), categories[i], cid,
                                                  verification=verifications[i], age=age,
                                                  one_customer=cid is not None and by_id[cid].one_customer))
        decisions.append(replace(decision, decided_at=stamp))
    return decisions


def account_context(store: SqlSource, features: pa.Table) -> pa.Table:
    """Account records (category, verification, created_at, email_domain) aligned with the feature rows; null where
    unknown."""
    accounts = cast(pl.DataFrame, pl.from_arrow(account_records(store)))
    ids = pl.DataFrame({"account_id": features.column("account_id").to_pylist()}, schema={"account_id": pl.String})
    joined = ids.join(accounts, on="account_id", how="left", maintain_order="left") if len(accounts) else ids.with_columns(
        pl.lit(None, pl.String).alias("category"), pl.lit(None, pl.String).alias("verification"),
        pl.lit(None, pl.Datetime("us", "UTC")).alias("created_at"), pl.lit(None, pl.String).alias("email_domain"),
    )
    return joined.to_arrow()


def campaign_records(stats: AccountStats, campaigns: list[Campaign], shared: pl.DataFrame) -> list[CampaignRecord]:
    """The campaigns as records: volume, time span, capabilities, shared indicators, evidence."""
    if not campaigns:
        return []
    pooled = campaign_features(stats, campaigns).to_pylist()
    top: dict[str, dict[str, list[SharedIndicator]]] = {}
    ordered = shared.sort(["campaign_id", "kind", "accounts", "value"], descending=[False, False, True, False])
    for cid, kind, value, n in ordered.iter_rows():
        top.setdefault(cid, {}).setdefault(INDICATOR_KINDS[kind], []).append(SharedIndicator(value, n))
    return [
        CampaignRecord(
            campaign_id=camp.campaign_id,
            accounts=tuple(camp.members),
            n_exchanges=feat["n_exchanges"],
            first_seen=feat["first_seen"],
            last_seen=feat["last_seen"],
            capabilities={k[4:]: v for k, v in feat.items() if k.startswith("cap_")},
            risk=camp.risk,
            confidence=camp.confidence,
            evidence=tuple(camp.evidence),
            linking_edges=dict(camp.families),
            indicators={kind: tuple(items) for kind, items in top.get(camp.campaign_id, {}).items()},
        )
        for camp, feat in zip(campaigns, pooled)
    ]


def flag_times(decisions: list[Decision], earlier: dict[str, datetime], as_of: datetime | None) -> dict[str, datetime]:
    """When each flagged account was first flagged: an earlier run's flag, else ``as_of`` (the data's end)."""
    if as_of is None:
        return {}
    return {d.account_id: earlier.get(d.account_id, as_of) for d in decisions if d.flagged}
