"""The learning side of the gateway, kept off the request path.

:class:`LearnerState` turns handled requests into exchange-log records and
per-account verdicts: normalise, compute the per-exchange signals, update the
account statistics (in process, or merged into the shared state for several
replicas), score the touched accounts. It is CPU work, so :class:`Learner`
runs it in a separate process by default (``learn_in: process``), on idle
CPU only (``learner_priority``): a thread would hold the interpreter lock and
delay requests, and even a niced process on another core delays whatever it
shares that core with by a scheduler slice (several ms at the gateway's p99).
That process inherits the gateway's CPU affinity: a gateway pinned to one core
(``taskset``) shares it with its learner unless the learner, a child process of
the gateway, is pinned elsewhere (as ``bench/bench_gateway.py`` does).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import secrets
import uuid
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, BinaryIO, NamedTuple

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from distillguard.accounts import AccountStats, IpIntel, score_accounts, stat_input
from distillguard.accounts.online import OnlineAccountStats, merge_blob
from distillguard.accounts.risk import RiskWeights
from distillguard.accounts.sketch import SketchKey, SketchKeyError
from distillguard.core.api import API_PATHS
from distillguard.core.decision import Evidence
from distillguard.core.errors import RecordError
from distillguard.core.schema import EXCHANGE_SCHEMA
from distillguard.gateway.capture import collect_stream
from distillguard.gateway.config import GatewayConfig, LearnerPriority, LogIp, LogText
from distillguard.gateway.secret import pseudonymize_ip
from distillguard.ingest import normalize_exchange
from distillguard.signals import compute_signals
from distillguard.store.enforcement import AccountRecord
from distillguard.store.online import OnlineState, OnlineStateBusy, OnlineStateError, open_state

log = logging.getLogger("distillguard.gateway")

AccountContext = dict[str, AccountRecord]
"""Account → its record (category, verification, creation time), for the accounts in a batch that have one."""
_NO_RECORD = AccountRecord(None, None, None)
_SKETCH_KEY = "sketch_key"
"""The shared state's key holding the secret the shared statistics' sketches are keyed with."""
PENDING_MAX_ROWS = 100_000
"""Statistics rows kept for the accounts whose shared merge did not happen, merged with the next batch; beyond
them the oldest are dropped (and logged): a long outage of the shared state must not grow the learner unbounded."""
_CONTEXT_SCHEMA = pa.schema([("category", pa.string()), ("verification", pa.string()),
                             ("created_at", pa.timestamp("us", tz="UTC"))])


class OnlineVerdict(NamedTuple):
    """An account's risk from its online statistics (a tuple: cheap to send between processes)."""

    risk: float
    evidence: tuple[Evidence, ...]
    n_exchanges: int
    distinct_ips: int


@dataclass(frozen=True, slots=True)
class Learned:
    """What one batch taught: fresh verdicts, whether the shared state answered, records set aside."""

    verdicts: dict[str, OnlineVerdict]
    state_ok: bool = True
    rejected: int = 0


class HandledRequest(NamedTuple):
    """What the learner needs of one handled request (a tuple: cheap to send to another process)."""

    ts_ms: int
    account_id: str
    api_key_id: str | None
    ip: str
    user_agent: str | None
    endpoint: str
    request: bytes
    response: bytes
    stream: bool
    status: int | None
    refused: bool
    action: str
    evidence: tuple[tuple[str, float, str], ...]
    """The verdict's evidence as ``(detector, score, reason)``."""
    source: str
    risk: float
    campaign_id: str | None
    enforced: bool
    tier: str | None
    would_refuse: int | None = None


def dump_verdict(verdict: OnlineVerdict) -> bytes:
    """A verdict as JSON bytes for the shared state."""
    return orjson.dumps({"risk": verdict.risk, "n": verdict.n_exchanges, "ips": verdict.distinct_ips,
                         "evidence": [[e.detector, e.score, e.reason] for e in verdict.evidence]})


def load_verdict(blob: bytes) -> OnlineVerdict:
    """The verdict :func:`dump_verdict` wrote."""
    doc = orjson.loads(blob)
    return OnlineVerdict(risk=float(doc["risk"]), evidence=tuple(Evidence(*e) for e in doc["evidence"]),
                         n_exchanges=int(doc["n"]), distinct_ips=int(doc.get("ips", 0)))  # none from older replicas


class _Unmerged(Exception):
    """A batch's shared merge stopped at ``cause``; ``accounts`` are certainly not merged (an account whose merge
    failed otherwise than by losing every race may have been written, and is not among them)."""

    def __init__(self, cause: OnlineStateError, accounts: list[str]) -> None:
        super().__init__(str(cause))
        self.accounts = accounts


