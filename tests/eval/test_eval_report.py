"""run_eval end to end: tables on the console, eval.json and eval.txt beside them."""

from __future__ import annotations

import io

import orjson
import pytest
from evalworld import HashEncoder, iso, world_exchanges, write_raw_log
from rich.console import Console

from distillguard.eval import BaselineConfig, EvalInputError, run_eval, score

LEGIT = ("l1", "l2", "l3", "l4", "l5", "l6")
VERDICTS = {
    "a1": (True, "P1", iso(0)),
    "a2": (True, "P1", iso(4)),
    "a3": (False, None, None),
    "a4": (True, "P2", iso(0)),
    **{a: (False, None, None) for a in LEGIT},
    "l5": (True, None, iso(2)),
}


def _console() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, width=220, no_color=True), buffer


@pytest.fixture
def world_log_file(tmp_path):
    return write_raw_log(tmp_path / "logs" / "exchanges.jsonl", world_exchanges())


def test_run_eval_without_logs_writes_json_and_prints(write_predictions, world_labels_path, tmp_path):
    predictions = write_predictions(VERDICTS)
    console, buffer = _console()
    report = run_eval(predictions, world_labels_path, None, False, None, console)
    text = buffer.getvalue()
    assert "Detectors" in text and "distillguard" in text and "students" in text
    assert "no logs" in text
    data = orjson.loads((predictions / "eval.json").read_bytes())
    assert data["predictions"]["recall"] == pytest.approx(0.75)
    assert data["predictions"]["worst_population"]["population"] == "students"
    assert data["predictions"]["legit_exchanges_degraded"] is None
    assert data["comparison"] == []
    assert (predictions / "eval.txt").read_text().startswith(" ") or "Detectors" in (
        predictions / "eval.txt").read_text()
    assert report.predictions.recall == pytest.approx(0.75)


def test_run_eval_reads_logs_through_ingest(write_predictions, world_labels_path, world_log_file, tmp_path):
    out = tmp_path / "out"
    report = run_eval(write_predictions(VERDICTS), world_labels_path, [world_log_file], False, out, None)
    m = report.predictions
    assert report.logs.exchanges_read == 80 and report.logs.accounts_count_mismatch == 0
    assert (m.legit_exchanges_degraded.numerator, m.legit_exchanges_degraded.denominator) == (3, 30)
    c1 = next(c for c in m.campaigns if c.campaign == "C1")
    assert c1.time_to_detect == 0.0
    assert (out / "eval.json").is_file()
    # score() is the same metrics without the report
    assert score(out.parent / "pred", world_labels_path, [world_log_file]).predictions == m


def test_run_eval_with_baselines(write_predictions, world_labels_path, world_log_file, tmp_path):
    console, buffer = _console()
    out = tmp_path / "out"
    report = run_eval(write_predictions(VERDICTS), world_labels_path, [world_log_file], True, out,
                      console, config=BaselineConfig(target_fpr=0.1, mmd_min_queries=2),
                      encoder=HashEncoder())
    text = buffer.getvalue()
    for name in ("volume", "prada", "mmd", "test half", "calibration half", "no campaigns"):
        assert name in text
    assert [r.detector for r in report.comparison] == ["distillguard", "volume", "prada", "mmd"]
    assert (out / "embeddings-cache" / "hash-encoder.keys.npy").is_file()
    data = orjson.loads((out / "eval.json").read_bytes())
    assert data["baselines"]["embedding"]["embedded"] == 80
    assert len(data["comparison"]) == 4


def test_baselines_without_logs_is_an_error(write_predictions, world_labels_path):
    with pytest.raises(EvalInputError, match="logs"):
        run_eval(write_predictions(VERDICTS), world_labels_path, None, True, None, None)


def test_several_log_files_and_rejects_are_counted(world_labels, tmp_path):
    from distillguard.eval.inputs import read_exchange_log

    rows = world_exchanges()
    first = write_raw_log(tmp_path / "one.jsonl", rows[:50])
    second = write_raw_log(tmp_path / "two.jsonl", rows[50:])
    with second.open("a") as handle:
        handle.write("{broken json\n")
    log = read_exchange_log([first, second], world_labels, with_prompts=True)
    assert (len(log), log.n_rejects, log.lines_read) == (80, 1, 81)
    assert (log.counts() == world_labels.n_exchanges).all()
    assert log.prompt[0] == "a1 q0"


def test_missing_log_file_is_an_error(world_labels, tmp_path):
    from distillguard.eval.inputs import read_exchange_log

    with pytest.raises(EvalInputError, match="nope.jsonl"):
        read_exchange_log([tmp_path / "nope.jsonl"], world_labels)


def test_markup_in_ids_is_printed_as_is(tmp_path):
    from evalworld import write_jsonl

    labels = [{"account_id": "x", "label": "attack", "population": "campaign", "campaign": "[bold]c1",
               "n_exchanges": 1},
              {"account_id": "y", "label": "legit", "population": "[red]pop", "n_exchanges": 1}]
    write_jsonl(tmp_path / "labels.jsonl", labels)
    write_jsonl(tmp_path / "p" / "accounts.jsonl", [
        {"account_id": "x", "risk": 1.0, "action": "block", "flagged": True, "campaign_id": "[x]",
         "flagged_at": None, "reasons": []}])
    console, buffer = _console()
    run_eval(tmp_path / "p", tmp_path / "labels.jsonl", None, False, None, console)
    assert "[bold]c1" in buffer.getvalue() and "[red]pop" in buffer.getvalue()
