"""JSON Lines of objects, read with errors that name the file and line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from distillguard.core.errors import ConfigError, DistillguardError


def iter_jsonl(path: Path, error: type[DistillguardError] = ConfigError) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for each non-blank line; ``error`` naming the file and line otherwise."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise error(f"cannot open {path}: {exc.strerror or exc}") from exc
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise error(f"{path}:{number}: not valid JSON ({exc})") from exc
            if not isinstance(obj, dict):
                raise error(f"{path}:{number}: expected a JSON object")
            yield number, obj
