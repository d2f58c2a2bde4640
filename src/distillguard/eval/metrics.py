"""Account-, exchange- and campaign-level metrics of a detector against ground truth.

One function, :func:`score_detector`, scores any :class:`DetectorOutput` — the
predictions file or a baseline — so that every row of the comparison is
computed by the same code.

Definitions (``flagged`` accounts only; unflagged accounts have no flag time):

* precision = flagged attack / flagged; recall = flagged attack / attack;
  FPR = flagged legit / legit, overall and per legitimate population.
* exchange-weighted recall = Σ n_exchanges of flagged attack accounts /
  Σ n_exchanges of attack accounts (``n_exchanges`` from the labels).
* ARI: adjusted Rand index of the predicted ``campaign_id`` against the true
  campaign over flagged attack accounts; a null id on either side is its own
  singleton. None when the detector makes no campaigns or fewer than two
  attack accounts are flagged.
* time to detect (needs logs): per true campaign, the share of its exchanges
  sent strictly before its first flag (the minimum ``flagged_at`` over its
  flagged accounts). None for a campaign never flagged. A flagged account
  with no ``flagged_at`` counts as flagged after its last exchange (no credit
  for early detection that cannot be shown). The *median* time to detect
  is taken over all true campaigns, a never-flagged campaign counting as 1.0.
* legit exchanges degraded (needs logs): legitimate exchanges sent at or
  after their account's ``flagged_at`` (every exchange of a flagged account
  whose ``flagged_at`` is null) over all legitimate exchanges.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from distillguard.eval.inputs import (
    DetectorOutput,
    ExchangeLog,
    Labels,
    PredictionsInfo,
    format_time_ms,
    read_exchange_log,
    read_labels,
    read_predictions,
)
from distillguard.eval.results import (
    CampaignResult,
    DetectorMetrics,
    EqualFprComparison,
    EvalReport,
    LogSummary,
    PopulationFPR,
    Rate,
)

ALL_ACCOUNTS = "all labelled accounts"
MIN_COUNTED_EXCHANGES = 50
"""Campaign accounts with fewer exchanges (hydra burners) are left out of the counted recall:
their own behaviour proves little, and linking them is the attribution layer's job."""


def _ratio(num: float, den: float) -> float | None:
    return float(num) / float(den) if den else None


def _true_campaign_keys(labels: Labels) -> np.ndarray:
    """True campaign per account; an attack account without one is its own campaign."""
    keys = labels.campaign.copy()
    lone = labels.is_attack & np.array([c is None for c in keys], dtype=bool)
    keys[lone] = ["account:" + a for a in labels.account_id[lone]]
    return keys


def _ari(output: DetectorOutput, labels: Labels, rows: np.ndarray) -> float | None:
    if output.campaign is None or len(rows) < 2:
        return None
    from sklearn.metrics import adjusted_rand_score  # lazy: keeps the CLI's start fast

    truth = [labels.campaign[r] or "\0true:" + labels.account_id[r] for r in rows]
    predicted = [output.campaign[r] or "\0pred:" + labels.account_id[r] for r in rows]
    return float(adjusted_rand_score(truth, predicted))


def score_detector(
    output: DetectorOutput,
    labels: Labels,
    log: ExchangeLog | None = None,
    subset: np.ndarray | None = None,
    subset_name: str = ALL_ACCOUNTS,
    notes: tuple[str, ...] = (),
) -> DetectorMetrics:
    """Score one detector on the labelled accounts in ``subset`` (default: all)."""
    n = len(labels)
    if len(output.flagged) != n:
        raise ValueError(f"{output.name}: {len(output.flagged)} verdicts for {n} labelled accounts")
    mask = np.ones(n, dtype=bool) if subset is None else np.asarray(subset, dtype=bool)
    attack = labels.is_attack & mask
    legit = ~labels.is_attack & mask
    flagged = output.flagged & mask
    tp = int((flagged & attack).sum())
    fp = int((flagged & legit).sum())
    n_attack, n_legit = int(attack.sum()), int(legit.sum())

    pops = []
    for population in sorted(set(labels.population[legit].tolist())):
        in_pop = legit & (labels.population == population)
        pops.append(PopulationFPR(population, int((flagged & in_pop).sum()), int(in_pop.sum())))
    worst = None
    if pops:
        worst = min(pops, key=lambda p: (-(p.rate or 0.0), -p.flagged, p.population))

    weights = labels.n_exchanges
    ewr = _ratio(weights[flagged & attack].sum(), weights[attack].sum())
    caught_rows = np.flatnonzero(flagged & attack)
    ari = _ari(output, labels, caught_rows)

    campaigns, median_ttd, degraded = _campaigns_and_exchanges(output, labels, log, mask)
    return DetectorMetrics(
        detector=output.name,
        description=output.description,
        accounts_scored=subset_name,
        n_accounts=int(mask.sum()),
        n_attack=n_attack,
        n_legit=n_legit,
        n_flagged=int(flagged.sum()),
        true_positives=tp,
        false_positives=fp,
        false_negatives=n_attack - tp,
        precision=_ratio(tp, tp + fp),
        recall=_ratio(tp, n_attack),
        fpr=_ratio(fp, n_legit),
        population_fpr=tuple(pops),
        worst_population=worst,
        exchange_weighted_recall=ewr,
        ari=ari,
        ari_accounts=len(caught_rows),
        campaigns=tuple(campaigns),
        campaigns_detected=sum(c.flagged_accounts > 0 for c in campaigns),
        median_time_to_detect=median_ttd,
        legit_exchanges_degraded=degraded,
        makes_campaigns=output.campaign is not None,
        has_flag_times=output.has_flag_times,
        threshold=output.threshold,
        notes=notes,
    )


