import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
import pytest
from gwclient import ADMIN, call, gateway, reasoning_of

from distillguard.accounts import AccountStats, score_accounts, stat_input
from distillguard.accounts.sketch import SketchKey
from distillguard.core.campaign import ONE_PAYER_DETECTOR
from distillguard.core.decision import Evidence
from distillguard.core.errors import StoreError
from distillguard.gateway.app import build_engine
from distillguard.gateway.batch import INHERITED_DETECTOR, RUN_DETECTOR, load_batch_results
from distillguard.gateway.config import load_gateway_config
from distillguard.gateway.engine import Observed
from distillguard.gateway.learner import Learned, OnlineVerdict
from distillguard.ingest import read_exchanges
from distillguard.signals import compute_signals
from distillguard.store import Store
from distillguard.store.results import EVIDENCE_TYPE
from factories import account, accounts, exchange, exchanges
from polling import wait_until


@contextmanager
def writable(db: Path) -> Iterator[Store]:
    """The store opened read-write once no read-only connection of a gateway serving in this process holds it
    (DuckDB refuses a second configuration of an open file), as an analysis waits for its write lock."""
    store = Store(db)
    wait_until(lambda: _opened(store), f"{db} free of the gateway's read-only connections")
    try:
        yield store
    finally:
        store.close()


def _opened(store: Store) -> bool:
    try:
        store.open()
    except StoreError:
        return False
    return True


def write_run(db: Path, decisions: list[tuple[str, str, str | None]], at: datetime) -> str:
    """A finished run with (account, action, campaign) decisions."""
    run_id = f"run-{at.timestamp():.0f}"
    with writable(db) as store:
        store.con.execute("INSERT INTO runs VALUES (?, 'analyze', ?, ?, [], '{}')", [run_id, at, at])
        rows = pa.table({
            "run_id": [run_id] * len(decisions), "account_id": [d[0] for d in decisions],
            "risk": [0.95 if d[1] != "allow" else 0.1 for d in decisions], "action": [d[1] for d in decisions],
            "flagged": [d[1] not in ("allow", "monitor") for d in decisions],
            "campaign_id": pa.array([d[2] for d in decisions], pa.string()),
            "flagged_at": pa.array([None] * len(decisions), pa.timestamp("us", tz="UTC")),
            "reasons": [[f"{d[1]} in batch"] for d in decisions],
            "evidence": pa.array([None if d[0] == "acct-strip" else [{"detector": "risk.account", "score": 0.95,
                                                                   "reason": f"{d[1]} in batch"}] for d in decisions],
                                 EVIDENCE_TYPE),
        })
        store.con.register("_rows", rows)
        store.con.execute("INSERT INTO decisions BY NAME SELECT * FROM _rows")
    return run_id


@pytest.fixture
def store_db(tmp_path: Path) -> Path:
    db = tmp_path / "store.duckdb"
    with Store(db) as store:
        ex = exchanges([exchange(1, account_id="acct-key", api_key_id="key_k1")])
        store.ingest_batch(ex, compute_signals(ex))
        store.upsert_accounts(accounts([account("acct-key", category="startup"),
                                        account("acct-ent", category="enterprise")]))
    write_run(db, [("acct-strip", "strip_reasoning", None), ("acct-lead", "block", "camp-1"),
                   ("acct-member", "allow", "camp-1"), ("acct-key", "require_verification", None),
                   ("acct-ent", "block", None)], datetime(2026, 3, 1, tzinfo=UTC))
    return db


def test_batch_results_load_with_campaign_inheritance(store_db: Path) -> None:
    results = load_batch_results(store_db)
    assert results.verdicts["acct-strip"].action.value == "strip_reasoning"
    member = results.verdicts["acct-member"]
    assert member.action.value == "block" and member.inherited and "camp-1" in member.evidence[-1].reason
    assert member.evidence[-1].detector == INHERITED_DETECTOR
    assert results.verdicts["acct-lead"].evidence == (Evidence("risk.account", 0.95, "block in batch"),)
    # a run stored before evidence kept its detector: its reasons are named as the run's
    assert results.verdicts["acct-strip"].evidence == (Evidence(RUN_DETECTOR, 0.95, "strip_reasoning in batch"),)
    assert results.key_accounts == {"key_k1": "acct-key"}
    assert results.accounts["acct-key"][:2] == ("startup", "email")
    assert results.accounts["acct-key"].created_at is not None


def test_unknown_actions_in_the_store_are_a_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "old.duckdb"
    write_run(db, [("acct-a", "restrict", None)], datetime(2026, 3, 1, tzinfo=UTC))
    with pytest.raises(StoreError, match=r"unknown actions \['restrict'\]"):
        load_batch_results(db)


