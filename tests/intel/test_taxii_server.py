"""The TAXII 2.1 server over real HTTP on loopback: resources, negotiation, auth and permissions, envelopes,
pagination, added_after, versions, persistence."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from taxii_servers import (
    INBOX,
    PARTNER_ENV,
    PASSWORDS,
    PRIVATE,
    ROOT,
    SHARED,
    TAXII,
    client,
    envelope,
    serving_taxii,
    stix_objects,
    write_taxii_config,
)

OBJECTS = f"{ROOT}/collections/{SHARED}/objects/"


@pytest.fixture(autouse=True)
def partner_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PARTNER_ENV, PASSWORDS["partner"])


@pytest.fixture
def base(tmp_path: Path) -> Iterator[str]:
    with serving_taxii(write_taxii_config(tmp_path, page_size=5), tmp_path / "store.duckdb") as url:
        yield url


def post(base: str, objects: list[dict[str, Any]], collection: str = SHARED, user: str = "publisher") -> dict[str, Any]:
    with client(base, user) as http:
        response = http.post(f"{ROOT}/collections/{collection}/objects/", content=envelope(objects),
                             headers={"Content-Type": TAXII})
    assert response.status_code == 202, response.text
    assert response.headers["content-type"] == TAXII
    return dict(response.json())


def walk(base: str, path: str, params: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Every page of ``path`` through ``next``; the pages' JSON with their date_added headers."""
    pages: list[dict[str, Any]] = []
    query = dict(params or {})
    with client(base) as http:
        while True:
            response = http.get(path, params=query)
            assert response.status_code == 200, response.text
            page = response.json()
            page["_first"] = response.headers.get("x-taxii-date-added-first")
            page["_last"] = response.headers.get("x-taxii-date-added-last")
            pages.append(page)
            if not page.get("more"):
                return pages
            query["next"] = page["next"]


def test_discovery_and_api_root_describe_the_server(base: str) -> None:
    with client(base) as http:
        discovery = http.get("taxii2/")
        root = http.get(f"{ROOT}/")
    assert discovery.status_code == 200 and discovery.headers["content-type"] == TAXII
    assert discovery.json()["api_roots"] == [f"{base}{ROOT}/"] and discovery.json()["default"] == f"{base}{ROOT}/"
    assert root.json()["versions"] == [TAXII] and root.json()["max_content_length"] == 1_000_000


@pytest.mark.parametrize(("user", "listed"), [
    ("publisher", {SHARED: (True, True), PRIVATE: (True, True)}),
    ("partner", {SHARED: (True, False), INBOX: (False, True)}),  # partner's password comes from the environment
    ("outsider", {}),
])
def test_collections_lists_what_the_user_may_read_or_write(base: str, user: str, listed: dict[str, Any]) -> None:
    with client(base, user) as http:
        response = http.get(f"{ROOT}/collections/")
    assert response.status_code == 200
    got = {c["id"]: (c["can_read"], c["can_write"]) for c in response.json().get("collections", [])}
    assert got == listed


@pytest.mark.parametrize(("method", "path", "user", "headers", "status"), [
    ("GET", "taxii2/", None, {}, 401),
    ("GET", OBJECTS, "wrong-password", {}, 401),
    ("GET", "taxii2/", "publisher", {"Accept": "application/json"}, 406),
    ("GET", OBJECTS, "publisher", {"Accept": "application/taxii+json;version=2.0"}, 406),
    ("GET", OBJECTS, "publisher", {"Accept": "application/taxii+json"}, 200),
    ("GET", OBJECTS, "publisher", {"Accept": "application/xml, application/taxii+json;version=2.1;q=0.5"}, 200),
    ("GET", f"{ROOT}/collections/{PRIVATE}/objects/", "partner", {}, 403),
    ("GET", f"{ROOT}/collections/{SHARED}/", "outsider", {}, 403),
    ("GET", f"{ROOT}/collections/{INBOX}/objects/", "partner", {}, 403),  # write-only
    ("POST", OBJECTS, "partner", {"Content-Type": TAXII}, 403),  # read-only
    ("POST", OBJECTS, "publisher", {"Content-Type": "application/json"}, 415),
    ("POST", OBJECTS, "publisher", {"Content-Type": "application/taxii+json;version=2.0"}, 415),
    ("POST", f"{ROOT}/collections/{INBOX}/objects/", "partner", {"Content-Type": TAXII}, 202),
    ("GET", f"{ROOT}/collections/00000000-0000-4000-8000-000000000000/objects/", "publisher", {}, 404),
    ("GET", "elsewhere/collections/", "publisher", {}, 404),
])
def test_authentication_negotiation_and_permissions(base: str, method: str, path: str, user: str | None,
                                                    headers: dict[str, str], status: int) -> None:
    known = user in PASSWORDS
    with client(base, user if known else None) as http:
        auth = ("publisher", "not-the-password") if user == "wrong-password" else None
        response = http.request(method, path, headers=headers, auth=auth or http.auth,
                                content=envelope(stix_objects(1)) if method == "POST" else None)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == TAXII
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Basic")
    if status >= 400:
        assert response.json()["http_status"] == str(status)


