"""The TAXII 2.1 server's tables: collections served, the object versions each holds, and POST statuses.

Every stored object version gets a ``date_added`` strictly later than any before it in the store, so
``date_added`` orders a collection totally: a page ends at a ``date_added`` and the next page starts after
it, and ``added_after`` with the last page's ``date_added`` never skips an object added in the same request.
An object version is ``(id, version)``: ``version`` is its ``modified``, else its ``created``, else (objects
without either, such as SCOs, which never change) its ``date_added``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa

from distillguard.core.errors import StoreError
from distillguard.store.duckdb_store import Store

_REGISTER_COLLECTION = """
    INSERT OR IGNORE INTO taxii_collections VALUES ($root, $collection, $title, now())
"""
_LAST_ADDED = "SELECT epoch_us(max(date_added)) FROM taxii_objects"
_PRESENT = """
    SELECT id, epoch_us(version) FROM taxii_objects
    WHERE api_root = $root AND collection_id = $collection AND list_contains($ids, id)
"""
_INSERT_OBJECTS = """
    INSERT INTO taxii_objects
    SELECT $root, $collection, id, type, spec_version, version, version_text, date_added, object FROM _dg_taxii
"""
_HAS_OBJECT = """
    SELECT count(*) FROM taxii_objects WHERE api_root = $root AND collection_id = $collection AND id = $id
