"""A TAXII 2.1 server (Starlette ASGI) whose collections live in the store, so that a restart keeps them.

Endpoints (TAXII 2.1, section 4 and 5): discovery ``/taxii2/``; per API root ``/<root>/``, its
``status/<id>/``, ``collections/``, ``collections/<id>/`` and the collection's ``objects/`` (GET with
``added_after``, ``limit``, ``next``, ``match[id|type|version|spec_version]``; POST of an envelope),
``objects/<object id>/``, ``objects/<object id>/versions/`` and ``manifest/``.

Every request needs HTTP basic credentials of a configured user (401 otherwise) and must accept
``application/taxii+json;version=2.1`` (406); a POST must send it (415) within the API root's
``max_content_length`` (413). A user reads a collection only if listed in its ``read``, writes only if in
its ``write`` (403). A POSTed envelope is checked whole with ``stix2``: one invalid object and nothing is
stored, the status resource giving each object's reason; otherwise every new object version is stored.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from distillguard.core.errors import StoreError
from distillguard.intel.taxii_auth import Authenticator, basic_credentials
from distillguard.intel.taxii_config import TaxiiApiRoot, TaxiiCollection, TaxiiConfig
from distillguard.intel.taxii_objects import (
    MEDIA_STIX_21,
    MEDIA_TAXII,
    MEDIA_TAXII_21,
    SPEC_VERSION,
    checked_object,
    format_timestamp,
    parse_timestamp,
)
from distillguard.store.duckdb_store import Store
from distillguard.store.taxii import (
    NewObject,
    ObjectQuery,
    StoredObject,
    add_objects,
    has_object,
    load_status,
    query_objects,
    register_collections,
    save_status,
)

log = logging.getLogger("distillguard.intel.taxii")

_FILTERS = {"id", "type", "version", "spec_version"}
_VERSION_KEYWORDS = frozenset({"first", "last", "all"})


class TaxiiError(Exception):
    """A request the server refuses: answered as a TAXII error message with ``status``."""

    def __init__(self, status: int, title: str, description: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.title = title
        self.description = description
        self.headers = headers or {}


def taxii_response(resource: dict[str, Any] | bytes, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A TAXII 2.1 answer: ``resource`` (a dict, or JSON already encoded) with the TAXII media type."""
    body = resource if isinstance(resource, bytes) else orjson.dumps(resource)
    return Response(body, status_code=status, headers=headers, media_type=MEDIA_TAXII_21)


