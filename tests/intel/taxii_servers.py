"""TAXII 2.1 servers on loopback for the TAXII tests: ours in a thread or as ``distillguard intel serve``,
and the OASIS reference server medallion (memory backend) as a subprocess; settings and STIX bundles."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import stix2
import uvicorn
import yaml
from argon2 import PasswordHasher

from distillguard.intel.taxii_config import load_taxii_config
from distillguard.intel.taxii_server import TaxiiServer
from polling import wait_until
from redis_server import free_port

TAXII = "application/taxii+json;version=2.1"
ROOT = "intel"
SHARED = "2f0c3a8e-5d1b-4c6e-9a7f-1b2c3d4e5f60"  # read: every user; write: publisher
PRIVATE = "7a1e9c44-0b6d-4f2a-8e3c-5d6f7a8b9c01"  # read and write: publisher only
INBOX = "c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f"  # write: partner only (no read)
PASSWORDS = {"publisher": "publisher-password-1", "partner": "partner-password-2", "outsider": "outsider-password-3"}
PARTNER_ENV = "TEST_TAXII_PARTNER_PASSWORD"
_FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def write_taxii_config(directory: Path, page_size: int = 100, max_content_length: int = 1_000_000) -> Path:
    """Settings with three collections and three users: ``publisher`` and ``outsider`` by argon2 hash,
    ``partner`` by password from ``$TEST_TAXII_PARTNER_PASSWORD`` (which the caller sets)."""
    config = {
        "title": "test TAXII", "page_size": page_size,
        "users": {"publisher": {"password_hash": _FAST_HASHER.hash(PASSWORDS["publisher"])},
                  "outsider": {"password_hash": _FAST_HASHER.hash(PASSWORDS["outsider"])},
                  "partner": {"password_env": PARTNER_ENV}},
        "api_roots": [{"path": ROOT, "title": "intel", "max_content_length": max_content_length, "collections": [
            {"id": SHARED, "title": "shared", "alias": "shared", "read": ["publisher", "partner"], "write": ["publisher"]},
            {"id": PRIVATE, "title": "private", "read": ["publisher"], "write": ["publisher"]},
            {"id": INBOX, "title": "inbox", "write": ["partner"]},
        ]}],
    }
    path = directory / "taxii.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@contextmanager
def serving_taxii(config: Path, db: Path) -> Iterator[str]:
    """Our server in a thread on a free loopback port; yield its base URL (``http://127.0.0.1:N/``)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(TaxiiServer(load_taxii_config(config), db), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started or not thread.is_alive(), "the TAXII server starting")
        if not thread.is_alive():
            raise RuntimeError("the TAXII server stopped at start")
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@contextmanager
def running_intel_serve(config: Path, db: Path, tls: tuple[Path, Path] | None = None) -> Iterator[str]:
    """``distillguard intel serve`` as a subprocess on a free loopback port, over HTTPS with ``tls``
    (certificate, key); yield its base URL."""
    port = free_port()
    https = ["--ssl-certfile", str(tls[0]), "--ssl-keyfile", str(tls[1])] if tls else []
    proc = subprocess.Popen(
        [sys.executable, "-c", "from distillguard.cli import app; app()", "intel", "serve", "--db", str(db),
         "--config", str(config), "--port", str(port), "--log-level", "warning", *https],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=os.environ.copy())
    with _process(proc, port, "distillguard intel serve"):
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}/"


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made by openssl (the test skips without it)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


