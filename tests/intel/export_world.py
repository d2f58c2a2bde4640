"""A large generated store for the export's privacy test: thousands of campaign members with e-mails, payment
cards, residential exits and uniquely marked prompts, written through the store's own API (no analysis run)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pyarrow as pa

from distillguard.core.campaign import CampaignRecord
from distillguard.signals import compute_signals
from distillguard.store import Store
from distillguard.store.results import EVIDENCE_TYPE, save_run
from factories import account, accounts, exchange, exchanges

T0 = datetime(2026, 5, 4, tzinfo=UTC)
PROMPT_MARK = "zq"
"""Every prompt carries ``zq`` and its seven-digit number: a prompt leaked anywhere shows as that token."""
_FREE = ("gmail.com", "qq.com", "outlook.com", "163.com")


def _residential(rng: random.Random) -> str:
    return f"{rng.choice((73, 24, 98, 174))}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def write_large_store(path: Path, *, campaigns: int = 3, members: int = 2000, outsiders: int = 500,
                      per_account: int = 2, seed: int = 11) -> list[str]:
    """Write the store; return its campaign ids. Campaign members each use their own residential exit."""
    rng = random.Random(seed)
    ex_rows, acc_rows, decisions, records = [], [], [], []
    n = 0
    groups = [(f"CMP-large{c:02d}", members) for c in range(campaigns)] + [(None, outsiders)]
    for cid, size in groups:
        ua = f"harvester/{rng.randrange(1, 9)}.{rng.randrange(10)}" if cid else "anthropic-python/0.49.0"
        ids = []
        for _ in range(size):
            aid = "acct_" + "".join(rng.choices("abcdefghijklmnopqrstuvwxyz234567", k=20))
            ids.append(aid)
            created = T0 - timedelta(days=rng.randrange(1, 30))
            domain = rng.choice(_FREE) if rng.random() < 0.7 else f"{cid or 'legit'}-{rng.randrange(5)}.example".lower()
            acc_rows.append(account(aid, created_at=created, email_domain=domain, email_local=f"user.{rng.randrange(10**6)}",
                                    payment_fingerprint=f"pf_{rng.getrandbits(48):012x}", signup_ip=_residential(rng)))
            ip = _residential(rng)
            for _ in range(per_account):
                n += 1
                ex_rows.append(exchange(n, request_id=f"large-{n}", account_id=aid, ip=ip, user_agent=ua,
                                        ts=T0 + timedelta(seconds=n), prompt=f"Work out {PROMPT_MARK}{n:07d} in full "
                                        f"detail and show every step of your reasoning please ({rng.random():.6f})"))
        if cid is None:
            continue
        decisions += [{"account_id": a, "risk": 0.9, "action": "block", "flagged": True, "campaign_id": cid,
                       "flagged_at": T0, "reasons": ["fleet"], "evidence": [], "decided_at": T0} for a in ids]
        record = CampaignRecord(cid, tuple(sorted(ids)), size * per_account, T0, T0 + timedelta(seconds=n),
                                {"reasoning": 0.8, "coding": 0.2}, 0.9, 0.85)
        records.append(record)
    batch = exchanges(ex_rows)
    with Store(path) as store:
        for start in range(0, batch.num_rows, 20_000):
            part = batch.slice(start, 20_000)
            store.ingest_batch(part, compute_signals(part))
        store.upsert_accounts(accounts(acc_rows))
        save_run(store, run_id="run-large", kind="analyze", started_at=T0, inputs=[], counts={},
                 features=pa.table({"account_id": pa.array([a["account_id"] for a in acc_rows], pa.string())}),
                 decisions=pa.Table.from_pylist(decisions, schema=pa.schema([
                     ("account_id", pa.string()), ("risk", pa.float64()), ("action", pa.string()),
                     ("flagged", pa.bool_()), ("campaign_id", pa.string()), ("flagged_at", pa.timestamp("us", "UTC")),
                     ("reasons", pa.list_(pa.string())), ("evidence", EVIDENCE_TYPE),
                     ("decided_at", pa.timestamp("us", "UTC"))])),
                 campaigns=pa.table({
                     "campaign_id": [r.campaign_id for r in records],
                     "n_accounts": pa.array([r.n_accounts for r in records], pa.int32()),
                     "n_exchanges": pa.array([r.n_exchanges for r in records], pa.int64()),
                     "first_seen": pa.array([r.first_seen for r in records], pa.timestamp("us", "UTC")),
                     "last_seen": pa.array([r.last_seen for r in records], pa.timestamp("us", "UTC")),
                     "confidence": [r.confidence for r in records],
                     "record": [orjson.dumps(r.to_json()).decode() for r in records],
                 }))
    return [r.campaign_id for r in records]
