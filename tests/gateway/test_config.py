import subprocess
import sys
from pathlib import Path

import pytest

from distillguard.core.errors import ConfigError
from distillguard.gateway.config import FailMode, load_gateway_config


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("upstream: ftp://x", "upstream: Value error, must be an http"),
        ("fail: sideways", "fail:"),
        ("flush_interval_s: 0", "flush_interval_s"),
        ("colour: blue", "colour: Extra inputs are not permitted"),
        ("- a list", "must be a mapping"),
        ("upstream: [unclosed", "not valid YAML"),
    ],
)
def test_bad_settings_fail_at_load_naming_the_file_and_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as error:
        load_gateway_config(path)
    assert str(path) in str(error.value)


def test_command_line_values_override_the_file(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text("upstream: http://a:1/\nfail: closed\naccount_header: X-Account\n")
    config = load_gateway_config(path, upstream="http://b:2", db=None)
    assert config.upstream == "http://b:2" and config.fail is FailMode.CLOSED and config.account_header == "x-account"


def test_gateway_command_without_an_upstream_exits_with_a_clear_error(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "distillguard.cli", "gateway", "--port", "1"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "no upstream URL" in result.stderr
