"""Acting from the console on a real analysed store: action → overrides the gateway loads → audit entry → undo."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from distillguard.console.audit import PAGE_SIZE
from distillguard.core.decision import Action
from distillguard.gateway.overrides import OverrideStore
from distillguard.store import Store
from distillguard.store.console import apply_action, audit_page, record_audit
from distillguard.store.enforcement import latest_overrides, override_history, record_override
from distillguard.store.results import run_campaigns
from distillguard.store.runs import latest_run_id


def _biggest_campaign(db: Path) -> tuple[str, list[str]]:
    with Store(db, read_only=True) as store:
        run = latest_run_id(store)
        assert run is not None
        top = max(run_campaigns(store, run), key=lambda c: c.n_accounts)
    assert top.n_accounts > 1
    return top.campaign_id, list(top.accounts)


def _overrides(db: Path) -> dict[str, Action]:
    """The overrides in force as the gateway loads them from the store."""
    return OverrideStore(db, write_timeout_s=5).read().actions


def _act(client: TestClient, csrf: Callable[..., str], path: str, **data: str) -> int:
    return client.post(path, data={"csrf_token": csrf(client), **data}, follow_redirects=False).status_code


def test_a_campaign_action_reaches_the_gateway_is_audited_and_undone(
        store_path: Path, client_as: Callable[[str], TestClient], csrf: Callable[..., str]) -> None:
    campaign, members = _biggest_campaign(store_path)
    ana = client_as("analyst")
    assert _act(ana, csrf, f"/actions/campaign/{campaign}", action="strip_reasoning",
                reason="harvests reasoning traces") == 303
    in_force = _overrides(store_path)
    assert {a: in_force.get(a) for a in members} == dict.fromkeys(members, Action.STRIP_REASONING)
    with Store(store_path, read_only=True) as store:
        entry = override_history(store, members[0])[-1]
        total, entries = audit_page(store, 0, 10)
    assert entry.reason == "harvests reasoning traces" and entry.actor.startswith("console:")
    assert "ana" not in entry.actor
    assert total == 1 and entries[0].what == "action" and entries[0].target == f"campaign:{campaign}"
    assert entries[0].actor == entry.actor and entries[0].detail is not None
    assert entries[0].detail["accounts"] == len(members) and entries[0].detail["action"] == "strip_reasoning"

    page = ana.get("/audit").text
    assert f"campaign:{campaign}" in page and "harvests reasoning traces" in page and "strip_reasoning" in page
    assert "<td>ana</td>" in page  # the actor hash shown as the user's name

    seq = entries[0].seq
    assert _act(ana, csrf, f"/actions/{seq}/undo", reason="wrong campaign") == 303
    assert not set(members) & set(_overrides(store_path))
    assert f"undone by #{seq + 1}" in ana.get("/audit").text
    again = ana.post(f"/actions/{seq}/undo", data={"csrf_token": csrf(ana), "reason": "twice"})
    assert again.status_code == 409 and "undone already" in again.text


def test_undo_restores_each_accounts_previous_override_and_leaves_later_changes(
        store_path: Path, client_as: Callable[[str], TestClient], csrf: Callable[..., str]) -> None:
    campaign, members = _biggest_campaign(store_path)
    first, changed = members[0], members[1]
    with Store(store_path) as store:
        record_override(store, first, "block", "admin-token:x", "earlier, through the admin API", datetime.now(UTC))
    ana = client_as("analyst")
    assert _act(ana, csrf, f"/actions/campaign/{campaign}", action="throttle", reason="slow them") == 303
    with Store(store_path) as store:
        record_override(store, changed, "monitor", "admin-token:x", "later, through the admin API", datetime.now(UTC))
        seq = audit_page(store, 0, 1)[1][0].seq
    undone = ana.post(f"/actions/{seq}/undo", data={"csrf_token": csrf(ana), "reason": "too broad"},
                      headers={"HX-Request": "true"})
    assert undone.status_code == 200
    assert f"{len(members) - 1:,} restored; 1 changed since" in undone.text
    in_force = _overrides(store_path)
    assert in_force[first] == Action.BLOCK and in_force[changed] == Action.MONITOR
    assert not set(members[2:]) & set(in_force)


def test_an_account_action_with_htmx_answers_the_form_with_its_result_and_an_undo(
        store_path: Path, client_as: Callable[[str], TestClient], csrf: Callable[..., str]) -> None:
    _, members = _biggest_campaign(store_path)
    account = members[0]
    ada = client_as("admin")
    response = ada.post(f"/actions/account/{account}", data={"csrf_token": csrf(ada), "action": "block",
                                                              "reason": "confirmed"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "block applied to 1 account (audit #1)" in response.text
    assert 'action="/actions/1/undo"' in response.text and 'name="csrf_token"' in response.text
    assert f'action="/actions/account/{account}"' in response.text  # the form again, for the next action
    assert _overrides(store_path) == {account: Action.BLOCK}


@pytest.mark.parametrize(("data", "status", "message"), [
    ({"action": "block", "reason": "  "}, 422, "reason"),
    ({"action": "block"}, 422, "reason"),
    ({"action": "block", "reason": "x" * 2001}, 422, "at most 2000"),
    ({"action": "nuke", "reason": "r"}, 422, "not one of"),
    ({"reason": "r"}, 422, "not one of"),
])
def test_an_action_needs_a_known_action_and_a_reason(
        store_path: Path, client_as: Callable[[str], TestClient], csrf: Callable[..., str], data: dict[str, str],
        status: int, message: str) -> None:
    campaign, _ = _biggest_campaign(store_path)
    ana = client_as("analyst")
    response = ana.post(f"/actions/campaign/{campaign}", data={"csrf_token": csrf(ana), **data})
    assert response.status_code == status and message in response.text
    assert _overrides(store_path) == {}


@pytest.mark.parametrize("path", ["/actions/account/no-such-account", "/actions/campaign/no-such-campaign"])
def test_an_action_on_what_the_store_does_not_know_is_refused(
        store_path: Path, client_as: Callable[[str], TestClient], csrf: Callable[..., str], path: str) -> None:
    ana = client_as("analyst")
    response = ana.post(path, data={"csrf_token": csrf(ana), "action": "block", "reason": "r"})
    assert response.status_code == 404
    assert _overrides(store_path) == {}
    assert ana.post("/actions/99/undo", data={"csrf_token": csrf(ana), "reason": "r"}).status_code == 404


def test_a_viewer_cannot_act_or_undo(store_path: Path, client_as: Callable[[str], TestClient],
                                     csrf: Callable[..., str]) -> None:
    campaign, members = _biggest_campaign(store_path)
    ana, vera = client_as("analyst"), client_as("viewer")
    assert _act(ana, csrf, f"/actions/campaign/{campaign}", action="block", reason="r") == 303
    before = _overrides(store_path)
    for path in (f"/actions/campaign/{campaign}", f"/actions/account/{members[0]}", "/actions/1/undo"):
        assert _act(vera, csrf, path, action="allow", reason="r") == 403
    assert _overrides(store_path) == before


def test_the_action_form_is_offered_to_analysts_only(store_path: Path,
                                                    client_as: Callable[[str], TestClient]) -> None:
    campaign, _ = _biggest_campaign(store_path)
    for role, offered in (("viewer", False), ("analyst", True), ("admin", True)):
        page = client_as(role).get(f"/campaigns/{campaign}").text  # the campaign page includes the form
        assert (f'action="/actions/campaign/{campaign}"' in page) == offered, role
        assert ("Viewers cannot act" in page) != offered, role


def test_hostile_targets_and_reasons_are_escaped_on_the_audit_page(
        store_path: Path, client_as: Callable[[str], TestClient]) -> None:
    hostile = '<img src=x onerror="alert(1)">'
    with Store(store_path) as store:
        record_audit(store, datetime.now(UTC), "console:x", "action", f"account:{hostile}", hostile,
                     {"action": "block", "accounts": 1, "overrides": [1, 1], "note": hostile})
    page = client_as("analyst").get("/audit").text
    assert hostile not in page and page.count("&lt;img src=x onerror=") >= 3  # target, reason, detail


def test_the_audit_log_pages_newest_first(store_path: Path, client_as: Callable[[str], TestClient]) -> None:
    with Store(store_path) as store:
        for i in range(PAGE_SIZE + 10):
            record_audit(store, datetime.now(UTC), "console:x", "reveal", f"exchange:{i}", f"reason {i}")
    ana = client_as("analyst")
    first, second = ana.get("/audit").text, ana.get("/audit?page=2").text
    assert first.count("<tr id=\"audit-") == PAGE_SIZE and second.count("<tr id=\"audit-") == 10
    assert f"exchange:{PAGE_SIZE + 9}" in first and "exchange:0<" in second and "exchange:0<" not in first
    assert 'href="/audit?page=2"' in first and 'href="/audit?page=1"' in second
    assert ana.get("/audit?page=abc").status_code == 200


def test_a_campaign_action_of_thousands_of_accounts_is_one_transaction(store_path: Path) -> None:
    accounts = [f"acct-{i}" for i in range(20_000)]
    with Store(store_path) as store:
        applied = apply_action(store, accounts, "strip_reasoning", actor="console:x", reason="r",
                               at=datetime.now(UTC), target="campaign:big", detail={"campaign": "big"})
        seq, entries = latest_overrides(store)
    assert applied.n_accounts == 20_000 and len(entries) == 20_000 and seq == 20_000
