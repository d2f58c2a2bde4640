"""``distillguard gateway``: run the inline gateway in front of an upstream API."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.console import Console
from rich.text import Text

from distillguard.core.errors import DistillguardError
from distillguard.gateway.app import GatewayApp
from distillguard.gateway.config import load_gateway_config

_console = Console(stderr=True)


def gateway_cmd(
    upstream: Annotated[str | None, typer.Option(
        "--upstream", help="Base URL of the API to protect (overrides the settings).")] = None,
    config: Annotated[Path | None, typer.Option(
        "--config", help="Gateway settings YAML (state, policy, fail mode, dry run, exchange log, ...).")] = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8080,
    db: Annotated[Path | None, typer.Option("--db", help="DuckDB store with batch results and the API key table.")] = None,
    dry_run: Annotated[bool | None, typer.Option(
        "--dry-run/--enforce", help="Decide and log without enforcing (overrides the settings).")] = None,
    log_level: Annotated[str, typer.Option("--log-level", help="debug, info, warning or error.")] = "info",
) -> None:
    """Proxy /v1/messages, /v1/chat/completions and /v1/responses, degrading what flagged accounts get."""
    try:
        settings = load_gateway_config(config, upstream=upstream, db=db, dry_run=dry_run)
        app = GatewayApp(settings)
    except DistillguardError as exc:
        _console.print(Text.assemble(("error: ", "bold red"), str(exc)), soft_wrap=True)
        raise typer.Exit(2) from None
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # proxy_headers off: the gateway reads the peer itself and believes X-Forwarded-For from trusted proxies only
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False, lifespan="on", proxy_headers=False)
