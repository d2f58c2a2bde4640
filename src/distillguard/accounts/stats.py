"""Mergeable per-account statistics: ``update`` with a batch, ``merge``, ``get``.

The same class serves batch analysis (fed from the store in time order) and
online scoring (fed one exchange at a time). State is columnar (numpy arrays
indexed by account), so memory grows with the number of accounts, never with
the number of exchanges: about 2.2 KB per account. One account's state also
travels as a fixed-size blob (:meth:`AccountStats.to_bytes`), which gateway
replicas merge in a shared store.
"""

from __future__ import annotations

import struct

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from distillguard.accounts.inputs import SWEEP_COLUMN
from distillguard.accounts.network import IpIntel, Origin, subnet_of
from distillguard.accounts.sketch import (
    PRECISION,
    TASK_PRECISION,
    UNKEYED,
    SketchKey,
    SketchKeyError,
    hll_add,
    hll_estimate,
)
from distillguard.core.ids import text_hash64
from distillguard.core.schema import CAPABILITIES, TS_TYPE

ELICITATION_THRESHOLD = 0.5
COUNTED_ELICITATION_THRESHOLD = 0.8
"""CoT score from which a task counts as asking in words for the reasoning in the counted evidence: the classifier is
confident (elicitation scores well above it; ordinary requests it half-suspects, such as a system prompt shared by
every request of an app, score 0.5 to 0.75)."""
SESSION_GAP_MS = 6 * 3600 * 1000
_SUMS = (
    "n", "cot", "cot_sum", "reasoning_param", "elicit", "reasoning_share_sum", "output_sum",
    "continuation", "tool_loop", "datacenter", "vpn", "tor", "gap_sum", "gap_sq_sum", "gap_n", "sweep",
    "task", "elicited_task", "budget_task", "either_task",
)
_SKETCHES = (
    "ip", "subnet", "client", "template", "prompt", "hour_bucket", "sweep_item", "elicited_prompt", "task_prompt",
    "budget_prompt", "either_prompt",
)
_FINER = {"task_prompt": TASK_PRECISION - PRECISION}
"""Sketches with more registers than the statistics' precision gives (bits more): the distinct task prompts, whose
shortfall against the tasks is weighed as reruns (:data:`~distillguard.accounts.sketch.TASK_PRECISION`)."""
_COL = {name: i for i, name in enumerate(_SUMS)}
_CAP = {name: i for i, name in enumerate(CAPABILITIES)}
_EMPTY_TS = np.iinfo(np.int64).max
_BLOB_HEADER = struct.Struct("<BBBI")
"""A blob's header: its layout version, the task rules it was counted under, its sketch precision, its sketch key's
tag."""
_BLOB_VERSION = 7
TASK_RULES = 4
"""Version of what the task counters count (:func:`elicited_tasks`, :func:`budget_tasks`); kept statistics counted
under another version are rebuilt (``analysis.stats.stats_fingerprint``), and a blob counted under another (the
gateway's shared statistics) is unreadable, so that old and new counts never mix."""

FEATURE_SCHEMA = pa.schema([
    ("account_id", pa.string()), ("n_exchanges", pa.int64()), ("first_seen", TS_TYPE), ("last_seen", TS_TYPE),
    *((name, pa.float64()) for name in (
        "span_hours", "active_hours", "cot_share", "mean_cot_score", "reasoning_param_share", "elicitation_share",
        "mean_reasoning_share", "mean_output_len", "continuation_share", "tool_loop_share", "tasks", "elicited_tasks",
        "distinct_tasks", "budget_tasks", "either_tasks", "fresh_tasks",
        *(f"cap_{name}" for name in CAPABILITIES), "capability_concentration",
    )),
    ("top_capability", pa.string()),
    *((name, pa.float64()) for name in (
        "hour_entropy", "interarrival_cv", "distinct_ips", "distinct_subnets", "distinct_clients", "distinct_templates",
        "distinct_prompts", "prompt_novelty", "ip_rotation", "template_reuse", "datacenter_share", "vpn_share",
        "tor_share", "unlisted_share", "sweep_share", "sweep_items", "sweep_repeat",
    )),
])
"""The account fingerprints :meth:`AccountStats.get` returns, one row per account (or pooled group).

``fresh_tasks`` counts the tasks on a prompt their account had not sent before: ``distinct_tasks`` for an account,
and for a pooled group (:meth:`AccountStats.pool`) the sum of its members' own, so that a prompt one member repeats
from another is fresh.

``unlisted_share`` is the share of traffic whose addresses might anonymise unseen: all not found on a VPN or Tor
exit when no list of either was given (:attr:`~distillguard.accounts.network.IpIntel.knows_anonymisers`), else 0."""


