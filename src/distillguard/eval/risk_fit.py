"""Fit the weights of the account risk model on labelled traffic, and score them.

The risk model (:mod:`distillguard.accounts.risk`) is additive: a logistic of
weighted terms, each a share or rate in 0..1 with a plain-word reason. This
module computes the account fingerprints of simulated (labelled) traffic
directory by directory, fits the term weights by L2-regularised logistic
regression with each weight kept on the side its meaning gives it (a term that
marks distillation cannot end up counting against it), and measures recall
and false-positive rates on other directories. ``bench/fit_risk_weights.py``
runs it on the calibration scenarios and writes ``accounts/data/risk_weights.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from scipy.optimize import minimize

from distillguard.accounts import STAT_INPUT_COLUMNS, AccountStats, IpIntel
from distillguard.accounts.risk import RiskWeights, evidence_factor, risk_terms
from distillguard.core.errors import DistillguardError
from distillguard.eval.inputs import Labels, read_labels
from distillguard.ingest import read_accounts, read_exchanges
from distillguard.signals import compute_signals

FEATURES_FILE = "account-features.parquet"
POOLED_FILE = "pooled-features.parquet"
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


def _stats(traffic_dir: Path, intel: IpIntel, batch_size: int) -> AccountStats:
    stats = AccountStats(intel)
    for read in read_exchanges(traffic_dir / "exchanges.jsonl", batch_size):
        signals = compute_signals(read.table)
        batch = read.table.select([c for c in STAT_INPUT_COLUMNS if c not in signals.column_names])
        for name in STAT_INPUT_COLUMNS:
            if name in signals.column_names:
                batch = batch.append_column(name, signals.column(name))
        stats.update(batch)
    return stats


def pooled_groups(records: dict[str, dict[str, str | None]], labels: Labels, seed: int = 0) -> dict[str, list[str]]:
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


def _most_common(values: list[str | None]) -> str | None:
    known = [v for v in values if v is not None]
    return max(sorted(set(known)), key=known.count) if known else None


def build_features(traffic_dir: Path, intel: IpIntel, batch_size: int = 50_000) -> tuple[pa.Table, pa.Table]:
    """Account fingerprints and pooled group fingerprints of a simulated traffic directory.

    Both carry ``category`` and ``verification`` (a group's most common ones);
    the pooled table also ``n_accounts`` and ``group``.
    """
    stats = _stats(traffic_dir, intel, batch_size)
    features = stats.get()
    records: dict[str, dict[str, str | None]] = {}
    for read in read_accounts(traffic_dir / "accounts.jsonl", batch_size):
        for row in read.table.select(["account_id", "category", "verification", "payment_fingerprint"]).to_pylist():
            records[row["account_id"]] = row
    ids = features.column("account_id").to_pylist()
    for name in ("category", "verification"):
        features = features.append_column(name, pa.array([records.get(a, {}).get(name) for a in ids], pa.string()))
    labels = read_labels(traffic_dir / "labels.jsonl")
    groups = pooled_groups(records, labels)
    pooled = stats.pool(groups).get()
    pooled = pooled.append_column("n_accounts", pa.array([len(m) for m in groups.values()], pa.int64()))
    for name in ("category", "verification"):
        pooled = pooled.append_column(
            name, pa.array([_most_common([records.get(a, {}).get(name) for a in m]) for m in groups.values()], pa.string())
        )
    kinds = [
        f"pooled {name.split(':')[1]}" if name.startswith("campaign:")
        else "pooled team of " + str(_most_common([str(labels.population[labels.index[a]]) for a in members]))
        for name, members in groups.items()
    ]
    pooled = pooled.append_column("attack", pa.array([n.startswith("campaign:") for n in groups]))
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
    group = np.where(labels.is_attack[rows], labels.campaign[rows], labels.population[rows])
    single = AccountSample(
        table.drop_columns(["category", "verification"]), table.select(["category", "verification"]),
        labels.is_attack[rows], labels.population[rows], group, labels.n_exchanges[rows],
    )
    kind = np.array(pooled.column("kind").to_pylist(), object)
    pooled_sample = AccountSample(
        pooled.drop_columns(["category", "verification", "attack", "kind"]), pooled.select(["category", "verification"]),
        pooled.column("attack").to_numpy(zero_copy_only=False), kind, kind, pooled.column("n_exchanges").to_numpy(),
    )
    return single, pooled_sample


def design(sample: AccountSample) -> tuple[list[str], np.ndarray]:
    """Term names and the matrix of term values scaled by each account's evidence factor."""
    terms = risk_terms(sample.features, sample.context)
    factor = evidence_factor(sample.features)
    return [t.name for t in terms], np.stack([t.values for t in terms], axis=1) * factor[:, None]


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
