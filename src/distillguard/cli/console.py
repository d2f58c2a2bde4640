"""What every command shares: the two consoles, common options, and errors as one line."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from distillguard.config import Settings, load_settings, with_overrides
from distillguard.core.errors import DistillguardError

console = Console(stderr=True)
"""Progress, notices and errors."""
out = Console(width=None if sys.stdout.isatty() else 180)
"""Results; piped tables stay readable."""

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="Settings YAML (DISTILLGUARD_* env vars override it).")]
DbOpt = Annotated[Path | None, typer.Option("--db", help="DuckDB store file [default: ./distillguard.duckdb].")]
IntelOpt = Annotated[Path | None, typer.Option("--intel", help="Directory of IP lists (datacenter, VPN, Tor, cloud ranges).")]


@contextmanager
def errors() -> Iterator[None]:
    """Turn distillguard errors into a one-line message and exit status 2."""
    try:
        yield
    except DistillguardError as exc:
        console.print(Text.assemble(("error: ", "bold red"), str(exc)), soft_wrap=True)
        raise typer.Exit(2) from None


def stored_settings(db: Path | None, config: Path | None, intel: Path | None = None) -> Settings:
    """The settings with the command line's ``--db`` and ``--intel`` over them; the store must exist already."""
    settings = load_settings(config)
    overrides = {k: v for k, v in (("db", db), ("intel_dir", intel)) if v is not None}
    if overrides:
        settings = with_overrides(settings, "command line", **overrides)
    if not settings.db.exists():
        raise DistillguardError(f"{settings.db}: no such store (run `distillguard analyze ... --db {settings.db}` first)")
    return settings