def test_gateway_enforces_batch_results_and_reloads_them_without_restart(upstream, store_db: Path,
                                                                         tmp_path: Path) -> None:
    with gateway(upstream[0], tmp_path, db=store_db, refresh_interval_s=0.1) as (base, _):
        stripped = call(base, "chat", False, "acct-strip")
        assert stripped.status_code == 200 and reasoning_of("chat", stripped, False) is None
        assert call(base, "chat", False, "acct-member").status_code == 403
        by_key = call(base, "anthropic", False, None, **{"x-api-key": "key_k1"})
        assert by_key.status_code == 403 and by_key.json()["error"]["verification_tier"] == "business"
        # enterprise accounts are capped at summarize_reasoning whatever the batch said
        capped = call(base, "chat", False, "acct-ent")
        assert capped.status_code == 200 and reasoning_of("chat", capped, False)
        state = httpx.get(base + "/admin/accounts/acct-member", headers=ADMIN).json()
        assert state["source"] == "campaign" and state["batch"]["campaign_id"] == "camp-1"

        write_run(store_db, [("acct-strip", "allow", None)], datetime(2026, 3, 2, tzinfo=UTC))
        wait_until(lambda: call(base, "chat", False, "acct-member").status_code == 200,
                   "the new batch results lifted the campaign's block")
        direct = call(upstream[0], "chat", False)
        assert call(base, "chat", False, "acct-strip").content == direct.content


def test_online_state_learns_off_the_hot_path_and_agrees_with_batch(upstream, tmp_path: Path) -> None:
    prompts = ["Think step by step and show your complete reasoning: what is 17 times 23?",
               "Explain your full chain of thought in detail before answering: is 221 prime?"]
    with gateway(upstream[0], tmp_path) as (base, _):
        for i in range(12):  # few enough that the counted evidence does not act before the last one
            body = {"model": "atlas-2-fast", "messages": [{"role": "user", "content": f"{prompts[i % 2]} #{i}"}],
                    "stream": i % 3 == 0}
            httpx.post(base + "/v1/chat/completions", json=body, headers={"x-distillguard-account": "acct-o"})
        def learnt_all() -> dict | None:
            state = httpx.get(base + "/admin/accounts/acct-o", headers=ADMIN).json()
            return state if state["online"] and state["online"]["n_exchanges"] == 12 else None

        state = wait_until(learnt_all, "the online statistics of acct-o counted its 12 requests")
    table = pa.concat_tables([b.table for b in read_exchanges(tmp_path / "gateway.jsonl")])
    stats = AccountStats(key=SketchKey.from_secret((tmp_path / "gateway.key").read_text().strip().encode()))
    stats.update(stat_input(table, compute_signals(table)))
    context = pa.table({"category": pa.array([None], pa.string()), "verification": pa.array([None], pa.string())})
    risk, _ = score_accounts(stats.get(), context)
    np.testing.assert_allclose(state["online"]["risk"], risk[0], rtol=1e-9)  # in process: keyed with its secret key
    assert state["online"]["risk"] > 0.0


def test_the_gateway_acts_online_on_a_new_account_s_counted_elicitation(upstream, tmp_path: Path) -> None:
    """No batch run, no account record: a new account asking for the full reasoning on every new task is refused once
    its counted evidence is enough, with that evidence as the reason; a conversation's follow-ups never are.

    The harvester goes on (up to 60 tasks) until it is refused, as one would: where the learner lags behind the
    requests (a busy machine), it is judged on more of them."""
    prompts = ["Think step by step and show your complete reasoning: what is {a} times {b}?",
               "Explain your full chain of thought in detail before answering: is {a} prime?"]
    sent = iter(range(60))
    with gateway(upstream[0], tmp_path) as (base, _):

        def refused_after_one_more() -> dict | None:
            i = next(sent, None)
            if i is not None:
                body = {"model": "atlas-2-fast", "messages": [
                    {"role": "user", "content": prompts[i % 2].format(a=100 + i, b=7 + i)}]}
                httpx.post(base + "/v1/chat/completions", json=body, headers={"x-distillguard-account": "acct-h"})
                httpx.post(base + "/v1/chat/completions", headers={"x-distillguard-account": "acct-c"}, json={
                    "model": "atlas-2-fast", "messages": [
                        {"role": "user", "content": "Help me plan a week in Lisbon"},
                        {"role": "assistant", "content": "Sure: when are you going?"},
                        {"role": "user", "content": f"In May, day {i} of the planning: what else should I see?"}]})
            state = httpx.get(base + "/admin/accounts/acct-h", headers=ADMIN).json()
            return state if state["action"] not in ("allow", "monitor") else None

        harvester = wait_until(refused_after_one_more, "acct-h refused on its online counted evidence")
        traveller = httpx.get(base + "/admin/accounts/acct-c", headers=ADMIN).json()
    assert harvester["source"] == "online" and harvester["evidence"][0]["detector"] == "account.counted_elicitation"
    assert traveller["action"] == "allow", traveller


