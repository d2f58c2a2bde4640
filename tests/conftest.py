"""Settings of every test run."""

import os

import pytest

from distillguard.analysis.stats import SKETCH_KEY_ENV


def pytest_configure(config: pytest.Config) -> None:
    """One sketch key for every store a test makes (and the commands it starts), so that two stores of one traffic
    hold the same statistics and the dev digest is reproducible; ``test_sketch_key.py`` unsets it."""
    os.environ.setdefault(SKETCH_KEY_ENV, "distillguard tests")
