"""Gateway overhead: added latency and throughput against a bare pass-through proxy, memory per account.

    python bench/bench_gateway.py [--rates 250 500] [--seconds 6] [--requests 3000] [--rounds 3]

All on 127.0.0.1, in one run: a fast local upstream (uvicorn, its own
process), then the same requests sent directly, through a bare httpcore
pass-through proxy (the gateway's upstream forwarder without the middleware),
and through the gateway (in-process state, exchange log on, accounts cycling
through ``--accounts`` ids). Both proxies are pinned to one core; the load
generator, the upstream and the gateway's learner process to the other, so
that only the proxy's own work is on its core. Latency is measured open-loop at
each of ``--rates`` requests/s, whatever the proxy's capacity (past it, the
figures show the queue); throughput closed-loop with ``--concurrency``
connections. Figures are medians over ``--rounds`` rounds; "added" is a
proxy's percentile minus the direct one's at the same rate. Memory per
tracked account is measured with tracemalloc on the engine's online state;
the gateway's learner runs with its default priority (idle CPU only), and the
requests it dropped unlogged are reported.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx

RESPONSE = json.dumps({
    "id": "chatcmpl-b", "object": "chat.completion", "model": "atlas-2-fast",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "The sum is 100.",
                                         "reasoning_content": "Odd numbers sum to n squared. " * 8},
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 20, "completion_tokens": 60},
}).encode()
ADMIN_TOKEN_ENV = "DISTILLGUARD_ADMIN_TOKEN"
REQUEST = json.dumps({"model": "atlas-2-fast", "messages": [
    {"role": "user", "content": "What is the sum of the first ten odd numbers?"}]}).encode()


# --- servers (run with --serve) ---------------------------------------------------------


async def upstream_app(scope: dict, receive: Any, send: Any) -> None:
    """The fast local upstream: one fixed JSON answer (served without lifespan events)."""
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(RESPONSE)).encode())]})
    await send({"type": "http.response.body", "body": RESPONSE})


class BareProxy:
    """The gateway's forwarder alone: the same httpcore pass-through forwarder."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.forward: Any = None

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        from distillguard.gateway.proxy import UpstreamApp, UpstreamPool

        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    self.forward = UpstreamApp(UpstreamPool(self.upstream), 60.0)
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await self.forward(scope, receive, send)


def serve(kind: str, port: int, upstream: str | None, log: str | None, priority: str) -> None:
    import uvicorn

    if kind == "upstream":
        app: Any = upstream_app
    elif kind == "bare":
        app = BareProxy(upstream or "")
    else:
        from distillguard.gateway.app import GatewayApp
        from distillguard.gateway.config import load_gateway_config

        app = GatewayApp(load_gateway_config(None, upstream=upstream, exchange_log=Path(log) if log else None,
                                             learner_priority=priority))
    lifespan = "off" if kind == "upstream" else "on"
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan=lifespan)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def server(kind: str, core: int | None, upstream: str | None = None, log: str | None = None,
           priority: str = "idle") -> Any:
    port = free_port()
    cmd = [sys.executable, __file__, "--serve", kind, "--port", str(port), "--learner-priority", priority]
    if upstream:
        cmd += ["--upstream", upstream]
    if log:
        cmd += ["--log", log]
    if core is not None:
        cmd = ["taskset", "-c", str(core), *cmd]
    proc = subprocess.Popen(cmd)
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError(f"{kind} server did not start") from None
            time.sleep(0.1)
    try:
        yield proc.pid, port
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# --- a lean HTTP/1.1 keep-alive client ---------------------------------------------------


class Connection:
    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, payload: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        self.writer.write(payload)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        body = await self.reader.readexactly(length)
        if status != 200:
            print(status, body[:300], file=sys.stderr)
        return status


def payload(path: str, account: int | None) -> bytes:
    account_header = f"x-distillguard-account: bench-{account}\r\n" if account is not None else ""
    return (f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
            f"content-length: {len(REQUEST)}\r\n{account_header}\r\n").encode() + REQUEST