"""
_SAVE_STATUS = "INSERT INTO taxii_status VALUES ($root, $status_id, $at, $resource)"
_LOAD_STATUS = "SELECT resource FROM taxii_status WHERE api_root = $root AND status_id = $status_id"
_VERSION_KEYWORDS = {"all": "TRUE", "first": "version = first_version", "last": "version = last_version"}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TIMESTAMP = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True, slots=True)
class NewObject:
    """An object version to add: ``version`` None for an object without ``created`` or ``modified``."""

    id: str
    type: str
    spec_version: str
    version: datetime | None
    version_text: str | None
    object_json: str


@dataclass(frozen=True, slots=True)
class AddedObject:
    """What :func:`add_objects` did with one object: ``added`` False when that version was held already."""

    id: str
    version: datetime
    added: bool


@dataclass(frozen=True, slots=True)
class StoredObject:
    """One object version of a collection, as a page of objects, manifest or versions lists it."""

    id: str
    type: str
    spec_version: str
    version: datetime
    version_text: str
    date_added: datetime
    object_json: str


@dataclass(frozen=True, slots=True)
class ObjectQuery:
    """The filters of a TAXII request on a collection's objects (every one given must hold).

    ``version_keywords`` (``first``, ``last``, ``all``) and ``version_times`` together are ``match[version]``:
    a version passes if any of them selects it. ``after`` is the pagination cursor (the previous page's
    last ``date_added``); at most ``limit`` rows are returned.
    """

    limit: int
    ids: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    spec_versions: tuple[str, ...] = ()
    version_keywords: frozenset[str] = frozenset({"last"})
    version_times: tuple[datetime, ...] = ()
    added_after: datetime | None = None
    after: datetime | None = None


def register_collections(store: Store, api_root: str, collections: Sequence[tuple[str, str]]) -> None:
    """Record each served ``(collection id, title)`` of ``api_root`` (kept: a restart finds its objects)."""
    try:
        for collection_id, title in collections:
            store.con.execute(_REGISTER_COLLECTION, {"root": api_root, "collection": collection_id, "title": title})
    except duckdb.Error as exc:
        raise StoreError(f"{store.path}: cannot record the TAXII collections: {exc}") from exc


def add_objects(store: Store, api_root: str, collection_id: str, objects: Sequence[NewObject]) -> list[AddedObject]:
    """Add the versions not held yet, all in one transaction (none on any error); say what happened to each.

    A version is held already when the collection has that ``(id, version)``, or, for an object without a
    version of its own, any version of that id.
    """
    ids = sorted({o.id for o in objects})
    with store.transaction("TAXII objects not stored") as con:
        held: dict[str, set[int]] = {}
        for object_id, version_us in con.execute(_PRESENT, {"root": api_root, "collection": collection_id,
                                                            "ids": ids}).fetchall():
            held.setdefault(object_id, set()).add(int(version_us))
        last = con.execute(_LAST_ADDED).fetchall()[0][0]
        now = datetime.now(UTC)
        next_added = now if last is None else max(now, _from_us(int(last)) + timedelta(microseconds=1))
        results: list[AddedObject] = []
        rows: list[NewObject] = []
        added_at: list[datetime] = []
        for obj in objects:
            versions = held.setdefault(obj.id, set())
            if obj.version is None and versions:  # an object without versions of its own never changes
                results.append(AddedObject(obj.id, _from_us(min(versions)), False))
                continue
            version = next_added if obj.version is None else obj.version
            if _to_us(version) in versions:
                results.append(AddedObject(obj.id, version, False))
                continue
            versions.add(_to_us(version))
            rows.append(obj)
            added_at.append(next_added)
            results.append(AddedObject(obj.id, version, True))
            next_added += timedelta(microseconds=1)
        if rows:
            table = pa.table({
                "id": [o.id for o in rows], "type": [o.type for o in rows],
                "spec_version": [o.spec_version for o in rows],
                "version": pa.array([o.version or at for o, at in zip(rows, added_at, strict=True)], _TIMESTAMP),
                "version_text": [o.version_text or _timestamp_text(o.version or at)
                                 for o, at in zip(rows, added_at, strict=True)],
                "date_added": pa.array(added_at, _TIMESTAMP), "object": [o.object_json for o in rows],
            })
            with store.registered(_dg_taxii=table):
                con.execute(_INSERT_OBJECTS, {"root": api_root, "collection": collection_id})
    return results


def query_objects(store: Store, api_root: str, collection_id: str, query: ObjectQuery) -> list[StoredObject]:
    """The object versions of a collection that pass ``query``, in ``date_added`` order."""
    where = ["api_root = $root", "collection_id = $collection"]
    params: dict[str, Any] = {"root": api_root, "collection": collection_id, "limit": query.limit}
    for name, column, values in (("ids", "id", query.ids), ("types", "type", query.types),
                                 ("specs", "spec_version", query.spec_versions)):
        if values:
            where.append(f"list_contains(${name}, {column})")
            params[name] = list(values)
    unknown = query.version_keywords - _VERSION_KEYWORDS.keys()
    if unknown:
        raise StoreError(f"unknown version keywords {sorted(unknown)}")
    keywords = {"all"} if "all" in query.version_keywords else query.version_keywords
    versions = [_VERSION_KEYWORDS[k] for k in sorted(keywords)]
    if query.version_times and "all" not in keywords:
        versions.append("list_contains($times, version)")
        params["times"] = list(query.version_times)
    filters = " AND ".join(where)
    conditions = [filters, f"({' OR '.join(versions) or 'FALSE'})"]
    for name, bound in (("added_after", query.added_after), ("after", query.after)):
        if bound is not None:
            conditions.append(f"date_added > ${name}")
            params[name] = bound
    # first and last versions per id from the narrow columns only (a window over whole rows costs 2-5x as much)
    extremes = "" if not keywords & {"first", "last"} else (
        "JOIN (SELECT id, min(version) AS first_version, max(version) AS last_version "
        f"FROM taxii_objects WHERE {filters} GROUP BY id) USING (id)")
    sql = f"""
        SELECT id, type, spec_version, epoch_us(version), version_text, epoch_us(date_added), object
        FROM taxii_objects {extremes}
        WHERE {' AND '.join(conditions)}
        ORDER BY date_added LIMIT $limit
    """
    try:
        rows = store.con.execute(sql, params).fetchall()
    except duckdb.Error as exc:
        raise StoreError(f"{store.path}: cannot read TAXII objects: {exc}") from exc
    return [StoredObject(str(i), str(t), str(s), _from_us(int(v)), str(vt), _from_us(int(a)), str(o))
            for i, t, s, v, vt, a, o in rows]


def has_object(store: Store, api_root: str, collection_id: str, object_id: str) -> bool:
    """Whether the collection holds any version of ``object_id``."""
    rows = store.con.execute(_HAS_OBJECT, {"root": api_root, "collection": collection_id, "id": object_id}).fetchall()
    return bool(rows[0][0])


def save_status(store: Store, api_root: str, status_id: str, at: datetime, resource_json: str) -> None:
    """Keep a POST's status resource (JSON text) for ``GET .../status/{status_id}/``."""
    try:
        store.con.execute(_SAVE_STATUS, {"root": api_root, "status_id": status_id, "at": at,
                                         "resource": resource_json})
    except duckdb.Error as exc:
        raise StoreError(f"{store.path}: cannot record the TAXII status {status_id}: {exc}") from exc


def load_status(store: Store, api_root: str, status_id: str) -> str | None:
    """A kept status resource (JSON text), or None."""
    rows = store.con.execute(_LOAD_STATUS, {"root": api_root, "status_id": status_id}).fetchall()
    return str(rows[0][0]) if rows else None


def _to_us(at: datetime) -> int:
    return (at - _EPOCH) // timedelta(microseconds=1)


def _from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _timestamp_text(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


__all__ = ["AddedObject", "NewObject", "ObjectQuery", "StoredObject", "add_objects", "has_object", "load_status",
           "query_objects", "register_collections", "save_status"]
