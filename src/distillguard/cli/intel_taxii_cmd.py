"""``distillguard intel serve|push|pull``: a TAXII 2.1 server over the store, and its client."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated, NoReturn

import orjson
import typer
import uvicorn
from rich.console import Console
from rich.text import Text
from taxii2client.exceptions import TAXIIServiceException

from distillguard.core.atomic import atomic_write
from distillguard.core.errors import DistillguardError
from distillguard.intel.taxii_client import TaxiiTarget, bundle, pull, push, read_objects
from distillguard.intel.taxii_config import load_taxii_config
from distillguard.intel.taxii_objects import parse_timestamp
from distillguard.intel.taxii_server import TaxiiServer

PASSWORD_ENV = "DISTILLGUARD_TAXII_PASSWORD"
_console = Console(stderr=True)

_Url = Annotated[str, typer.Option("--taxii", help="The API root URL (or the server's /taxii2/ discovery URL).")]
_CollectionId = Annotated[str, typer.Option("--collection", help="The collection's id.")]


def serve_cmd(
    db: Annotated[Path, typer.Option("--db", help="DuckDB store holding the collections' objects.")],
    config: Annotated[Path, typer.Option("--config", help="TAXII settings YAML (API roots, collections, users).")],
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 9000,
    log_level: Annotated[str, typer.Option("--log-level", help="debug, info, warning or error.")] = "info",
    ssl_certfile: Annotated[Path | None, typer.Option("--ssl-certfile", help="TLS certificate (PEM).")] = None,
    ssl_keyfile: Annotated[Path | None, typer.Option("--ssl-keyfile", help="TLS private key (PEM).")] = None,
) -> None:
    """Serve the store's collections over TAXII 2.1 (discovery at /taxii2/); HTTPS with --ssl-certfile/keyfile."""
    if (ssl_certfile is None) != (ssl_keyfile is None):
        _fail("give both --ssl-certfile and --ssl-keyfile, or neither")
    try:
        app = TaxiiServer(load_taxii_config(config), db)
    except DistillguardError as exc:
        _fail(str(exc))
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if ssl_certfile is None and host not in ("127.0.0.1", "::1", "localhost"):
        logging.getLogger("distillguard.intel.taxii").warning(
            "serving on %s without TLS: passwords cross the network in clear (give --ssl-certfile/--ssl-keyfile)", host)
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False, lifespan="on",
                ssl_certfile=ssl_certfile, ssl_keyfile=ssl_keyfile)


def push_cmd(
    file: Annotated[Path, typer.Argument(help="STIX 2.1 bundle (or TAXII envelope) to add.")],
    taxii: _Url,
    collection: _CollectionId,
    user: Annotated[str, typer.Option("--user", help=f"User name; the password is read from ${PASSWORD_ENV}.")],
) -> None:
    """Add a bundle's objects to a TAXII 2.1 collection; exit 1 if the server refused any."""
    password = os.environ.get(PASSWORD_ENV)
    if not password:
        _fail(f"set the password of {user!r} in the environment variable {PASSWORD_ENV}")
    try:
        result = push(TaxiiTarget(taxii, collection, user, password), read_objects(file))
    except (DistillguardError, TAXIIServiceException, OSError) as exc:  # HTTP errors of requests are OSErrors
        _fail(f"{taxii}: {exc}")
    for failure in result.failures[:20]:
        _console.print(Text.assemble(("refused: ", "bold red"), f"{failure.get('id')}: {failure.get('message')}"))
    typer.echo(f"sent {result.sent} objects: {result.successes} taken, {len(result.failures)} refused")
    if result.failures:
        raise typer.Exit(1)


def pull_cmd(
    taxii: _Url,
    collection: _CollectionId,
    out: Annotated[Path, typer.Option("--out", help="Where to write the objects as a STIX 2.1 bundle.")],
    added_after: Annotated[str | None, typer.Option(
        "--added-after", help="Only objects the server added after this time (2024-05-01T00:00:00Z).")] = None,
    user: Annotated[str | None, typer.Option(
        "--user", help=f"User name; the password is read from ${PASSWORD_ENV}.")] = None,
) -> None:
    """Read a TAXII 2.1 collection (every page) into a STIX bundle."""
    password = os.environ.get(PASSWORD_ENV) if user else None
    if user and not password:
        _fail(f"set the password of {user!r} in the environment variable {PASSWORD_ENV}")
    if added_after is not None:
        try:
            parse_timestamp(added_after)
        except ValueError as exc:
            _fail(f"--added-after: {exc}")
    try:
        objects = pull(TaxiiTarget(taxii, collection, user, password), added_after)
    except (DistillguardError, TAXIIServiceException, OSError) as exc:  # HTTP errors of requests are OSErrors
        _fail(f"{taxii}: {exc}")
    with atomic_write(out) as fh:
        fh.write(orjson.dumps(bundle(objects), option=orjson.OPT_INDENT_2))
    typer.echo(f"{len(objects)} objects written to {out}")


def _fail(message: str) -> NoReturn:
    _console.print(Text.assemble(("error: ", "bold red"), message), soft_wrap=True)
    raise typer.Exit(2)
