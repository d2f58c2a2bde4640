"""Benchmark the console's campaign page on a campaign of 20,000 accounts, against a trivial page in the same run.

    python bench/bench_console.py                      # builds a synthetic store with a 20,000-account campaign
    python bench/bench_console.py --db runs/large/distillguard.duckdb [--campaign CMP-…]
    python bench/bench_console.py --db /tmp/synthetic.duckdb   # builds it there when missing, reuses it after

The console runs under uvicorn on 127.0.0.1 and is read over real HTTP by a logged-in client. For each endpoint
(the campaign page, its members' last page, its graph JSON, its timeline JSON, the campaign list) it prints the
first request's time (on a run analysed before the campaign views were kept, the first request of the graph and
of the timeline computes and keeps them) and the median of ``--repeats`` requests after it, and the same for the
trivial page (the search form: login, session and template, no store read), whose median is the floor every page
pays. With ``--browser`` it also loads the campaign page in Debian's chromium (Playwright) until the graph and the
timeline are drawn, against the trivial page loaded the same way. Without ``--db`` the store is built through the
real store API (exchanges with their computed signals, account records, one run's decisions, campaigns and their
views as the analysis keeps them): a campaign of ``--accounts`` accounts behind a few hundred proxy IPs and payment
fingerprints, beside background accounts.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pyarrow as pa
import uvicorn
from rich.console import Console
from rich.table import Table

from distillguard.analysis.campaign_views import save_campaign_views
from distillguard.console.app import console_secret, create_app
from distillguard.console.auth import new_user
from distillguard.core.campaign import CampaignRecord
from distillguard.core.schema import ACCOUNT_SCHEMA, EXCHANGE_SCHEMA
from distillguard.signals import compute_signals
from distillguard.store import Store
from distillguard.store.console import add_user, get_user
from distillguard.store.results import EVIDENCE_TYPE, save_run

T0 = datetime(2026, 3, 1, tzinfo=UTC)
USER, PASSWORD = "bench", "bench console password"
CLIENTS = ["OpenAI/Python 1.70.0", "Anthropic/Python 0.39.0", "ai-sdk/anthropic/0.3.22", "Roo-Code/3.8.4",
           "Go-http-client/2.0", "python-httpx/0.27.2"]
TS = pa.timestamp("us", tz="UTC")


def _exchange(rng: random.Random, i: int, account: str, ip: str, start: datetime) -> dict[str, object]:
    return {
        "request_id": f"bench-{i}", "ts": start + timedelta(minutes=rng.randrange(14 * 24 * 60)), "account_id": account,
        "api_key_id": None, "org_id": None, "ip": ip, "user_agent": rng.choice(CLIENTS),
        "tls_ja4": "t13d1812h2_e8a523a41297_b0e6b8bd1bb2", "model": rng.choice(["atlas-2-pro", "atlas-3-pro"]),
        "endpoint": "/v1/messages", "api_format": "anthropic", "system": None,
        "prompt": f"Solve step {i} and show your full reasoning.", "n_messages": 1, "n_user_turns": 1,
        "n_tool_results": 0, "tool_names": [], "thinking_budget": 32000, "reasoning_effort": None,
        "response_text": "The answer.", "response_reasoning": "Because.", "n_tool_calls": 0, "stop_reason": "end_turn",
        "input_tokens": 40, "output_tokens": 400, "reasoning_tokens": 300, "status": 200, "extra": None,
    }


def build_store(path: Path, n_accounts: int, per_account: int, background: int, seed: int) -> str:
    """A store with one campaign of ``n_accounts`` accounts and ``background`` other accounts; the campaign's id."""
    rng = random.Random(seed)
    members = [f"acct_c{i:06d}" for i in range(n_accounts)]
    others = [f"acct_b{i:06d}" for i in range(background)]
    proxies = [f"45.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}" for _ in range(400)]
    payments = [f"pf_{rng.getrandbits(48):012x}" for _ in range(300)]
    rows: list[dict[str, object]] = []
    i = 0
    for account in members:
        for _ in range(per_account):
            rows.append(_exchange(rng, i, account, rng.choice(proxies), T0))
            i += 1
    for account in others:
        home = f"81.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        for _ in range(per_account):
            rows.append(_exchange(rng, i, account, home, T0))
            i += 1
    campaign_id = "CMP-bench20000"
    with Store(path) as store:
        for start in range(0, len(rows), 50_000):
            batch = pa.Table.from_pylist(rows[start:start + 50_000], schema=EXCHANGE_SCHEMA)
            store.ingest_batch(batch, compute_signals(batch))
        records = [{"account_id": a, "created_at": T0 - timedelta(hours=rng.randrange(48)), "category": "startup",
                    "email_domain": "mail.example", "email_local": f"user{k}", "country": "US",
                    "payment_fingerprint": rng.choice(payments), "signup_ip": rng.choice(proxies),
                    "verification": "email", "extra": None} for k, a in enumerate(members)]
        records += [{"account_id": a, "created_at": T0 - timedelta(days=200), "category": "individual",
                     "email_domain": "gmail.com", "email_local": f"person{k}", "country": "DE",
                     "payment_fingerprint": f"pf_own{k:08d}", "signup_ip": None, "verification": "phone",
                     "extra": None} for k, a in enumerate(others)]
        store.upsert_accounts(pa.Table.from_pylist(records, schema=ACCOUNT_SCHEMA))
        evidence = [{"detector": "campaign.membership", "score": 1.0,
                     "reason": f"linked to campaign {campaign_id} ({n_accounts:,} accounts)"}]
        risks = [round(0.8 + 0.2 * rng.random(), 4) for _ in members] + [round(0.2 * rng.random(), 4) for _ in others]
        everyone = members + others
        flagged = [True] * n_accounts + [False] * background
        decisions = pa.table({
            "account_id": everyone, "risk": risks, "action": ["block"] * n_accounts + ["allow"] * background,
            "flagged": flagged, "campaign_id": pa.array([campaign_id] * n_accounts + [None] * background, pa.string()),
            "flagged_at": pa.array([T0 + timedelta(days=14)] * n_accounts + [None] * background, TS),
            "reasons": [[e["reason"] for e in evidence]] * n_accounts + [[]] * background,
            "evidence": pa.array([evidence] * n_accounts + [[]] * background, EVIDENCE_TYPE),
            "decided_at": pa.array([T0 + timedelta(days=14)] * len(everyone), TS),
        })
        record = {
            "campaign_id": campaign_id, "accounts": members, "n_accounts": n_accounts,
            "n_exchanges": n_accounts * per_account, "first_seen": T0.isoformat(),
            "last_seen": (T0 + timedelta(days=14)).isoformat(),
            "capabilities": {"reasoning": 0.9, "coding": 0.1}, "risk": 0.97, "confidence": 0.97,
            "reasons": [e["reason"] for e in evidence], "evidence": {"linking_edges": {"payment": 60_000, "network": 90_000}},
            "indicators": {"ips": [{"value": p, "accounts": 300} for p in proxies[:10]],
                           "payment_fingerprints": [{"value": p, "accounts": 60} for p in payments[:10]]},
            "findings": evidence,
        }
        campaigns = pa.table({
            "campaign_id": [campaign_id], "n_accounts": [n_accounts], "n_exchanges": [n_accounts * per_account],
            "first_seen": pa.array([T0], TS), "last_seen": pa.array([T0 + timedelta(days=14)], TS),
            "confidence": [0.97], "record": [orjson.dumps(record).decode()],
        })
        save_run(store, run_id="bench-run", kind="analyze", started_at=datetime.now(UTC), inputs=[], counts={},
                 features=pa.table({"account_id": everyone}), decisions=decisions, campaigns=campaigns)
        save_campaign_views(store, "bench-run", [CampaignRecord.from_json(record)])  # as an analysis saving it does
    return campaign_id


