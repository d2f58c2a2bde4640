"""Settings from YAML and environment, validated once at start."""

from distillguard.config.settings import Settings, load_settings, with_overrides

__all__ = ["Settings", "load_settings", "with_overrides"]
