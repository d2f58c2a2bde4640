"""Exporting a campaign as intel from the console: the download, and its audit entry.

The console does not build intel itself (it sits beside the intel layer, not
above it): the command that serves it passes an :data:`Exporter` that does,
with the sharing communities it holds keys for (:class:`IntelExport`). An export needs a reason, is
logged by the exporter in the store, and gets an audit entry here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from distillguard.console.actions import MAX_REASON_CHARS
from distillguard.console.audit import actor_of
from distillguard.console.db import db
from distillguard.console.security import Role, require, templates
from distillguard.core.errors import DistillguardError
from distillguard.store import Store
from distillguard.store.console import record_audit

_FILENAME_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]")


@dataclass(frozen=True)
class ExportAsked:
    """What an analyst asked to export: one campaign, for a community, in a format, under a TLP, by whom."""

    campaign_id: str
    community: str
    fmt: str
    tlp: str
    actor: str


@dataclass(frozen=True)
class ExportedFile:
    """An export's file (name and bytes) and what the exporter logged (its id, how many objects)."""

    filename: str
    media_type: str
    payload: bytes
    export_id: str
    n_objects: int


@dataclass(frozen=True)
class IntelExport:
    """What the console can export: the exporter (on a store opened for writing; DistillguardError, said to the
    analyst, when it cannot), and the communities, formats and TLP levels it takes."""

    export: Callable[[Store, ExportAsked], ExportedFile]
    communities: tuple[str, ...]
    formats: tuple[str, ...]
    tlp_levels: tuple[str, ...]


def intel_export(request: Request) -> IntelExport | None:
    """What the console serving ``request`` can export (None: exporting is off)."""
    found: IntelExport | None = request.app.state.intel_export
    return found


templates.env.globals.update(intel_export=intel_export)


def _refused(request: Request, status: int, message: str) -> Response:
    return templates.TemplateResponse(request, "error.html", {"status": status, "message": message},
                                      status_code=status)


async def export_campaign(request: Request) -> Response:
    """``POST /exports/campaign/{id}``: the campaign as intel for one community, as a download (fields
    ``community``, ``format``, ``tlp``, ``reason``; analysts)."""
    require(request, Role.ANALYST)
    campaign = request.path_params["campaign_id"]
    form = await request.form()
    community, fmt, tlp = (str(form.get(k, "")) for k in ("community", "format", "tlp"))
    reason = str(form.get("reason", "")).strip()
    offered = intel_export(request)
    if offered is None:
        return _refused(request, 422, "exporting is off: serve the console with --intel-community NAME")
    for name, value, choices in (("community", community, offered.communities), ("format", fmt, offered.formats),
                                 ("tlp", tlp, offered.tlp_levels)):
        if value not in choices:
            return _refused(request, 422, f"{name}: {value!r} is not one of {', '.join(choices)}")
    if not reason or len(reason) > MAX_REASON_CHARS:
        return _refused(request, 422, f"reason: say why you share it (at most {MAX_REASON_CHARS} characters)")
    actor = actor_of(request)
    asked = ExportAsked(campaign, community, fmt, tlp, actor)

    def run(store: Store) -> ExportedFile:
        exported = offered.export(store, asked)
        record_audit(store, datetime.now(UTC), actor, "export", f"campaign:{campaign}", reason, {
            "community": community, "format": fmt, "tlp": tlp, "export_id": exported.export_id,
            "objects": exported.n_objects})
        return exported

    try:
        exported = await db(request).write(run)
    except DistillguardError as exc:
        return _refused(request, 422, str(exc))
    filename = _FILENAME_UNSAFE.sub("_", exported.filename)
    return Response(exported.payload, media_type=exported.media_type,
                    headers={"content-disposition": f'attachment; filename="{filename}"'})


def export_routes() -> list[Route]:
    """Exporting a campaign as intel."""
    return [Route("/exports/campaign/{campaign_id:path}", export_campaign, methods=["POST"], name="export_campaign")]
