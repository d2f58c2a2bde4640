"""Fixtures of the evaluation tests; the worlds themselves live in evalworld.py."""

from evalworld import (
    world_labels,
    world_labels_path,
    world_log,
    write_predictions,
)

__all__ = ["world_labels", "world_labels_path", "world_log", "write_predictions"]
