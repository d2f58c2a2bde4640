"""Fit the weights of the account risk model on labelled traffic, and score them.

The risk model (:mod:`distillguard.accounts.risk`) is additive: a logistic of
weighted terms, each a share or rate in 0..1 with a plain-word reason. This
module computes the account fingerprints of simulated (labelled) traffic
directory by directory, fits the term weights by L2-regularised logistic
regression with each weight kept on the side its meaning gives it (a term that
marks distillation cannot end up counting against it), and measures recall
and false-positive rates on other directories. ``bench/fit_risk_weights.py``
runs it on the calibration scenarios and writes the account and campaign
weight sets (``accounts/data/risk_weights.yaml``, ``campaign_weights.yaml``).
The samples are built as analysis builds what it scores: the traffic is
ingested into a temporary store, account fingerprints come with the
population signals joined on (:func:`distillguard.analysis.stats.account_features`),
pooled groups' account context from :func:`distillguard.campaigns.pooled_context`.

A deployment decides continuously, so the campaign model must also be right
about a campaign a few hours into its life, not only after a week: besides the
fingerprints of the whole traffic, the samples hold *snapshots*, the traffic
as it stood :data:`SNAPSHOT_HOURS` after each campaign's first exchange (every
account and pooled group seen by then), as groups of their own.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from scipy.optimize import minimize

from distillguard.accounts import AccountStats, IpIntel
from distillguard.accounts.risk import TERM_SIGNS, RiskWeights, elicitation_nats, risk_terms, term_matrix
from distillguard.analysis.ingest import ingest
from distillguard.analysis.stats import account_features, sketch_key, stored_batches
from distillguard.campaigns import pooled_context, pooled_features
from distillguard.core.errors import DistillguardError
from distillguard.eval.inputs import Labels, read_labels
from distillguard.ingest import RejectSink, read_accounts
from distillguard.policy import DecisionContext, Policy, decide
from distillguard.store import Store

FEATURES_FILE = "account-features-v8.parquet"
POOLED_FILE = "pooled-features-v10.parquet"
_TIME = pa.timestamp("us", tz="UTC")
_CONTEXT = ("category", "verification", "created_at")
SNAPSHOT_HOURS: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0)
"""Hours after each campaign's first exchange at which the fit also sees the traffic as it stood then."""
LOW_VOLUME = 50
"""Campaign accounts with fewer exchanges are "low-volume" (hydra burners): their own
behaviour proves little, linking reveals them (the attribution layer), so the
per-account recall target counts them apart."""


@dataclass(frozen=True, slots=True)
class AccountSample:
    """Fingerprints of labelled accounts, with their account record and truth."""

    features: pa.Table
    context: pa.Table
    is_attack: np.ndarray
    population: np.ndarray
    group: np.ndarray
    n_exchanges: np.ndarray
    snapshot: np.ndarray
    """Per row, ``""`` for the whole traffic or the snapshot's name (``campaign+2h``)."""


def subset(sample: AccountSample, rows: np.ndarray) -> AccountSample:
    """The rows of ``sample`` where ``rows`` (a boolean mask) is true."""
    index = pa.array(np.flatnonzero(rows))
    return AccountSample(
        sample.features.take(index), sample.context.take(index), sample.is_attack[rows], sample.population[rows],
        sample.group[rows], sample.n_exchanges[rows], sample.snapshot[rows],
    )


def snapshot_times(traffic_dir: Path) -> dict[str, datetime]:
    """Snapshot name → time: :data:`SNAPSHOT_HOURS` after each campaign's first exchange (``truth.json``)."""
    path = traffic_dir / "truth.json"
    try:
        truth = orjson.loads(path.read_bytes())
        end = datetime.fromisoformat(truth["end"])
        firsts = {c["id"]: c["first_ts"] for c in truth["campaigns"]}
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise DistillguardError(f"{path}: cannot read the campaigns' first exchanges: {exc}") from exc
    times = {}
    for campaign, first in sorted(firsts.items()):
        if first is None:
            continue
        for hours in SNAPSHOT_HOURS:
            at = datetime.fromisoformat(first) + timedelta(hours=hours)
            if at < end:
                times[f"{campaign}+{hours:g}h"] = at
    return times


