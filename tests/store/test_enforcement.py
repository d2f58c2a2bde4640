import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from distillguard.core.campaign import ONE_CUSTOMER_DETECTORS
from distillguard.signals import compute_signals
from distillguard.store import Store
from distillguard.store.enforcement import (
    AccountRecord,
    StoredDecision,
    account_records,
    enforceable_decisions,
    key_accounts,
)
from distillguard.store.results import EVIDENCE_TYPE
from factories import T0, account, accounts, exchange, exchanges


def test_enforcement_reads_acting_decisions_account_records_and_api_keys(tmp_path: Path) -> None:
    with Store(tmp_path / "a.duckdb") as store:
        batch = exchanges([exchange(1, account_id="acct-a", api_key_id="key-a"), exchange(2, account_id="acct-b")])
        store.ingest_batch(batch, compute_signals(batch))
        store.upsert_accounts(accounts([account("acct-a", category="startup", verification=None)]))
        decisions = pa.table({
            "run_id": ["r1", "r1", "r1", "r2"], "account_id": ["acct-a", "acct-b", "acct-c", "acct-a"],
            "risk": [0.9, 0.1, 0.2, 0.95], "action": ["block", "allow", "allow", "throttle"],
            "flagged": [True, False, False, True], "campaign_id": pa.array([None, None, "camp", None], pa.string()),
            "flagged_at": pa.array([datetime(2026, 3, 1, tzinfo=UTC)] + [None] * 3, pa.timestamp("us", tz="UTC")),
            "reasons": [["high risk"], [], [], ["other run"]],
            "evidence": pa.array([[{"detector": "risk.account", "score": 0.9, "reason": "high risk"}], None, [], None],
                                 EVIDENCE_TYPE),
        })
        store.con.register("_rows", decisions)
        store.con.execute("INSERT INTO decisions BY NAME SELECT * FROM _rows")
        decisions = enforceable_decisions(store, "r1")
        records = account_records(store)
        keys = key_accounts(store)
    # an allow acts only as a campaign member's tie to its campaign
    assert sorted(decisions) == [
        StoredDecision("acct-a", "block", 0.9, None, ["high risk"],
                       [{"detector": "risk.account", "score": 0.9, "reason": "high risk"}]),
        StoredDecision("acct-c", "allow", 0.2, "camp", [], [])]
    assert records == {"acct-a": AccountRecord("startup", None, T0 - timedelta(days=30))}
    assert keys == {"key-a": "acct-a"}


@pytest.mark.parametrize("finding", ONE_CUSTOMER_DETECTORS)
def test_a_decision_knows_whether_its_campaign_is_one_customer(tmp_path: Path, finding: str) -> None:
    """Read from the campaign record's findings of the same run: one customer (one payer or one organisation's
    domain) in r1, not in r2 (same campaign id)."""
    with Store(tmp_path / "a.duckdb") as store:
        for run, detectors in (("r1", ["coordination", finding]), ("r2", ["round_robin"])):
            record = {"campaign_id": "camp", "findings": [{"detector": d, "score": 1.0, "reason": d} for d in detectors]}
            store.con.execute("INSERT INTO campaigns (run_id, campaign_id, n_accounts, n_exchanges, confidence, record) "
                              "VALUES (?, 'camp', 2, 10, 0.9, ?)", [run, json.dumps(record)])
            store.con.execute("INSERT INTO decisions (run_id, account_id, risk, action, flagged, campaign_id, reasons) "
                              "VALUES (?, 'seat', 0.9, 'require_verification', true, 'camp', []), "
                              "(?, 'solo', 0.9, 'block', true, NULL, [])", [run, run])
        found = {run: {d.account_id: d.one_customer for d in enforceable_decisions(store, run)} for run in ("r1", "r2")}
    assert found == {"r1": {"seat": True, "solo": False}, "r2": {"seat": False, "solo": False}}
