"""The layer contract of DESIGN.md holds (import-linter, configured in pyproject.toml)."""

import re
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


_SQL = re.compile(r"\b(SELECT\s.+\sFROM|INSERT\s+INTO|CREATE\s+(OR\s+REPLACE\s+)?(TEMP\s+)?TABLE|ALTER\s+TABLE)\b|"
                  r"^\s*import duckdb|\.con\b", re.MULTILINE)


def test_sql_and_connections_stay_in_the_store() -> None:
    package = Path(__file__).parents[1] / "src" / "distillguard"
    leaks = [f"{path.relative_to(package)}: {match.group(0)!r}"
             for path in sorted(package.rglob("*.py")) if path.parent.name != "store"
             for match in _SQL.finditer(path.read_text())]
    assert leaks == []