class LearnerState:
    """Exchange log, online statistics and scoring of one gateway (lives in the learner process or thread).

    Verdicts under ``evidence_floor`` (the lowest risk at which any policy rule
    acts) are returned without their evidence: nothing would show it, and it
    is most of what would be sent back and kept per account. The detectors of
    ``report`` (the policy's :attr:`~distillguard.policy.Policy.reads`) are
    in the evidence wherever they count. With a shared state, the statistics of the accounts whose merge did not
    happen (the state unreachable, or a merge that lost every race) are merged with the next batch, up to
    :data:`PENDING_MAX_ROWS` rows.
    """

    def __init__(self, config: GatewayConfig, intel: IpIntel, evidence_floor: float, weights: RiskWeights,
                 secret: bytes, report: frozenset[str] = frozenset()) -> None:
        self.config = config
        self.intel = intel
        self.evidence_floor = evidence_floor
        self.weights = weights
        self.report = report
        self.secret = secret
        self.online = OnlineAccountStats(intel, config.max_accounts, SketchKey.from_secret(secret))
        self.state: OnlineState | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._log: BinaryIO | None = None
        self._pending: pa.Table | None = None

    def _shared_state(self) -> OnlineState | None:
        """The shared state (None for in-process state), opened on first use in the calling thread."""
        if self._loop is None and self.config.state != "memory://":
            self._loop = asyncio.new_event_loop()
            self.state = open_state(self.config.state, prefix=self.config.state_prefix)
        return self.state

    def learn(self, handled: list[HandledRequest], context: AccountContext) -> Learned:
        """Log ``handled`` and learn from the answered ones; the touched accounts' verdicts."""
        rows, lines, rejected = [], [], 0
        for item in handled:
            record = exchange_record(item)
            lines.append(orjson.dumps(self._retained(record)) + b"\n")
            if item.refused or record["response"] is None:
                continue
            try:
                rows.append(normalize_exchange(record))
            except RecordError:
                rejected += 1
        if self.config.exchange_log is not None and lines:
            if self._log is None:
                self._log = self.config.exchange_log.open("ab")
            self._log.write(b"".join(lines))
            self._log.flush()
        if not rows:
            return Learned({}, rejected=rejected)
        exchanges = pa.Table.from_pylist(rows, schema=EXCHANGE_SCHEMA)
        batch = stat_input(exchanges, compute_signals(exchanges))
        state = self._shared_state()
        if state is None or self._loop is None:
            touched = self.online.update(batch)
            return Learned(self._score(self.online.features(touched), context), rejected=rejected)
        if self._pending is not None:
            batch, self._pending = pa.concat_tables([self._pending, batch]), None
        try:
            features = self._loop.run_until_complete(self._merge_shared(state, batch))
        except _Unmerged as exc:
            self._keep_pending(batch, exc.accounts)
            log.warning("shared statistics not updated: %s; %d accounts' rows kept for the next batch", exc,
                        len(exc.accounts))
            return Learned({}, state_ok=False, rejected=rejected)
        except OnlineStateError as exc:
            log.warning("shared statistics not updated: %s", exc)
            return Learned({}, state_ok=False, rejected=rejected)
        verdicts = self._score(features, context)
        try:
            self._loop.run_until_complete(self._share(state, verdicts))
        except OnlineStateError as exc:
            log.warning("verdicts not shared: %s", exc)
            return Learned(verdicts, state_ok=False, rejected=rejected)
        return Learned(verdicts, rejected=rejected)

    def _retained(self, record: dict[str, Any]) -> dict[str, Any]:
        """What the exchange log keeps of ``record`` (``exchange_log_ip``, ``exchange_log_text``)."""
        if self.config.exchange_log_ip is LogIp.PSEUDONYMIZE:
            record = {**record, "ip": pseudonymize_ip(self.secret, record["ip"])}
        if self.config.exchange_log_text is LogText.DROP:
            record = {**record, "request": blank_text(record["request"]), "response": blank_text(record["response"])}
        return record

    def _keep_pending(self, batch: pa.Table, accounts: list[str]) -> None:
        """Keep ``batch``'s rows of ``accounts`` for the next merge, the newest :data:`PENDING_MAX_ROWS` of them."""
        kept = batch.filter(pc.is_in(batch.column("account_id"), value_set=pa.array(accounts, pa.string())))
        if kept.num_rows > PENDING_MAX_ROWS:
            log.warning("%d statistics rows dropped of %d pending while the shared state fails",
                        kept.num_rows - PENDING_MAX_ROWS, kept.num_rows)
            kept = kept.slice(kept.num_rows - PENDING_MAX_ROWS)
        self._pending = kept if kept.num_rows else None

    async def _merge_shared(self, state: OnlineState, batch: pa.Table) -> pa.Table:
        """Merge ``batch`` into the shared statistics of its accounts and return theirs. Raises :class:`_Unmerged`
        when the shared state fails, :class:`OnlineStateError` when a stored blob's sketches are keyed otherwise."""
        accounts = list(dict.fromkeys(batch.column("account_id").to_pylist()))
        try:
            key = await self._shared_key(state)
        except OnlineStateError as exc:
            raise _Unmerged(exc, accounts) from exc
        delta = AccountStats(self.intel, key=key)
        delta.update(batch)
        merged = AccountStats(self.intel, key=key)
        for n, account in enumerate(accounts):
            try:
                blob = await state.merge_blob(f"stats:{account}", _merger(delta, account), self.config.stats_ttl_s)
                merged.merge(AccountStats.from_bytes(blob, account, self.intel, key))
            except SketchKeyError as exc:
                raise OnlineStateError(str(exc)) from exc
            except OnlineStateBusy as exc:
                raise _Unmerged(exc, accounts[n:]) from exc
            except OnlineStateError as exc:
                raise _Unmerged(exc, accounts[n + 1:]) from exc
        return merged.get()

    async def _shared_key(self, state: OnlineState) -> SketchKey:
        """The sketch key of every replica sharing ``state``: a secret kept there (made by the first replica to learn),
        its life renewed with each batch so that it outlives the statistics it keyed."""
        secret = await state.merge_blob(_SKETCH_KEY, lambda old: old or secrets.token_bytes(32),
                                        self.config.stats_ttl_s + 60)
        return SketchKey.from_secret(secret)

    async def _share(self, state: OnlineState, verdicts: dict[str, OnlineVerdict]) -> None:
        for account, verdict in verdicts.items():
            await state.put(f"verdict:{account}", dump_verdict(verdict), self.config.stats_ttl_s)

    def _score(self, features: pa.Table, known: AccountContext) -> dict[str, OnlineVerdict]:
        if features.num_rows == 0:
            return {}
        ids = features.column("account_id").to_pylist()
        rows = [known.get(a, _NO_RECORD) for a in ids]
        context = pa.table({"category": [r.category for r in rows], "verification": [r.verification for r in rows],
                            "created_at": [r.created_at for r in rows]}, schema=_CONTEXT_SCHEMA)
        risk, evidence = score_accounts(features, context, weights=self.weights, report=self.report)
        n = features.column("n_exchanges").to_pylist()
        ips = features.column("distinct_ips").to_pylist()
        floor = self.evidence_floor
        return {a: OnlineVerdict(risk=float(risk[i]), evidence=tuple(evidence[i]) if risk[i] >= floor else (),
                                 n_exchanges=int(n[i]), distinct_ips=round(ips[i]))
                for i, a in enumerate(ids)}

    def close(self) -> None:
        """Close the exchange log and the shared state (logging the statistics rows left unmerged)."""
        if self._pending is not None:
            log.warning("%d statistics rows not merged into the shared state at shutdown", self._pending.num_rows)
            self._pending = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._loop is not None:
            if self.state is not None:
                self._loop.run_until_complete(self.state.close())
            self._loop.close()
            self._loop = None