async def open_loop(port: int, rate: float, seconds: float, accounts: int) -> list[float]:
    """Latencies (s) of requests started at a fixed rate, whatever the answers' pace."""
    n = int(rate * seconds)
    idle: list[Connection] = [Connection(port) for _ in range(64)]
    latencies: list[float] = []
    start = time.perf_counter()

    async def one(i: int) -> None:
        conn = idle.pop() if idle else Connection(port)
        t0 = time.perf_counter()
        status = await conn.request(payload("/v1/chat/completions", i % accounts))
        latencies.append(time.perf_counter() - t0)
        if status != 200:
            raise RuntimeError(f"port {port}: status {status}")
        idle.append(conn)

    tasks = []
    for i in range(n):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    return latencies


async def closed_loop(port: int, total: int, concurrency: int, accounts: int) -> float:
    """Requests per second with ``concurrency`` connections each sending back to back."""
    counter = iter(range(total))

    async def worker() -> None:
        conn = Connection(port)
        for i in counter:
            await conn.request(payload("/v1/chat/completions", i % accounts))

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total / (time.perf_counter() - start)


def gateway_status(port: int) -> dict[str, Any]:
    """The gateway's ``GET /admin/status`` (learner backlog and drops)."""
    response = httpx.get(f"http://127.0.0.1:{port}/admin/status",
                         headers={"authorization": f"Bearer {os.environ[ADMIN_TOKEN_ENV]}"})
    response.raise_for_status()
    return response.json()


def descendants(pid: int) -> list[int]:
    """The processes ``pid`` started, and theirs (read from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended meanwhile
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time the processes ``pids`` have used so far."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- memory ---------------------------------------------------------------------------------


def memory_per_account(n_accounts: int) -> dict[str, float]:
    """Bytes of online state per tracked account, by tracemalloc: the learner's statistics plus
    the engine's verdict and sync caches."""

    from distillguard.accounts import IpIntel, default_weights
    from distillguard.gateway.config import GatewayConfig
    from distillguard.gateway.engine import BoundedCache
    from distillguard.gateway.learner import HandledRequest, LearnerState, OnlineVerdict, warm_up

    warm_up()
    handled = [
        HandledRequest(ts_ms=1_772_400_000_000 + i * 1000, account_id=f"bench-account-{i:08d}", api_key_id=None,
                       ip=f"10.{i % 250}.{i // 250 % 250}.{i % 7 + 1}", user_agent="bench/1.0",
                       endpoint="/v1/chat/completions", request=REQUEST, response=RESPONSE, stream=False, status=200,
                       refused=False, action="allow", evidence=(), source="default", risk=0.0, campaign_id=None,
                       enforced=True, tier=None)
        for i in range(n_accounts)
    ]
    config = GatewayConfig(max_accounts=max(2, n_accounts))
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    learner = LearnerState(config, IpIntel(), 0.0, default_weights("account"), secret=b"bench-secret-key-0123")
    verdicts: BoundedCache[str, OnlineVerdict] = BoundedCache(config.max_accounts)
    synced: BoundedCache[str, bool] = BoundedCache(config.max_accounts)
    for start in range(0, n_accounts, 1000):
        for account, verdict in learner.learn(handled[start:start + 1000], {}).verdicts.items():
            verdicts.set(account, verdict)
            synced.set(account, True)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    capacity = len(learner.online.stats._first)
    return {"accounts": n_accounts, "bytes_per_account": (after - before) / n_accounts,
            "statistics_rows_allocated": capacity, "verdicts": len(verdicts)}


# --- main -----------------------------------------------------------------------------------


