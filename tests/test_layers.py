"""The layer contract of DESIGN.md holds (import-linter, configured in pyproject.toml)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def test_layer_contract_is_kept() -> None:
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    if not Path(exe).exists():
        pytest.fail("lint-imports is not installed: pip install -e '.[dev]'")
    result = subprocess.run([exe], capture_output=True, text=True, cwd=Path(__file__).parents[1], timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout
