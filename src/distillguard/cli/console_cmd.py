"""``distillguard console``: serve the analysts' web console over a store; ``console user add``: add its users."""

from __future__ import annotations

import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, cast

import typer
import uvicorn

from distillguard.accounts.network import IpIntel
from distillguard.campaigns.settings import load_campaign_settings
from distillguard.cli.console import ConfigOpt, DbOpt, IntelOpt, console, errors, stored_settings
from distillguard.config import Settings
from distillguard.console.app import console_secret, create_app
from distillguard.console.auth import hash_password, new_user
from distillguard.console.exports import ExportAsked, ExportedFile, IntelExport
from distillguard.core.errors import DistillguardError
from distillguard.intel.community import community
from distillguard.intel.exporter import ExportFormat, export_intel
from distillguard.intel.exports import ExportOptions
from distillguard.intel.vocabulary import TLP_LEVELS, TlpLevel
from distillguard.store import Store
from distillguard.store.console import ConsoleUser, add_user, list_users, update_user

ADMIN_ENV = "DISTILLGUARD_CONSOLE_ADMIN"
ADMIN_PASSWORD_ENV = "DISTILLGUARD_CONSOLE_ADMIN_PASSWORD"
PASSWORD_ENV = "DISTILLGUARD_CONSOLE_PASSWORD"

console_app = typer.Typer(add_completion=False, help=(
    "The analysts' web console: campaigns, accounts, evidence, actions and their audit, behind a login."))
user_app = typer.Typer(add_completion=False, no_args_is_help=True, help="Console users.")
console_app.add_typer(user_app, name="user")


def intel_export(settings: Settings, names: list[str], out_dir: Path) -> IntelExport | None:
    """What the console may export: campaigns for the communities ``names`` (their keys from the environment,
    checked now), each export written under ``out_dir`` and logged in the store; None for no community."""
    if not names:
        return None
    keyed = {name: community(name) for name in dict.fromkeys(names)}
    ip_intel = IpIntel.load(settings.intel_dir)
    intrusion = load_campaign_settings(settings.campaigns).intrusion

    def export(store: Store, asked: ExportAsked) -> ExportedFile:
        options = ExportOptions(keyed[asked.community], cast(TlpLevel, asked.tlp))
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        name = re.sub(r"[^A-Za-z0-9._-]", "_", f"{asked.campaign_id}-{asked.community}-{stamp}.{asked.fmt}.json")
        out = out_dir / name
        result = export_intel(store, options, fmt=cast(ExportFormat, asked.fmt), out=out,
                              campaign_ids=[asked.campaign_id], actor=asked.actor, intel=ip_intel, intrusion=intrusion)
        return ExportedFile(name, "application/json", out.read_bytes(), result.export_id, result.n_objects)

    return IntelExport(export, tuple(keyed), ("stix", "misp"), TLP_LEVELS)


def _password(env: str, who: str) -> str:
    """The password in ``env``, else asked for twice on the terminal."""
    value = os.environ.get(env)
    if value:
        return value
    if not sys.stdin.isatty():
        raise DistillguardError(f"no password for {who}: set {env} or run this in a terminal")
    return str(typer.prompt(f"password for {who}", hide_input=True, confirmation_prompt=True))


def _user(name: str, password: str, role: str) -> ConsoleUser:
    try:
        return new_user(name, password, role)
    except ValueError as exc:
        raise DistillguardError(str(exc)) from None


def _first_admin() -> ConsoleUser:
    """The first admin, from the environment or asked for on the terminal."""
    name = os.environ.get(ADMIN_ENV, "").strip()
    if not name:
        if not sys.stdin.isatty():
            raise DistillguardError(f"the console has no user yet: set {ADMIN_ENV} and {ADMIN_PASSWORD_ENV} "
                                    "(the first admin), or run this in a terminal")
        name = str(typer.prompt("the console has no user yet; name of its first admin")).strip()
    return _user(name, _password(ADMIN_PASSWORD_ENV, name), "admin")


@console_app.callback(invoke_without_command=True)
def serve(
    ctx: typer.Context,
    db: DbOpt = None,
    config: ConfigOpt = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8700,
    secure_cookie: Annotated[bool, typer.Option(
        "--secure-cookie", help="Send the session cookie over HTTPS only (behind a TLS proxy).")] = False,
    communities: Annotated[list[str] | None, typer.Option(
        "--intel-community", help=("Let analysts export campaigns as intel for this sharing community "
                                   "(key from DISTILLGUARD_INTEL_KEY_<NAME>); repeatable."))] = None,
    export_dir: Annotated[Path | None, typer.Option(
        "--export-dir", help="Where exports are kept [default: console-exports/ beside the store].")] = None,
    intel: IntelOpt = None,
) -> None:
    """Serve the console over a store (--db). On first start, creates the first admin from
    DISTILLGUARD_CONSOLE_ADMIN and DISTILLGUARD_CONSOLE_ADMIN_PASSWORD, or asks for it."""
    if ctx.invoked_subcommand is not None:
        return
    with errors():
        settings = stored_settings(db, config, intel)
        path = settings.db
        exports = intel_export(settings, communities or [], export_dir or path.parent / "console-exports")
        with Store(path) as store:  # brings the schema up to date
            secret = console_secret(store)
            if not list_users(store):
                admin = _first_admin()
                add_user(store, admin)
                console.print(f"first admin {admin.name} created")
        app = create_app(path, secret=secret, https_only=secure_cookie, intel_export=exports)
    console.print(f"distillguard console on http://{host}:{port}/ over {path}")
    uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=False)


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="User name (letters, digits, _ . @ -).")],
    role: Annotated[str, typer.Option("--role", help="viewer (reads), analyst (acts) or admin (manages users).")],
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Add a console user; the password comes from DISTILLGUARD_CONSOLE_PASSWORD or is asked for."""
    with errors():
        path = stored_settings(db, config).db
        user = _user(name, _password(PASSWORD_ENV, name), role)
        with Store(path) as store:
            if not add_user(store, user):
                raise DistillguardError(f"{path}: a console user named {name!r} exists already")
    console.print(f"added {user.name} ({user.role})")


@user_app.command("password")
def user_password(
    name: Annotated[str, typer.Argument(help="User name.")],
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Set a console user's password (from DISTILLGUARD_CONSOLE_PASSWORD or asked for) and enable them: for an
    admin locked out of the console."""
    with errors():
        path = stored_settings(db, config).db
        try:
            hashed = hash_password(_password(PASSWORD_ENV, name))
        except ValueError as exc:
            raise DistillguardError(str(exc)) from None
        with Store(path) as store:
            if not update_user(store, name, password_hash=hashed, disabled=False):
                raise DistillguardError(f"{path}: no console user named {name!r}")
    console.print(f"password of {name} set")
