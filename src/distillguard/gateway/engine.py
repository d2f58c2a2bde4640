"""The decision engine: per-request verdicts from overrides, batch results and online state.

The hot path (:meth:`Engine.verdict`, :meth:`Engine.admit`, :meth:`Engine.observe`)
does dictionary look-ups only, plus one state call for a throttled account.
Everything else runs off it: every ``flush_interval_s`` a background task
hands the handled requests to the :class:`~distillguard.gateway.learner.Learner`
(another process by default), which logs them and returns fresh per-account
verdicts, and picks up the overrides and verdicts other replicas shared
without waiting for the learner.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from distillguard.accounts import IpIntel, default_weights
from distillguard.accounts.risk import RiskWeights
from distillguard.core.decision import Action, Evidence
from distillguard.core.errors import DistillguardError, StoreError
from distillguard.gateway.batch import BatchResults, load_batch_results, store_version
from distillguard.gateway.config import FailMode, GatewayConfig, KeyIds, LearnIn
from distillguard.gateway.learner import HandledRequest, Learned, Learner, OnlineVerdict, load_verdict
from distillguard.gateway.overrides import STORE_LOCK, Overrides, OverrideStore
from distillguard.gateway.secret import keyed_hash, load_secret
from distillguard.policy.rules import DecisionContext, Policy, decide
from distillguard.store.online import LocalState, OnlineState, OnlineStateError

log = logging.getLogger("distillguard.gateway")

UNIDENTIFIED = "unidentified"
K = TypeVar("K")
V = TypeVar("V")


class BoundedCache(Generic[K, V]):
    """A dictionary of at most ``size`` entries, the least recently set dropped first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[K, V] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: K) -> V | None:
        return self._items.get(key)

    def set(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        if len(self._items) > self.size:
            self._items.popitem(last=False)

    def pop(self, key: K) -> None:
        self._items.pop(key, None)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The action for one request, where it came from and why."""

    account_id: str
    action: Action
    source: str
    risk: float = 0.0
    evidence: tuple[Evidence, ...] = ()
    campaign_id: str | None = None
    category: str | None = None
    tier: str | None = None

    @property
    def reasons(self) -> tuple[str, ...]:
        """The plain-words reasons of the evidence."""
        return tuple(e.reason for e in self.evidence)


@dataclass(frozen=True, slots=True)
class Admission:
    """Whether a request goes on: ``status`` None forwards it (``degrade`` tells how to treat the answer)."""

    verdict: Verdict
    enforced: bool
    status: int | None = None
    message: str = ""
    retry_after: int | None = None
    would_refuse: int | None = None

    @property
    def degrade(self) -> Action | None:
        """strip_reasoning / summarize_reasoning when the response must be degraded."""
        if self.enforced and self.verdict.action in (Action.STRIP_REASONING, Action.SUMMARIZE_REASONING):
            return self.verdict.action
        return None


@dataclass(slots=True)
class Observed:
    """One request the gateway handled, queued for the background task."""

    ts_ms: int
    account_id: str
    api_key_id: str | None
    ip: str
    user_agent: str | None
    endpoint: str
    request: bytes
    admission: Admission
    response: bytearray = field(default_factory=bytearray)
    stream: bool = False
    status: int | None = None


class Engine:
    """Decides per request, learns off the hot path, and answers the admin API."""

    def __init__(self, config: GatewayConfig, policy: Policy, state: OnlineState, intel: IpIntel,
                 weights: RiskWeights | None = None, batch_loader: Callable[[], BatchResults] | None = None) -> None:
        self.config = config
        self.policy = policy
        self.state = state
        self.intel = intel
        self.shared = not isinstance(state, LocalState)
        self.needs_model = bool(policy.models)
        tables = [policy.rules, *(m.rules for m in policy.models.values() if m.rules)]
        evidence_floor = min((r.min_risk for rules in tables for r in rules if r.action is not Action.ALLOW),
                             default=2.0)
        self.batch = BatchResults()
        db = config.db
        self._batch_loader = batch_loader or ((lambda: load_batch_results(db)) if db is not None else None)
        self._batch_version: tuple[float, ...] | None = None
        # called after each reload that replaced the batch results (the signup assessor refreshes);
        # a hook that returns False could not read the store: the next reload tries again
        self.on_reload: list[Callable[[], Awaitable[bool]]] = []
        self.store_ok = self._batch_loader is None
        self.state_ok = True
        self.learner = Learner(config, intel, config.learn_in is LearnIn.THREAD, evidence_floor,
                               weights or default_weights("account"), policy.reads)
        self._verdicts: BoundedCache[str, OnlineVerdict] = BoundedCache(config.max_accounts)
        self._overrides = Overrides()
        self._override_store = OverrideStore(db, config.admin_write_timeout_s) if db is not None else None
        self.secret: bytes | None = None
        self._pending: deque[Observed] = deque(maxlen=config.max_pending)
        self._seen: set[str] = set()
        self._synced: BoundedCache[str, bool] = BoundedCache(config.max_accounts)
        self.dropped = 0
        self._dropped_logged = 0
        self.rejected = 0
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._learning: asyncio.Task[Learned] | None = None

    # --- hot path -----------------------------------------------------------------------

    def identify(self, headers: dict[str, str]) -> tuple[str | None, str | None]:
        """(account, api key id) of a request: the account header, else the key → account table."""
        key = headers.get("x-api-key")
        if key is None:
            auth = headers.get("authorization", "")
            key = auth[7:].strip() if auth[:7].lower() == "bearer " else None
        key_id = None
        if key:
            key_id = key if self.config.api_key_ids is KeyIds.PLAIN else self.key_id(key)
        account = headers.get(self.config.account_header) or (
            self.batch.key_accounts.get(key_id) if key_id else None)
        return account, key_id

    def key_id(self, key: str) -> str:
        """The ``api_key_id`` of an API key: its keyed hash under the gateway's secret."""
        if self.secret is None:
            raise RuntimeError("engine not started: no secret key loaded")
        return keyed_hash(self.secret, "api_key", key)

    def verdict(self, account: str | None, model: str | None = None) -> Verdict:
        """The action for ``account``: an admin override, else the stronger of batch and online."""
        if account is None:
            return Verdict(UNIDENTIFIED, Action.ALLOW, "unidentified")
        override = self._overrides.actions.get(account)
        record = self.batch.accounts.get(account)
        category, verification = (record.category, record.verification) if record else (None, None)
        if override is not None:
            return self._with_tier(Verdict(account, override, "override", evidence=(_OVERRIDDEN,), category=category))
        best = Verdict(account, Action.ALLOW, "default", category=category)
        batch = self.batch.verdicts.get(account)
        if batch is not None:
            best = Verdict(account, self.policy.cap(batch.action, category, model),
                           "campaign" if batch.inherited else "batch", batch.risk, batch.evidence,
                           batch.campaign_id, category)
        online = self._verdicts.get(account)
        if online is not None:
            age = datetime.now(UTC) - record.created_at if record is not None and record.created_at else None
            decision = decide(self.policy, DecisionContext(account, online.risk, online.evidence, category,
                                                           best.campaign_id, model, verification, age,
                                                           one_customer=batch is not None and batch.one_customer))
            if decision.action.rank > best.action.rank:
                best = Verdict(account, decision.action, "online", online.risk, decision.evidence,
                               best.campaign_id, category)
        return self._with_tier(best)

    def _with_tier(self, verdict: Verdict) -> Verdict:
        if verdict.action is not Action.REQUIRE_VERIFICATION:
            return verdict
        return Verdict(verdict.account_id, verdict.action, verdict.source, verdict.risk, verdict.evidence,
                       verdict.campaign_id, verdict.category, self.policy.tier_for(verdict.category))

    async def admit(self, account: str | None, model: str | None = None) -> Admission:
        """The verdict and whether the request may go on (never raises for state failures)."""
        if account is not None and self.shared:
            self._seen.add(account)
            if self.state_ok and self._synced.get(account) is None:
                await self._sync({account})  # first sight on this replica: other replicas may know it
        verdict = self.verdict(account, model)
        enforced = not self.config.dry_run
        if self.config.fail is FailMode.CLOSED and not (self.state_ok and self.store_ok):
            broken = "online state" if not self.state_ok else "store"
            return _refuse(verdict, enforced, 503, f"the gateway's {broken} is unavailable")
        action = verdict.action
        if action is Action.BLOCK:
            return _refuse(verdict, enforced, 403, "this account is blocked")
        if action is Action.REQUIRE_VERIFICATION:
            return _refuse(verdict, enforced, 403, f"this account must complete {verdict.tier} verification")
        if action is Action.THROTTLE:
            return await self._throttle(verdict, enforced)
        return Admission(verdict, enforced)

    async def _throttle(self, verdict: Verdict, enforced: bool) -> Admission:
        limit = self.policy.throttle
        try:
            count = await self.state.hit(f"rate:{verdict.account_id}", limit.window_s)
        except OnlineStateError as exc:
            self.state_ok = False
            log.warning("throttle not counted: %s", exc)
            if self.config.fail is FailMode.CLOSED:
                return _refuse(verdict, enforced, 503, "the gateway's online state is unavailable")
            return Admission(verdict, enforced)
        if count.count <= limit.requests:
            return Admission(verdict, enforced)
        return _refuse(verdict, enforced, 429, f"rate limited to {limit.requests} requests per {limit.window_s:g} s",
                       max(1, math.ceil(count.reset_after)))

    def observe(self, observed: Observed) -> None:
        """Queue a handled request for the background task (the oldest is dropped when full)."""
        if len(self._pending) == self._pending.maxlen:
            self.dropped += 1
        self._pending.append(observed)

    # --- background ---------------------------------------------------------------------

    async def start(self) -> None:
        """Load the secret key and batch results, start the learner (it builds its models), then the background
        task."""
        self.secret = await asyncio.to_thread(load_secret, self.config)
        if self._override_store is None:
            log.warning("no store (db): administrators' overrides last only as long as the online state")
        await self.reload()
        await self.learner.start(self.secret)
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name="distillguard-engine")

    async def stop(self) -> None:
        """Flush what is pending and stop."""
        if self._task is not None:
            self._stopping.set()  # not a cancel: a library that swallows it mid-call would keep the loop alive
            await self._task
            self._task = None
        await self.flush(drain=True)
        await self.learner.stop()
        await self.state.close()

    async def _run(self) -> None:
        next_reload = time.monotonic() + self.config.refresh_interval_s
        while True:
            try:
                await asyncio.wait_for(self._stopping.wait(), self.config.flush_interval_s)
                return
            except TimeoutError:
                pass
            try:
                await self.flush()
            except DistillguardError as exc:
                log.warning("flush failed: %s", exc)
            except Exception:  # the loop must survive any one bad batch
                log.exception("flush failed")
            if self._batch_loader is not None and time.monotonic() >= next_reload:
                next_reload = time.monotonic() + self.config.refresh_interval_s
                await self.reload(only_if_changed=True)

    async def reload(self, only_if_changed: bool = False) -> bool:
        """Read batch results from the store again; True if they were replaced."""
        if self._batch_loader is None:
            return False
        version = store_version(self.config.db) if self.config.db is not None else None
        if only_if_changed and self.store_ok and version == self._batch_version:
            return False
        try:
            self.batch = await asyncio.to_thread(self._load_batch)
            durable = (await asyncio.to_thread(self._override_store.read)
                       if self._override_store is not None else None)
        except StoreError as exc:
            self.store_ok = False
            log.warning("batch results not loaded: %s", exc)
            return False
        self.store_ok = True
        if durable is not None and durable.seq > self._overrides.seq:
            self._overrides = durable
            if self.shared:
                await self._share_overrides()
        self._batch_version = version
        log.info("batch results of run %s: %d accounts with an action", self.batch.run_id, len(self.batch.verdicts))
        if not all([await hook() for hook in self.on_reload]):
            self._batch_version = None
        return True

    async def flush(self, drain: bool = False) -> None:
        """Take the learner's verdicts, hand it the next slice of pending requests, sync shared state.

        The learner is not waited for (it may get little CPU, see ``learner_priority``): overrides and
        other replicas' verdicts are picked up whatever it is doing. ``drain`` waits until everything
        pending has been learnt (at stop).
        """
        seen, self._seen = self._seen, set()
        if self.dropped > self._dropped_logged:
            log.warning("learner behind: %d handled requests dropped unlogged so far (max_pending %d)",
                        self.dropped, self.config.max_pending)
            self._dropped_logged = self.dropped
        while True:
            if self._learning is not None:
                if not (drain or self._learning.done()):
                    break
                learning, self._learning = self._learning, None
                self._take(await learning)
            if not self._pending:
                break
            size = min(len(self._pending), self.config.learn_batch)  # a slice: no one hand-over holds the loop long
            handled = [_handled(self._pending.popleft()) for _ in range(size)]
            context = {h.account_id: self.batch.accounts[h.account_id]
                       for h in handled if h.account_id in self.batch.accounts}
            self._learning = asyncio.create_task(self.learner.learn(handled, context))
            if not drain:
                break
        if self.shared:
            await self._sync(seen)

    def _load_batch(self) -> BatchResults:
        if self._batch_loader is None:
            raise RuntimeError("no batch loader")
        with STORE_LOCK:
            return self._batch_loader()

    def _take(self, learned: Learned) -> None:
        """Keep what one hand-over to the learner returned."""
        self.rejected += learned.rejected
        if not learned.state_ok:
            self.state_ok = False
        for account, verdict in learned.verdicts.items():
            self._verdicts.set(account, verdict)

    def status(self) -> dict[str, Any]:
        """The gateway's health: learner backlog, records dropped or set aside, state and store."""
        return {"pending": len(self._pending), "learning": self._learning is not None,
                "dropped": self.dropped, "rejected": self.rejected,
                "accounts_with_online_verdict": len(self._verdicts), "state_ok": self.state_ok,
                "store_ok": self.store_ok, "run_id": self.batch.run_id, "dry_run": self.config.dry_run}

    async def _sync(self, seen: set[str]) -> None:
        """Pick up the overrides, and other replicas' verdicts for the accounts served here lately."""
        accounts = sorted(seen)
        try:
            values = await self.state.get_many([_OVERRIDES] + [f"verdict:{a}" for a in accounts])
        except OnlineStateError as exc:
            self.state_ok = False
            log.warning("shared state unavailable: %s", exc)
            return
        self.state_ok = True
        shared = Overrides.load(values[0])
        if shared is None or shared.seq < self._overrides.seq:
            await self._share_overrides()  # the online state lost them (restarted empty, or an old snapshot)
        else:
            self._overrides = shared
        for account, verdict in zip(accounts, values[1:], strict=True):
            self._synced.set(account, True)
            if verdict is not None:
                self._verdicts.set(account, load_verdict(verdict))

    # --- admin --------------------------------------------------------------------------

    async def set_override(self, account: str, action: Action | None, actor: str, reason: str | None = None) -> None:
        """Force ``action`` on ``account`` (None removes the override), shared with every replica.

        With a store, the change is stored first, with ``actor`` and ``reason`` (StoreError if it cannot
        be, and nothing changes); without one it lasts only as long as the online state.
        """
        if self._override_store is not None:
            stored = await asyncio.to_thread(self._override_store.write, account, action, actor, reason)
            self._overrides = Overrides.newer(self._overrides, stored)
            await self._share_overrides()  # if it fails, the other replicas read it at their next reload
            return

        def change(old: bytes | None) -> bytes:
            base = Overrides.newer(Overrides.load(old), self._overrides)  # an evicted blob: keep ours
            return base.changed(account, action, base.seq + 1).dump()

        self._overrides = _checked(await self.state.merge_blob(_OVERRIDES, change, _FOREVER_S))

    async def _share_overrides(self) -> None:
        """Put the overrides in force into the online state unless it holds a later set (then take that);
        never raises for state failures."""
        ours = self._overrides
        try:
            blob = await self.state.merge_blob(
                _OVERRIDES, lambda old: Overrides.newer(Overrides.load(old), ours).dump(), _FOREVER_S)
        except OnlineStateError as exc:
            self.state_ok = False
            log.warning("overrides not shared: %s", exc)
            return
        self._overrides = Overrides.newer(self._overrides, _checked(blob))

    async def override_history(self, account: str) -> list[dict[str, Any]]:
        """The stored override entries of ``account`` (who, when, action, reason), oldest first."""
        if self._override_store is None:
            return []
        entries = await asyncio.to_thread(self._override_store.history, account)
        return [{"seq": e.seq, "action": e.action, "actor": e.actor, "reason": e.reason,
                 "decided_at": e.decided_at.isoformat()} for e in entries]

    async def account_state(self, account: str) -> dict[str, Any]:
        """What the gateway knows of ``account`` and the action it takes now."""
        if self.shared:
            await self._sync({account})
        verdict = self.verdict(account)
        batch = self.batch.verdicts.get(account)
        online = self._verdicts.get(account)
        record = self.batch.accounts.get(account)
        category, verification = (record.category, record.verification) if record else (None, None)
        out: dict[str, Any] = {
            "account_id": account,
            "action": verdict.action.value,
            "source": verdict.source,
            "reasons": list(verdict.reasons),
            "evidence": [e.to_json() for e in verdict.evidence],
            "dry_run": self.config.dry_run,
            "category": category,
            "verification": verification,
            "override": (o.value if (o := self._overrides.actions.get(account)) is not None else None),
            "batch": None if batch is None else {
                "run_id": self.batch.run_id, "action": batch.action.value, "risk": batch.risk,
                "campaign_id": batch.campaign_id, "evidence": [e.to_json() for e in batch.evidence]},
            "online": None if online is None else {
                "risk": online.risk, "n_exchanges": online.n_exchanges,
                "evidence": [e.to_json() for e in online.evidence]},
        }
        if self.shared:
            out["online_distinct_ips"] = 0 if online is None else online.distinct_ips
        if verdict.tier is not None:
            out["verification_tier"] = verdict.tier
        return out


