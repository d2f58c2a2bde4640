"""The one exception hierarchy of distillguard."""

from __future__ import annotations


class DistillguardError(Exception):
    """Base class of every error distillguard raises on purpose."""


class ConfigError(DistillguardError):
    """A setting, scenario or policy file is invalid; raised at load time."""


class StoreError(DistillguardError):
    """The store cannot be opened, migrated or written."""


class RecordError(DistillguardError):
    """One input record cannot be read; the reader sets it aside as a reject.

    ``field`` names the offending field (``None`` when the whole line is bad).
    """

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason if field is None else f"{field}: {reason}")
        self.reason = reason
        self.field = field


class IngestError(DistillguardError):
    """A run cannot go on: unreadable file, or a reject under ``--strict``."""