async def measure(targets: dict[str, tuple[int, list[int]]], args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Throughput of each target (port, serving processes) and the CPU time its processes spend per request,
    then its latency percentiles at each rate of ``--rates``."""
    out: dict[str, dict[str, float]] = {}
    ports = {name: port for name, (port, _) in targets.items()}
    for name, (port, pids) in targets.items():
        await closed_loop(port, min(500, args.requests), args.concurrency, args.accounts)  # warm up
        cpu = cpu_seconds(pids)
        rps = await closed_loop(port, args.requests, args.concurrency, args.accounts)
        out[name] = {"rps": rps, "cpu_us_per_request": 1e6 * (cpu_seconds(pids) - cpu) / args.requests}
    for rate in args.rates:
        for name, port in ports.items():
            latencies = await open_loop(port, rate, args.seconds, args.accounts)
            out[name][f"p50_ms@{rate:g}"] = 1000 * pct(latencies, 0.5)
            out[name][f"p99_ms@{rate:g}"] = 1000 * pct(latencies, 0.99)
    return out


def added(med: dict[str, dict[str, float]], rates: list[float]) -> dict[str, dict[str, float]]:
    """Per rate: the proxies' p50/p99 over the direct call, and the gateway's p99 over the bare proxy."""
    out = {}
    for rate in rates:
        at = f"@{rate:g}"
        out[f"{rate:g}_rps"] = {
            **{f"{name}_added_{q}_ms": med[name][f"{q}_ms{at}"] - med["direct"][f"{q}_ms{at}"]
               for name in ("bare", "gateway") for q in ("p50", "p99")},
            "gateway_over_bare_p99_ms": med["gateway"][f"p99_ms{at}"] - med["bare"][f"p99_ms{at}"],
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", type=float, nargs="+", default=[250.0, 500.0])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--memory-accounts", type=int, default=20_000)
    parser.add_argument("--serve", choices=["upstream", "bare", "gateway"])
    parser.add_argument("--port", type=int)
    parser.add_argument("--upstream")
    parser.add_argument("--log")
    parser.add_argument("--learner-priority", choices=["idle", "low"], default="idle",
                        help="the gateway's learner_priority setting")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.upstream, args.log, args.learner_priority)
        return
    os.environ.setdefault(ADMIN_TOKEN_ENV, os.urandom(16).hex())  # inherited by the gateway process
    cores = sorted(os.sched_getaffinity(0))
    proxy_core, other_core = (cores[0], cores[1]) if len(cores) > 1 else (cores[0], cores[0])
    os.sched_setaffinity(0, {other_core})  # the load generator
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        up_pid, up_port = stack.enter_context(server("upstream", other_core))
        up = f"http://127.0.0.1:{up_port}"
        bare_pid, bare_port = stack.enter_context(server("bare", proxy_core, up))
        gw_pid, gw_port = stack.enter_context(
            server("gateway", proxy_core, up, str(Path(tmp) / "gateway.jsonl"), args.learner_priority))
        learners = descendants(gw_pid)  # the learner inherited the gateway's core: move it off
        for pid in learners:
            os.sched_setaffinity(pid, {other_core})
        time.sleep(3.0)  # the gateway warms its signal models at start
        targets = {"direct": (up_port, [up_pid]), "bare": (bare_port, [bare_pid]), "gateway": (gw_port, [gw_pid])}
        rounds = [asyncio.run(measure(targets, args)) for _ in range(args.rounds)]
        time.sleep(1.0)  # the learner's last flush
        status = gateway_status(gw_port)
        with (Path(tmp) / "gateway.jsonl").open("rb") as fh:
            logged = sum(1 for _ in fh)
    med = {name: {k: statistics.median(r[name][k] for r in rounds) for k in rounds[0][name]} for name in rounds[0]}
    result = {
        "rates_rps": args.rates, "rounds": args.rounds, "proxy_core": proxy_core, "other_core": other_core,
        "learner_processes_moved": len(learners), "load_average": os.getloadavg(),
        "direct": med["direct"], "bare_proxy": med["bare"], "gateway": med["gateway"],
        "added": added(med, args.rates),
        "throughput_ratio_gateway_vs_bare": med["gateway"]["rps"] / med["bare"]["rps"],
        "exchanges_logged": logged,
        "learner_priority": args.learner_priority,
        "learner_dropped": status["dropped"],
        "learner_pending_at_end": status["pending"],
        "memory": memory_per_account(args.memory_accounts),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