def _merger(delta: AccountStats, account: str) -> Any:
    return lambda old: merge_blob(old, delta, account)


def _json_or_none(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def exchange_record(item: HandledRequest) -> dict[str, Any]:
    """The exchange-log record of one request: the canonical input shape plus the decision and its reasons."""
    request = _json_or_none(item.request)
    if item.refused:
        response = None
    elif item.stream:
        response = collect_stream(API_PATHS[item.endpoint], item.response)
    else:
        response = _json_or_none(item.response)
    model = request.get("model") if isinstance(request, dict) else None
    return {
        "request_id": f"gw_{uuid.uuid4().hex}",
        "ts": datetime.fromtimestamp(item.ts_ms / 1000, UTC).isoformat(timespec="milliseconds"),
        "account_id": item.account_id,
        "api_key_id": item.api_key_id,
        "ip": item.ip,
        "user_agent": item.user_agent,
        "model": model if isinstance(model, str) and model else "unknown",
        "endpoint": item.endpoint,
        "request": request if isinstance(request, dict) else {},
        "response": response if isinstance(response, dict) else None,
        "status": item.status,
        "action": item.action,
        "reasons": [reason for _, _, reason in item.evidence],
        "evidence": [{"detector": d, "score": round(s, 4), "reason": r} for d, s, r in item.evidence],
        "decision": {"source": item.source, "risk": round(item.risk, 4), "campaign_id": item.campaign_id,
                     "enforced": item.enforced, "verification_tier": item.tier,
                     "refused_with": item.would_refuse},
    }


_TEXT_KEYS = frozenset({"content", "text", "thinking", "reasoning", "reasoning_content", "input", "instructions",
                        "system", "prompt", "arguments", "partial_json", "refusal", "data", "signature",
                        "encrypted_content"})


def blank_text(value: Any, key: str | None = None) -> Any:
    """``value`` with every text under a text-bearing key blanked ("" for a string), its structure kept
    (message roles, content block types, tool names, parameters, usage)."""
    if isinstance(value, dict):
        return {k: blank_text(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [blank_text(v, key) for v in value]
    if isinstance(value, str) and key in _TEXT_KEYS:
        return ""
    return value


def warm_up() -> None:
    """Build the signal models once, so that the first real batch is not slow."""
    row: dict[str, Any] = {f.name: None for f in EXCHANGE_SCHEMA}
    row.update(request_id="warm-up", ts=0, account_id="warm-up", ip="127.0.0.1", model="m", endpoint="/v1/messages",
               api_format="anthropic", prompt="hello", n_messages=1, n_user_turns=1, n_tool_results=0, tool_names=[],
               n_tool_calls=0)
    compute_signals(pa.Table.from_pylist([row], schema=EXCHANGE_SCHEMA))


_WORKER: LearnerState | None = None


def lower_priority(priority: LearnerPriority) -> None:
    """Lower the calling process's CPU priority: ``SCHED_IDLE``, or ``SCHED_BATCH`` at nice 19 (nice 19 alone
    where the platform has neither)."""
    if priority is LearnerPriority.IDLE and hasattr(os, "SCHED_IDLE"):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        return
    os.nice(19 - os.nice(0))
    if hasattr(os, "SCHED_BATCH"):
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))


def _start_worker(config_json: str, evidence_floor: float, weights_json: str, secret: bytes,
                  report: frozenset[str]) -> None:
    global _WORKER
    config = GatewayConfig.model_validate_json(config_json)
    _WORKER = LearnerState(config, IpIntel.load(config.intel_dir), evidence_floor,
                           RiskWeights.model_validate_json(weights_json), secret, report)
    warm_up()  # at the gateway's priority: a busy machine must not hold up its start
    lower_priority(config.learner_priority)


def _worker_learn(handled: list[HandledRequest], context: AccountContext) -> Learned:
    if _WORKER is None:
        raise RuntimeError("learner process not started")
    return _WORKER.learn(handled, context)


def _worker_close() -> None:
    if _WORKER is not None:
        _WORKER.close()


def _ready() -> bool:
    return _WORKER is not None


class Learner:
    """Runs a :class:`LearnerState` in a lower-priority process, or in a thread (``in_process``)."""

    def __init__(self, config: GatewayConfig, intel: IpIntel, in_process: bool, evidence_floor: float,
                 weights: RiskWeights, report: frozenset[str] = frozenset()) -> None:
        self.config = config
        self.intel = intel
        self.in_process = in_process
        self.evidence_floor = evidence_floor
        self.weights = weights
        self.report = report
        self._executor: Executor | None = None
        self._state: LearnerState | None = None

    async def start(self, secret: bytes) -> None:
        """Start the worker and build its models (a few seconds); ``secret`` keys the hashes it logs."""
        loop = asyncio.get_running_loop()
        if self.in_process:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="distillguard-learner")
            self._state = LearnerState(self.config, self.intel, self.evidence_floor, self.weights, secret, self.report)
            await loop.run_in_executor(self._executor, warm_up)
        else:
            self._executor = ProcessPoolExecutor(
                1, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker,
                initargs=(self.config.model_dump_json(), self.evidence_floor, self.weights.model_dump_json(), secret,
                          self.report))
            await loop.run_in_executor(self._executor, _ready)

    async def learn(self, handled: list[HandledRequest], context: AccountContext) -> Learned:
        """Log and learn from ``handled`` in the worker."""
        if self._executor is None:
            raise RuntimeError("learner not started")
        loop = asyncio.get_running_loop()
        if self._state is not None:
            return await loop.run_in_executor(self._executor, self._state.learn, handled, context)
        return await loop.run_in_executor(self._executor, _worker_learn, handled, context)

    async def stop(self) -> None:
        """Close the log and state, and stop the worker."""
        if self._executor is None:
            return
        loop = asyncio.get_running_loop()
        if self._state is not None:
            await loop.run_in_executor(self._executor, self._state.close)
        else:
            await loop.run_in_executor(self._executor, _worker_close)
        self._executor.shutdown(wait=True)
        self._executor = None
