"""A real browser (Playwright driving Debian's chromium) over the console on the analysed ``dev`` scenario: log in,
open the biggest campaign, see its graph and timeline drawn, apply ``strip_reasoning`` with a reason, find the
entry on the audit page. Screenshots go to ``test-artifacts/console/`` (git-ignored)."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from typer.testing import CliRunner

from distillguard.cli import app as cli
from distillguard.console.app import console_secret, create_app
from distillguard.console.auth import new_user
from distillguard.console.pages import GRAPH_SAMPLE
from distillguard.store import Store
from distillguard.store.console import add_user

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
ARTIFACTS = ROOT / "test-artifacts" / "console"
PASSWORD = "a browser's long password"


def _invoke(*args: str) -> None:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    if result.exit_code != 0:
        raise RuntimeError(f"distillguard {' '.join(args)}: {result.output}")


@pytest.fixture(scope="module")
def dev_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``dev`` scenario simulated and analysed through the CLI (2–3 min), with an analyst."""
    if not (SHARED / "prompts").is_dir():
        pytest.skip(f"the dev scenario reads the real corpora: {SHARED / 'prompts'} is missing")
    root = tmp_path_factory.mktemp("console-dev")
    intel = ["--intel", str(SHARED / "intel")] if (SHARED / "intel").is_dir() else []
    _invoke("simulate", "--scenario", "dev", "--corpus", str(SHARED / "prompts"), *intel, "--out", str(root / "traffic"))
    db = root / "store.duckdb"
    _invoke("analyze", str(root / "traffic" / "exchanges.jsonl"), "--accounts", str(root / "traffic" / "accounts.jsonl"),
            *intel, "--db", str(db), "--out", str(root / "analysis"))
    with Store(db) as store:
        add_user(store, new_user("ana", PASSWORD, "analyst"))
    return db


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def console_url(dev_store: Path) -> Iterator[str]:
    """The console over the dev store, served by uvicorn on 127.0.0.1."""
    with Store(dev_store) as store:
        secret = console_secret(store)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(dev_store, secret=secret), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the console did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def page(console_url: str) -> Iterator[object]:
    """A chromium page (Debian's chromium; Playwright never downloads a browser here)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        tab = context.new_page()
        tab.set_default_timeout(30_000)
        yield tab
        context.close()
        browser.close()


def test_an_analyst_opens_the_biggest_campaign_sees_graph_and_timeline_strips_reasoning_and_finds_the_audit(
        page: object, console_url: str, dev_store: Path) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    refused: list[str] = []  # script errors and CSP refusals
    missing: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if m.type == "error" and "Failed to load" not in m.text else None)
    page.on("pageerror", lambda e: refused.append(str(e)))
    page.on("response", lambda r: missing.append(r.url) if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)

    page.goto(f"{console_url}/")
    expect(page).to_have_url(re.compile(r"/login"))
    page.fill("input[name=name]", "ana")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Overview")
    expect(page.locator("#overview-chart canvas")).to_have_count(1)
    page.screenshot(path=str(ARTIFACTS / "overview.png"), full_page=True)

    page.click("header nav >> text=Campaigns")
    page.click("a.sort >> text=size")  # the default order is descending: the biggest campaign first
    expect(page).to_have_url(re.compile(r"sort=size"))
    first = page.locator("table.campaigns tbody tr").first.locator("a")
    campaign_id = first.inner_text()
    with Store(dev_store, read_only=True) as store:
        biggest = store.query("SELECT campaign_id, n_accounts FROM campaigns ORDER BY n_accounts DESC, campaign_id LIMIT 1")
    assert campaign_id == biggest.column(0)[0].as_py()
    members = biggest.column(1)[0].as_py()
    page.screenshot(path=str(ARTIFACTS / "campaigns.png"), full_page=True)
    first.click()

    expect(page.locator("h1")).to_contain_text(campaign_id)
    graph = page.locator("#campaign-graph")
    expect(graph).to_have_attribute("data-ready", "true", timeout=60_000)
    nodes = page.evaluate("window.consoleGraph.nodes().length")
    accounts = page.evaluate("window.consoleGraph.nodes('[type = \"account\"]').length")
    assert nodes > accounts == min(members, GRAPH_SAMPLE.max_accounts)
    expect(graph.locator("canvas").first).to_be_attached()
    expect(page.locator("#graph-note")).to_contain_text(f"{accounts:,} of {members:,} member accounts drawn (a fixed sample)"
                                                        if members > accounts else f"all {members:,} member accounts drawn")
    timeline = page.locator("#campaign-timeline")
    expect(timeline).to_have_attribute("data-ready", "true", timeout=60_000)
    expect(timeline.locator("canvas")).to_have_count(1)
    assert page.locator("#campaign-phases tbody tr").count() > 0
    page.screenshot(path=str(ARTIFACTS / "campaign.png"), full_page=True)

    reason = "browser test: harvesting reasoning at scale"
    form = page.locator(".action-form form").first
    form.locator("select[name=action]").select_option("strip_reasoning")
    form.locator("input[name=reason]").fill(reason)
    form.locator("button[type=submit]").click()
    expect(page.locator(".action-form .notice")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "campaign-acted.png"), full_page=True)

    page.click("header nav >> text=Audit")
    entry = page.locator("tr", has_text=reason)
    expect(entry).to_have_count(1)
    expect(entry).to_contain_text(campaign_id)
    expect(entry).to_contain_text("strip_reasoning")
    page.screenshot(path=str(ARTIFACTS / "audit.png"), full_page=True)
    assert not refused and not missing, (refused, missing)

