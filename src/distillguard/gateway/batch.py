"""Batch results the gateway enforces: the latest run's decisions, campaigns and key table.

Read from the store read-only (an analysis may be writing it), and reloaded
when the file changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from distillguard.core.decision import Action, Evidence
from distillguard.core.errors import StoreError
from distillguard.store import Store
from distillguard.store.enforcement import AccountRecord, account_records, enforceable_decisions, key_accounts
from distillguard.store.runs import latest_run_id

RUN_DETECTOR = "run"
"""Detector named on the reasons of runs stored before evidence kept its provenance."""
INHERITED_DETECTOR = "campaign.inherited"
"""Detector of the evidence that an account takes its campaign's stronger action."""


@dataclass(frozen=True, slots=True)
class BatchVerdict:
    """One account's decision in the latest run; ``inherited`` when it comes from its campaign; ``one_customer``
    when that campaign is one customer's accounts (no member takes another's action)."""

    action: Action
    risk: float
    campaign_id: str | None
    evidence: tuple[Evidence, ...]
    inherited: bool = False
    one_customer: bool = False


@dataclass(frozen=True, slots=True)
class BatchResults:
    """What the latest analysis decided, and the account records and API keys the store knows."""

    run_id: str | None = None
    verdicts: dict[str, BatchVerdict] = field(default_factory=dict)
    accounts: dict[str, AccountRecord] = field(default_factory=dict)
    key_accounts: dict[str, str] = field(default_factory=dict)


def load_batch_results(db: Path) -> BatchResults:
    """Read the latest run's results from the store at ``db``; StoreError if it cannot be read."""
    with Store(db, read_only=True) as store:
        run_id = latest_run_id(store)
        rows = enforceable_decisions(store, run_id) if run_id else []
        accounts = account_records(store)
        keys = key_accounts(store)
    known = {a.value for a in Action}
    unknown = sorted({row[1] for row in rows} - known)
    if unknown:
        raise StoreError(f"{db}: decisions of run {run_id}: unknown actions {unknown}; known: {sorted(known)}")
    campaign_action: dict[str, Action] = {}
    for _, action, _, campaign, _, _, one_customer in rows:
        if campaign is not None and not one_customer:
            campaign_action[campaign] = Action.strongest(Action(action), campaign_action.get(campaign, Action.ALLOW))
    verdicts = {}
    for account, action, risk, campaign, reasons, stored, one_customer in rows:
        own = Action(action)
        inherited = campaign_action.get(campaign, Action.ALLOW) if campaign else Action.ALLOW
        final = Action.strongest(own, inherited)
        if final is Action.ALLOW:
            continue
        evidence = (tuple(Evidence(e["detector"], e["score"], e["reason"]) for e in stored) if stored is not None
                    else tuple(Evidence(RUN_DETECTOR, float(risk), r) for r in reasons or ()))
        if final != own:
            evidence += (Evidence(INHERITED_DETECTOR, 1.0,
                                  f"member of campaign {campaign}, whose strongest action is {inherited.value}"),)
        verdicts[account] = BatchVerdict(final, float(risk), campaign, evidence, final != own, one_customer)
    return BatchResults(run_id, verdicts, accounts, keys)


def store_version(db: Path) -> tuple[float, ...]:
    """Modification times of the store file and its write-ahead log (changes mean new results)."""
    times = []
    for path in (db, db.with_name(db.name + ".wal")):
        try:
            times.append(path.stat().st_mtime)
        except OSError:
            times.append(0.0)
    return tuple(times)
