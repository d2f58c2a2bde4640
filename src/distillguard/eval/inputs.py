"""The evaluation's inputs: ground-truth labels, a detector's verdicts, the exchange log.

Everything is held as numpy arrays aligned with :class:`Labels` (one row per
labelled account, sorted by ``account_id``), so every detector — the
predictions file or a baseline — is scored by the same array code.

File contracts (JSON Lines, one object a line):

* ``labels.jsonl``: ``account_id``, ``label`` (``legit`` | ``attack``),
  ``population``, ``campaign`` (true campaign id or null), ``n_exchanges``.
* ``accounts.jsonl`` (predictions): ``account_id``, ``risk``, ``action``,
  ``flagged``, ``campaign_id``, ``flagged_at`` (ISO time or null), ``reasons``.
* ``campaigns.jsonl`` (predictions, optional): ``campaign_id``, ``accounts``, ...
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from distillguard.core.decision import Action
from distillguard.core.errors import DistillguardError
from distillguard.core.jsonl import iter_jsonl
from distillguard.ingest import read_exchanges

LABELS = ("legit", "attack")
ATTACK_POPULATION = "campaign"
FLAGGING_ACTIONS = frozenset(a.value for a in Action) - {Action.ALLOW.value, Action.MONITOR.value}


class EvalInputError(DistillguardError):
    """A labels, predictions or log input of an evaluation is missing or malformed."""


# ---------------------------------------------------------------- JSON Lines


def _iter_jsonl(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    """Yield ``(line number, object)`` for each non-blank line; raise on bad JSON."""
    return iter_jsonl(path, EvalInputError)


def parse_time_ms(value: Any, where: str) -> float:
    """Return epoch milliseconds of an ISO-8601 time (naive = UTC) or epoch ms; NaN for null."""
    if value is None:
        return math.nan
    if isinstance(value, bool):
        raise EvalInputError(f"{where}: expected an ISO time, got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        raise EvalInputError(f"{where}: expected an ISO time, got {value!r}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise EvalInputError(f"{where}: bad ISO time {value!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return float(round(moment.timestamp() * 1000))


def format_time_ms(ms: float | None) -> str | None:
    """ISO-8601 UTC text of epoch milliseconds (None for None / NaN)."""
    if ms is None or math.isnan(ms):
        return None
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ---------------------------------------------------------------- labels


@dataclass(frozen=True, slots=True, eq=False)
class Labels:
    """Ground truth, one row per account, sorted by ``account_id``."""

    account_id: np.ndarray  # object (str)
    is_attack: np.ndarray  # bool
    population: np.ndarray  # object (str)
    campaign: np.ndarray  # object (str | None)
    n_exchanges: np.ndarray  # int64
    index: dict[str, int] = field(repr=False)

    def __len__(self) -> int:
        return len(self.account_id)

    @classmethod
    def from_records(cls, records: Iterable[dict[str, Any]], where: str = "labels") -> Labels:
        """Build labels from dicts of the ``labels.jsonl`` contract; raise on bad rows."""
        rows: dict[str, tuple[bool, str, str | None, int]] = {}
        for number, rec in enumerate(records, start=1):
            at = f"{where}:{number}"
            account = rec.get("account_id")
            if not isinstance(account, str) or not account:
                raise EvalInputError(f"{at}: account_id must be a non-empty string")
            if account in rows:
                raise EvalInputError(f"{at}: account {account!r} is labelled twice")
            label = rec.get("label")
            if label not in LABELS:
                raise EvalInputError(f"{at}: label must be one of {LABELS}, got {label!r}")
            attack = label == "attack"
            population = rec.get("population")
            if population is None:
                population = ATTACK_POPULATION if attack else "unknown"
            if not isinstance(population, str):
                raise EvalInputError(f"{at}: population must be a string")
            campaign = rec.get("campaign")
            if campaign is not None and not isinstance(campaign, str):
                campaign = str(campaign)
            n_exchanges = rec.get("n_exchanges", 0)
            if isinstance(n_exchanges, bool) or not isinstance(n_exchanges, int) or n_exchanges < 0:
                raise EvalInputError(f"{at}: n_exchanges must be a non-negative integer")
            rows[account] = (attack, population, campaign if attack else None, n_exchanges)
        ids = sorted(rows)
        return cls(
            account_id=np.array(ids, dtype=object),
            is_attack=np.array([rows[a][0] for a in ids], dtype=bool),
            population=np.array([rows[a][1] for a in ids], dtype=object),
            campaign=np.array([rows[a][2] for a in ids], dtype=object),
            n_exchanges=np.array([rows[a][3] for a in ids], dtype=np.int64),
            index={a: i for i, a in enumerate(ids)},
        )


def read_labels(path: Path) -> Labels:
    """Read ``labels.jsonl`` (the simulator's ground truth)."""
    path = Path(path)
    return Labels.from_records((obj for _, obj in _iter_jsonl(path)), where=str(path))


# ---------------------------------------------------------------- detector verdicts


@dataclass(frozen=True, slots=True, eq=False)
class DetectorOutput:
    """One detector's verdict on every labelled account (arrays aligned with :class:`Labels`).

    ``flagged_at`` holds epoch milliseconds, NaN where unknown. ``has_flag_times``
    is False for a detector that cannot say *when* it would have flagged (then
    time to detect is not computed and a flagged account's exchanges all count
    as degraded). ``campaign`` is None for a detector that groups no accounts.
    """

    name: str
    flagged: np.ndarray  # bool
    score: np.ndarray  # float64
    flagged_at: np.ndarray  # float64 ms, NaN = unknown
    campaign: np.ndarray | None  # object (str | None)
    has_flag_times: bool = True
    threshold: float | None = None
    description: str = ""


@dataclass(frozen=True, slots=True)
class PredictionsInfo:
    """What reading a predictions directory found besides the verdicts."""

    n_predictions: int
    unknown_accounts: int
    missing_accounts: int
    flagged_without_time: int
    n_predicted_campaigns: int | None
    campaigns_file: bool


def read_predictions(predictions_dir: Path, labels: Labels) -> tuple[DetectorOutput, PredictionsInfo]:
    """Read ``accounts.jsonl`` (and count ``campaigns.jsonl``) from a predictions directory.

    Labelled accounts without a prediction count as not flagged; predictions
    for accounts the labels do not know are counted and ignored.
    """
    predictions_dir = Path(predictions_dir)
    accounts_path = predictions_dir / "accounts.jsonl"
    if not accounts_path.is_file():
        raise EvalInputError(f"no accounts.jsonl in {predictions_dir}")
    n = len(labels)
    flagged = np.zeros(n, dtype=bool)
    risk = np.zeros(n, dtype=np.float64)
    flagged_at = np.full(n, np.nan)
    campaign = np.full(n, None, dtype=object)
    seen = np.zeros(n, dtype=bool)
    n_predictions = unknown = 0
    for number, rec in _iter_jsonl(accounts_path):
        at = f"{accounts_path}:{number}"
        n_predictions += 1
        account = rec.get("account_id")
        if not isinstance(account, str):
            raise EvalInputError(f"{at}: account_id must be a string")
        row = labels.index.get(account)
        if row is None:
            unknown += 1
            continue
        if seen[row]:
            raise EvalInputError(f"{at}: account {account!r} is predicted twice")
        seen[row] = True
        value = rec.get("risk", 0.0)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
            raise EvalInputError(f"{at}: risk must be a number in 0..1, got {value!r}")
        risk[row] = float(value)
        action = rec.get("action")
        if action is not None and action not in {a.value for a in Action}:
            raise EvalInputError(f"{at}: unknown action {action!r}")
        is_flagged = rec.get("flagged")
        if is_flagged is None:
            is_flagged = action in FLAGGING_ACTIONS
        if not isinstance(is_flagged, bool):
            raise EvalInputError(f"{at}: flagged must be true or false")
        flagged[row] = is_flagged
        if is_flagged:
            flagged_at[row] = parse_time_ms(rec.get("flagged_at"), f"{at}: flagged_at")
        cid = rec.get("campaign_id")
        campaign[row] = None if cid is None else str(cid)

    n_campaigns: int | None = None
    campaigns_path = predictions_dir / "campaigns.jsonl"
    if campaigns_path.is_file():
        ids = set()
        for number, rec in _iter_jsonl(campaigns_path):
            cid = rec.get("campaign_id")
            if cid is None:
                raise EvalInputError(f"{campaigns_path}:{number}: campaign_id is missing")
            ids.add(str(cid))
        n_campaigns = len(ids)
    output = DetectorOutput(
        name="distillguard",
        flagged=flagged,
        score=risk,
        flagged_at=flagged_at,
        campaign=campaign,
        has_flag_times=True,
        description="the predictions (accounts.jsonl)",
    )
    info = PredictionsInfo(
        n_predictions=n_predictions,
        unknown_accounts=unknown,
        missing_accounts=int(n - seen.sum()),
        flagged_without_time=int((flagged & np.isnan(flagged_at)).sum()),
        n_predicted_campaigns=n_campaigns,
        campaigns_file=campaigns_path.is_file(),
    )
    return output, info


# ---------------------------------------------------------------- exchange log


@dataclass(frozen=True, slots=True, eq=False)
class ExchangeLog:
    """The labelled accounts' exchanges, sorted by (account row, ts).

    ``offsets[i]:offsets[i + 1]`` slices account row ``i``'s exchanges.
    ``prompt`` (the last user message, cut to ``prompt_chars``) is kept only
    when asked for (the embedding baselines need it).
    """

    account: np.ndarray  # int64 row in Labels
    ts: np.ndarray  # int64 epoch ms
    offsets: np.ndarray  # int64, len(labels) + 1
    prompt: np.ndarray | None  # object (str | None)
    n_read: int
    n_unlabelled: int
    n_rejects: int = 0
    lines_read: int = 0
    bytes_read: int = 0

    def __len__(self) -> int:
        return len(self.ts)

    def counts(self) -> np.ndarray:
        """Exchanges per labelled account."""
        return np.diff(self.offsets)


LOG_COLUMNS = ("account_id", "ts", "prompt")


def _slim(table: pa.Table, with_prompts: bool, prompt_chars: int) -> pl.DataFrame:
    """Keep only what the evaluation needs from one exchange batch."""
    missing = [c for c in ("account_id", "ts") if c not in table.column_names]
    if missing:
        raise EvalInputError(f"exchange batch lacks column(s) {missing}")
    ts = table.column("ts")
    if pa.types.is_timestamp(ts.type):
        ts = pc.cast(pc.cast(ts, pa.timestamp("ms", tz="UTC"), safe=False), pa.int64())
    else:
        ts = pc.cast(ts, pa.int64())
    columns: dict[str, Any] = {
        "account_id": pl.from_arrow(table.column("account_id")),
        "ts": pl.from_arrow(ts),
    }
    if with_prompts:
        if "prompt" in table.column_names:
            prompts = pl.from_arrow(table.column("prompt")).cast(pl.String)
        else:
            prompts = pl.Series(values=[None] * table.num_rows, dtype=pl.String)
        columns["prompt"] = prompts.str.slice(0, prompt_chars)
    return pl.DataFrame(columns)


def exchange_log_from_tables(
    tables: Iterable[pa.Table],
    labels: Labels,
    *,
    with_prompts: bool = False,
    prompt_chars: int = 256,
    n_rejects: int = 0,
    lines_read: int = 0,
    bytes_read: int = 0,
) -> ExchangeLog:
    """Build an :class:`ExchangeLog` from Arrow tables of ``EXCHANGE_SCHEMA``.

    Exchanges of accounts the labels do not know are counted and dropped.
    """
    frames = [_slim(t, with_prompts, prompt_chars) for t in tables]
    schema: dict[str, Any] = {"account_id": pl.String, "ts": pl.Int64}
    if with_prompts:
        schema["prompt"] = pl.String
    frame = pl.concat(frames, how="vertical") if frames else pl.DataFrame(schema=schema)
    n_read = frame.height
    rows = pl.DataFrame(
        {"account_id": pl.Series(labels.account_id.tolist(), dtype=pl.String),
         "row": pl.Series(np.arange(len(labels), dtype=np.int64))}
    )
    frame = frame.join(rows, on="account_id", how="inner").sort(["row", "ts"], maintain_order=True)
    account = frame["row"].to_numpy().astype(np.int64, copy=False)
    offsets = np.searchsorted(account, np.arange(len(labels) + 1), side="left").astype(np.int64)
    prompt = None
    if with_prompts:
        prompt = np.array(frame["prompt"].to_list(), dtype=object)
    return ExchangeLog(
        account=account,
        ts=frame["ts"].to_numpy().astype(np.int64, copy=False),
        offsets=offsets,
        prompt=prompt,
        n_read=n_read,
        n_unlabelled=n_read - frame.height,
        n_rejects=n_rejects,
        lines_read=lines_read,
        bytes_read=bytes_read,
    )


def read_exchange_log(
    paths: Sequence[Path],
    labels: Labels,
    *,
    with_prompts: bool = False,
    prompt_chars: int = 256,
) -> ExchangeLog:
    """Read exchange log files (any format :func:`distillguard.ingest.read_exchanges` takes)."""
    paths = [Path(p) for p in paths]
    for path in paths:
        if not path.exists():
            raise EvalInputError(f"log file {path} does not exist")
    counters = {"rejects": 0, "lines": 0, "bytes": 0}

    def tables() -> Iterable[pa.Table]:
        for path in paths:
            for batch in read_exchanges(path):
                counters["rejects"] += len(batch.rejects)
                counters["lines"] += batch.lines_read
                counters["bytes"] += batch.bytes_read
                yield batch.table.select([c for c in LOG_COLUMNS if c in batch.table.column_names])

    log = exchange_log_from_tables(
        tables(), labels, with_prompts=with_prompts, prompt_chars=prompt_chars
    )
    return ExchangeLog(
        account=log.account,
        ts=log.ts,
        offsets=log.offsets,
        prompt=log.prompt,
        n_read=log.n_read,
        n_unlabelled=log.n_unlabelled,
        n_rejects=counters["rejects"],
        lines_read=counters["lines"],
        bytes_read=counters["bytes"],
    )
