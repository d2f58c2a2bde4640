import pyarrow as pa
import pytest
from signals_fixtures import AWKWARD_ROWS, build_batch


@pytest.fixture
def awkward_batch() -> pa.Table:
    return build_batch(AWKWARD_ROWS)