class TaxiiServer:
    """The ASGI application: ``TaxiiServer(config, db)``; the store opens at startup, closes at shutdown."""

    def __init__(self, config: TaxiiConfig, db: Path, authenticator: Authenticator | None = None) -> None:
        self.config = config
        self.db = db
        self._auth = authenticator or Authenticator(config.users)
        self._store: Store | None = None
        routes = [
            ("/taxii2/", self.discovery, ["GET"]),
            ("/{root}/", self.api_root, ["GET"]),
            ("/{root}/status/{status_id}/", self.status, ["GET"]),
            ("/{root}/collections/", self.collections, ["GET"]),
            ("/{root}/collections/{collection}/", self.collection, ["GET"]),
            ("/{root}/collections/{collection}/objects/", self.objects, ["GET", "POST"]),
            ("/{root}/collections/{collection}/objects/{object_id}/", self.object, ["GET"]),
            ("/{root}/collections/{collection}/objects/{object_id}/versions/", self.versions, ["GET"]),
            ("/{root}/collections/{collection}/manifest/", self.manifest, ["GET"]),
        ]
        # each path with and without its final slash (taxii2-client asks for a status without it)
        self.app = Starlette(
            routes=[Route(p, endpoint, methods=methods) for path, endpoint, methods in routes
                    for p in (path, path.rstrip("/"))],
            exception_handlers={TaxiiError: self._error, HTTPException: self._http_error},
            lifespan=self._lifespan,
        )

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    @property
    def store(self) -> Store:
        """The open store (raises before startup)."""
        if self._store is None:
            raise StoreError(f"{self.db}: the TAXII server has not started")
        return self._store

    @asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self._store = Store(self.db).open()
        try:
            for root in self.config.api_roots:
                register_collections(self._store, root.path, [(c.id, c.title) for c in root.collections])
            yield
        finally:
            self._store.close()
            self._store = None

    # ---- endpoints

    async def discovery(self, request: Request) -> Response:
        """Server discovery (4.1)."""
        await self._authenticate(request)
        base = str(request.base_url)
        roots = [f"{base}{r.path}/" for r in self.config.api_roots]
        resource: dict[str, Any] = {"title": self.config.title, "description": self.config.description,
                                    "default": roots[0], "api_roots": roots}
        if self.config.contact:
            resource["contact"] = self.config.contact
        return taxii_response(resource)

    async def api_root(self, request: Request) -> Response:
        """API root information (4.2)."""
        await self._authenticate(request)
        root = self._root(request)
        return taxii_response({"title": root.title, "description": root.description, "versions": [MEDIA_TAXII_21],
                               "max_content_length": root.max_content_length})

    async def status(self, request: Request) -> Response:
        """A POST's status (4.3)."""
        await self._authenticate(request)
        root = self._root(request)
        resource = load_status(self.store, root.path, request.path_params["status_id"])
        if resource is None:
            raise TaxiiError(404, "Not Found", f"no status {request.path_params['status_id']!r} in this API root")
        return taxii_response(resource.encode())

    async def collections(self, request: Request) -> Response:
        """The collections this user may read or write (5.1)."""
        user = await self._authenticate(request)
        root = self._root(request)
        listed = [self._collection_resource(c, user) for c in root.collections if _may(c, user, "read")
                  or _may(c, user, "write")]
        return taxii_response({"collections": listed} if listed else {})

    async def collection(self, request: Request) -> Response:
        """One collection (5.2)."""
        user = await self._authenticate(request)
        collection = self._collection(request, user, None)
        return taxii_response(self._collection_resource(collection, user))

    async def objects(self, request: Request) -> Response:
        """Get objects (5.3), or add an envelope of them (5.4)."""
        user = await self._authenticate(request)
        if request.method == "POST":
            return await self._add(request, user)
        collection = self._collection(request, user, "read")
        query, page = self._query(request, _FILTERS)
        rows = self._page(request, collection, query)
        return self._envelope(rows, page, "objects", lambda r: r.object_json.encode())

    async def object(self, request: Request) -> Response:
        """Get one object's versions (5.5); 404 when the collection holds no version of it."""
        user = await self._authenticate(request)
        collection = self._collection(request, user, "read")
        object_id = request.path_params["object_id"]
        if not has_object(self.store, self._root(request).path, collection.id, object_id):
            raise TaxiiError(404, "Not Found", f"collection {collection.id} holds no object {object_id}")
        query, page = self._query(request, {"version", "spec_version"}, ids=(object_id,))
        return self._envelope(self._page(request, collection, query), page, "objects",
                              lambda r: r.object_json.encode())

    async def versions(self, request: Request) -> Response:
        """The versions of one object (5.7)."""
        user = await self._authenticate(request)
        collection = self._collection(request, user, "read")
        object_id = request.path_params["object_id"]
        if not has_object(self.store, self._root(request).path, collection.id, object_id):
            raise TaxiiError(404, "Not Found", f"collection {collection.id} holds no object {object_id}")
        query, page = self._query(request, {"spec_version"}, ids=(object_id,), versions=frozenset({"all"}))
        return self._envelope(self._page(request, collection, query), page, "versions",
                              lambda r: orjson.dumps(r.version_text))

    async def manifest(self, request: Request) -> Response:
        """The manifest of the objects (5.6): id, date_added, version and media type of each."""
        user = await self._authenticate(request)
        collection = self._collection(request, user, "read")
        query, page = self._query(request, _FILTERS)
        return self._envelope(self._page(request, collection, query), page, "objects", lambda r: orjson.dumps({
            "id": r.id, "date_added": format_timestamp(r.date_added), "version": r.version_text,
            "media_type": MEDIA_STIX_21}))

    # ---- adding objects

    async def _add(self, request: Request, user: str) -> Response:
        collection = self._collection(request, user, "write")
        root = self._root(request)
        if not _is_taxii_21(request.headers.get("content-type", "")):
            raise TaxiiError(415, "Unsupported Media Type", f"send the envelope as {MEDIA_TAXII_21}")
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > root.max_content_length:
            raise TaxiiError(413, "Request Entity Too Large", f"the API root takes at most {root.max_content_length} bytes")
        body = await _body(request, root.max_content_length)
        requested_at = datetime.now(UTC)
        try:
            envelope = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise TaxiiError(400, "Bad Request", f"the body is not JSON: {exc}") from None
        if not isinstance(envelope, dict) or not isinstance(envelope.get("objects"), list):
            raise TaxiiError(400, "Bad Request", "the body is not a TAXII envelope (a JSON object with an objects list)")
        checked = await run_in_threadpool(_check_each, envelope["objects"])  # stix2 parses patterns slowly
        status_id = str(uuid.uuid4())
        invalid = [i for i, c in enumerate(checked) if isinstance(c, str)]
        if invalid:
            failures = [_details(obj, f"objects[{i}]: {c}" if isinstance(c, str) else
                                 f"not added: the envelope is rejected whole for objects{invalid[:10]}")
                        for i, (obj, c) in enumerate(zip(envelope["objects"], checked, strict=True))]
            resource = _status(status_id, requested_at, [], failures)
            log.info("rejected an envelope of %d objects for %s/%s: %d invalid", len(checked), root.path,
                     collection.id, len(invalid))
        else:
            new = [c for c in checked if isinstance(c, NewObject)]
            added = add_objects(self.store, root.path, collection.id, new)
            successes = [{"id": a.id, "version": n.version_text or format_timestamp(a.version),
                          **({} if a.added else {"message": "held already"})} for n, a in zip(new, added, strict=True)]
            resource = _status(status_id, requested_at, successes, [])
            log.info("added %d new object versions (%d held already) to %s/%s", sum(a.added for a in added),
                     sum(not a.added for a in added), root.path, collection.id)
        encoded = orjson.dumps(resource)
        save_status(self.store, root.path, status_id, requested_at, encoded.decode())
        return taxii_response(encoded, status=202)

    # ---- helpers

    async def _authenticate(self, request: Request) -> str:
        credentials = basic_credentials(request.headers.get("authorization"))
        if credentials is None or not await run_in_threadpool(self._auth.check, *credentials):
            raise TaxiiError(401, "Unauthorized", "give the user name and password of a user of this server",
                             {"WWW-Authenticate": 'Basic realm="TAXII", charset="UTF-8"'})
        if not _accepts_taxii_21(request.headers.get("accept")):
            raise TaxiiError(406, "Not Acceptable", f"this server answers {MEDIA_TAXII_21} only")
        return credentials[0]

    def _root(self, request: Request) -> TaxiiApiRoot:
        root = self.config.api_root(request.path_params["root"])
        if root is None:
            raise TaxiiError(404, "Not Found", f"no API root {request.path_params['root']!r}")
        return root

    def _collection(self, request: Request, user: str, need: Literal["read", "write"] | None) -> TaxiiCollection:
        root = self._root(request)
        wanted = request.path_params["collection"]
        collection = next((c for c in root.collections if c.id == wanted or c.alias == wanted), None)
        if collection is None:
            raise TaxiiError(404, "Not Found", f"no collection {wanted!r} in API root {root.path!r}")
        needs: tuple[Literal["read", "write"], ...] = ("read", "write") if need is None else (need,)
        if not any(_may(collection, user, n) for n in needs):
            what = "read or write" if need is None else need
            raise TaxiiError(403, "Forbidden", f"user {user!r} may not {what} collection {collection.id}")
        return collection

    @staticmethod
    def _collection_resource(collection: TaxiiCollection, user: str) -> dict[str, Any]:
        resource: dict[str, Any] = {"id": collection.id, "title": collection.title,
                                    "description": collection.description, "can_read": _may(collection, user, "read"),
                                    "can_write": _may(collection, user, "write"), "media_types": [MEDIA_STIX_21]}
        if collection.alias:
            resource["alias"] = collection.alias
        return resource

    def _query(self, request: Request, filters: set[str], ids: tuple[str, ...] = (),
               versions: frozenset[str] = frozenset({"last"})) -> tuple[ObjectQuery, int]:
        """The request's filters as a query for one row more than the page (to tell ``more``), and the page size."""
        params = request.query_params
        allowed = {"added_after", "limit", "next"} | {f"match[{f}]" for f in filters}
        unknown = sorted(set(params.keys()) - allowed)
        if unknown:
            raise TaxiiError(400, "Bad Request", f"unsupported parameters {unknown}; this endpoint takes {sorted(allowed)}")

        def listed(name: str) -> tuple[str, ...]:
            values = tuple(v.strip() for value in params.getlist(f"match[{name}]") for v in value.split(",") if v.strip())
            if not values and f"match[{name}]" in params:
                raise TaxiiError(400, "Bad Request", f"match[{name}] is empty")
            return values

        page = self.config.page_size
        if "limit" in params:
            limit = params["limit"]
            if not limit.isdigit() or int(limit) <= 0:
                raise TaxiiError(400, "Bad Request", f"limit {limit!r} is not a positive integer")
            page = min(int(limit), page)
        keywords = versions
        times: tuple[datetime, ...] = ()
        if "match[version]" in params:
            asked = listed("version")
            keywords = frozenset(v for v in asked if v in _VERSION_KEYWORDS)
            times = tuple(_timestamp(v, "match[version]") for v in asked if v not in _VERSION_KEYWORDS)
        added_after = _timestamp(params["added_after"], "added_after") if "added_after" in params else None
        after = _cursor(params["next"]) if "next" in params else None
        query = ObjectQuery(limit=page + 1, ids=ids + listed("id"), types=listed("type"),
                            spec_versions=listed("spec_version"), version_keywords=keywords, version_times=times,
                            added_after=added_after, after=after)
        return query, page

    def _page(self, request: Request, collection: TaxiiCollection, query: ObjectQuery) -> list[StoredObject]:
        return query_objects(self.store, self._root(request).path, collection.id, query)

    @staticmethod
    def _envelope(rows: list[StoredObject], page: int, key: str, item: Callable[[StoredObject], bytes]) -> Response:
        """A page (``rows`` holds one more than ``page`` when there is more), with the date_added headers."""
        more = len(rows) > page
        rows = rows[:page]
        if not rows:
            return taxii_response({})
        head = {"more": more, **({"next": _token(rows[-1].date_added)} if more else {})}
        body = orjson.dumps(head)[:-1] + f',"{key}":['.encode() + b",".join(item(r) for r in rows) + b"]}"
        return taxii_response(body, headers={"X-TAXII-Date-Added-First": format_timestamp(rows[0].date_added),
                                             "X-TAXII-Date-Added-Last": format_timestamp(rows[-1].date_added)})

    async def _error(self, request: Request, exc: Exception) -> Response:
        if not isinstance(exc, TaxiiError):
            raise exc
        return taxii_response({"title": exc.title, "description": exc.description, "http_status": str(exc.status)},
                              status=exc.status, headers=exc.headers)

    async def _http_error(self, request: Request, exc: Exception) -> Response:
        if not isinstance(exc, HTTPException):
            raise exc
        return taxii_response({"title": exc.detail, "http_status": str(exc.status_code)}, status=exc.status_code,
                              headers=dict(exc.headers or {}))


