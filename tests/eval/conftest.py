"""Fixtures of the evaluation tests; the worlds themselves live in evalworld.py."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from evalworld import (  # noqa: E402
    world_labels,
    world_labels_path,
    world_log,
    write_predictions,
)

__all__ = ["world_labels", "world_labels_path", "world_log", "write_predictions"]