@pytest.mark.parametrize("body", [b"{not json", b"[]", b'{"objects": "none"}', b'{"more": false}'])
def test_a_malformed_envelope_is_refused_and_nothing_stored(base: str, body: bytes) -> None:
    with client(base) as http:
        response = http.post(OBJECTS, content=body, headers={"Content-Type": TAXII})
        assert response.status_code == 400
        assert "envelope" in response.json()["description"] or "JSON" in response.json()["description"]
        assert http.get(OBJECTS).json() == {}


def test_one_invalid_object_rejects_the_whole_envelope_with_reasons(base: str) -> None:
    objects = stix_objects(3)
    broken = [*objects[:4], dict(objects[4], pattern="[ipv4-addr:value = "), dict(objects[5], confidence=900),
              {"type": "indicator", "id": "indicator--not-a-uuid"}, *objects[6:]]
    status = post(base, broken)
    assert status["status"] == "complete" and status["success_count"] == 0
    assert status["failure_count"] == status["total_count"] == len(broken)
    reasons = {f["message"].split(":")[0] for f in status["failures"] if not f["message"].startswith("not added")}
    assert reasons == {"objects[4]", "objects[5]", "objects[6]"}
    assert any("pattern" in f["message"] for f in status["failures"])
    with client(base) as http:
        assert http.get(OBJECTS).json() == {}
        kept = http.get(f"{ROOT}/status/{status['id']}/")
    assert kept.status_code == 200 and kept.json() == status


def test_an_envelope_over_the_api_roots_limit_is_refused(tmp_path: Path) -> None:
    with serving_taxii(write_taxii_config(tmp_path, max_content_length=2_000), tmp_path / "s.duckdb") as url, \
            client(url) as http:
        response = http.post(OBJECTS, content=envelope(stix_objects(10)), headers={"Content-Type": TAXII})
        assert response.status_code == 413
        assert http.get(OBJECTS).json() == {}


def test_pages_follow_next_and_give_every_object_once_in_date_added_order(base: str) -> None:
    objects = stix_objects(14)  # 31 objects, pages of 5
    status = post(base, objects)
    assert status["success_count"] == len(objects)
    pages = walk(base, OBJECTS)
    assert [len(p["objects"]) for p in pages] == [5, 5, 5, 5, 5, 5, 1]
    assert [p["more"] for p in pages] == [True] * 6 + [False] and "next" not in pages[-1]
    assert [o["id"] for p in pages for o in p["objects"]] == [o["id"] for o in objects]
    manifest = [m for p in walk(base, f"{ROOT}/collections/{SHARED}/manifest/", {"limit": "3"}) for m in p["objects"]]
    assert [m["id"] for m in manifest] == [o["id"] for o in objects]
    added = [m["date_added"] for m in manifest]
    assert added == sorted(set(added))  # strictly increasing
    assert (pages[0]["_first"], pages[0]["_last"]) == (added[0], added[4])
    assert [o for p in pages for o in p["objects"]] == objects  # stored exactly as posted


