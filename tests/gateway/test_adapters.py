import httpx
import pytest
from gwclient import ADMIN, CASES, PATHS, REQUESTS, reasoning_of
from servers import ScriptedUpstream, serving
from starlette.applications import Starlette
from starlette.routing import Mount

from distillguard.gateway.adapters import CONFIG_ENV, DistillguardMiddleware


def test_middleware_inside_an_openai_compatible_server(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(f"exchange_log: {tmp_path / 'log.jsonl'}\nlearn_in: thread\nflush_interval_s: 0.05\n")
    monkeypatch.setenv(CONFIG_ENV, str(config))
    server = Starlette(routes=[Mount("/", app=ScriptedUpstream())])
    server.add_middleware(DistillguardMiddleware)  # how vLLM loads --middleware classes
    with serving(server) as base:
        httpx.put(base + "/admin/accounts/acct-x/action", json={"action": "strip_reasoning"}, headers=ADMIN)
        for api, stream in CASES:
            body = {**REQUESTS[api], "stream": stream}
            flagged = httpx.post(base + PATHS[api], json=body, headers={"x-distillguard-account": "acct-x"})
            allowed = httpx.post(base + PATHS[api], json=body, headers={"x-distillguard-account": "acct-y"})
            assert reasoning_of(api, flagged, stream) is None, (api, stream)
            assert reasoning_of(api, allowed, stream), (api, stream)
    assert len((tmp_path / "log.jsonl").read_text().splitlines()) == 2 * len(CASES)
