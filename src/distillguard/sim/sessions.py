"""Session builders shared by populations and campaigns: chats, tool calls, agent loops."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from distillguard.sim.exchange import Emitter, Req, tool_id
from distillguard.sim.grammar import PhraseSet
from distillguard.sim.identity import Account
from distillguard.sim.responses import Resp, tool_arguments
from distillguard.sim.world import World, is_codey

HISTORY_CHARS = 500  # earlier turns carried in a request are cut to this (keeps records small)
REPLY_CHARS = 300


@dataclass(slots=True)
class Via:
    """How a session reaches the API: address and user agent per request, model per time."""

    ip: Callable[[], str]
    model: Callable[[int], str]
    ua: Callable[[], str | None] = lambda: None


def respond(
    world: World,
    rng: random.Random,
    prompt: str,
    capability: str,
    thinking: int | None,
    visible: str | None = None,
) -> Resp:
    """A response to ``prompt``; ``visible`` asks for explicit reasoning in the answer
    (``steps``, ``think_tags`` or ``sections``)."""
    r = world.responder
    text = (
        r.visible_reasoning(prompt, capability, visible, rng, rng.randint(4, 10))
        if visible
        else r.body(prompt, capability, rng)
    )
    if not thinking:
        return Resp(text)
    hard = capability in ("reasoning", "coding", "agentic")
    used = int(thinking * (rng.uniform(0.25, 0.95) if hard else rng.uniform(0.03, 0.3)))
    sentences = max(2, min(14, used // 1500 + 2))
    return Resp(text, thinking=r.thinking_text(prompt, rng, sentences), reasoning_tokens=max(used, 40))


def _gap_ms(rng: random.Random, median_s: float) -> int:
    return int(1000 * median_s * rng.lognormvariate(0.0, 0.8))


def chat(
    world: World,
    em: Emitter,
    rng: random.Random,
    acct: Account,
    ts: int,
    turns: list[str],
    via: Via,
    *,
    system: str | None = None,
    thinking: int | None = None,
    capability: str = "general",
    max_tokens: int = 4096,
    temperature: float | None = None,
    gap_s: float = 70.0,
    visible: str | None = None,
) -> int:
    """A conversation: each turn is one request carrying the earlier turns; returns last ts.

    ``visible`` asks every answer for explicit reasoning (see :func:`respond`)."""
    history: list[dict[str, Any]] = []
    stream = rng.random() < acct.client.stream
    for turn in turns:
        cap = capability if capability != "general" else ("coding" if is_codey(turn) else "general")
        msgs = history + [{"role": "user", "content": turn}]
        req = Req(via.model(ts), msgs, system, None, thinking, max_tokens, temperature, stream)
        resp = respond(world, rng, turn, cap, thinking, visible)
        ts = em.emit(acct, ts, req, resp, via.ip(), user_agent=via.ua())
        history = msgs[:-1] + [
            {"role": "user", "content": turn[:HISTORY_CHARS]},
            {"role": "assistant", "content": (resp.text or "")[:REPLY_CHARS]},
        ]
        ts += _gap_ms(rng, gap_s)
    return ts


def tool_call(
    world: World,
    em: Emitter,
    rng: random.Random,
    acct: Account,
    ts: int,
    text: str,
    tools: list[dict[str, Any]],
    via: Via,
    *,
    system: str | None = None,
    thinking: int | None = None,
    complete: bool = True,
    max_tokens: int = 4096,
    temperature: float | None = None,
) -> int:
    """A function-calling exchange, then (``complete``) the follow-up with the tool result."""
    fmt = acct.client.api_format
    n_calls = 2 if len(tools) > 1 and rng.random() < 0.2 else 1
    chosen = rng.sample(tools, n_calls) if n_calls > 1 else [rng.choice(tools)]
    calls = [(tool_id(fmt, rng), t["name"], tool_arguments(t, text, rng)) for t in chosen]
    pre = world.responder.tool_preamble(chosen[0]["name"], rng) or None
    first = _think(world, rng, Resp(pre, tool_calls=calls, stop="tool_use"), text, thinking)
    msgs: list[dict[str, Any]] = [{"role": "user", "content": text}]
    ts = em.emit(acct, ts, Req(via.model(ts), msgs, system, tools, thinking, max_tokens, temperature), first, via.ip(),
                 user_agent=via.ua())
    if not complete:
        return ts
    ts += int(rng.uniform(300, 4000))
    blocks: list[dict[str, Any]] = ([{"type": "text", "text": pre}] if pre else []) + [
        {"type": "tool_use", "id": cid, "name": name, "input": args} for cid, name, args in calls
    ]
    results = [
        {"type": "tool_result", "tool_use_id": cid, "content": f'{{"status": "ok", "{name}": {rng.randint(1, 999)}}}'}
        for cid, name, _ in calls
    ]
    msgs = msgs + [{"role": "assistant", "content": blocks}, {"role": "user", "content": results}]
    final = _think(world, rng, Resp(world.responder.tool_summary(chosen[0]["name"], text, rng)), text, thinking)
    return em.emit(acct, ts, Req(via.model(ts), msgs, system, tools, thinking, max_tokens, temperature), final,
                   via.ip(), user_agent=via.ua())


def _think(world: World, rng: random.Random, resp: Resp, prompt: str, thinking: int | None) -> Resp:
    """Add a short thinking trace to a tool-use step when thinking is on."""
    if thinking:
        used = int(thinking * rng.uniform(0.02, 0.2))
        resp.thinking = world.responder.thinking_text(prompt, rng, 2 + used // 3000)
        resp.reasoning_tokens = max(used, 30)
    return resp


_TOOL_KIND = {
    "read_file": "read",
    "edit_file": "edit",
    "write_file": "edit",
    "bash": "run",
    "python": "run",
    "grep": "search",
    "glob": "list",
    "list_dir": "list",
    "web_search": "search",
}


def agent(
    world: World,
    em: Emitter,
    rng: random.Random,
    acct: Account,
    ts: int,
    task: str,
    system: str,
    tools: list[dict[str, Any]],
    via: Via,
    *,
    steps: int,
    window: int = 12,
    thinking: int | None = None,
    gap_s: tuple[float, float] = (2.0, 25.0),
    pause_share: float = 0.08,
    max_tokens: int = 8192,
) -> int:
    """An agentic tool loop of ``steps`` requests; history beyond ``window`` steps is compacted."""
    fmt = acct.client.api_format
    r = world.responder
    slots = world.phrases.agent_slots
    first: dict[str, Any] = {"role": "user", "content": task}
    pairs: list[tuple[dict[str, Any], dict[str, Any]]] = []
    stream = rng.random() < acct.client.stream
    n_edits = 0
    for step in range(steps):
        if len(pairs) > window:
            summary = world.phrases.compaction.replace("{task}", task[:200]).replace("{n}", str(step)).replace(
                "{m}", str(n_edits)).replace("{k}", str(max(1, step // 5)))
            head = [{"role": "user", "content": summary}]
            pairs = pairs[-window:]
        else:
            head = [first]
        msgs = head + [m for pair in pairs for m in pair]
        req = Req(via.model(ts), msgs, system, tools, thinking, max_tokens, None, stream)
        final = step == steps - 1
        target = rng.choice(slots["module"])
        if final:
            resp = respond(world, rng, task, "agentic", thinking)
            resp.text = r.agent_text(target, rng, final=True)
        else:
            tool = rng.choice(tools)
            name = tool["name"]
            args = _agent_args(name, target, rng, slots)
            resp = _think(world, rng, Resp(r.agent_text(target, rng, final=False) or None,
                                           tool_calls=[(tool_id(fmt, rng), name, args)], stop="tool_use"),
                          task, thinking)
        ts = em.emit(acct, ts, req, resp, via.ip(), user_agent=via.ua())
        if final:
            break
        cid, name, args = resp.tool_calls[0]
        n_edits += name in ("edit_file", "write_file")
        blocks: list[dict[str, Any]] = ([{"type": "text", "text": resp.text}] if resp.text else []) + [
            {"type": "tool_use", "id": cid, "name": name, "input": args}
        ]
        result = r.tool_result(_TOOL_KIND.get(name, "run"), rng)
        pairs.append(
            ({"role": "assistant", "content": blocks},
             {"role": "user", "content": [{"type": "tool_result", "tool_use_id": cid, "content": result}]})
        )
        ts += int(1000 * rng.uniform(*gap_s))
        if rng.random() < pause_share:
            ts += int(1000 * rng.uniform(20, 400))  # the human reads, then approves
    return ts


def _agent_args(name: str, target: str, rng: random.Random, slots: dict[str, list[str]]) -> dict[str, Any]:
    if name in ("read_file", "list_dir"):
        return {"path": target}
    if name == "edit_file":
        fn = rng.choice(slots["func"])
        return {"path": target, "old_string": f"def {fn}(", "new_string": f"def {fn}(*, strict=False, "}
    if name == "write_file":
        return {"path": target.replace(".", "_test.", 1), "content": "import pytest\n\n\ndef test_ok():\n    assert True\n"}
    if name == "grep":
        return {"pattern": rng.choice(slots["func"])}
    if name == "glob":
        return {"pattern": rng.choice(["**/*.py", "src/**/*.ts", "*.go", "tests/**"])}
    if name == "python":
        return {"code": f"print(len(open('{target}').read().splitlines()))"}
    if name == "web_search":
        return {"query": f"{rng.choice(slots['dep'])} {rng.choice(['changelog', 'migration guide', 'error'])}"}
    return {"command": rng.choice(["pytest -q", "npm test", "go test ./...", "git status", "make lint", "cargo build",
                                   f"git diff {target}", "ls -la"])}


def pick_turns(rng: random.Random, turns: tuple[str, ...], max_turns: int) -> list[str]:
    """The turns a user actually sends: a prefix of the conversation (users stop early)."""
    n = min(len(turns), max_turns)
    if n > 1 and rng.random() < 0.3:
        n = rng.randint(1, n)
    return list(turns[:n])


def with_aside(rng: random.Random, text: str, asides: PhraseSet, share: float) -> str:
    """Occasionally add a natural "explain step by step" remark."""
    if rng.random() >= share:
        return text
    aside = asides.pick(rng)
    return f"{text}\n\n{aside}" if rng.random() < 0.7 else f"{aside} {text}"