def _may(collection: TaxiiCollection, user: str, what: Literal["read", "write"]) -> bool:
    return user in (collection.read if what == "read" else collection.write)


def _media_ranges(header: str) -> Iterable[tuple[str, dict[str, str]]]:
    for item in header.split(","):
        kind, *parameters = (part.strip() for part in item.split(";"))
        values = dict(p.partition("=")[::2] for p in parameters if p)
        yield kind.lower(), {k.strip().lower(): v.strip().strip('"') for k, v in values.items()}


def _accepts_taxii_21(header: str | None) -> bool:
    """Whether an Accept header takes TAXII 2.1 (a missing header takes anything)."""
    if header is None:
        return True
    for kind, parameters in _media_ranges(header):
        if parameters.get("q", "1").strip() in ("0", "0.0", "0.00", "0.000"):
            continue
        if kind in ("*/*", "application/*") or (kind == MEDIA_TAXII and parameters.get("version", SPEC_VERSION)
                                                == SPEC_VERSION):
            return True
    return False


def _is_taxii_21(header: str) -> bool:
    """Whether a Content-Type header is TAXII 2.1 (``application/taxii+json``, version 2.1 or none)."""
    return any(kind == MEDIA_TAXII and parameters.get("version", SPEC_VERSION) == SPEC_VERSION
               for kind, parameters in _media_ranges(header))


