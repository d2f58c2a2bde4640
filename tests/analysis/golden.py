"""Digest of the output fields of a run that existed before the analysis layer (no behaviour change).

Per-family edge counts of the campaigns (``evidence.linking_edges``) are kept as values, not hashed: the
linking weights are sums whose order follows DuckDB's parallel aggregation, so their last bits (and a
count at a threshold) may differ between two runs of the same code; the test compares them with a tolerance.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import orjson

ACCOUNT_FIELDS = ("account_id", "risk", "action", "flagged", "campaign_id", "flagged_at", "reasons")
CAMPAIGN_FIELDS = ("campaign_id", "accounts", "n_accounts", "n_exchanges", "first_seen", "last_seen", "capabilities",
                   "risk", "confidence", "reasons", "indicators")


def _lines(path: Path) -> list[dict[str, Any]]:
    with path.open("rb") as fh:
        return [orjson.loads(line) for line in fh]


def digest(records: list[dict[str, Any]], fields: tuple[str, ...]) -> dict[str, object]:
    """Rows and SHA-256 of ``records`` cut to ``fields`` (in order)."""
    h = hashlib.sha256()
    for record in records:
        h.update(orjson.dumps({k: record.get(k) for k in fields}, option=orjson.OPT_SORT_KEYS) + b"\n")
    return {"rows": len(records), "sha256": h.hexdigest()}


def run_digest(out_dir: Path) -> dict[str, object]:
    """Digests of a run's ``accounts.jsonl`` and ``campaigns.jsonl``, and each campaign's edge counts."""
    campaigns = _lines(out_dir / "campaigns.jsonl")
    return {"accounts": digest(_lines(out_dir / "accounts.jsonl"), ACCOUNT_FIELDS),
            "campaigns": digest(campaigns, CAMPAIGN_FIELDS),
            "linking_edges": {c["campaign_id"]: c["evidence"]["linking_edges"] for c in campaigns}}