def test_signup_assessment_endpoint(upstream, tmp_path: Path) -> None:
    with gateway(upstream[0], tmp_path) as (base, _):
        bad = httpx.post(base + "/signup/assess", json={"category": "student"}, headers=ADMIN)
        unauthenticated = httpx.post(base + "/signup/assess", json={})
        good = httpx.post(base + "/signup/assess", headers=ADMIN, json={
            "email": "j.doe@example.edu", "category": "education", "signup_ip": "81.2.69.160",
            "created_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat()})
    assert unauthenticated.status_code == 401
    assert bad.status_code == 422 and bad.json()["error"]["field"]
    assert good.status_code == 200, good.text
    assert good.json()["tier"] in ("email", "phone", "id_document", "business")
    assert json.dumps(good.json()).count("81.2.69.160") == 0


def test_signup_assessment_learns_newly_flagged_accounts_without_restart(upstream, store_db: Path,
                                                                       tmp_path: Path) -> None:
    now = datetime.now(UTC)
    with Store(store_db) as store:
        store.upsert_accounts(accounts([account("acct-burner", email_local="qxw.harvest.7731", email_domain="example.org",
                                                created_at=now - timedelta(days=2))]))
    signup = {"email": "qxw.harvest.7732@example.org", "category": "individual", "signup_ip": "81.2.69.160",
              "created_at": now.isoformat()}

    def similar_to_flagged(base: str) -> bool:
        answer = httpx.post(base + "/signup/assess", headers=ADMIN, json=signup)
        assert answer.status_code == 200, answer.text
        return any("similar (character 3-grams) to a flagged account" in r for r in answer.json()["reasons"])

    with gateway(upstream[0], tmp_path, db=store_db, refresh_interval_s=0.1) as (base, _):
        assert not similar_to_flagged(base)
        run_id = write_run(store_db, [("acct-burner", "block", None)], now - timedelta(minutes=30))
        with writable(store_db) as store:
            store.con.execute("UPDATE decisions SET flagged_at = ? WHERE run_id = ?", [now - timedelta(hours=1), run_id])
        wait_until(lambda: similar_to_flagged(base), "the signup assessor learnt the newly flagged account")


def test_a_reload_whose_hook_could_not_read_the_store_is_tried_again(store_db: Path, tmp_path: Path) -> None:
    engine = build_engine(load_gateway_config(None, db=store_db, exchange_log=tmp_path / "log.jsonl"))
    answers = iter([False, True])
    calls = []

    async def hook() -> bool:
        calls.append(1)
        return next(answers)

    async def reloads() -> list[bool]:
        engine.on_reload.append(hook)
        return [await engine.reload(), await engine.reload(only_if_changed=True),
                await engine.reload(only_if_changed=True)]

    # the store did not change: only the failed hook makes the second reload happen, and not a third
    assert asyncio.run(reloads()) == [True, True, False]
    assert len(calls) == 2


def test_a_slow_learner_never_holds_up_the_engines_flushes(tmp_path: Path) -> None:
    engine = build_engine(load_gateway_config(None, exchange_log=tmp_path / "log.jsonl", learn_in="thread"))
    release = asyncio.Event()
    handed: list[int] = []

    async def learn(handled: list, context: dict) -> Learned:
        handed.append(len(handled))
        await release.wait()  # a learner that gets no CPU for now
        return Learned({"acct-l": OnlineVerdict(risk=0.2, evidence=(), n_exchanges=len(handled), distinct_ips=1)})

    engine.learner.learn = learn  # type: ignore[method-assign]

    async def run() -> tuple[dict, dict, dict]:
        for _ in range(3):
            engine.observe(Observed(0, "acct-l", None, "81.2.69.160", None, "/v1/messages", b"{}",
                                    (await engine.admit("acct-l"))))
        await asyncio.wait_for(engine.flush(), 1.0)  # hands the three over, does not wait
        engine.observe(Observed(0, "acct-l", None, "81.2.69.160", None, "/v1/messages", b"{}",
                                (await engine.admit("acct-l"))))
        await asyncio.wait_for(engine.flush(), 1.0)  # the learner is still busy: the fourth waits
        busy = engine.status()
        release.set()
        await asyncio.wait_for(engine.flush(drain=True), 5.0)
        return busy, engine.status(), await engine.account_state("acct-l")

    busy, done, state = asyncio.run(run())
    assert busy["learning"] and busy["pending"] == 1
    assert handed == [3, 1] and not done["learning"] and done["pending"] == 0
    assert state["online"]["n_exchanges"] == 1  # the last hand-over's verdict


def test_stop_ends_the_background_loop_even_when_a_flush_swallows_a_cancel(tmp_path: Path) -> None:
    engine = build_engine(load_gateway_config(None, exchange_log=tmp_path / "log.jsonl", learn_in="thread",
                                              flush_interval_s=0.01))
    flush = engine.flush
    swallowed: list[bool] = []
    flushing, answered = asyncio.Event(), asyncio.Event()

    async def stubborn_flush(drain: bool = False) -> None:
        flushing.set()
        try:
            await answered.wait()  # a call into a client library that eats a cancel mid-call (once)
        except asyncio.CancelledError:
            if swallowed:
                raise
            swallowed.append(True)
        await flush(drain)

    engine.flush = stubborn_flush  # type: ignore[method-assign]

    async def run() -> None:
        await engine.start()
        await asyncio.wait_for(flushing.wait(), 30.0)  # the background loop is inside a flush
        stopping = asyncio.create_task(engine.stop())
        answered.set()
        # a loop kept alive by a swallowed cancel would never end: the bound only keeps such a failure short
        await asyncio.wait_for(stopping, 30.0)

    asyncio.run(run())


def test_online_risk_reviews_an_established_verified_account_instead_of_degrading_it(tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    now = datetime.now(UTC)
    with Store(db) as store:
        store.upsert_accounts(accounts([
            account("acct-tutor", category="enterprise", verification="business", created_at=now - timedelta(days=200)),
            account("acct-fresh", category="enterprise", verification="business", created_at=now - timedelta(days=2)),
        ]))
    engine = build_engine(load_gateway_config(None, db=db, exchange_log=tmp_path / "log.jsonl", learn_in="thread"))
    high = OnlineVerdict(risk=0.8, evidence=(Evidence("risk.account", 0.8, "asks for step-by-step reasoning"),),
                         n_exchanges=50, distinct_ips=1)
    assert asyncio.run(engine.reload())
    engine._take(Learned({"acct-tutor": high, "acct-fresh": high}))
    tutor, fresh = engine.verdict("acct-tutor"), engine.verdict("acct-fresh")
    assert tutor.action.value == "monitor" and tutor.source == "online"
    assert any(e.detector == "policy.standing" for e in tutor.evidence)
    assert fresh.action.flags  # no history yet: the table's action stands


def _campaign(db: Path, run_id: str, campaign: str, detectors: list[str]) -> None:
    record = {"campaign_id": campaign, "findings": [{"detector": d, "score": 1.0, "reason": d} for d in detectors]}
    with writable(db) as store:
        store.con.execute("INSERT INTO campaigns (run_id, campaign_id, n_accounts, n_exchanges, confidence, record) "
                          "VALUES (?, ?, 2, 10, 0.9, ?)", [run_id, campaign, json.dumps(record)])


def test_one_customer_s_accounts_keep_their_own_actions_batch_and_online(tmp_path: Path) -> None:
    """A lab's seats on one card: the batch asked one to verify, blocked another on its own evidence; neither takes
    the other's action, and online evidence is bounded by the seat's standing as the batch's was."""
    db = tmp_path / "store.duckdb"
    with Store(db) as store:
        store.upsert_accounts(accounts([account("seat-2", category="research", verification="email")]))
    at = datetime(2026, 3, 1, tzinfo=UTC)
    run_id = write_run(db, [("seat-1", "block", "camp-lab"), ("seat-2", "require_verification", "camp-lab"),
                            ("seat-3", "allow", "camp-lab"), ("op-1", "block", "camp-op"), ("op-2", "allow", "camp-op")],
                       at)
    _campaign(db, run_id, "camp-lab", ["coordination", ONE_PAYER_DETECTOR])
    _campaign(db, run_id, "camp-op", ["round_robin"])
    results = load_batch_results(db)
    seat = results.verdicts["seat-2"]
    assert seat.action.value == "require_verification" and not seat.inherited and seat.one_customer
    assert "seat-3" not in results.verdicts  # allowed, and inherits nothing
    assert results.verdicts["op-2"].action.value == "block" and results.verdicts["op-2"].inherited
    assert not results.verdicts["op-2"].one_customer

    engine = build_engine(load_gateway_config(None, db=db, exchange_log=tmp_path / "log.jsonl", learn_in="thread"))
    assert asyncio.run(engine.reload())
    high = OnlineVerdict(risk=0.97, evidence=(Evidence("risk.account", 0.97, "asks for the full reasoning"),),
                         n_exchanges=50, distinct_ips=1)
    engine._take(Learned({"seat-2": high}))
    verdict = engine.verdict("seat-2")
    assert verdict.action.value == "require_verification" and verdict.tier == "id_document"
