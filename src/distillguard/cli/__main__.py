"""``python -m distillguard.cli``: the same as the ``distillguard`` command."""

from distillguard.cli import app

if __name__ == "__main__":  # ingest workers (spawned) import this module again
    app()
