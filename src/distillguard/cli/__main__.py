"""``python -m distillguard.cli``: the same as the ``distillguard`` command."""

from distillguard.cli import app

app()
