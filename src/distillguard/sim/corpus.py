"""Prompt corpora: the real files of a corpus directory, or a small built-in procedural one."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from distillguard.core.errors import ConfigError
from distillguard.sim.data import load_data
from distillguard.sim.grammar import PhraseSet

_TOOL_NAME = re.compile(r"[^A-Za-z0-9_-]")
_PLACEHOLDERS = ("{prompt}", "{question}", "{input}", "{problem}", "{}")


@dataclass(frozen=True, slots=True)
class Prompt:
    """One corpus row: user turns, optional system prompt and tools (neutral schema)."""

    id: str
    file: str
    kind: str
    capability: str
    turns: tuple[str, ...]
    system: str | None = None
    tools: tuple[dict[str, Any], ...] = ()


@dataclass(slots=True)
class Templates:
    """Reasoning system prompts and answer-format wrappers (``{prompt}`` marks the task)."""

    systems: list[str] = field(default_factory=list)
    wrappers: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Corpus:
    """Prompts grouped by file, with the file's ``kind`` and ``capability``."""

    files: dict[str, list[Prompt]]
    builtin: bool
    templates: Templates

    def select(self, kind: str | None = None, capability: str | None = None) -> list[Prompt]:
        """Prompts of a kind and/or capability, in file order (files sorted by name)."""
        return [
            p
            for name in sorted(self.files)
            for p in self.files[name]
            if (kind is None or p.kind == kind) and (capability is None or p.capability == capability)
        ]

    def from_files(self, names: list[str]) -> list[Prompt]:
        """Prompts of the named files (stems), in the order given."""
        missing = [n for n in names if n not in self.files]
        if missing:
            raise ConfigError(
                f"sources: corpus has no file {', '.join(missing)} (available: {', '.join(sorted(self.files))})"
            )
        return [p for n in names for p in self.files[n]]


def normalize_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """A function schema as an API would accept it: safe name, ``object`` not ``dict``."""
    params = _fix_types(tool.get("parameters") or tool.get("input_schema") or {"type": "object", "properties": {}})
    if params.get("type") != "object":
        params = {"type": "object", "properties": params.get("properties", {})}
    return {
        "name": _TOOL_NAME.sub("_", str(tool.get("name", "tool")))[:64] or "tool",
        "description": str(tool.get("description", ""))[:1024],
        "parameters": params,
    }


def _fix_types(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _fix_types(v) for k, v in node.items()}
        if out.get("type") == "dict":
            out["type"] = "object"
        elif out.get("type") in ("float", "double"):
            out["type"] = "number"
        elif out.get("type") in ("tuple", "list"):
            out["type"] = "array"
        elif out.get("type") in ("any", "Any"):
            out.pop("type")
        return out
    if isinstance(node, list):
        return [_fix_types(v) for v in node]
    return node


def _read_jsonl(path: Path) -> list[Prompt]:
    prompts: list[Prompt] = []
    with path.open("rb") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = orjson.loads(line)
                turns = tuple(t for t in row["turns"] if t)
                kind, capability = row["kind"], row["capability"]
            except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
                raise ConfigError(f"{path}:{lineno}: not a corpus row ({exc})") from exc
            if not turns:
                continue
            tools = tuple(normalize_tool(t) for t in row.get("tools") or ())
            prompts.append(
                Prompt(str(row.get("id", f"{path.stem}:{lineno}")), path.stem, kind, capability, turns,
                       row.get("system") or None, tools)
            )
    return prompts


def _read_templates(path: Path) -> Templates:
    out = Templates()
    if not path.is_file():
        return out
    with path.open("rb") as fh:
        for line in fh:
            if not line.strip():
                continue
            text = str(orjson.loads(line).get("text", ""))
            for ph in _PLACEHOLDERS:
                if ph in text:
                    text = text.replace(ph, "\x00").replace("{{", "{").replace("}}", "}").replace("\x00", "{prompt}")
                    break
            if "{prompt}" in text:
                if re.search(r"\{[a-z_]+\}", text.replace("{prompt}", "")) is None:
                    out.wrappers.append(text)
            else:
                out.systems.append(text.replace("{actions}", _ACTIONS))
    return out


_ACTIONS = (
    "[ASSESS]\n\n[ADVANCE]\n\n[VERIFY]\n\n[SIMPLIFY]\n\n[SYNTHESIZE]\n\n[PIVOT]\n\n[OUTPUT]"
)


def load_corpus(corpus_dir: Path | None) -> Corpus:
    """Read every ``*.jsonl`` of ``corpus_dir`` (and ``../templates``); ``None`` gives the built-in corpus."""
    if corpus_dir is None:
        return builtin_corpus()
    corpus_dir = Path(corpus_dir)
    if not corpus_dir.is_dir():
        raise ConfigError(f"{corpus_dir}: corpus directory not found")
    files = {p.stem: _read_jsonl(p) for p in sorted(corpus_dir.glob("*.jsonl"))}
    files = {k: v for k, v in files.items() if v}
    if not files:
        raise ConfigError(f"{corpus_dir}: no corpus rows (*.jsonl) found")
    templates = _read_templates(corpus_dir.parent / "templates" / "reasoning-system-prompts.jsonl")
    return Corpus(files, builtin=False, templates=templates)


def builtin_corpus() -> Corpus:
    """A small, fixed procedural corpus (same rows every time)."""
    spec = load_data("builtin_corpus")
    rng = random.Random(20260302)
    slots = spec["slots"]
    tool_defs = {name: normalize_tool({"name": name, **d}) for name, d in spec["tools"].items()}
    files: dict[str, list[Prompt]] = {}
    for fname, f in spec["files"].items():
        grammar = PhraseSet(f["turns"])
        tools = tuple(tool_defs[t] for t in f.get("tools", ()))
        rows: list[Prompt] = []
        for i in range(int(f["rows"])):
            n_turns = rng.randint(1, int(f.get("max_turns", 1)))
            turns = tuple(_fill(grammar.pick(rng), slots, rng) for _ in range(n_turns))
            row_tools = tuple(rng.sample(tools, k=min(len(tools), rng.randint(1, 2)))) if tools else ()
            rows.append(Prompt(f"{fname}:{i}", fname, f["kind"], f["capability"], turns, None, row_tools))
        files[fname] = rows
    templates = Templates(
        systems=[
            "You are a helpful and harmless assistant. You should think step-by-step.",
        ],
        wrappers=["Return your final response within \\boxed{}. {prompt}",
                  "{prompt}\nReturn your final response within \\boxed{}"],
    )
    return Corpus(files, builtin=True, templates=templates)


def agent_tools() -> list[dict[str, Any]]:
    """The coding-agent tool schemas (neutral form)."""
    return [normalize_tool(t) for t in load_data("builtin_corpus")["agent_tools"]]


def _fill(text: str, slots: dict[str, list[str]], rng: random.Random) -> str:
    if "{" not in text:
        return text
    for key in ("a", "b", "c"):
        text = text.replace("{" + key + "}", str(rng.randint(2, 99)))
    for key, values in slots.items():
        text = text.replace("{" + key + "}", rng.choice(values))
    return text
