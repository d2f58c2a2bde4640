"""The input of the account statistics: exchange fields beside their signals, defined once.

Batch analysis reads it from the store (exchanges joined with signals), the
gateway and the risk-model fit build it from exchanges and freshly computed
signals with :func:`stat_input`; all take the column lists from here.
"""

from __future__ import annotations

import pyarrow as pa

from distillguard.core.schema import EXCHANGE_SCHEMA
from distillguard.signals import SIGNAL_SCHEMA

STAT_EXCHANGE_COLUMNS: tuple[str, ...] = (
    "account_id", "ts", "ip", "user_agent", "tls_ja4", "n_user_turns", "n_tool_results",
)
"""Columns of the statistics input taken from the exchanges."""
STAT_SIGNAL_COLUMNS: tuple[str, ...] = (
    "cot_score", "prompt_cot_score", "reasoning_requested", "capability", "template_key", "prompt_hash",
    "reasoning_share", "output_len", "has_tool_calls",
)
"""Columns of the statistics input taken from the exchanges' signals."""
STAT_INPUT_COLUMNS: tuple[str, ...] = STAT_EXCHANGE_COLUMNS + STAT_SIGNAL_COLUMNS
"""Columns :meth:`~distillguard.accounts.AccountStats.update` reads: exchange fields joined with their signals."""
STAT_INPUT = pa.schema(
    [EXCHANGE_SCHEMA.field(name) for name in STAT_EXCHANGE_COLUMNS]
    + [SIGNAL_SCHEMA.field(name) for name in STAT_SIGNAL_COLUMNS]
)
"""The statistics input as an Arrow schema (columns :data:`STAT_INPUT_COLUMNS`, typed as their sources)."""
SWEEP_COLUMN = "sweep_item"
"""Optional input column (the dataset-sweep signal): known prompt-set item id, null when none."""


def stat_input(exchanges: pa.Table, signals: pa.Table) -> pa.Table:
    """The statistics input from row-aligned exchanges and their signals (:data:`SWEEP_COLUMN` too if computed)."""
    if exchanges.num_rows != signals.num_rows:
        raise ValueError("exchanges and signals differ in length")
    sources = [(exchanges, STAT_EXCHANGE_COLUMNS), (signals, STAT_SIGNAL_COLUMNS)]
    if SWEEP_COLUMN in signals.column_names:
        sources.append((signals, (SWEEP_COLUMN,)))
    pairs = [(table.schema.field(name), table.column(name)) for table, names in sources for name in names]
    return pa.Table.from_arrays([column for _, column in pairs], schema=pa.schema([field for field, _ in pairs]))
