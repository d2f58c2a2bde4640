"""Data files of the simulator (phrasebook, clients, world, responses, built-in corpus)."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml


@cache
def load_data(name: str) -> dict[str, Any]:
    """Parse ``<name>.yaml`` of this folder (cached; treat the result as read-only)."""
    text = (resources.files(__name__) / f"{name}.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"{name}.yaml: not a mapping")
    return data
