"""What an evaluation reports: plain dataclasses with a JSON form."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import orjson


def _plain(value: Any) -> Any:
    """Dataclasses, tuples and numpy scalars to JSON-ready values (NaN → None)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass(frozen=True, slots=True)
class Rate:
    """``numerator / denominator`` with its share (None when the denominator is 0)."""

    numerator: int
    denominator: int

    @property
    def value(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None

    def text(self) -> str:
        """``3 / 1,204 (0.25%)``."""
        share = self.value
        pct = "n/a" if share is None else f"{100 * share:.2f}%"
        return f"{self.numerator:,} / {self.denominator:,} ({pct})"


@dataclass(frozen=True, slots=True)
class PopulationFPR:
    """False-positive rate of one legitimate population."""

    population: str
    flagged: int
    accounts: int

    @property
    def rate(self) -> float | None:
        return self.flagged / self.accounts if self.accounts else None

    def text(self) -> str:
        return Rate(self.flagged, self.accounts).text()


@dataclass(frozen=True, slots=True)
class CampaignResult:
    """One true campaign as a detector saw it.

    ``time_to_detect`` is the share of the campaign's exchanges sent before its
    first flagged account was flagged: 0 = caught at once, None = never flagged
    (or no logs, or the detector gives no flag times).
    """

    campaign: str
    accounts: int
    flagged_accounts: int
    recall: float
    n_exchanges: int | None
    first_flag_at: str | None
    time_to_detect: float | None
    predicted_campaigns: int | None


@dataclass(frozen=True, slots=True)
class DetectorMetrics:
    """Every metric of one detector on one set of accounts."""

    detector: str
    description: str
    accounts_scored: str
    n_accounts: int
    n_attack: int
    n_legit: int
    n_flagged: int
    true_positives: int
    false_positives: int
    false_negatives: int
    precision: float | None
    recall: float | None
    fpr: float | None
    population_fpr: tuple[PopulationFPR, ...]
    worst_population: PopulationFPR | None
    exchange_weighted_recall: float | None
    ari: float | None
    ari_accounts: int
    campaigns: tuple[CampaignResult, ...]
    campaigns_detected: int
    median_time_to_detect: float | None
    legit_exchanges_degraded: Rate | None
    makes_campaigns: bool = True
    has_flag_times: bool = True
    threshold: float | None = None
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = _plain(self)
        out["population_fpr"] = [
            {**_plain(p), "rate": p.rate, "text": p.text()} for p in self.population_fpr
        ]
        if self.worst_population is not None:
            wp = self.worst_population
            out["worst_population"] = {**_plain(wp), "rate": wp.rate, "text": wp.text()}
        if self.legit_exchanges_degraded is not None:
            d = self.legit_exchanges_degraded
            out["legit_exchanges_degraded"] = {**_plain(d), "share": d.value, "text": d.text()}
        return out


@dataclass(frozen=True, slots=True)
class LogSummary:
    """What was read from the exchange logs."""

    exchanges_read: int
    exchanges_unlabelled: int
    rejects: int
    lines_read: int
    bytes_read: int
    accounts_count_mismatch: int
    seconds: float


@dataclass(frozen=True, slots=True)
class EmbeddingStats:
    """Cost of embedding the queries for the embedding baselines."""

    model: str
    queries: int
    distinct_texts: int
    from_cache: int
    embedded: int
    seconds: float
    model_load_seconds: float
    texts_per_second: float | None
    cache_path: str | None


@dataclass(frozen=True, slots=True)
class BaselineRun:
    """How the baselines were calibrated and what they cost."""

    target_fpr: float
    calibration_accounts: int
    test_legit_accounts: int
    attack_accounts: int
    reference_queries: int | None
    mmd_bandwidth: float | None
    embedding: EmbeddingStats | None
    seconds: dict[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class EqualFprComparison:
    """Recall of every baseline at the FPR the predictions reach, on the same accounts.

    ``fpr`` is the predictions' FPR on the comparison's legitimate accounts;
    each baseline's threshold is the lowest that keeps its FPR at or below it
    on those same accounts (a favour to the baselines, whose own thresholds
    come from the calibration half).
    """

    fpr: float
    recall: float
    baseline_recall: dict[str, float]
    best_baseline: str
    ratio: float | None


@dataclass(slots=True)
class EvalReport:
    """The result of one evaluation.

    ``predictions`` scores the predictions on every labelled account.
    ``comparison`` (with baselines) scores every detector, the predictions
    included, on attack accounts plus the test half of legitimate accounts.
    """

    predictions: DetectorMetrics
    comparison: list[DetectorMetrics]
    n_predictions: int
    unknown_predictions: int
    missing_predictions: int
    flagged_without_time: int
    n_predicted_campaigns: int | None
    counted_recall: Rate | None = None
    """Recall over campaign accounts with at least ``MIN_COUNTED_EXCHANGES`` exchanges."""
    equal_fpr: EqualFprComparison | None = None
    logs: LogSummary | None = None
    baselines: BaselineRun | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    def detector(self, name: str) -> DetectorMetrics:
        """The comparison row of ``name`` (or the predictions' row)."""
        for row in self.comparison:
            if row.detector == name:
                return row
        if name == self.predictions.detector:
            return self.predictions
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "predictions": self.predictions.to_dict(),
            "comparison": [row.to_dict() for row in self.comparison],
            "n_predictions": self.n_predictions,
            "unknown_predictions": self.unknown_predictions,
            "missing_predictions": self.missing_predictions,
            "flagged_without_time": self.flagged_without_time,
            "n_predicted_campaigns": self.n_predicted_campaigns,
            "counted_recall": _plain(self.counted_recall),
            "equal_fpr": _plain(self.equal_fpr),
            "logs": _plain(self.logs),
            "baselines": _plain(self.baselines),
            "seconds": _plain(self.seconds),
        }

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict(), option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY)