def _stats(
    store: Store, intel: IpIntel, batch_size: int, snapshots: dict[str, datetime]
) -> Iterator[tuple[str, datetime | None, AccountStats]]:
    """The account statistics at every snapshot (in time order, with its time), then over the whole traffic (``""``)."""
    stats = AccountStats(intel, key=sketch_key(store))
    pending = sorted(snapshots.items(), key=lambda item: item[1])
    for batch in stored_batches(store, batch_size):
        ts = batch.column("ts").cast(pa.timestamp("us", tz="UTC")).to_numpy().astype("datetime64[us]")
        start = 0
        while pending and len(ts):
            cut = int(np.searchsorted(ts, np.datetime64(pending[0][1].replace(tzinfo=None), "us")))
            if cut == len(ts):
                break
            if cut > start:
                stats.update(batch.slice(start, cut - start))
                start = cut
            name, at = pending.pop(0)
            yield name, at, stats
        if start < len(ts):
            stats.update(batch.slice(start))
    for name, at in pending:
        yield name, at, stats
    yield "", None, stats


def pooled_groups(records: dict[str, dict[str, Any]], labels: Labels, seed: int = 0) -> dict[str, list[str]]:
    """Groups of accounts the campaign layer may pool: legitimate teams and (parts of) campaigns.

    Legitimate accounts sharing a payment instrument are one team (a lab, a
    startup, an enterprise org: linking joins them the same way); each
    campaign is pooled whole and in four random parts, as linking may find
    it whole or in pieces.
    """
    rng = np.random.default_rng(seed)
    groups: dict[str, list[str]] = {}
    teams: dict[str, list[str]] = {}
    for account, rec in records.items():
        row = labels.index.get(account)
        if row is not None and not labels.is_attack[row] and rec.get("payment_fingerprint"):
            teams.setdefault(str(rec["payment_fingerprint"]), []).append(account)
    for payment, members in sorted(teams.items()):
        if len(members) >= 2:
            groups[f"team:{payment}"] = sorted(members)
    for campaign in sorted(set(labels.campaign[labels.is_attack].tolist())):
        members = sorted(labels.account_id[labels.campaign == campaign].tolist())
        groups[f"campaign:{campaign}"] = members
        if len(members) >= 8:
            for k, part in enumerate(np.array_split(rng.permutation(members), 4)):
                groups[f"campaign:{campaign}:{k}"] = sorted(part.tolist())
    return groups


def _most_common(values: list[str]) -> str:
    """The most frequent of ``values``, the first in sorted order on a tie."""
    return max(sorted(set(values)), key=values.count)


def build_features(traffic_dir: Path, intel: IpIntel, batch_size: int = 50_000) -> tuple[pa.Table, pa.Table]:
    """Account fingerprints and pooled group fingerprints of a simulated traffic directory, snapshots included.

    Both carry ``category``, ``verification`` and ``created_at`` (a group's as
    :func:`~distillguard.campaigns.pooled_context` gives them) and ``snapshot``;
    the pooled table also ``n_accounts``, ``attack`` and ``kind``.
    """
    records: dict[str, dict[str, Any]] = {}
    for read in read_accounts(traffic_dir / "accounts.jsonl", batch_size):
        for row in read.table.select(["account_id", "category", "verification", "created_at",
                                      "payment_fingerprint"]).to_pylist():
            records[row["account_id"]] = row
    labels = read_labels(traffic_dir / "labels.jsonl")
    groups = pooled_groups(records, labels)
    singles, pooled = [], []
    with tempfile.TemporaryDirectory(prefix="distillguard-fit-") as tmp, Store(Path(tmp) / "fit.duckdb") as store:
        ingest(store, [traffic_dir / "exchanges.jsonl"], [], RejectSink(), batch_size=batch_size,
               keep_text=False)
        for snapshot, at, stats in _stats(store, intel, batch_size, snapshot_times(traffic_dir)):
            one, many = _tables(store, at, stats, records, labels, groups)
            singles.append(one.append_column("snapshot", pa.array([snapshot] * one.num_rows, pa.string())))
            pooled.append(many.append_column("snapshot", pa.array([snapshot] * many.num_rows, pa.string())))
    return pa.concat_tables(singles), pa.concat_tables(pooled)