@contextmanager
def running_medallion(directory: Path, user: str, password: str, collection_id: str) -> Iterator[str]:
    """medallion (memory backend, one API root ``api1`` with one read-write collection) as a subprocess;
    yield its base URL."""
    port = free_port()
    data = {
        "/discovery": {"title": "medallion", "description": "reference server", "default": f"http://127.0.0.1:{port}/api1/",
                       "api_roots": [f"http://127.0.0.1:{port}/api1/"]},
        "api1": {"information": {"title": "api1", "description": "", "versions": [TAXII],
                                 "max_content_length": 9_765_625},
                 "status": [],
                 "collections": [{"id": collection_id, "title": "shared", "description": "", "can_read": True,
                                  "can_write": True, "media_types": ["application/stix+json;version=2.1"],
                                  "objects": [], "manifest": []}]},
    }
    (directory / "medallion-data.json").write_text(json.dumps(data))
    config = {"backend": {"module": "medallion.backends.memory_backend", "module_class": "MemoryBackend",
                          "filename": str(directory / "medallion-data.json")},
              "users": {user: password}, "taxii": {"max_page_size": 100}}
    (directory / "medallion.json").write_text(json.dumps(config))
    proc = subprocess.Popen(
        [sys.executable, "-m", "medallion.scripts.run", "--host", "127.0.0.1", "--port", str(port),
         str(directory / "medallion.json")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with _process(proc, port, "medallion"):
        yield f"http://127.0.0.1:{port}/"


@contextmanager
def _process(proc: subprocess.Popen[bytes], port: int, what: str) -> Iterator[None]:
    try:
        wait_until(lambda: proc.poll() is not None or _listening(port), f"{what} listening on {port}")
        if proc.poll() is not None:
            error = proc.stderr.read().decode() if proc.stderr else ""
            raise RuntimeError(f"{what} exited at start ({proc.returncode}): {error}")
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def client(base: str, user: str | None = "publisher", accept: str | None = TAXII) -> httpx.Client:
    """An HTTP client of ``base`` as ``user`` (its test password), asking for TAXII 2.1."""
    headers = {"Accept": accept} if accept else {}
    return httpx.Client(base_url=base, headers=headers, timeout=30,
                        auth=(user, PASSWORDS[user]) if user else None)


def stix_objects(n_indicators: int, producer: str = "Example Lab") -> list[dict[str, Any]]:
    """A producer identity, a campaign, ``n_indicators`` IP indicators (with the contract's custom property)
    indicating it, their relationships, and a custom keyed SCO, as JSON dicts (built with ``stix2``)."""
    identity = stix2.Identity(id=f"identity--{uuid.uuid5(uuid.NAMESPACE_URL, producer)}", name=producer,
                              identity_class="organization", created="2026-01-01T00:00:00.000Z",
                              modified="2026-01-01T00:00:00.000Z")
    campaign = stix2.Campaign(name="harvest-1", created_by_ref=identity.id, created="2026-01-02T00:00:00.000Z",
                              modified="2026-01-02T00:00:00.000Z")
    objects: list[Any] = [identity, campaign]
    for i in range(n_indicators):
        indicator = stix2.Indicator(
            pattern=f"[ipv4-addr:value = '198.51.{i // 250}.{i % 250 + 1}']", pattern_type="stix",
            valid_from="2026-01-03T00:00:00Z", created_by_ref=identity.id, confidence=80,
            indicator_types=["malicious-activity"], labels=["distillation"], created="2026-01-03T00:00:00.000Z",
            modified="2026-01-03T00:00:00.000Z", custom_properties={"x_distillguard_kind": "ip"})
        objects += [indicator, stix2.Relationship(indicator, "indicates", campaign, created="2026-01-03T00:00:00.000Z",
                                                  modified="2026-01-03T00:00:00.000Z")]
    keyed = {"type": "x-distillguard-keyed", "spec_version": "2.1",
             "id": f"x-distillguard-keyed--{uuid.uuid5(uuid.NAMESPACE_URL, producer + ':payment')}",
             "kind": "payment", "value": "ab" * 32, "community": "labs"}
    return [json.loads(o.serialize()) for o in objects] + [keyed]


def envelope(objects: list[dict[str, Any]]) -> bytes:
    """A TAXII envelope of ``objects``, encoded."""
    return json.dumps({"objects": objects}).encode()