async def _body(request: Request, limit: int) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise TaxiiError(413, "Request Entity Too Large", f"the API root takes at most {limit} bytes")
    return bytes(body)


def _timestamp(text: str, name: str) -> datetime:
    try:
        return parse_timestamp(text)
    except ValueError as exc:
        raise TaxiiError(400, "Bad Request", f"{name}: {exc}") from None


def _token(at: datetime) -> str:
    return format((at - _EPOCH) // timedelta(microseconds=1), "x")


def _cursor(token: str) -> datetime:
    try:
        return _EPOCH + timedelta(microseconds=int(token, 16))
    except (ValueError, OverflowError, OSError):
        raise TaxiiError(400, "Bad Request", f"next {token!r} is not a page this server gave") from None


def _check_each(objects: list[Any]) -> list[NewObject | str]:
    """Each object ready to store, or the reason it is not."""
    checked: list[NewObject | str] = []
    for obj in objects:
        try:
            checked.append(checked_object(obj))
        except ValueError as exc:
            checked.append(str(exc))
    return checked


def _details(obj: Any, message: str) -> dict[str, str]:
    """A status detail (id, version, message) for an object that was not added."""
    fields = obj if isinstance(obj, dict) else {}
    version = fields.get("modified", fields.get("created", ""))
    return {"id": str(fields.get("id", "")), "version": version if isinstance(version, str) else "", "message": message}


def _status(status_id: str, at: datetime, successes: list[dict[str, Any]], failures: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": status_id, "status": "complete", "request_timestamp": format_timestamp(at),
            "total_count": len(successes) + len(failures), "success_count": len(successes), "successes": successes,
            "failure_count": len(failures), "failures": failures, "pending_count": 0, "pendings": []}


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