def _tables(
    store: Store, at: datetime | None, stats: AccountStats, records: dict[str, dict[str, Any]], labels: Labels,
    groups: dict[str, list[str]],
) -> tuple[pa.Table, pa.Table]:
    """The account fingerprints of ``stats`` (with the population signals as of ``at``, as analysis joins them) and
    the pooled-group fingerprints (groups cut to the accounts seen so far; their members' population signals pooled,
    as in analysis)."""
    features = account_features(store, stats, at)
    ids = features.column("account_id").to_pylist()
    context = pa.table({
        "account_id": features.column("account_id"),
        "category": pa.array([records.get(a, {}).get("category") for a in ids], pa.string()),
        "verification": pa.array([records.get(a, {}).get("verification") for a in ids], pa.string()),
        "created_at": pa.array([records.get(a, {}).get("created_at") for a in ids], _TIME),
    })
    for name in _CONTEXT:
        features = features.append_column(name, context.column(name))
    seen = set(ids)
    groups = {name: kept for name, members in groups.items() if len(kept := [a for a in members if a in seen]) >= 2}
    pooled = pooled_features(stats, groups, features)
    pooled_records = pooled_context(context, groups)
    for name in _CONTEXT:
        pooled = pooled.append_column(name, pooled_records.column(name))
    kinds = [
        f"pooled {name.split(':')[1]}" if name.startswith("campaign:")
        else "pooled team of " + _most_common([str(labels.population[labels.index[a]]) for a in members])
        for name, members in groups.items()
    ]
    pooled = pooled.append_column("attack", pa.array([n.startswith("campaign:") for n in groups], pa.bool_()))
    return features, pooled.append_column("kind", pa.array(kinds, pa.string()))


def load_samples(traffic_dir: Path, intel: IpIntel, cache: bool = True) -> tuple[AccountSample, AccountSample]:
    """The labelled account and pooled-group fingerprints of ``traffic_dir``, cached next to it as Parquet."""
    paths = (traffic_dir / FEATURES_FILE, traffic_dir / POOLED_FILE)
    if cache and all(p.is_file() for p in paths):
        table, pooled = pq.read_table(paths[0]), pq.read_table(paths[1])
    else:
        table, pooled = build_features(traffic_dir, intel)
        if cache:
            pq.write_table(table, paths[0])
            pq.write_table(pooled, paths[1])
    labels = read_labels(traffic_dir / "labels.jsonl")
    ids = table.column("account_id").to_pylist()
    rows = np.array([labels.index.get(a, -1) for a in ids])
    if (rows < 0).any():
        raise DistillguardError(f"{traffic_dir}: {int((rows < 0).sum())} accounts with traffic but no label")
    snapshot = np.array(table.column("snapshot").to_pylist(), object)
    group = _with_snapshot(np.where(labels.is_attack[rows], labels.campaign[rows], labels.population[rows]), snapshot)
    single = AccountSample(
        table.drop_columns(["category", "verification", "created_at", "snapshot"]),
        table.select(["category", "verification", "created_at"]),
        labels.is_attack[rows], labels.population[rows], group, table.column("n_exchanges").to_numpy(), snapshot,
    )
    kind = np.array(pooled.column("kind").to_pylist(), object)
    pooled_snapshot = np.array(pooled.column("snapshot").to_pylist(), object)
    pooled_sample = AccountSample(
        pooled.drop_columns(["category", "verification", "created_at", "attack", "kind", "snapshot"]),
        pooled.select(["category", "verification", "created_at"]), pooled.column("attack").to_numpy(zero_copy_only=False), kind,
        _with_snapshot(kind, pooled_snapshot), pooled.column("n_exchanges").to_numpy(), pooled_snapshot,
    )
    return single, pooled_sample


def _with_snapshot(group: np.ndarray, snapshot: np.ndarray) -> np.ndarray:
    """Group names made distinct per snapshot, so that each snapshot's groups are balanced on their own."""
    return np.array([g if not s else f"{g}@{s}" for g, s in zip(group.tolist(), snapshot.tolist())], object)


