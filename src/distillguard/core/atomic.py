"""Files replaced whole: a reader sees the previous complete file or the new complete one, never a part."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


@contextmanager
def atomic_write(path: Path) -> Iterator[IO[bytes]]:
    """A binary file that becomes ``path`` only when the block ends without an error.

    The bytes go to a temporary file in ``path``'s directory, which is flushed, fsynced and renamed
    over ``path`` (``os.replace``, atomic on POSIX), then the directory is fsynced so that the rename
    survives a power cut. An error, or a kill, in the block leaves ``path`` as it was (or absent);
    the temporary file is removed on an error (a kill can leave one ``.<name>.*.tmp`` beside it).
    The new file keeps the mode of the one it replaces (0644 for a new one).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), path.stat().st_mode & 0o777 if path.exists() else 0o644)
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
