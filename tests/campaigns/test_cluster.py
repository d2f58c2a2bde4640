from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pyarrow as pa

from distillguard.accounts import AccountStats, score_accounts
from distillguard.campaigns import find_campaigns, propagate
from distillguard.core.schema import TS_TYPE

T0 = datetime(2026, 3, 2, tzinfo=UTC)


def _traffic(prefix: str, n_accounts: int, per_account: int, harvester: bool) -> pa.Table:
    rows = []
    for a in range(n_accounts):
        for k in range(per_account):
            rows.append({
                "account_id": f"{prefix}-{a}",
                "ts": T0 + timedelta(hours=(a + 5 * k) % 72, minutes=k),
                "ip": f"100.{a}.{k}.1" if harvester else f"81.2.{a}.1",
                "user_agent": "ua", "tls_ja4": "t13d",
                "n_user_turns": 1 if harvester else 3,
                "n_tool_results": 0,
                "cot_score": 0.95 if harvester else 0.05,
                "reasoning_requested": 1.0 if harvester else 0.0,
                "capability": "reasoning" if harvester else "general",
                "template_key": 7 if harvester else 1000 + k,
                "prompt_hash": hash((prefix, a, k)) & (2**63 - 1),
                "reasoning_share": 0.8 if harvester else 0.0,
                "output_len": 900 if harvester else 150,
            })
    table = pa.Table.from_pylist(rows)
    return table.set_column(1, "ts", table.column("ts").cast(TS_TYPE))


def _clique(prefix: str, n: int, weight: float) -> list[dict]:
    return [{"a": f"{prefix}-{i}", "b": f"{prefix}-{j}", "weight": weight,
             "families": ["payment=1.0", "client=0.8"]} for i in range(n) for j in range(i + 1, n)]


def test_low_volume_harvesters_are_flagged_with_their_campaign_and_a_benign_cluster_is_not() -> None:
    stats = AccountStats()
    stats.update(_traffic("op", 40, 6, harvester=True))
    stats.update(_traffic("team", 40, 6, harvester=False))
    edges = pl.DataFrame(_clique("op", 40, 0.9) + _clique("team", 40, 0.9))
    result = find_campaigns(edges, stats)
    assert len(result.campaigns) == 1
    campaign = result.campaigns[0]
    assert set(campaign.members) == {f"op-{i}" for i in range(40)}
    assert campaign.risk > 0.9 and campaign.evidence

    features = stats.get()
    ids = features.column("account_id").to_pylist()
    own, _ = score_accounts(features)
    risk = propagate(ids, own, result)
    ops = np.array([i.startswith("op") for i in ids])
    assert own[ops].max() < 0.7  # six requests each: no account is flagged on its own
    assert risk[ops].min() > 0.8  # ... but every one is with its campaign
    assert np.array_equal(risk[~ops], own[~ops])


def test_weakly_tied_account_keeps_its_own_risk() -> None:
    stats = AccountStats()
    stats.update(_traffic("op", 20, 6, harvester=True))
    stats.update(_traffic("bystander", 1, 6, harvester=False))
    edges = pl.DataFrame(_clique("op", 20, 0.9) + [
        {"a": "bystander-0", "b": "op-3", "weight": 0.3, "families": ["network=0.3", "client=0.3"]}])
    result = find_campaigns(edges, stats)
    features = stats.get()
    ids = features.column("account_id").to_pylist()
    own, _ = score_accounts(features)
    risk = propagate(ids, own, result)
    i = ids.index("bystander-0")
    assert risk[i] < 0.7
