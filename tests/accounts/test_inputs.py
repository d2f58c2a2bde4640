import pyarrow as pa
import pytest

from distillguard.accounts import STAT_INPUT, STAT_INPUT_COLUMNS, STAT_SIGNAL_COLUMNS, SWEEP_COLUMN, stat_input
from distillguard.signals import SIGNALS, compute_signals
from factories import exchange, exchanges


def test_the_input_is_exchange_fields_then_signals() -> None:
    assert tuple(STAT_INPUT.names) == STAT_INPUT_COLUMNS
    assert set(STAT_SIGNAL_COLUMNS) <= set(SIGNALS)
    assert set(STAT_INPUT_COLUMNS) - set(STAT_SIGNAL_COLUMNS) == {
        "account_id", "ts", "ip", "user_agent", "tls_ja4", "n_user_turns", "n_tool_results"}


def test_stat_input_takes_each_column_from_its_source() -> None:
    table = exchanges([exchange(i) for i in range(3)])
    signals = compute_signals(table)
    batch = stat_input(table, signals)
    assert batch.schema == STAT_INPUT
    assert batch.column("output_len") == signals.column("output_len")
    swept = signals.append_column(SWEEP_COLUMN, pa.array([None, 7, None], pa.uint64()))
    assert stat_input(table, swept).column(SWEEP_COLUMN).to_pylist() == [None, 7, None]


def test_stat_input_rejects_unaligned_tables() -> None:
    table = exchanges([exchange(i) for i in range(3)])
    with pytest.raises(ValueError, match="differ in length"):
        stat_input(table, compute_signals(table.slice(1)))