def design(sample: AccountSample) -> tuple[list[str], np.ndarray]:
    """Term names and the matrix of term values as the model weighs them (:func:`term_matrix`)."""
    terms = risk_terms(sample.features, sample.context)
    return [t.name for t in terms], term_matrix(terms, sample.features)


def sample_weights(sample: AccountSample) -> np.ndarray:
    """Weights that give each legitimate population and each campaign the same total mass.

    Hard-negative populations are small (tens of accounts) beside thousands of
    individuals, and a hydra campaign has thousands of burner accounts beside
    tens of harvesters: without this, the largest groups would decide the fit.
    Low-volume campaign accounts (under :data:`LOW_VOLUME` exchanges) weigh
    nothing: their own behaviour proves little, linking has to find them.
    """
    out = np.zeros(len(sample.group))
    used = ~(sample.is_attack & (sample.n_exchanges < LOW_VOLUME))
    groups = sorted(set(sample.group[used].tolist()))
    for group in groups:
        members = used & (sample.group == group)
        out[members] = 1.0 / members.sum()
    return out * used.sum() / len(groups)


def fit_weights(samples: list[AccountSample], signs: dict[str, int], l2: float = 0.05) -> RiskWeights:
    """Fit bias and term weights on ``samples``; ``signs`` fixes each term's side (+1 / -1)."""
    names: list[str] | None = None
    xs, ys, ws = [], [], []
    for sample in samples:
        n, x = design(sample)
        if names is not None and n != names:
            raise DistillguardError("samples disagree on the risk terms")
        names = n
        xs.append(x)
        ys.append(sample.is_attack.astype(np.float64))
        ws.append(sample_weights(sample))
    if names is None:
        raise DistillguardError("no samples to fit on")
    x, y, w = np.concatenate(xs), np.concatenate(ys), np.concatenate(ws)
    w = w / w.mean()
    bounds = [(None, None)] + [(0.0, None) if signs[n] > 0 else (None, 0.0) for n in names]

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        z = theta[0] + x @ theta[1:]
        p = 1.0 / (1.0 + np.exp(-z))
        loss = np.sum(w * (np.logaddexp(0.0, z) - y * z)) / len(y) + 0.5 * l2 * np.sum(theta[1:] ** 2)
        g = w * (p - y) / len(y)
        return loss, np.concatenate([[g.sum()], x.T @ g + l2 * theta[1:]])

    result = minimize(objective, np.zeros(len(names) + 1), jac=True, method="L-BFGS-B", bounds=bounds)
    weights = {n: round(float(v), 4) for n, v in zip(names, result.x[1:])}
    return RiskWeights(bias=round(float(result.x[0]), 4), weights=weights)


FPR_BUDGET = 0.0005
"""Half the 0.1 % budget: the bias leaves room for traffic unlike the calibration data."""
POPULATION_FPR_BUDGET = 0.005
"""Half the 1 % per-population budget."""
LOGIT_MARGIN = 0.5
"""Extra distance (in logits) between the most suspicious calibration legit account allowed and the flag threshold."""


def set_bias_for_budget(weights: RiskWeights, samples: list[AccountSample], flag_risk: float) -> RiskWeights:
    """Move the bias so that risk >= ``flag_risk`` stays within the FP budgets on ``samples``' legit accounts."""
    zs, pops = [], []
    for sample in samples:
        names, x = design(sample)
        legit = ~sample.is_attack
        zs.append(x[legit] @ np.array([weights.weights[n] for n in names]))
        pops.append(sample.population[legit])
    z, pop = np.concatenate(zs), np.concatenate(pops)
    limit = float(np.quantile(z, 1.0 - FPR_BUDGET, method="higher"))
    for group in sorted(set(pop.tolist())):
        limit = max(limit, float(np.quantile(z[pop == group], 1.0 - POPULATION_FPR_BUDGET, method="higher")))
    bias = float(np.log(flag_risk / (1.0 - flag_risk))) - limit - LOGIT_MARGIN
    return weights.model_copy(update={"bias": round(bias, 4)})


