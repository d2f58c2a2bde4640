"""One contract suite over every registered signal."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pyarrow as pa
import pytest
from signals_fixtures import AWKWARD_ROWS, build_batch

import distillguard.signals as signals_pkg
from distillguard.core.schema import CAPABILITIES, EXCHANGE_SCHEMA
from distillguard.signals import SIGNAL_SCHEMA, SIGNALS, Signal, compute_signals
from distillguard.signals.lang import LANGS
from distillguard.signals.registry import CONFIGURED_SIGNALS

NAMES = list(SIGNALS)


@pytest.mark.parametrize("name", NAMES)
def test_signal_returns_one_value_per_row_of_its_dtype(name: str, awkward_batch: pa.Table) -> None:
    sig = SIGNALS[name]
    out = sig(awkward_batch)
    assert isinstance(out, pa.Array)
    assert len(out) == awkward_batch.num_rows
    assert out.type == sig.dtype
    assert sig.name == name


@pytest.mark.parametrize("name", NAMES)
def test_signal_takes_empty_batches_and_record_batches(name: str, awkward_batch: pa.Table) -> None:
    sig = SIGNALS[name]
    assert len(sig(EXCHANGE_SCHEMA.empty_table())) == 0
    record_batch = awkward_batch.to_batches()[0]
    assert sig(record_batch).equals(sig(awkward_batch))


@pytest.mark.parametrize("name", NAMES)
def test_signal_is_pure_and_row_independent(name: str, awkward_batch: pa.Table) -> None:
    """The same row gives the same value alone, in a batch, and in a chunked or sliced table."""
    sig = SIGNALS[name]
    whole = sig(awkward_batch).to_pylist()
    assert sig(awkward_batch).to_pylist() == whole
    singles = [sig(awkward_batch.slice(i, 1)).to_pylist()[0] for i in range(awkward_batch.num_rows)]
    assert singles == whole
    chunked = pa.Table.from_batches(awkward_batch.to_batches(max_chunksize=3))
    assert sig(chunked).to_pylist() == whole


def test_every_signal_class_is_registered() -> None:
    registered = {type(sig) for sig in SIGNALS.values()} | set(CONFIGURED_SIGNALS)
    defined = set()
    for mod in pkgutil.iter_modules(signals_pkg.__path__, signals_pkg.__name__ + "."):
        module = importlib.import_module(mod.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Signal) and cls is not Signal and not inspect.isabstract(cls):
                defined.add(cls)
    assert defined == registered


def test_registry_keys_are_signal_names_and_schema_matches() -> None:
    assert all(key == sig.name for key, sig in SIGNALS.items())
    assert SIGNAL_SCHEMA.names == ["request_id", *SIGNALS]
    for name, sig in SIGNALS.items():
        assert SIGNAL_SCHEMA.field(name).type == sig.dtype


def test_compute_signals_follows_the_schema_and_ignores_chunking(awkward_batch: pa.Table) -> None:
    out = compute_signals(awkward_batch)
    assert out.schema == SIGNAL_SCHEMA
    assert out.num_rows == awkward_batch.num_rows
    assert out["request_id"].to_pylist() == awkward_batch["request_id"].to_pylist()
    assert compute_signals(awkward_batch, chunk_rows=3).equals(out)
    assert compute_signals(EXCHANGE_SCHEMA.empty_table()).schema == SIGNAL_SCHEMA


def test_compute_signals_rejects_a_batch_without_needed_columns() -> None:
    with pytest.raises(ValueError, match="no column"):
        compute_signals(pa.table({"request_id": ["a"]}))


def test_value_domains_on_awkward_rows(awkward_batch: pa.Table) -> None:
    out = compute_signals(awkward_batch)
    for name in ("cot_score", "reasoning_requested", "reasoning_share"):
        values = [v for v in out[name].to_pylist() if v is not None]
        assert all(0.0 <= v <= 1.0 for v in values), name
    assert set(out["capability"].to_pylist()) <= set(CAPABILITIES)
    assert set(out["lang"].to_pylist()) - {None} <= set(LANGS)
    assert all(v >= 0 for v in out["output_len"].to_pylist())


def test_text_signals_are_null_only_without_text() -> None:
    batch = build_batch([{"prompt": None, "system": None}, {"prompt": None, "system": "Be brief."}])
    out = compute_signals(batch)
    for name in ("cot_score", "template_fp", "template_key"):
        assert out[name].to_pylist()[0] is None
        assert out[name].to_pylist()[1] is not None
    assert out["prompt_hash"].to_pylist() == [None, None]
    assert out["lang"].to_pylist() == [None, None]


def test_awkward_rows_fixture_covers_nulls_empties_and_scripts() -> None:
    prompts = [row.get("prompt") for row in AWKWARD_ROWS]
    assert None in prompts and "" in prompts
    assert any(p and any(ord(c) > 0xFFFF for c in p) for p in prompts)
