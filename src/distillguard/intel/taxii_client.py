"""Push STIX objects to a TAXII 2.1 collection and pull them back, with ``taxii2client.v21``.

``url`` is an API root (``https://host/intel/``) or a server's discovery endpoint (``https://host/taxii2/``),
whose default API root is then used. A push sends envelopes within the API root's ``max_content_length``
and reads each status; a pull follows the server's pages (``more`` / ``next``) to the end.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlparse

import orjson
from taxii2client.v21 import ApiRoot, Collection, Server, as_pages

from distillguard.core.errors import DistillguardError


class TaxiiClientError(DistillguardError):
    """A push or pull cannot go on: bad input file, or a server that refuses."""


@dataclass(frozen=True, slots=True)
class PushResult:
    """What a push did: objects sent, taken (``successes``, new or held already), refused (with reasons)."""

    sent: int
    successes: int
    failures: list[dict[str, Any]] = field(default_factory=list)


def api_root_url(url: str, user: str | None, password: str | None) -> str:
    """The API root ``url`` names (itself, or a discovery endpoint's default API root)."""
    url = url if url.endswith("/") else url + "/"
    if urlparse(url).path.rstrip("/").endswith("taxii2"):
        server = Server(url, user=user, password=password)
        root = server.default or (server.api_roots[0] if server.api_roots else None)
        if root is None:
            raise TaxiiClientError(f"{url}: the server lists no API root")
        return str(root.url)
    return url


@dataclass(frozen=True, slots=True)
class TaxiiTarget:
    """A collection on a TAXII 2.1 server, and the credentials to use it (``user`` None: none)."""

    url: str
    collection_id: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)

    def endpoints(self) -> tuple[ApiRoot, Collection]:
        """The API root and the collection, sharing one connection."""
        root = ApiRoot(api_root_url(self.url, self.user, self.password), user=self.user, password=self.password)
        return root, Collection(urljoin(root.url, f"collections/{self.collection_id}/"), user=self.user,
                                password=self.password)


def read_objects(path: Path) -> list[dict[str, Any]]:
    """The objects of a STIX bundle or TAXII envelope file; TaxiiClientError naming the file otherwise."""
    try:
        document = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise TaxiiClientError(f"{path}: cannot read: {exc}") from exc
    except orjson.JSONDecodeError as exc:
        raise TaxiiClientError(f"{path}: not JSON: {exc}") from exc
    objects = document.get("objects") if isinstance(document, dict) else None
    if not isinstance(objects, list) or not all(isinstance(o, dict) for o in objects):
        raise TaxiiClientError(f"{path}: objects: not a STIX bundle or TAXII envelope (a list of objects)")
    return objects


def envelopes(objects: list[dict[str, Any]], max_bytes: int) -> Iterator[bytes]:
    """``objects`` as encoded envelopes of at most ``max_bytes`` each, in order."""
    head, tail = b'{"objects":[', b"]}"
    batch: list[bytes] = []
    size = len(head) + len(tail)
    for i, obj in enumerate(objects):
        encoded = orjson.dumps(obj)
        if len(head) + len(encoded) + len(tail) > max_bytes:
            raise TaxiiClientError(f"objects[{i}] ({obj.get('id')}) alone exceeds the server's {max_bytes} bytes")
        if batch and size + 1 + len(encoded) > max_bytes:
            yield head + b",".join(batch) + tail
            batch, size = [], len(head) + len(tail)
        size += len(encoded) + (1 if batch else 0)
        batch.append(encoded)
    if batch:
        yield head + b",".join(batch) + tail


def push(target: TaxiiTarget, objects: list[dict[str, Any]], timeout_s: float = 60.0) -> PushResult:
    """Add ``objects`` to the collection, waiting for each envelope's status to complete."""
    root, collection = target.endpoints()
    successes = 0
    failures: list[dict[str, Any]] = []
    for envelope in envelopes(objects, int(root.max_content_length)):
        status = collection.add_objects(envelope, wait_for_completion=True, poll_interval=0.2, timeout=timeout_s)
        if status.status != "complete":
            raise TaxiiClientError(f"{collection.url}: status {status.id} still {status.status} after {timeout_s:g} s")
        successes += int(status.success_count)
        failures.extend(status.failures or [])
    return PushResult(len(objects), successes, failures)


def pull(target: TaxiiTarget, added_after: str | None = None, per_request: int = 0) -> list[dict[str, Any]]:
    """Every object of the collection (latest versions) added after ``added_after``, page after page."""
    _, collection = target.endpoints()
    filters = {"added_after": added_after} if added_after else {}
    objects: list[dict[str, Any]] = []
    for page in as_pages(collection.get_objects, per_request, **filters):
        objects.extend(page.get("objects", []))
    return objects


def bundle(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """A STIX 2.1 bundle of ``objects``."""
    return {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}