def test_added_after_the_last_header_continues_without_skipping(base: str) -> None:
    first, second = stix_objects(4, "Lab A"), stix_objects(2, "Lab B")
    post(base, first)
    seen: list[str] = []
    after = None
    with client(base) as http:
        while True:
            response = http.get(OBJECTS, params={"limit": "4", **({"added_after": after} if after else {})})
            if response.json() == {}:
                break
            seen += [o["id"] for o in response.json()["objects"]]
            after = response.headers["x-taxii-date-added-last"]
    post(base, second)
    newer = [o for p in walk(base, OBJECTS, {"added_after": after}) for o in p["objects"]]
    assert seen == [o["id"] for o in first]
    assert [o["id"] for o in newer] == [o["id"] for o in second]


def test_versions_and_match_filters(base: str) -> None:
    objects = stix_objects(2)
    indicator = objects[2]
    revised = dict(indicator, modified="2026-02-01T00:00:00.000Z", confidence=95)
    post(base, objects)
    post(base, [revised])
    object_path = f"{OBJECTS}{indicator['id']}/"

    def versions_of(params: dict[str, str], path: str = OBJECTS) -> list[tuple[str, str]]:
        return [(o["id"], o["modified"]) for p in walk(base, path, params) for o in p.get("objects", [])
                if o["id"] == indicator["id"]]

    v1, v2 = (indicator["id"], indicator["modified"]), (indicator["id"], revised["modified"])
    assert versions_of({}) == [v2]
    assert versions_of({"match[version]": "first"}) == [v1]
    assert versions_of({"match[version]": "all"}) == [v1, v2]
    assert versions_of({"match[version]": "first,last"}) == [v1, v2]
    assert versions_of({"match[version]": f"first,all,{indicator['modified']}"}) == [v1, v2]
    assert versions_of({"match[version]": indicator["modified"]}) == [v1]
    assert versions_of({}, object_path) == [v2]
    assert versions_of({"match[version]": "all"}, object_path) == [v1, v2]
    listed = [v for p in walk(base, f"{object_path}versions/") for v in p["versions"]]
    assert listed == [indicator["modified"], revised["modified"]]
    by_type = [o["type"] for p in walk(base, OBJECTS, {"match[type]": "campaign,identity"}) for o in p["objects"]]
    assert by_type == ["identity", "campaign"]
    by_id = [o["id"] for p in walk(base, OBJECTS, {"match[id]": objects[1]["id"]}) for o in p["objects"]]
    assert by_id == [objects[1]["id"]]
    assert walk(base, OBJECTS, {"match[spec_version]": "2.0"}) == [{"_first": None, "_last": None}]
    with client(base) as http:
        assert http.get(f"{OBJECTS}indicator--00000000-0000-4000-8000-000000000000/").status_code == 404


@pytest.mark.parametrize("params", [{"limit": "0"}, {"limit": "ten"}, {"next": "zz-top"},
                                    {"added_after": "yesterday"}, {"match[version]": "newest"},
                                    {"match[colour]": "red"}, {"match[id]": ""}, {"match[version]": ","}])
def test_bad_parameters_are_refused(base: str, params: dict[str, str]) -> None:
    with client(base) as http:
        response = http.get(OBJECTS, params=params)
    assert response.status_code == 400
    assert response.json()["title"] == "Bad Request"


def test_posting_again_adds_nothing_and_says_so(base: str) -> None:
    objects = stix_objects(2)
    post(base, objects)
    again = post(base, objects)
    assert again["success_count"] == len(objects)
    assert {s.get("message") for s in again["successes"]} == {"held already"}
    assert sum(len(p["objects"]) for p in walk(base, OBJECTS, {"match[version]": "all"})) == len(objects)


def test_a_restart_keeps_objects_and_statuses(tmp_path: Path) -> None:
    config, db = write_taxii_config(tmp_path, page_size=5), tmp_path / "store.duckdb"
    objects = stix_objects(3)
    with serving_taxii(config, db) as url:
        status = post(url, objects)
    with serving_taxii(config, db) as url, client(url) as http:
        assert [o for p in walk(url, OBJECTS) for o in p["objects"]] == objects
        assert http.get(f"{ROOT}/status/{status['id']}").json() == status


def test_no_credential_reaches_the_log(base: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    post(base, stix_objects(1))
    with client(base, "partner") as http:
        http.get(OBJECTS)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "added" in logged
    assert not any(p in logged for p in PASSWORDS.values())
    assert all(PASSWORDS.values())  # the passwords looked for are not empty strings
