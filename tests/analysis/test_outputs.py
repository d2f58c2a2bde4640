"""The output files are replaced whole: a kill or an error while writing never leaves a partial file."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import orjson
import pyarrow as pa
import pytest

from distillguard.analysis.assess import Assessment
from distillguard.analysis.outputs import write_outputs
from distillguard.core.decision import Action, Decision


def _assessment(n: int, risk: float) -> Assessment:
    decisions = [Decision(f"acct-{i}", risk, Action.ALLOW) for i in range(n)]
    return Assessment(decisions, [], pa.table({}))


def _lines(path: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


class _Failing(list[Decision]):
    """Decisions whose iteration fails after ``good`` of them: an error in the middle of the write."""

    def __init__(self, items: list[Decision], good: int) -> None:
        super().__init__(items)
        self.good = good

    def __iter__(self):  # type: ignore[no-untyped-def]
        for i, d in enumerate(super().__iter__()):
            if i == self.good:
                raise RuntimeError("disk on fire")
            yield d


def test_an_error_while_writing_keeps_the_previous_file(tmp_path: Path) -> None:
    write_outputs(tmp_path, _assessment(3, 0.1), {})
    before = (tmp_path / "accounts.jsonl").read_bytes()
    broken = Assessment(_Failing(_assessment(1000, 0.9).decisions, good=500), [], pa.table({}))
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_outputs(tmp_path, broken, {})
    assert (tmp_path / "accounts.jsonl").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["accounts.jsonl", "campaigns.jsonl"]  # no temporary left


_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import pyarrow as pa
    from distillguard.analysis.assess import Assessment
    from distillguard.analysis.outputs import write_outputs
    from distillguard.core.decision import Action, Decision

    class Slow(list):
        def __iter__(self):
            for i, d in enumerate(list.__iter__(self)):
                if i == 2000:
                    Path(sys.argv[2]).touch()  # half written: the parent kills us now
                    time.sleep(60)
                yield d

    decisions = Slow(Decision(f"acct-{i}", 0.9, Action.ALLOW) for i in range(4000))
    write_outputs(Path(sys.argv[1]), Assessment(decisions, [], pa.table({})), {})
    """
)


def _kill_a_writer_halfway(tmp_path: Path, out: Path) -> None:
    """Run a real writer of ``out`` in a subprocess and kill -9 it halfway through ``accounts.jsonl``."""
    marker = tmp_path / "half"
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    proc = subprocess.Popen([sys.executable, str(script), str(out), str(marker)])
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, "the writer ended before it was killed"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()


def test_kill_9_while_writing_leaves_the_previous_complete_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_outputs(out, _assessment(3, 0.1), {})
    before = (out / "accounts.jsonl").read_bytes()
    _kill_a_writer_halfway(tmp_path, out)
    assert (out / "accounts.jsonl").read_bytes() == before
    assert [r["account_id"] for r in _lines(out / "accounts.jsonl")] == ["acct-0", "acct-1", "acct-2"]


def test_a_first_run_killed_while_writing_leaves_no_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _kill_a_writer_halfway(tmp_path, out)
    assert not (out / "accounts.jsonl").exists()


def test_outputs_are_complete_and_keep_the_files_mode(tmp_path: Path) -> None:
    write_outputs(tmp_path, _assessment(2, 0.1), {})
    (tmp_path / "accounts.jsonl").chmod(0o640)
    write_outputs(tmp_path, _assessment(5, 0.2), {})
    rows = _lines(tmp_path / "accounts.jsonl")
    assert [r["account_id"] for r in rows] == [f"acct-{i}" for i in range(5)] and rows[0]["risk"] == 0.2
    assert (tmp_path / "accounts.jsonl").stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "campaigns.jsonl").stat().st_mode & 0o777 == 0o644
