"""YAML files into validated pydantic models, with errors that name the file and field."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from distillguard.core.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def read_yaml_mapping(path: Path, what: str) -> dict[str, Any]:
    """The mapping a YAML file holds (empty for an empty file); ConfigError naming the file otherwise."""
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if loaded is not None and not isinstance(loaded, dict):
        raise ConfigError(f"{path}: {what} must be a mapping, got {type(loaded).__name__}")
    return dict(loaded or {})


def validate_model(model: type[M], data: Any, where: str, what: str) -> M:
    """``data`` validated as ``model``; ConfigError listing each field's problem."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{where}: invalid {what}: {problems}") from exc


def load_yaml_model(model: type[M], path: Path | None, package: str, default: str, what: str) -> M:
    """``model`` from the YAML file ``path``, or from the file ``default`` shipped in ``package``."""
    if path is not None:
        return validate_model(model, read_yaml_mapping(path, what), str(path), what)
    text = resources.files(package).joinpath(default).read_text(encoding="utf-8")
    return validate_model(model, yaml.safe_load(text), f"default {what} ({package}/{default})", what)
