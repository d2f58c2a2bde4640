"""What a TAXII 2.1 server takes in and gives out: media types, timestamps, and STIX 2.1 objects checked
with ``stix2`` before they are stored."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import stix2
import stix2.exceptions

from distillguard.store.taxii import NewObject

MEDIA_TAXII = "application/taxii+json"
MEDIA_TAXII_21 = "application/taxii+json;version=2.1"
MEDIA_STIX_21 = "application/stix+json;version=2.1"
SPEC_VERSION = "2.1"

_TIMESTAMP = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?Z$")
_TYPE = re.compile(r"^[a-z0-9][a-z0-9-]{1,248}[a-z0-9]$")


def parse_timestamp(text: str) -> datetime:
    """A STIX / TAXII timestamp (``2024-05-01T12:00:00.123Z``, UTC, any sub-second digits; beyond the
    microsecond they are dropped); ValueError otherwise."""
    match = _TIMESTAMP.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a timestamp like 2024-05-01T12:00:00.000Z")
    fraction = (match.group(2) or "")[:6].ljust(6, "0")
    return datetime.fromisoformat(f"{match.group(1)}.{fraction}+00:00")


def format_timestamp(at: datetime) -> str:
    """``at`` as a TAXII timestamp with microseconds (``2024-05-01T12:00:00.123456Z``)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def checked_object(obj: Any) -> NewObject:
    """``obj`` (one element of an envelope's ``objects``) parsed by ``stix2`` as STIX 2.1 and ready to store;
    ValueError with the reason otherwise. Custom types and properties pass (``x-...``), their common
    properties checked."""
    if not isinstance(obj, dict):
        raise ValueError(f"not a JSON object but {type(obj).__name__}")
    kind, object_id = obj.get("type"), obj.get("id")
    if not isinstance(kind, str) or not _TYPE.match(kind):
        raise ValueError(f"type {kind!r} is not a STIX type name")
    if not isinstance(object_id, str) or not object_id.startswith(f"{kind}--"):
        raise ValueError(f"id {object_id!r} is not of the form {kind}--<uuid>")
    try:
        uuid.UUID(object_id[len(kind) + 2:])
    except ValueError:
        raise ValueError(f"id {object_id!r} does not end in a UUID") from None
    spec_version = obj.get("spec_version", SPEC_VERSION)
    if spec_version != SPEC_VERSION:
        raise ValueError(f"spec_version {spec_version!r}: this server holds STIX 2.1 only")
    confidence = obj.get("confidence")
    if confidence is not None and (type(confidence) is not int or not 0 <= confidence <= 100):
        raise ValueError(f"confidence {confidence!r} is not an integer from 0 to 100")
    try:
        stix2.parse(obj, allow_custom=True, version=SPEC_VERSION)
    except (stix2.exceptions.STIXError, ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"not valid STIX 2.1: {exc}") from None
    version_text = obj.get("modified", obj.get("created"))
    if version_text is not None and not isinstance(version_text, str):
        raise ValueError("modified / created is not a timestamp string")
    version = None if version_text is None else parse_timestamp(version_text)
    return NewObject(object_id, kind, spec_version, version, version_text, orjson.dumps(obj).decode())
