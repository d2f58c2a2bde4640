"""Replay a simulated scenario through the gateway in dry-run: how much legitimate traffic it would degrade.

    python bench/replay_gateway.py --traffic runs/dev/traffic [--sample 0.2] [--db runs/dev/distillguard.duckdb]

A local upstream answers every request with the response recorded for it;
the gateway (``distillguard gateway``, its own process, dry-run) sees the
recorded account (header), client address (``x-forwarded-for``), user agent
and time (replay header), in time order with ``--concurrency`` requests in
flight. Accounts are sampled (``--sample``, all of an account's exchanges or
none: online scoring is per account). From the gateway's exchange log it
reports, per label and population, the share of exchanges whose response
would have been degraded (reasoning stripped or summarised, or the request
refused: blocked, verification required, over a throttled rate) and of the
accounts ever degraded. ``--db`` also loads batch results (decisions of an earlier
``analyze``) as a deployment would.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx
import xxhash

from distillguard.ingest.fields import parse_ts

DEGRADING = {"summarize_reasoning", "strip_reasoning", "require_verification", "block"}
"""Actions that always degrade a response; throttle degrades only the requests over the rate."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_recorded(log: Path, port: int) -> None:
    """The upstream: answers with the recorded response at the byte offset the request names."""
    import uvicorn

    handle = log.open("rb")

    async def app(scope: dict, receive: Any, send: Any) -> None:
        while (await receive()).get("more_body"):
            pass
        offset = int(dict(scope["headers"]).get(b"x-replay-offset", b"-1"))
        handle.seek(offset)
        record = json.loads(handle.readline())
        body = json.dumps(record.get("response") or {"error": {"message": "no response"}}).encode()
        await send({"type": "http.response.start", "status": int(record.get("status") or 200),
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="off")


def select(traffic: Path, sample: float) -> tuple[list[tuple[int, int, dict[str, Any]]], dict[str, dict[str, Any]]]:
    """(ts, offset, fields) of the sampled accounts' exchanges in time order, and the sampled labels."""
    labels = {}
    for line in (traffic / "labels.jsonl").open():
        row = json.loads(line)
        if xxhash.xxh64_intdigest(row["account_id"].encode()) / 2**64 < sample:
            labels[row["account_id"]] = row
    picked = []
    with (traffic / "exchanges.jsonl").open("rb") as fh:
        offset = 0
        for line in fh:
            start, offset = offset, offset + len(line)
            head = line[:400].decode("utf-8", "replace")
            marker = head.find('"account_id":"')
            account = head[marker + 14:head.find('"', marker + 14)] if marker >= 0 else None
            if account not in labels:
                continue
            record = json.loads(line)
            picked.append((parse_ts(record["ts"]), start, {
                "account": record["account_id"], "ip": record["ip"], "ua": record.get("user_agent") or "",
                "endpoint": record["endpoint"], "body": json.dumps(record["request"]).encode(),
                "key": record.get("api_key_id")}))
    picked.sort(key=lambda p: (p[0], p[1]))
    return picked, labels


async def send_all(base: str, picked: list[tuple[int, int, dict[str, Any]]], concurrency: int) -> Counter:
    statuses: Counter = Counter()
    queue = iter(picked)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        async def worker() -> None:
            for ts, offset, f in queue:
                headers = {"x-distillguard-account": f["account"], "x-forwarded-for": f["ip"],
                           "user-agent": f["ua"], "x-replay-ts": str(ts), "x-replay-offset": str(offset),
                           "content-type": "application/json"}
                response = await client.post(f["endpoint"], content=f["body"], headers=headers)
                statuses[response.status_code] += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return statuses


def wait_port(port: int, proc: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("server did not start") from None
            time.sleep(0.2)


def report(log: Path, labels: dict[str, dict[str, Any]]) -> dict[str, Any]:
    exchanges: dict[str, Counter] = defaultdict(Counter)
    accounts: dict[str, set[str]] = defaultdict(set)
    degraded_accounts: dict[str, set[str]] = defaultdict(set)
    actions: Counter = Counter()
    for line in log.open():
        record = json.loads(line)
        row = labels.get(record["account_id"])
        if row is None:
            continue
        groups = (row["label"], f"{row['label']}/{row['population']}")
        degraded = record["action"] in DEGRADING or record["decision"].get("refused_with") is not None
        actions[(row["label"], record["action"])] += 1
        for group in groups:
            exchanges[group]["total"] += 1
            exchanges[group]["degraded"] += degraded
            accounts[group].add(record["account_id"])
            if degraded:
                degraded_accounts[group].add(record["account_id"])
    return {
        group: {"exchanges": c["total"], "degraded_exchanges": c["degraded"],
                "degraded_share": c["degraded"] / c["total"] if c["total"] else 0.0,
                "accounts": len(accounts[group]), "degraded_accounts": len(degraded_accounts[group])}
        for group, c in sorted(exchanges.items())
    } | {"actions": {f"{label}:{action}": n for (label, action), n in sorted(actions.items())}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--traffic", type=Path, default=Path("runs/dev/traffic"))
    parser.add_argument("--sample", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--db", type=Path)
    parser.add_argument("--intel", type=Path, default=Path("../shared/data/intel"))
    parser.add_argument("--out", type=Path, default=Path("runs/gw-replay"))
    parser.add_argument("--serve-recorded", type=Path)
    parser.add_argument("--port", type=int)
    args = parser.parse_args()
    if args.serve_recorded:
        serve_recorded(args.serve_recorded, args.port)
        return
    started = time.perf_counter()
    picked, labels = select(args.traffic, args.sample)
    print(f"{len(picked):,} exchanges of {len(labels):,} sampled accounts", file=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "gateway.jsonl"
    log.unlink(missing_ok=True)
    up_port, gw_port = free_port(), free_port()
    config = {"upstream": f"http://127.0.0.1:{up_port}", "dry_run": True, "exchange_log": str(log),
              "client_ip_header": "x-forwarded-for", "replay_time_header": "x-replay-ts",
              "intel_dir": str(args.intel) if args.intel.is_dir() else None,
              "db": str(args.db) if args.db else None, "max_pending": 200_000}
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "gateway.json"  # JSON is YAML
        cfg.write_text(json.dumps({k: v for k, v in config.items() if v is not None}))
        recorded = str(args.traffic / "exchanges.jsonl")
        upstream = subprocess.Popen([sys.executable, __file__, "--serve-recorded", recorded,
                                     "--port", str(up_port)])
        gateway = subprocess.Popen([sys.executable, "-m", "distillguard.cli", "gateway", "--config", str(cfg),
                                    "--port", str(gw_port), "--log-level", "warning"],
                                   env={**os.environ, "DISTILLGUARD_ADMIN_TOKEN": ""})
        try:
            wait_port(up_port, upstream)
            wait_port(gw_port, gateway)
            t0 = time.perf_counter()
            statuses = asyncio.run(send_all(f"http://127.0.0.1:{gw_port}", picked, args.concurrency))
            replay_s = time.perf_counter() - t0
        finally:
            gateway.terminate()
            gateway.wait(timeout=120)
            upstream.terminate()
            upstream.wait(timeout=30)
    result = {"sample": args.sample, "exchanges_replayed": len(picked), "statuses": dict(statuses),
              "replay_seconds": round(replay_s, 1), "replay_rps": round(len(picked) / replay_s, 1),
              "batch_results": str(args.db) if args.db else None,
              "total_seconds": round(time.perf_counter() - started, 1), "by_group": report(log, labels)}
    (args.out / "replay.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