def _campaigns_and_exchanges(
    output: DetectorOutput, labels: Labels, log: ExchangeLog | None, mask: np.ndarray
) -> tuple[list[CampaignResult], float | None, Rate | None]:
    """Per-campaign results, median time to detect and the legit degraded share."""
    attack = labels.is_attack & mask
    flagged = output.flagged & mask
    keys = _true_campaign_keys(labels)
    names = sorted(set(keys[attack].tolist()))
    code = np.full(len(labels), -1, dtype=np.int64)
    lookup = {name: i for i, name in enumerate(names)}
    for row in np.flatnonzero(attack):
        code[row] = lookup[keys[row]]
    k = len(names)
    n_accounts = np.bincount(code[attack], minlength=k)
    n_caught = np.bincount(code[flagged & attack], minlength=k)

    # First flag per campaign, an unknown flag time counting as "after everything".
    first_flag = np.full(k, np.inf)
    times = np.where(np.isnan(output.flagged_at), np.inf, output.flagged_at)
    caught = np.flatnonzero(flagged & attack)
    np.minimum.at(first_flag, code[caught], times[caught])

    n_exchanges = before = None
    degraded = None
    if log is not None:
        ex_code = code[log.account]
        in_campaign = ex_code >= 0
        n_exchanges = np.bincount(ex_code[in_campaign], minlength=k)
        sent_before = in_campaign & (log.ts < first_flag[np.maximum(ex_code, 0)])
        before = np.bincount(ex_code[sent_before], minlength=k)

        legit_ex = (~labels.is_attack & mask)[log.account]
        flag_ex = flagged[log.account]
        since = np.where(np.isnan(output.flagged_at), -np.inf, output.flagged_at)
        if not output.has_flag_times:
            since = np.full(len(labels), -np.inf)
        hit = legit_ex & flag_ex & (log.ts >= since[log.account])
        degraded = Rate(int(hit.sum()), int(legit_ex.sum()))

    fragments: dict[int, set[str]] = {}
    if output.campaign is not None:
        for row in caught:
            predicted_id = output.campaign[row] or "\0" + labels.account_id[row]
            fragments.setdefault(int(code[row]), set()).add(predicted_id)

    results = []
    ttd_all = []
    can_time = log is not None and output.has_flag_times
    for i, name in enumerate(names):
        detected = n_caught[i] > 0
        ttd = None
        if can_time and n_exchanges[i] > 0:
            if detected:
                ttd = float(before[i] / n_exchanges[i])
            ttd_all.append(ttd if detected else 1.0)
        predicted = None if output.campaign is None else len(fragments.get(i, ()))
        results.append(
            CampaignResult(
                campaign=name,
                accounts=int(n_accounts[i]),
                flagged_accounts=int(n_caught[i]),
                recall=float(n_caught[i] / n_accounts[i]),
                n_exchanges=None if n_exchanges is None else int(n_exchanges[i]),
                first_flag_at=format_time_ms(first_flag[i]) if np.isfinite(first_flag[i]) else None,
                time_to_detect=ttd,
                predicted_campaigns=predicted,
            )
        )
    median = None
    if ttd_all:  # campaigns with exchanges in the logs, when flag times are known
        median = float(np.median(np.array(ttd_all, dtype=float)))
    return results, median, degraded