def elicited_tasks(cot: np.ndarray, continuation: np.ndarray, bare_action: np.ndarray,
                   asked_in_prompt: np.ndarray) -> np.ndarray:
    """Per exchange: a task (a conversation's first request) that asks clearly in words for the reasoning (CoT score
    at least :data:`COUNTED_ELICITATION_THRESHOLD`), answered with the reasoning it could carry, or asking for it
    in the task's own words.

    Counted once per task, not per step of a conversation or tool loop (an agent
    framework's system prompt that says "think step by step" rides along on every
    call). A ``bare_action``, a tool call returned without any reasoning, counts only
    when the ask is in the prompt itself (``asked_in_prompt``): where only the system
    prompt asks, it is an agent framework's first step, the action being what it wants;
    an ask written into each task is a harvester's, whose trace comes later in the
    loop. A tool call that comes with the reasoning its request asked for in words
    delivers the trace, which is what a harvester of agentic or coding traces comes
    for. A request without a logged response counts (the answer is unknown).
    """
    return (cot >= COUNTED_ELICITATION_THRESHOLD) & ~continuation & (~bare_action | asked_in_prompt)


def budget_tasks(param: np.ndarray, continuation: np.ndarray, tool_call: np.ndarray) -> np.ndarray:
    """Per exchange: a task that asks for the reasoning through its parameters (a large thinking budget or effort),
    answered in prose (or with no logged response). Unlike words, a budget on a tool call is ordinary agentic use
    (thinking turned on for tool use), whether or not its reasoning comes back."""
    return (param >= ELICITATION_THRESHOLD) & ~continuation & ~tool_call


def blob_size(precision: int = PRECISION) -> int:
    """Bytes of one account's blob (:meth:`AccountStats.to_bytes`) at sketch ``precision``."""
    return _BLOB_HEADER.size + 8 * (len(_SUMS) + len(CAPABILITIES) + 24 + 2) + sum(_widths(precision).values())


def _widths(precision: int) -> dict[str, int]:
    """Registers of each sketch at the statistics' ``precision``."""
    return {name: 1 << (precision + _FINER.get(name, 0)) for name in _SKETCHES}


