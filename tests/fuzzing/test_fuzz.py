"""The fuzz targets under hypothesis: a short run in CI (``DISTILLGUARD_FUZZ_EXAMPLES`` cases per target, 100
unless set); ``bench/fuzz.py`` runs the same targets a million times."""

import os
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzzing.engine import TARGETS

EXAMPLES = int(os.environ.get("DISTILLGUARD_FUZZ_EXAMPLES", "100"))


@pytest.fixture(scope="module")
def case_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_fuzz_target(name: str, case_dir: Path) -> None:
    target = TARGETS[name][0]

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(st.randoms(use_true_random=False))
    def run(r: random.Random) -> None:
        target(r, case_dir)

    run()
