from pathlib import Path

import pytest

from distillguard.config import load_settings, with_overrides
from distillguard.core.errors import ConfigError


def test_defaults_without_file() -> None:
    settings = load_settings(None, environ={})
    assert settings.db == Path("distillguard.duckdb")
    assert settings.analyze.batch_size == 20_000


def test_env_overrides_file(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("db: a.duckdb\nanalyze: {batch_size: 500}\n")
    settings = load_settings(path, environ={"DISTILLGUARD_DB": "b.duckdb"})
    assert settings.db == Path("b.duckdb")
    assert settings.analyze.batch_size == 500


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("analyze: {batch_size: 5}", "analyze.batch_size"),
        ("unknown_key: 1", "unknown_key"),
        ("- a list", "must be a mapping"),
        ("db: [unclosed", "not valid YAML"),
    ],
)
def test_bad_settings_name_file_and_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_settings(path, environ={})
    assert str(path) in str(info.value)


def test_overrides_are_validated() -> None:
    settings = load_settings(None, environ={})
    changed = with_overrides(settings, "command line", analyze={"strict": True}, db=Path("x.duckdb"))
    assert changed.analyze.strict and changed.analyze.batch_size == 20_000 and changed.db == Path("x.duckdb")
    with pytest.raises(ConfigError, match="command line: invalid settings: analyze.batch_size"):
        with_overrides(settings, "command line", analyze={"batch_size": 3})


def test_campaigns_names_a_file_of_campaign_tunables(tmp_path: Path) -> None:
    assert load_settings(None, environ={}).campaigns is None  # the shipped campaigns/default.yaml
    path = tmp_path / "s.yaml"
    path.write_text("campaigns: tunables/campaigns.yaml\n")
    assert load_settings(path, environ={}).campaigns == Path("tunables/campaigns.yaml")
    path.write_text("campaigns: [a, b]\n")
    with pytest.raises(ConfigError, match=f"{path}: invalid settings: campaigns"):
        load_settings(path, environ={})
