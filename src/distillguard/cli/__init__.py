"""The composition root: the ``distillguard`` command, the only module that wires every layer."""

from distillguard.cli.app import app

__all__ = ["app"]
