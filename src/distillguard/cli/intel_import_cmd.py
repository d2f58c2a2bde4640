"""``distillguard intel import``: take a partner's STIX 2.1 bundle or MISP event in, hunt the stored traffic with it."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import orjson
import typer
from taxii2client.exceptions import TAXIIServiceException

from distillguard.cli.console import DbOpt, console, errors, out
from distillguard.core.atomic import atomic_write
from distillguard.core.errors import DistillguardError
from distillguard.intel.community import community as load_community
from distillguard.intel.hunt import import_and_hunt, sighting_bundle
from distillguard.intel.imported import BundleRejected, ImportLimits, PartnerBundle
from distillguard.intel.misp_import import is_misp, read_misp
from distillguard.intel.stix_import import load_json, read_objects, read_stix
from distillguard.intel.taxii_client import TaxiiTarget, pull
from distillguard.store import Store

PASSWORD_ENV = "DISTILLGUARD_TAXII_PASSWORD"


def import_cmd(
    file: Annotated[Path | None, typer.Argument(help="STIX 2.1 bundle or MISP event (JSON with Event).")] = None,
    db: DbOpt = None,
    community_name: Annotated[str, typer.Option(
        "--community", help="Sharing community whose key (DISTILLGUARD_INTEL_KEY_<NAME>) matches keyed values.")] = "",
    source: Annotated[str | None, typer.Option(
        "--source", help="Who reported it (default: the bundle's producer, else the file or URL).")] = None,
    taxii: Annotated[str | None, typer.Option("--taxii", help="Or read a TAXII 2.1 collection: its API root URL.")] = None,
    collection: Annotated[str | None, typer.Option("--collection", help="With --taxii: the collection's id.")] = None,
    user: Annotated[str | None, typer.Option(
        "--user", help=f"With --taxii: user name; the password is read from ${PASSWORD_ENV}.")] = None,
    report: Annotated[Path | None, typer.Option("--report", help="Write the hunt report as JSON here.")] = None,
    sightings_out: Annotated[Path | None, typer.Option(
        "--sightings-out", help="Write the matches as a STIX 2.1 bundle of sightings (no personal data) here.")] = None,
    identity: Annotated[str, typer.Option("--identity", help="Our name in the sightings shared back.")] = "distillguard",
    max_mb: Annotated[int, typer.Option("--max-mb", help="Refuse larger bundles.")] = 256,
) -> None:
    """Import partner indicators (validated whole, all or nothing), hunt the stored traffic with them, report."""
    with errors():
        if not community_name:
            raise DistillguardError("intel import: --community NAME is required")
        if (file is None) == (taxii is None) or (taxii is not None and collection is None):
            raise DistillguardError("intel import: give a FILE, or --taxii URL with --collection ID")
        keys = load_community(community_name)
        limits = ImportLimits(max_bytes=max_mb * 1024 * 1024)
        now = datetime.now(UTC)
        bundle = _read_file(file, community_name, limits, now) if file is not None else \
            _read_taxii(str(taxii), str(collection), user, community_name, limits, now)
        path = db or Path("distillguard.duckdb")
        if not path.exists():
            raise DistillguardError(f"{path}: no such store (run `distillguard analyze ... --db {path}` first)")
        with Store(path) as store:
            result = import_and_hunt(store, bundle, keys, source or bundle.producer or bundle.origin, now)
        for reason in result.ignored[:10]:
            console.print(f"not hunted: {reason}", style="yellow", soft_wrap=True)
        out.print(result.table())
        if report is not None:
            with atomic_write(report) as fh:
                fh.write(orjson.dumps(result.to_json(), option=orjson.OPT_INDENT_2))
        if sightings_out is not None:
            with atomic_write(sightings_out) as fh:
                fh.write(orjson.dumps(sighting_bundle(result, identity, now), option=orjson.OPT_INDENT_2))


def _read_file(file: Path, community: str, limits: ImportLimits, now: datetime) -> PartnerBundle:
    """A checked bundle or event from a file; one larger than the limit is refused unread."""
    try:
        size = file.stat().st_size
        if size > limits.max_bytes:
            raise BundleRejected(str(file), [f"bundle: {size:,} bytes, over the limit of {limits.max_bytes:,}"])
        data = file.read_bytes()
    except OSError as exc:
        raise DistillguardError(f"{file}: cannot read: {exc}") from exc
    if is_misp(load_json(data, str(file), limits)):
        return read_misp(data, str(file), community, limits, now)
    return read_stix(data, str(file), community, limits, now)


def _read_taxii(url: str, collection: str, user: str | None, community: str, limits: ImportLimits,
                now: datetime) -> PartnerBundle:
    password = os.environ.get(PASSWORD_ENV) if user else None
    if user and not password:
        raise DistillguardError(f"set the password of {user!r} in the environment variable {PASSWORD_ENV}")
    try:
        objects = pull(TaxiiTarget(url, collection, user, password))
    except (TAXIIServiceException, OSError) as exc:  # requests' errors are OSErrors
        raise DistillguardError(f"{url}: {exc}") from exc
    digest = hashlib.sha256(orjson.dumps(objects, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return read_objects(objects, f"{url} collection {collection}", digest, community, limits, now)
