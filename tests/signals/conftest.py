import sys
from pathlib import Path

import pyarrow as pa
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from signals_fixtures import AWKWARD_ROWS, build_batch  # noqa: E402


@pytest.fixture
def awkward_batch() -> pa.Table:
    return build_batch(AWKWARD_ROWS)