class AccountStats:
    """Per-account statistics over any number of exchange batches."""

    def __init__(self, intel: IpIntel | None = None, precision: int = PRECISION, key: SketchKey = UNKEYED) -> None:
        self.intel = intel if intel is not None else IpIntel()
        self.precision = precision
        """Sketch precision: ``1 << precision`` registers per sketch, more for those of ``_FINER``."""
        self._widths = _widths(precision)
        self.key = key
        """What the sketches' hashes are keyed with (see :mod:`~distillguard.accounts.sketch`)."""
        self._member_ips: np.ndarray | None = None
        """Set on pooled groups (:meth:`pool`): the sum of each member's own distinct addresses. A fleet rotating
        through one shared pool takes a new address for every request although the group shows few."""
        self._member_tasks: np.ndarray | None = None
        """Set on pooled groups: the sum of each member's own distinct task prompts (``fresh_tasks``)."""
        self._ids: list[str] = []
        self._index: dict[str, int] = {}
        self._alloc(0)

    def __len__(self) -> int:
        return len(self._ids)

    def reserve(self, accounts: int) -> None:
        """Size the state for ``accounts`` accounts now (memory pages are committed only as rows are used)."""
        self._grow(accounts)

    def _alloc(self, capacity: int) -> None:
        self._sums = np.zeros((capacity, len(_SUMS)), np.float64)
        self._caps = np.zeros((capacity, len(CAPABILITIES)), np.int64)
        self._hours = np.zeros((capacity, 24), np.int64)
        self._first = np.full(capacity, _EMPTY_TS, np.int64)
        self._last = np.full(capacity, -_EMPTY_TS, np.int64)
        self._hll = {name: np.zeros((capacity, width), np.uint8) for name, width in self._widths.items()}

    def _grow(self, needed: int) -> None:
        capacity = len(self._first)
        if needed <= capacity:
            return
        new = max(needed, 2 * capacity, 1024)
        old = (self._sums, self._caps, self._hours, self._first, self._last, self._hll)
        self._alloc(new)
        self._sums[:capacity], self._caps[:capacity], self._hours[:capacity] = old[0], old[1], old[2]
        self._first[:capacity], self._last[:capacity] = old[3], old[4]
        for name in _SKETCHES:
            self._hll[name][:capacity] = old[5][name]

    def _rows(self, account_ids: list[str]) -> np.ndarray:
        rows = np.empty(len(account_ids), np.int64)
        for i, account in enumerate(account_ids):
            row = self._index.get(account)
            if row is None:
                row = self._index[account] = len(self._ids)
                self._ids.append(account)
            rows[i] = row
        self._grow(len(self._ids))
        return rows

    def update(self, batch: pa.Table) -> None:
        """Add a batch of exchanges with their signals (:data:`STAT_INPUT_COLUMNS`, and :data:`SWEEP_COLUMN` if present)."""
        if batch.num_rows == 0:
            return
        accounts = batch.column("account_id").combine_chunks().dictionary_encode()
        rows = self._rows(accounts.dictionary.to_pylist())[accounts.indices.to_numpy()]
        ts = pc.cast(pc.cast(batch.column("ts"), TS_TYPE), pa.int64()).to_numpy()
        order = np.lexsort((ts, rows))
        rows, ts = rows[order], ts[order]

        def col(name: str) -> np.ndarray:
            return batch.column(name).fill_null(0).to_numpy().astype(np.float64)[order]

        cot, param = col("cot_score"), col("reasoning_requested")
        origin = self.intel.origins(batch.column("ip"))[order]
        continuation = (col("n_user_turns") > 1) | (col("n_tool_results") > 0)
        tool_call = batch.column("has_tool_calls").fill_null(False).to_numpy(zero_copy_only=False)[order]
        elicited_task = elicited_tasks(cot, continuation, tool_call & ~(col("reasoning_share") > 0),
                                       col("prompt_cot_score") >= COUNTED_ELICITATION_THRESHOLD)
        budget_task = budget_tasks(param, continuation, tool_call)
        either_task = elicited_task | budget_task
        values = {
            "n": np.ones(len(rows)),
            "cot": cot >= ELICITATION_THRESHOLD,
            "cot_sum": cot,
            "reasoning_param": (param >= ELICITATION_THRESHOLD) & ~continuation,
            "elicit": (cot >= ELICITATION_THRESHOLD) | (param >= ELICITATION_THRESHOLD),
            "reasoning_share_sum": col("reasoning_share"),
            "output_sum": col("output_len"),
            "continuation": continuation,
            "task": ~continuation,
            "elicited_task": elicited_task,
            "budget_task": budget_task,
            "either_task": either_task,
            "tool_loop": col("n_tool_results") > 0,
            "datacenter": origin == Origin.DATACENTER,
            "vpn": origin == Origin.VPN,
            "tor": origin == Origin.TOR,
        }
        if SWEEP_COLUMN in batch.column_names:
            values["sweep"] = batch.column(SWEEP_COLUMN).is_valid().to_numpy(zero_copy_only=False)[order]
        # rows are sorted: reduce each run of one account, then add to the touched rows only
        starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        touched = rows[starts]
        local = np.cumsum(np.r_[False, rows[1:] != rows[:-1]])
        k = len(touched)
        columns = [_COL[name] for name in values]
        matrix = np.column_stack([value.astype(np.float64) for value in values.values()])
        self._sums[touched[:, None], columns] += np.add.reduceat(matrix, starts, axis=0)
        self._add_gaps(ts, starts, touched)
        hour = (ts // 3_600_000) % 24
        self._hours[touched] += np.bincount(local * 24 + hour, minlength=k * 24).reshape(k, 24)
        caps = pc.index_in(batch.column("capability"), pa.array(CAPABILITIES)).fill_null(_CAP["general"])
        cap = caps.to_numpy().astype(np.int64)[order]
        n_caps = len(CAPABILITIES)
        self._caps[touched] += np.bincount(local * n_caps + cap, minlength=k * n_caps).reshape(k, n_caps)
        ends = np.r_[starts[1:], len(rows)] - 1
        self._first[touched] = np.minimum(self._first[touched], ts[starts])
        self._last[touched] = np.maximum(self._last[touched], ts[ends])
        self._add_sketches(batch, rows, order, ts)
        prompts = batch.column("prompt_hash").fill_null(0).to_numpy().astype(np.uint64)[order]
        for sketch, chosen in (("elicited_prompt", elicited_task), ("task_prompt", ~continuation),
                               ("budget_prompt", budget_task), ("either_prompt", either_task)):
            hll_add(self._hll[sketch], rows[chosen], self.key.hashes(prompts[chosen]))

    def _add_gaps(self, ts: np.ndarray, starts: np.ndarray, touched: np.ndarray) -> None:
        """Inter-arrival gaps within a session; rows sorted by (account, ts), ``starts`` opening each account's run."""
        prev = np.empty_like(ts)
        prev[1:] = ts[:-1]
        prev[starts] = self._last[touched]
        gap = (ts - prev).astype(np.float64)
        ok = (gap >= 0) & (gap <= SESSION_GAP_MS)
        gap_s = np.where(ok, gap / 1000.0, 0.0)
        sums = np.add.reduceat(np.column_stack([gap_s, gap_s * gap_s, ok.astype(np.float64)]), starts, axis=0)
        self._sums[touched[:, None], [_COL["gap_sum"], _COL["gap_sq_sum"], _COL["gap_n"]]] += sums

    def _add_sketches(self, batch: pa.Table, rows: np.ndarray, order: np.ndarray, ts: np.ndarray) -> None:
        ips = batch.column("ip").combine_chunks().dictionary_encode()
        ip_values = ips.dictionary.to_pylist()
        ip_idx = ips.indices.to_numpy()[order]
        ip_hash = self.key.hashes(np.array([text_hash64(v) for v in ip_values], np.uint64))
        subnet_hash = self.key.hashes(np.array([text_hash64(subnet_of(v)) for v in ip_values], np.uint64))
        client = pc.binary_join_element_wise(
            batch.column("user_agent").fill_null(""), batch.column("tls_ja4").fill_null(""), "|"
        ).combine_chunks().dictionary_encode()
        client_hash = self.key.hashes(np.array([text_hash64(v) for v in client.dictionary.to_pylist()], np.uint64))
        hll_add(self._hll["ip"], rows, ip_hash[ip_idx])
        hll_add(self._hll["subnet"], rows, subnet_hash[ip_idx])
        hll_add(self._hll["client"], rows, client_hash[client.indices.to_numpy()[order]])
        for sketch, name in (("template", "template_key"), ("prompt", "prompt_hash")):
            values = batch.column(name).fill_null(0).to_numpy().astype(np.uint64)[order]
            hll_add(self._hll[sketch], rows, self.key.hashes(values))
        hll_add(self._hll["hour_bucket"], rows, self.key.hashes(ts // 3_600_000))
        if SWEEP_COLUMN in batch.column_names:
            items = batch.column(SWEEP_COLUMN).combine_chunks()
            valid = items.is_valid().to_numpy(zero_copy_only=False)[order]
            values = items.fill_null(0).to_numpy().astype(np.uint64)[order]
            hll_add(self._hll["sweep_item"], rows[valid], self.key.hashes(values[valid]))

    def merge(self, other: AccountStats) -> None:
        """Fold ``other``'s statistics into these (sums add, sketches take the max)."""
        if other.precision != self.precision:
            raise ValueError("cannot merge statistics with different sketch precision")
        if other.key != self.key:
            raise SketchKeyError("cannot merge statistics counted under different sketch keys")
        if not other._ids:
            return
        rows = self._rows(other._ids)
        n = len(other._ids)
        # the gap between this side's last and the other's first exchange (time-ordered partials)
        gap = (other._first[:n] - self._last[rows]).astype(np.float64)
        ok = (self._last[rows] > -_EMPTY_TS) & (gap >= 0) & (gap <= SESSION_GAP_MS)
        gap_s = np.where(ok, gap / 1000.0, 0.0)
        self._sums[rows, _COL["gap_sum"]] += gap_s
        self._sums[rows, _COL["gap_sq_sum"]] += gap_s * gap_s
        self._sums[rows, _COL["gap_n"]] += ok
        self._sums[rows] += other._sums[:n]
        self._caps[rows] += other._caps[:n]
        self._hours[rows] += other._hours[:n]
        self._first[rows] = np.minimum(self._first[rows], other._first[:n])
        self._last[rows] = np.maximum(self._last[rows], other._last[:n])
        for name in _SKETCHES:
            self._hll[name][rows] = np.maximum(self._hll[name][rows], other._hll[name][:n])

    def pool(self, groups: dict[str, list[str]]) -> AccountStats:
        """Statistics of each group of accounts taken as one (e.g. a campaign's members); a group's address rotation
        is its members' own (the sum of their distinct addresses over its requests), and so are its fresh tasks (the
        sum of their distinct task prompts)."""
        pooled = AccountStats(self.intel, self.precision, self.key)
        if not groups:
            return pooled
        pooled._rows(list(groups))
        index = self._index
        members = [[index[a] for a in accounts if a in index] for accounts in groups.values()]
        filled = np.flatnonzero([len(m) > 0 for m in members])
        if len(filled) == 0:
            return pooled
        flat = np.fromiter((row for m in members for row in m), np.int64)
        starts = np.r_[0, np.cumsum([len(members[g]) for g in filled])[:-1]]
        pooled._sums[filled] = np.add.reduceat(self._sums[flat], starts, axis=0)
        pooled._caps[filled] = np.add.reduceat(self._caps[flat], starts, axis=0)
        pooled._hours[filled] = np.add.reduceat(self._hours[flat], starts, axis=0)
        pooled._first[filled] = np.minimum.reduceat(self._first[flat], starts)
        pooled._last[filled] = np.maximum.reduceat(self._last[flat], starts)
        for name in _SKETCHES:
            pooled._hll[name][filled] = np.maximum.reduceat(self._hll[name][flat], starts, axis=0)

        def members_own(sketch: str, cap: np.ndarray) -> np.ndarray:
            """Per group, the sum of its members' own distinct counts in ``sketch`` (each at most ``cap``)."""
            out = np.zeros(len(groups))
            out[filled] = np.add.reduceat(np.minimum(hll_estimate(self._hll[sketch][flat]), cap), starts)
            return out

        pooled._member_ips = members_own("ip", np.maximum(self._sums[flat, _COL["n"]], 1.0))
        pooled._member_tasks = members_own("task_prompt", self._sums[flat, _COL["task"]])
        return pooled

    def _header(self) -> bytes:
        """The header of this statistics' blobs: layout version, task rules, sketch precision, key tag."""
        return _BLOB_HEADER.pack(_BLOB_VERSION, TASK_RULES, self.precision, self.key.tag)

    def to_bytes(self, account: str) -> bytes:
        """One account's statistics as a fixed-size blob of :func:`blob_size` bytes; KeyError if it has none."""
        row = self._index[account]
        parts = [
            self._header(),
            self._sums[row].astype("<f8").tobytes(),
            self._caps[row].astype("<i8").tobytes(),
            self._hours[row].astype("<i8").tobytes(),
            np.array([self._first[row], self._last[row]], "<i8").tobytes(),
            *(self._hll[name][row].tobytes() for name in _SKETCHES),
        ]
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, blob: bytes, account: str, intel: IpIntel | None = None,
                   key: SketchKey = UNKEYED) -> AccountStats:
        """Statistics holding one account, from :meth:`to_bytes`'s blob counted under ``key``; ValueError if malformed
        or counted under another key."""
        if len(blob) < _BLOB_HEADER.size:
            raise ValueError("account blob is truncated")
        version, rules, precision, tag = _BLOB_HEADER.unpack_from(blob)
        if version != _BLOB_VERSION or rules != TASK_RULES or len(blob) != blob_size(precision):
            raise ValueError(f"account blob of version {version}, task rules {rules} and {len(blob)} bytes is not "
                             "readable")
        if tag != key.tag:
            raise SketchKeyError("account blob counted under another sketch key")
        stats = cls(intel, precision, key)
        row = stats._rows([account])[0]
        offset = _BLOB_HEADER.size

        def take(n: int, dtype: str) -> np.ndarray:
            nonlocal offset
            values = np.frombuffer(blob, dtype, n, offset)
            offset += n * np.dtype(dtype).itemsize
            return values

        stats._sums[row] = take(len(_SUMS), "<f8")
        stats._caps[row] = take(len(CAPABILITIES), "<i8")
        stats._hours[row] = take(24, "<i8")
        stats._first[row], stats._last[row] = take(2, "<i8")
        for name in _SKETCHES:
            stats._hll[name][row] = take(stats._widths[name], "u1")
        return stats

    def to_table(self) -> pa.Table:
        """Every account's statistics as rows ``account_id, stats``, ``stats`` the blob of :meth:`to_bytes`."""
        n = len(self._ids)
        header = np.frombuffer(self._header(), np.uint8)
        parts = [
            np.broadcast_to(header, (n, len(header))),
            *(np.ascontiguousarray(a[:n], dtype=dtype).view(np.uint8) for a, dtype in (
                (self._sums, "<f8"), (self._caps, "<i8"), (self._hours, "<i8"),
                (np.column_stack([self._first[:n], self._last[:n]]), "<i8"),
            )),
            *(self._hll[name][:n] for name in _SKETCHES),
        ]
        matrix = np.ascontiguousarray(np.hstack(parts))
        size = matrix.shape[1]
        step = (2**31 - 1) // size  # rows whose blobs 32-bit offsets reach; the blobs are the matrix, not a copy
        blobs = []
        for lo in range(0, n, step):
            rows = matrix[lo:lo + step]
            offsets = np.arange(len(rows) + 1, dtype=np.int32) * np.int32(size)
            blobs.append(pa.Array.from_buffers(pa.binary(), len(rows), [None, pa.py_buffer(offsets), pa.py_buffer(rows)]))
        return pa.table({"account_id": pa.array(self._ids, pa.string()), "stats": pa.chunked_array(blobs, pa.binary())})

    @classmethod
    def from_table(cls, table: pa.Table, intel: IpIntel | None = None, key: SketchKey = UNKEYED) -> AccountStats:
        """Statistics from :meth:`to_table`'s rows (accounts in row order) counted under ``key``; ValueError if a blob
        is malformed or counted under another key."""
        ids = table.column("account_id").to_pylist()
        if not ids:
            return cls(intel, key=key)
        if len(set(ids)) != len(ids):
            raise ValueError("account statistics rows repeat an account")
        blobs = pa.array(table.column("stats").combine_chunks(), pa.binary())
        if blobs.null_count:
            raise ValueError("account statistics rows hold a null blob")
        n = len(ids)
        precision = _BLOB_HEADER.unpack_from(blobs[0].as_py())[2]
        size = blob_size(precision)
        offsets = np.frombuffer(blobs.buffers()[1], np.int32, n + 1, blobs.offset * 4)
        if np.any(np.diff(offsets) != size):
            raise ValueError(f"account statistics blobs are not all of {size} bytes")
        matrix = np.frombuffer(blobs.buffers()[2], np.uint8, n * size, int(offsets[0])).reshape(n, size)
        header = np.frombuffer(_BLOB_HEADER.pack(_BLOB_VERSION, TASK_RULES, precision, key.tag), np.uint8)
        if np.any(matrix[:, :3] != header[:3]):
            raise ValueError(f"account statistics blobs are not all of version {_BLOB_VERSION}, task rules {TASK_RULES}, "
                             f"precision {precision}")
        if np.any(matrix[:, 3:_BLOB_HEADER.size] != header[3:]):
            raise SketchKeyError("account statistics blobs counted under another sketch key")
        stats = cls(intel, precision, key)
        stats._rows(ids)
        offset = _BLOB_HEADER.size

        def take(width: int, dtype: str) -> np.ndarray:
            nonlocal offset
            end = offset + width * np.dtype(dtype).itemsize
            values = np.ascontiguousarray(matrix[:, offset:end]).view(dtype)
            offset = end
            return values

        stats._sums[:n] = take(len(_SUMS), "<f8")
        stats._caps[:n] = take(len(CAPABILITIES), "<i8")
        stats._hours[:n] = take(24, "<i8")
        span = take(2, "<i8")
        stats._first[:n], stats._last[:n] = span[:, 0], span[:, 1]
        for name in _SKETCHES:
            stats._hll[name][:n] = take(stats._widths[name], "u1")
        return stats

    def get(self) -> pa.Table:
        """The account fingerprints, one row per account (see :data:`FEATURE_SCHEMA`)."""
        n_acc = len(self._ids)
        s = self._sums[:n_acc]
        n = np.maximum(s[:, _COL["n"]], 1.0)
        distinct = {name: np.minimum(hll_estimate(self._hll[name][:n_acc]), n) for name in _SKETCHES}
        for sketch, count in (("elicited_prompt", "elicited_task"), ("task_prompt", "task"), ("budget_prompt", "budget_task"),
                              ("either_prompt", "either_task")):
            distinct[sketch] = np.minimum(distinct[sketch], s[:, _COL[count]])
        caps = self._caps[:n_acc] / n[:, None]
        hours = self._hours[:n_acc] / n[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            entropy = -np.nansum(np.where(hours > 0, hours * np.log2(hours), 0.0), axis=1)
            gap_n = np.maximum(s[:, _COL["gap_n"]], 1.0)
            gap_mean = s[:, _COL["gap_sum"]] / gap_n
            gap_var = np.maximum(s[:, _COL["gap_sq_sum"]] / gap_n - gap_mean**2, 0.0)
            gap_cv = np.where(gap_mean > 0, np.sqrt(gap_var) / gap_mean, 0.0)
        first, last = self._first[:n_acc], self._last[:n_acc]
        anonymised = (s[:, _COL["vpn"]] + s[:, _COL["tor"]]) / n
        columns: dict[str, pa.Array] = {
            "account_id": pa.array(self._ids, pa.string()),
            "n_exchanges": pa.array(s[:, _COL["n"]].astype(np.int64)),
            "first_seen": pa.array(first, pa.int64()).cast(TS_TYPE),
            "last_seen": pa.array(last, pa.int64()).cast(TS_TYPE),
            "span_hours": pa.array((last - first) / 3_600_000.0),
            "active_hours": pa.array(distinct["hour_bucket"]),
            "cot_share": pa.array(s[:, _COL["cot"]] / n),
            "mean_cot_score": pa.array(s[:, _COL["cot_sum"]] / n),
            "reasoning_param_share": pa.array(s[:, _COL["reasoning_param"]] / n),
            "elicitation_share": pa.array(s[:, _COL["elicit"]] / n),
            "mean_reasoning_share": pa.array(s[:, _COL["reasoning_share_sum"]] / n),
            "mean_output_len": pa.array(s[:, _COL["output_sum"]] / n),
            "continuation_share": pa.array(s[:, _COL["continuation"]] / n),
            "tool_loop_share": pa.array(s[:, _COL["tool_loop"]] / n),
            "tasks": pa.array(s[:, _COL["task"]]),
            "elicited_tasks": pa.array(distinct["elicited_prompt"]),
            "distinct_tasks": pa.array(distinct["task_prompt"]),
            "budget_tasks": pa.array(distinct["budget_prompt"]),
            "either_tasks": pa.array(distinct["either_prompt"]),
            "fresh_tasks": pa.array(distinct["task_prompt"] if self._member_tasks is None else self._member_tasks),
            **{f"cap_{name}": pa.array(caps[:, i]) for name, i in _CAP.items()},
            "capability_concentration": pa.array(caps.max(axis=1)),
            "top_capability": pa.array([CAPABILITIES[i] for i in caps.argmax(axis=1)], pa.string()),
            "hour_entropy": pa.array(entropy),
            "interarrival_cv": pa.array(gap_cv),
            "distinct_ips": pa.array(distinct["ip"]),
            "distinct_subnets": pa.array(distinct["subnet"]),
            "distinct_clients": pa.array(distinct["client"]),
            "distinct_templates": pa.array(distinct["template"]),
            "distinct_prompts": pa.array(distinct["prompt"]),
            "prompt_novelty": pa.array(np.minimum(distinct["prompt"] / n, 1.0)),
            "ip_rotation": pa.array(np.minimum((distinct["ip"] if self._member_ips is None else self._member_ips) / n, 1.0)),
            "template_reuse": pa.array(n / np.maximum(distinct["template"], 1.0)),
            "datacenter_share": pa.array(s[:, _COL["datacenter"]] / n),
            "vpn_share": pa.array(s[:, _COL["vpn"]] / n),
            "tor_share": pa.array(s[:, _COL["tor"]] / n),
            # without VPN and Tor exit lists, traffic not found anonymised may still be: its share is unknown
            "unlisted_share": pa.array(np.zeros(n_acc) if self.intel.knows_anonymisers else 1.0 - anonymised),
            "sweep_share": pa.array(s[:, _COL["sweep"]] / n),
            "sweep_items": pa.array(np.minimum(distinct["sweep_item"], s[:, _COL["sweep"]])),
            "sweep_repeat": pa.array(s[:, _COL["sweep"]] / np.maximum(distinct["sweep_item"], 1.0)),
        }
        return pa.table(columns)
