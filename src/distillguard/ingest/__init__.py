"""Readers for real log shapes → canonical Arrow batches; rejects with reasons, never silent drops."""

from distillguard.ingest.account import normalize_account
from distillguard.ingest.normalize import normalize_exchange
from distillguard.ingest.readers import ReadBatch, read_accounts, read_exchanges
from distillguard.ingest.rejects import Reject, RejectSink

__all__ = [
    "ReadBatch",
    "Reject",
    "RejectSink",
    "normalize_account",
    "normalize_exchange",
    "read_accounts",
    "read_exchanges",
]
