"""One intel export: plan it, build the STIX bundle or MISP events, write the file whole and log it in the store.

The store's log entry and object versions are written in a transaction around the file's atomic write
(:func:`~distillguard.core.atomic.atomic_write`), committed once the file is in place: an export that fails
anywhere leaves neither a partial (or replaced) file nor a log entry.
"""

from __future__ import annotations

import getpass
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

import pyarrow as pa

from distillguard.accounts.network import IpIntel
from distillguard.campaigns.settings import IntrusionSettings
from distillguard.core.atomic import atomic_write
from distillguard.core.errors import DistillguardError
from distillguard.intel.exports import ExportOptions, actor_token, plan_export
from distillguard.intel.misp_export import misp_events, misp_json
from distillguard.intel.stix_export import Versions, bundle_json, export_now, object_ids, stix_bundle
from distillguard.store import Store
from distillguard.store.intel_exports import VERSION_SCHEMA, object_versions, recording_export

ExportFormat = Literal["stix", "misp"]


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote: its id, file, object count, campaigns and time."""

    export_id: str
    out: Path
    n_objects: int
    campaigns: list[str]
    exported_at: datetime
    held: tuple[str, ...] = ()
    """The run's campaigns held back (one customer's accounts: see :func:`~distillguard.intel.exports.select_campaigns`)."""


def default_actor() -> str:
    """The OS user running the export (``unknown`` when the system cannot tell)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def export_intel(store: Store, options: ExportOptions, *, fmt: ExportFormat, out: Path, run: str | None = None,
                 campaign_ids: list[str] | None = None, actor: str | None = None, intel: IpIntel | None = None,
                 intrusion: IntrusionSettings | None = None) -> ExportResult:
    """Export the named campaigns (every campaign of the run when None) to ``out`` as ``fmt``, and log it."""
    plan = plan_export(store, options, run=run, campaign_ids=campaign_ids, intel=intel, intrusion=intrusion)
    now = export_now()
    versions: pa.Table = VERSION_SCHEMA.empty_table()
    if fmt == "stix":
        previous = object_versions(store, options.community.name, object_ids(plan))
        stamps = Versions({r["object_id"]: (r["digest"], r["created"], r["modified"]) for r in previous.to_pylist()}, now)
        bundle = stix_bundle(plan, stamps)
        payload, n_objects, versions = bundle_json(bundle), len(bundle.objects), stamps.table()
    else:
        events = misp_events(plan)
        payload = misp_json(events)
        n_objects = sum(len(e.attributes) + len(e.objects) for e in events)
    export_id = f"export--{uuid.uuid4()}"
    try:
        with recording_export(store, export_id=export_id, exported_at=now, actor=actor_token(
                options.community, actor or default_actor()), community=options.community.name, tlp=options.tlp,
                export_format=fmt, run_id=",".join(plan.runs), campaigns=plan.campaign_ids, n_objects=n_objects,
                out_file=str(out.resolve()), versions=versions), atomic_write(out) as fh:
            fh.write(payload)
    except OSError as exc:
        raise DistillguardError(f"{out}: cannot write the export: {exc.strerror or exc}") from exc
    return ExportResult(export_id, out, n_objects, plan.campaign_ids, now, plan.held)