EVIDENCE_FLOOR_NATS = 10.0
"""However clean the calibration data, counted evidence alone flags an account only from this many nats (eight
tasks of eight asking for the reasoning, or 16 of 40): a few requests prove little."""


def reviewed_by_standing(sample: AccountSample, policy: Policy) -> np.ndarray:
    """Per row, whether ``policy`` (:func:`~distillguard.policy.decide`) degrades the account (or group) at no risk
    from its flag threshold up: its standing (established, or a cover category) turns every flag on
    it, its own evidence's, into a review or a demand to verify."""
    category = sample.context.column("category").to_pylist()
    verification = sample.context.column("verification").to_pylist()
    last = sample.features.column("last_seen").cast(pa.timestamp("us", tz="UTC")).to_pylist()
    created = sample.context.column("created_at").cast(pa.timestamp("us", tz="UTC")).to_pylist()
    risks = sorted({rule.min_risk for rule in policy.rules if rule.min_risk >= policy.flag_threshold} | {1.0})
    return np.array([
        not any(decide(policy, DecisionContext("", risk, (), cat, verification=ver,
                                               age=seen - made if seen and made else None)).action.degrades
                for risk in risks)
        for cat, ver, seen, made in zip(category, verification, last, created)
    ], bool)


def set_evidence_bias(weights: RiskWeights, samples: list[AccountSample], flag_risk: float,
                      reviewed: list[np.ndarray]) -> RiskWeights:
    """Set the counted-evidence detector's prior so that it alone flags within the FP budgets on ``samples``.

    Only the whole traffic counts (counted evidence grows with it), and legitimate rows that ``reviewed`` marks
    (:func:`reviewed_by_standing`: the policy asks them to verify or reviews them instead of degrading them, the
    counter the seed prescribes for cover categories) are left out. The threshold is at
    least :data:`EVIDENCE_FLOOR_NATS`.
    """
    values, pops = [], []
    for sample, review in zip(samples, reviewed):
        kept = ~sample.is_attack & ~review & (sample.snapshot == "")
        values.append(elicitation_nats(subset(sample, kept).features))
        pops.append(sample.population[kept])
    v, pop = np.concatenate(values), np.concatenate(pops)
    limit = float(np.quantile(v, 1.0 - FPR_BUDGET, method="higher")) if len(v) else 0.0
    for group in sorted(set(pop.tolist())):
        limit = max(limit, float(np.quantile(v[pop == group], 1.0 - POPULATION_FPR_BUDGET, method="higher")))
    threshold = max(EVIDENCE_FLOOR_NATS, limit + LOGIT_MARGIN)
    return weights.model_copy(update={"evidence_bias": round(float(np.log(flag_risk / (1.0 - flag_risk))) - threshold, 4)})


def fit_risk_models(train: list[AccountSample], policy: Policy, l2: float) -> dict[str, RiskWeights]:
    """The account and campaign models fitted on ``train`` (each traffic directory's single and pooled samples, in
    that order, as :func:`load_samples` gives them), as ``bench/fit_risk_weights.py`` ships them.

    The account model is fitted on the whole traffic of accounts and pooled groups, the campaign model on pooled
    groups at every snapshot; both biases keep the FP budgets at the policy's flag threshold on every row, and each
    counted-evidence prior (:func:`set_evidence_bias`) keeps them on its own rows (single accounts, pooled groups),
    those the policy's standing only reviews left out.
    """
    flag_risk = policy.flag_threshold
    whole = [subset(sample, sample.snapshot == "") for sample in train]
    singles, pooled = train[0::2], train[1::2]
    models = {
        "account": (set_bias_for_budget(fit_weights(whole, TERM_SIGNS, l2=l2), train, flag_risk), singles),
        "campaign": (set_bias_for_budget(fit_weights(pooled, TERM_SIGNS, l2=l2), train, flag_risk), pooled),
    }
    return {
        name: set_evidence_bias(fitted, rows, flag_risk, [reviewed_by_standing(r, policy) for r in rows])
        for name, (fitted, rows) in models.items()
    }
