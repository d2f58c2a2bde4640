from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa

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