def _biggest(path: Path) -> str:
    with Store(path, read_only=True) as store:
        rows = store.query("SELECT campaign_id FROM campaigns WHERE run_id = (SELECT run_id FROM runs "
                           "ORDER BY finished_at DESC NULLS LAST, started_at DESC LIMIT 1) "
                           "ORDER BY n_accounts DESC, campaign_id LIMIT 1").column(0).to_pylist()
    if not rows:
        raise SystemExit(f"{path}: no campaign in the newest run")
    return str(rows[0])


def _serve(path: Path) -> tuple[uvicorn.Server, str]:
    with Store(path) as store:
        secret = console_secret(store)
        if get_user(store, USER) is None:
            add_user(store, new_user(USER, PASSWORD, "analyst"))
    server = uvicorn.Server(uvicorn.Config(create_app(path, secret=secret), host="127.0.0.1", port=0,
                                           log_level="warning", lifespan="off"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


def _login(client: httpx.Client) -> None:
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    if token is None:
        raise SystemExit("no CSRF token on the login page")
    reply = client.post("/login", data={"name": USER, "password": PASSWORD, "csrf_token": token.group(1)})
    if reply.status_code != 303:
        raise SystemExit(f"login failed: HTTP {reply.status_code}")


def _time(client: httpx.Client, url: str, repeats: int) -> tuple[float, float, int]:
    """Seconds of the first GET (for a run saved before its campaign views were kept: computing and keeping
    them), median seconds of ``repeats`` GETs after it, and the answer's size."""
    start = time.perf_counter()
    first = client.get(url)
    first_s = time.perf_counter() - start
    if first.status_code != 200:
        raise SystemExit(f"{url}: HTTP {first.status_code}: {first.text[:200]}")
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        client.get(url).raise_for_status()
        times.append(time.perf_counter() - start)
    return first_s, statistics.median(times), len(first.content)


CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def _browser_times(url: str, campaign: str, repeats: int, chromium: Path) -> list[tuple[str, float]]:
    """Medians of loading the trivial page, and the campaign page until its graph and timeline are drawn."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/login")
        page.fill("input[name=name]", USER)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{url}/")

        def load(path: str, ready: list[str]) -> float:
            start = time.perf_counter()
            page.goto(f"{url}{path}", wait_until="load")
            for selector in ready:
                page.wait_for_selector(f"{selector}[data-ready=true]", state="attached", timeout=120_000)
            return time.perf_counter() - start

        plans = [("trivial page, loaded", "/search", []),
                 ("campaign page, graph and timeline drawn", f"/campaigns/{campaign}",
                  ["#campaign-graph", "#campaign-timeline"])]
        found = []
        for name, path, ready in plans:
            load(path, ready)
            found.append((name, statistics.median(load(path, ready) for _ in range(repeats))))
        browser.close()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, help="an analysed store, or where to build the synthetic one when missing "
                                                "(default: a synthetic one in a temporary directory)")
    parser.add_argument("--campaign", help="the campaign to load (default: the newest run's biggest)")
    parser.add_argument("--accounts", type=int, default=20_000, help="synthetic campaign size")
    parser.add_argument("--per-account", type=int, default=6, help="synthetic exchanges per account")
    parser.add_argument("--background", type=int, default=5_000, help="synthetic accounts outside the campaign")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--browser", action="store_true", help="also time the campaign page in chromium (Playwright)")
    parser.add_argument("--chromium", type=Path, default=Path("/usr/bin/chromium"))
    args = parser.parse_args()
    out = Console()
    with tempfile.TemporaryDirectory(prefix="bench-console-") as tmp:
        if args.db is None or not args.db.exists():
            path = args.db or Path(tmp) / "store.duckdb"
            start = time.perf_counter()
            campaign = build_store(path, args.accounts, args.per_account, args.background, args.seed)
            out.print(f"synthetic store: {args.accounts:,} campaign accounts + {args.background:,} others, "
                      f"{(args.accounts + args.background) * args.per_account:,} exchanges, "
                      f"built in {time.perf_counter() - start:.1f} s")
        else:
            path = args.db
            campaign = args.campaign or _biggest(path)
            out.print(f"store: {path}")
        server, url = _serve(path)
        try:
            with httpx.Client(base_url=url, timeout=120) as client:
                _login(client)
                members = client.get(f"/campaigns/{campaign}").text
                total = re.search(r"([0-9,]+) members", members)
                n_members = int(total.group(1).replace(",", "")) if total else 0
                last_page = max(1, -(-n_members // 50))
                endpoints = [
                    ("trivial page (baseline)", "/search"),
                    ("campaign page", f"/campaigns/{campaign}"),
                    (f"members, page {last_page:,}", f"/campaigns/{campaign}/members?page={last_page}"),
                    ("graph JSON", f"/campaigns/{campaign}/graph.json"),
                    ("timeline JSON", f"/campaigns/{campaign}/timeline.json"),
                    ("campaign list", "/campaigns?sort=size"),
                ]
                table = Table(title=f"campaign {campaign}: {n_members:,} members, median of {args.repeats}")
                for column in ("endpoint", "first", "median", "over baseline", "size"):
                    table.add_column(column, justify="left" if column == "endpoint" else "right")
                baseline = None
                for name, path_ in endpoints:
                    first, median, size = _time(client, path_, args.repeats)
                    baseline = median if baseline is None else baseline
                    table.add_row(name, f"{first * 1000:,.0f} ms", f"{median * 1000:,.0f} ms",
                                  f"{(median - baseline) * 1000:+,.0f} ms", f"{size / 1024:,.0f} KiB")
                out.print(table)
            if args.browser:
                timed = _browser_times(url, campaign, args.repeats, args.chromium)
                browser = Table(title=f"in chromium, median of {args.repeats}")
                for column in ("load", "median", "over baseline"):
                    browser.add_column(column, justify="left" if column == "load" else "right")
                for name, median in timed:
                    browser.add_row(name, f"{median * 1000:,.0f} ms", f"{(median - timed[0][1]) * 1000:+,.0f} ms")
                out.print(browser)
        finally:
            server.should_exit = True


if __name__ == "__main__":
    main()