def _refuse(verdict: Verdict, enforced: bool, status: int, message: str, retry_after: int | None = None) -> Admission:
    """A refusal with ``status``, or in dry-run a pass that records the status it would have had."""
    if enforced:
        return Admission(verdict, True, status, message, retry_after, status)
    return Admission(verdict, False, None, message, None, status)


_OVERRIDES = "overrides"
_OVERRIDDEN = Evidence("admin.override", 1.0, "set by an administrator")
_FOREVER_S = 100 * 365 * 86400.0


def _checked(blob: bytes) -> Overrides:
    overrides = Overrides.load(blob)
    if overrides is None:
        raise OnlineStateError("overrides: the online state returned no blob")
    return overrides


def _handled(obs: Observed) -> HandledRequest:
    verdict = obs.admission.verdict
    return HandledRequest(
        ts_ms=obs.ts_ms, account_id=obs.account_id, api_key_id=obs.api_key_id, ip=obs.ip, user_agent=obs.user_agent,
        endpoint=obs.endpoint, request=obs.request, response=bytes(obs.response), stream=obs.stream,
        status=obs.admission.status or obs.status, refused=obs.admission.status is not None,
        action=verdict.action.value, evidence=tuple((e.detector, e.score, e.reason) for e in verdict.evidence),
        source=verdict.source, risk=verdict.risk,
        campaign_id=verdict.campaign_id, enforced=obs.admission.enforced, tier=verdict.tier,
        would_refuse=obs.admission.would_refuse)
