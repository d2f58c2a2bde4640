import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from distillguard.accounts import default_weights
from distillguard.core.errors import ConfigError
from distillguard.gateway.app import build_engine
from distillguard.gateway.config import FailMode, RouteRule, load_gateway_config


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("upstream: ftp://x", "upstream: Value error, must be an http"),
        ("fail: sideways", "fail:"),
        ("flush_interval_s: 0", "flush_interval_s"),
        ("colour: blue", "colour: Extra inputs are not permitted"),
        ("- a list", "must be a mapping"),
        ("upstream: [unclosed", "not valid YAML"),
        ("unknown_routes: {restricted: maybe}", "unknown_routes.restricted: Input should be 'forward' or 'deny'"),
        ("unknown_routes: {max_concurrent: 0}", "unknown_routes.max_concurrent: Input should be greater than"),
        ("unknown_routes: {blocked: forward}", "unknown_routes.blocked: Extra inputs are not permitted"),
        ("body_timeout_s: 0", "body_timeout_s: Input should be greater than 0"),
        ("client_max_concurrent: 0", "client_max_concurrent: Input should be greater than or equal to 1"),
        ("api_key_ids: plain", "api_key_ids: plain would log raw API keys"),
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


def test_online_scoring_uses_the_configured_risk_weights(tmp_path: Path) -> None:
    shipped = default_weights("account")
    stricter = shipped.model_copy(update={"bias": shipped.bias - 5.0})
    path = tmp_path / "weights.yaml"
    path.write_text(yaml.safe_dump(stricter.model_dump()))
    assert build_engine(load_gateway_config(None, risk_weights=path)).learner.weights == stricter
    assert build_engine(load_gateway_config(None)).learner.weights == shipped
    path.write_text("bias: [not a number]\n")
    with pytest.raises(ConfigError, match="weights.yaml"):
        build_engine(load_gateway_config(None, risk_weights=path))


def test_plain_key_ids_need_the_test_flag_and_the_command_refuses_them(tmp_path: Path) -> None:
    assert load_gateway_config(None, api_key_ids="plain", plain_key_ids_for_tests=True).api_key_ids == "plain"
    path = tmp_path / "gateway.yaml"
    path.write_text("upstream: http://127.0.0.1:9\napi_key_ids: plain\n")
    result = subprocess.run([sys.executable, "-m", "distillguard.cli", "gateway", "--config", str(path), "--port", "1"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "would log raw API keys" in result.stderr


def test_route_and_client_limits_have_safe_defaults() -> None:
    config = load_gateway_config(None)
    assert (config.unknown_routes.restricted, config.unknown_routes.allowed) == (RouteRule.DENY, RouteRule.FORWARD)
    assert config.body_timeout_s <= 60 and config.client_max_concurrent >= 1