def log_summary(log: ExchangeLog, labels: Labels, seconds: float) -> LogSummary:
    """Summarise a log, including how many accounts' counts disagree with the labels."""
    return LogSummary(
        exchanges_read=log.n_read,
        exchanges_unlabelled=log.n_unlabelled,
        rejects=log.n_rejects,
        lines_read=log.lines_read,
        bytes_read=log.bytes_read,
        accounts_count_mismatch=int((log.counts() != labels.n_exchanges).sum()),
        seconds=round(seconds, 3),
    )


def evaluate_predictions(
    predictions_dir: Path, labels: Labels, log: ExchangeLog | None = None
) -> EvalReport:
    """Score the predictions in ``predictions_dir`` on all labelled accounts."""
    start = time.perf_counter()
    output, info = read_predictions(predictions_dir, labels)
    report = predictions_report(output, info, labels, log)
    report.seconds["metrics"] = round(time.perf_counter() - start, 3)
    return report


def predictions_report(
    output: DetectorOutput, info: PredictionsInfo, labels: Labels, log: ExchangeLog | None
) -> EvalReport:
    """An :class:`EvalReport` holding the predictions scored on all labelled accounts."""
    notes = []
    if info.unknown_accounts:
        notes.append(f"{info.unknown_accounts:,} predictions for unlabelled accounts ignored")
    if info.missing_accounts:
        notes.append(f"{info.missing_accounts:,} labelled accounts without a prediction (not flagged)")
    if info.flagged_without_time:
        notes.append(
            f"{info.flagged_without_time:,} flagged accounts without flagged_at "
            "(counted as flagged after their last exchange for time to detect, "
            "and from their first for degraded exchanges)"
        )
    metrics = score_detector(output, labels, log, notes=tuple(notes))
    return EvalReport(
        predictions=metrics,
        counted_recall=counted_recall(output, labels),
        comparison=[],
        n_predictions=info.n_predictions,
        unknown_predictions=info.unknown_accounts,
        missing_predictions=info.missing_accounts,
        flagged_without_time=info.flagged_without_time,
        n_predicted_campaigns=info.n_predicted_campaigns,
    )


def counted_recall(output: DetectorOutput, labels: Labels) -> Rate:
    """Flagged / all campaign accounts with at least :data:`MIN_COUNTED_EXCHANGES` exchanges."""
    counted = labels.is_attack & (labels.n_exchanges >= MIN_COUNTED_EXCHANGES)
    return Rate(int((output.flagged & counted).sum()), int(counted.sum()))


def recall_at_fpr(score: np.ndarray, is_attack: np.ndarray, legit: np.ndarray, fpr: float) -> float:
    """Recall of ``score`` at the lowest threshold whose FPR over ``legit`` is at most ``fpr``.

    An account is flagged when its score is strictly above the threshold, so
    ties with the last legitimate account allowed through stay unflagged.
    """
    legit_scores = np.sort(score[legit])[::-1]
    allowed = int(np.floor(fpr * len(legit_scores) + 1e-9))
    if len(legit_scores) == 0 or not is_attack.any():
        return 0.0
    threshold = legit_scores[allowed] if allowed < len(legit_scores) else -np.inf
    return float((score[is_attack] > threshold).mean())


def equal_fpr_comparison(
    predictions: DetectorOutput, baselines: list[DetectorOutput], labels: Labels, mask: np.ndarray
) -> EqualFprComparison | None:
    """The baselines' recall at the predictions' FPR over ``mask`` (None without baselines)."""
    if not baselines:
        return None
    attack, legit = labels.is_attack & mask, ~labels.is_attack & mask
    fpr = float((predictions.flagged & legit).sum() / max(legit.sum(), 1))
    recall = float((predictions.flagged & attack).sum() / max(attack.sum(), 1))
    rates = {b.name: recall_at_fpr(b.score, attack, legit, fpr) for b in baselines}
    best = max(sorted(rates), key=lambda name: rates[name])
    return EqualFprComparison(fpr, recall, rates, best, recall / rates[best] if rates[best] > 0 else None)


def score(predictions_dir: Path, labels_path: Path, logs: list[Path] | None = None) -> EvalReport:
    """Score a predictions directory against ``labels.jsonl``; log-based metrics need ``logs``."""
    start = time.perf_counter()
    labels = read_labels(Path(labels_path))
    log = summary = None
    if logs:
        t0 = time.perf_counter()
        log = read_exchange_log(logs, labels)
        summary = log_summary(log, labels, time.perf_counter() - t0)
    report = evaluate_predictions(Path(predictions_dir), labels, log)
    report.logs = summary
    report.seconds["total"] = round(time.perf_counter() - start, 3)
    return report
