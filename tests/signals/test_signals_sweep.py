"""Dataset sweep: membership of prompts in known prompt sets, from an index built from a directory."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from distillguard.core.errors import ConfigError
from distillguard.signals.sweep import DatasetSweepSignal, PromptSetIndex

ITEMS = [
    "A farmer has 12 cows and buys 7 more each week. How many cows does he have after 5 weeks?",
    "Write a function that returns the longest common prefix of a list of strings in Python.",
    "The perimeter of a square garden is 64 metres. What is the area of the garden in square metres?",
]


def _corpus(tmp_path: Path) -> Path:
    directory = tmp_path / "sets"
    directory.mkdir()
    with (directory / "train.jsonl").open("w") as f:
        for i, text in enumerate(ITEMS):
            f.write(json.dumps({"id": f"train:{i}", "kind": "distill", "turns": [text]}) + "\n")
        f.write(json.dumps({"id": "train:short", "kind": "distill", "turns": ["Say hello."]}) + "\n")
    with (directory / "chat.jsonl").open("w") as f:
        story = "Tell me a story about a dragon who is afraid of the dark and learns to be brave."
        f.write(json.dumps({"id": "chat:0", "kind": "legit", "turns": [story]}) + "\n")
    return directory


def test_wrapped_and_reworded_items_match_but_shared_phrases_do_not(tmp_path: Path) -> None:
    index = PromptSetIndex.from_directory(_corpus(tmp_path))
    assert len(index) == 3  # the short item and the legit row are not indexed
    signal = DatasetSweepSignal(index)
    prompts = [
        ITEMS[0],
        "Think it through carefully and show every step.\n\n" + ITEMS[1].upper() + "\nEnd with the answer.",
        "Q: " + ITEMS[2] + " Explain briefly.",
        "How many cows does he have? I am asking for a friend who farms.",
        "Tell me a story about a dragon who is afraid of the dark and learns to be brave.",
        None,
    ]
    out = signal(pa.table({"prompt": pa.array(prompts, pa.string())})).to_pylist()
    assert out[0] is not None and out[1] is not None
    assert out[0] != out[1]
    assert out[3] is None and out[4] is None and out[5] is None
    assert out[2] == index.match(ITEMS[2]) and out[2] not in (None, out[0], out[1])
    again = signal(pa.table({"prompt": pa.array([ITEMS[1]], pa.string())})).to_pylist()
    assert again == [out[1]]


def test_all_kinds_can_be_indexed(tmp_path: Path) -> None:
    index = PromptSetIndex.from_directory(_corpus(tmp_path), kinds=None)
    assert len(index) == 4
    assert index.match("Tell me a story about a dragon who is afraid of the dark and learns to be brave.") is not None


def test_bad_rows_name_file_and_line(tmp_path: Path) -> None:
    directory = _corpus(tmp_path)
    (directory / "bad.jsonl").write_text(json.dumps({"id": "x", "turns": []}) + "\n")
    with pytest.raises(ConfigError, match=r"bad\.jsonl:1: turns"):
        PromptSetIndex.from_directory(directory)
    with pytest.raises(ConfigError, match="no \\*.jsonl"):
        PromptSetIndex.from_directory(tmp_path / "empty")


def test_sweep_signal_keeps_the_signal_contract(tmp_path: Path, awkward_batch: pa.Table) -> None:
    from distillguard.core.schema import EXCHANGE_SCHEMA
    from distillguard.signals import compute_signals

    prompts = [p for p in awkward_batch.column("prompt").to_pylist() if p and len(p.split()) >= 8]
    signal = DatasetSweepSignal(PromptSetIndex.from_texts([*ITEMS, *prompts]))
    whole = signal(awkward_batch)
    assert whole.type == pa.uint64() and len(whole) == awkward_batch.num_rows
    singles = [signal(awkward_batch.slice(i, 1)).to_pylist()[0] for i in range(awkward_batch.num_rows)]
    assert singles == whole.to_pylist()
    assert signal(awkward_batch.to_batches()[0]).equals(whole)
    assert len(signal(EXCHANGE_SCHEMA.empty_table())) == 0
    table = compute_signals(awkward_batch, {"sweep_item": signal})
    assert table.column("sweep_item").to_pylist() == whole.to_pylist()
