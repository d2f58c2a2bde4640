"""Records set aside by the readers, with their reasons: never a silent drop."""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import orjson

from distillguard.core.atomic import atomic_write
from distillguard.core.errors import IngestError

__all__ = ["RAW_CHARS", "Reject", "RejectSink"]

#: How much of the original line a reject keeps.
RAW_CHARS = 500


@dataclass(frozen=True, slots=True)
class Reject:
    """One input record that could not be read.

    ``line`` is the 1-based line number (for Parquet, the 1-based row number);
    ``field`` names the offending field, or is ``None`` when the whole line is
    bad; ``raw`` holds the first :data:`RAW_CHARS` characters of the original line.
    """

    file: str
    line: int
    field: str | None
    reason: str
    raw: str

    def describe(self) -> str:
        """One line for people: ``file:line: field: reason``."""
        where = f"{self.file}:{self.line}"
        return f"{where}: {self.reason}" if self.field is None else f"{where}: {self.field}: {self.reason}"

    def to_json(self) -> bytes:
        """The reject as one JSON object (no trailing newline)."""
        return orjson.dumps(
            {
                "file": self.file,
                "line": self.line,
                "field": self.field,
                "reason": self.reason,
                "raw": self.raw,
            }
        )


class RejectSink:
    """Counts rejects per reason and writes them, one JSON line each, to ``path``.

    The file is opened on the first reject (nothing is created for a clean
    run) as a temporary file that replaces ``path`` whole on :meth:`close`: a
    kill while ingesting leaves the previous file; ``path=None`` only counts. With ``strict=True`` the first reject
    raises :class:`IngestError` naming its file, line, field and reason (after
    counting and writing it); the error carries the :class:`Reject` as ``.reject``.
    """

    def __init__(self, path: Path | str | None = None, *, strict: bool = False) -> None:
        self.path = Path(path) if path is not None else None
        self.strict = strict
        self.counts: dict[str, int] = {}
        self.total = 0
        self._out: IO[bytes] | None = None
        self._file: AbstractContextManager[IO[bytes]] | None = None

    def add(self, rejects: Iterable[Reject]) -> None:
        """Record ``rejects``; under ``strict`` raise at the first one."""
        counts = self.counts
        lines = []
        for r in rejects:
            counts[r.reason] = counts.get(r.reason, 0) + 1
            self.total += 1
            if self.path is not None:
                lines.append(r.to_json())
            if self.strict:
                self._write(lines)
                err = IngestError(f"rejected record at {r.describe()}")
                err.reject = r  # type: ignore[attr-defined]
                raise err
        self._write(lines)

    def _write(self, lines: list[bytes]) -> None:
        if lines and self.path is not None:
            out = self._out if self._out is not None else self._open(self.path)
            lines.append(b"")
            out.write(b"\n".join(lines))

    def _open(self, path: Path) -> IO[bytes]:
        file = atomic_write(path)
        try:
            self._out = file.__enter__()
        except OSError as e:
            raise IngestError(f"cannot write rejects to {path}: {e.strerror or e}") from e
        self._file = file
        return self._out

    def close(self) -> None:
        """Close the rejects file, if one was opened, and put it in place of ``path``."""
        if self._file is not None:
            file, self._file, self._out = self._file, None, None
            try:
                file.__exit__(None, None, None)
            except OSError as e:
                raise IngestError(f"cannot write rejects to {self.path}: {e.strerror or e}") from e

    def __enter__(self) -> RejectSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def summary(self) -> str:
        """The counts for people, most frequent reason first."""
        if not self.total:
            return "no rejects"
        parts = [f"{n} {reason}" for reason, n in sorted(self.counts.items(), key=lambda kv: -kv[1])]
        return f"{self.total} rejects: " + "; ".join(parts)
