"""Exporting a campaign as intel from the console, with the exporter the ``console`` command builds."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from distillguard.cli.console_cmd import intel_export
from distillguard.config import load_settings, with_overrides
from distillguard.console.app import create_app
from distillguard.store import Store
from distillguard.store.console import audit_page
from distillguard.store.results import run_campaigns
from distillguard.store.runs import latest_run_id


@pytest.fixture
def exporting(store_path: Path, secret: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
              log_in: Callable[..., int]) -> Iterator[Callable[[str], TestClient]]:
    """Clients per role of a console that exports for community ``partners``."""
    monkeypatch.setenv("DISTILLGUARD_INTEL_KEY_PARTNERS", "k" * 32)
    settings = with_overrides(load_settings(None), "test", db=store_path)
    offered = intel_export(settings, ["partners"], tmp_path / "exports")
    app = create_app(store_path, secret=secret, intel_export=offered)
    clients: list[TestClient] = []

    def make(role: str) -> TestClient:
        client = TestClient(app, base_url="http://127.0.0.1")
        clients.append(client)
        assert log_in(client, {"viewer": "vera", "analyst": "ana", "admin": "ada"}[role]) == 303
        return client

    yield make
    for client in clients:
        client.close()


def _biggest(db: Path) -> str:
    with Store(db, read_only=True) as store:
        run = latest_run_id(store)
        assert run is not None
        return max(run_campaigns(store, run), key=lambda c: c.n_accounts).campaign_id


def test_an_analyst_downloads_a_campaign_as_a_stix_bundle_and_the_export_is_audited(
        store_path: Path, exporting: Callable[[str], TestClient], csrf: Callable[..., str], tmp_path: Path) -> None:
    campaign = _biggest(store_path)
    ana = exporting("analyst")
    page = ana.get(f"/campaigns/{campaign}").text
    assert f'action="/exports/campaign/{campaign}"' in page and '<option value="partners">' in page
    response = ana.post(f"/exports/campaign/{campaign}", data={
        "csrf_token": csrf(ana), "community": "partners", "format": "stix", "tlp": "amber", "reason": "for partners"})
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith(f'attachment; filename="{campaign}-partners-')
    bundle = json.loads(response.content)
    assert bundle["type"] == "bundle"
    assert any(o["type"] == "campaign" for o in bundle["objects"])
    kept = list((tmp_path / "exports").iterdir())
    assert len(kept) == 1 and kept[0].read_bytes() == response.content
    with Store(store_path, read_only=True) as store:
        entry = audit_page(store, 0, 1)[1][0]
    assert entry.what == "export" and entry.target == f"campaign:{campaign}" and entry.reason == "for partners"
    assert entry.detail is not None and entry.detail["community"] == "partners"
    assert entry.detail["objects"] == len(bundle["objects"])


@pytest.mark.parametrize(("data", "message"), [
    ({"community": "strangers", "format": "stix", "tlp": "amber", "reason": "r"}, "community"),
    ({"community": "partners", "format": "pdf", "tlp": "amber", "reason": "r"}, "format"),
    ({"community": "partners", "format": "misp", "tlp": "white", "reason": "r"}, "tlp"),
    ({"community": "partners", "format": "misp", "tlp": "amber", "reason": " "}, "reason"),
])
def test_an_export_needs_an_offered_community_format_tlp_and_a_reason(
        store_path: Path, exporting: Callable[[str], TestClient], csrf: Callable[..., str], data: dict[str, str],
        message: str) -> None:
    ana = exporting("analyst")
    response = ana.post(f"/exports/campaign/{_biggest(store_path)}", data={"csrf_token": csrf(ana), **data})
    assert response.status_code == 422 and message in response.text


def test_an_unknown_campaign_is_said_and_nothing_is_audited(
        store_path: Path, exporting: Callable[[str], TestClient], csrf: Callable[..., str]) -> None:
    ana = exporting("analyst")
    response = ana.post("/exports/campaign/no-such-campaign", data={
        "csrf_token": csrf(ana), "community": "partners", "format": "misp", "tlp": "green", "reason": "r"})
    assert response.status_code == 422 and "no-such-campaign" in response.text
    with Store(store_path, read_only=True) as store:
        assert audit_page(store, 0, 1)[0] == 0


def test_viewers_cannot_export(store_path: Path, exporting: Callable[[str], TestClient],
                               csrf: Callable[..., str]) -> None:
    vera = exporting("viewer")
    response = vera.post(f"/exports/campaign/{_biggest(store_path)}", data={
        "csrf_token": csrf(vera), "community": "partners", "format": "stix", "tlp": "amber", "reason": "r"})
    assert response.status_code == 403


def test_without_a_community_the_console_offers_no_export(
        store_path: Path, client_as: Callable[[str], TestClient], csrf: Callable[..., str]) -> None:
    campaign = _biggest(store_path)
    ana = client_as("analyst")
    assert "/exports/campaign/" not in ana.get(f"/campaigns/{campaign}").text
    response = ana.post(f"/exports/campaign/{campaign}", data={
        "csrf_token": csrf(ana), "community": "partners", "format": "stix", "tlp": "amber", "reason": "r"})
    assert response.status_code == 422 and "--intel-community" in response.text
