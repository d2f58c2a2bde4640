"""Synthetic, short, procedural model responses with consistent token counts."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any

from distillguard.sim.data import load_data
from distillguard.sim.grammar import PhraseSet

_NUM = re.compile(r"\d+")
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]{2,}")
_STOP = frozenset(
    "the and for with that this what how can you your are was from have will into about which when "
    "there their then than them they its also please give write find given each does".split()
)


@dataclass(slots=True)
class Resp:
    """A response in neutral form; ``reasoning_tokens`` counts hidden thinking."""

    text: str | None
    thinking: str | None = None
    tool_calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    stop: str = "end_turn"
    reasoning_tokens: int = 0


def topic(prompt: str) -> str:
    """A few content words of ``prompt``, to make responses refer to it."""
    words = [w.lower() for w in _WORD.findall(prompt[:300]) if w.lower() not in _STOP]
    return " ".join(words[:4]) or "this"


def numbers(prompt: str, rng: random.Random) -> tuple[int, int, int]:
    """Two numbers from the prompt (or random) and their sum."""
    found = [int(x) for x in _NUM.findall(prompt[:400]) if len(x) < 7]
    a = found[0] if found else rng.randint(2, 60)
    b = found[1] if len(found) > 1 else rng.randint(2, 60)
    return a, b, a + b


def tokens(text: str | None) -> int:
    """Token estimate of ``text`` (about 4 characters a token)."""
    return 0 if not text else len(text) // 4 + 1


class Responder:
    """Writes responses from responses.yaml phrase banks."""

    def __init__(self) -> None:
        d = load_data("responses")
        c = d["chat"]
        self.chat_open, self.chat_body, self.chat_close = (PhraseSet(c[k]) for k in ("openers", "body", "closers"))
        m = d["math"]
        self.math_steps, self.math_answer = PhraseSet(m["steps"]), PhraseSet(m["answer"])
        cd = d["code"]
        self.code_intro, self.code_outro = PhraseSet(cd["intro"]), PhraseSet(cd["outro"])
        self.code = {lang: PhraseSet(cd[lang]) for lang in ("python", "javascript", "sql")}
        self.think = PhraseSet(d["thinking"]["sentences"])
        self.step_label: list[str] = d["thinking"]["step_label"]
        a = d["agent"]
        self.agent_pre, self.agent_final = PhraseSet(a["preambles"]), PhraseSet(a["finals"])
        self.agent_results = {k: PhraseSet(v) for k, v in a["results"].items()}
        e = d["enterprise"]
        self.ent = {k: PhraseSet(v) for k, v in e.items() if k != "labels"}
        self.ent_labels: list[str] = e["labels"]
        self.tool_text, self.tool_final = PhraseSet(d["tool_text"]), PhraseSet(d["tool_final"])
        self._last: tuple[str, str, int, int, int] | None = None

    # -- pieces -----------------------------------------------------------
    def _facts(self, prompt: str, rng: random.Random) -> tuple[str, int, int, int]:
        if self._last is None or self._last[0] is not prompt:
            self._last = (prompt, topic(prompt), *numbers(prompt, rng))
        return self._last[1:]

    def _fill(self, text: str, prompt: str, rng: random.Random, **extra: str) -> str:
        if "{" not in text:
            return text
        top, a, b, s = self._facts(prompt, rng)
        text = (
            text.replace("{topic}", top)
            .replace("{n1}", str(a))
            .replace("{n2}", str(b))
            .replace("{n3}", str(s))
        )
        for k, v in extra.items():
            text = text.replace("{" + k + "}", v)
        return text

    def thinking_text(self, prompt: str, rng: random.Random, sentences: int) -> str:
        """Summarised thinking of about ``sentences`` sentences."""
        return " ".join(self._fill(self.think.pick(rng), prompt, rng) for _ in range(sentences))

    def answer_of(self, prompt: str, capability: str, rng: random.Random) -> str:
        """A short final answer for ``prompt`` (used for reconstruction prompts too)."""
        if capability == "coding":
            fn = _fn_name(prompt)
            return "```python\n" + self._fill(self.code["python"].pick(rng), prompt, rng, fn=fn) + "\n```"
        a, b, s = numbers(prompt, rng)
        return str(rng.choice((s, a * b, abs(a - b), a)))

    def body(self, prompt: str, capability: str, rng: random.Random) -> str:
        """The visible answer, short: a few sentences, a code block, or a worked result."""
        if capability == "coding":
            lang = "sql" if "sql" in prompt.lower() else ("javascript" if "javascript" in prompt.lower() else "python")
            code = self._fill(self.code[lang].pick(rng), prompt, rng, fn=_fn_name(prompt))
            intro = self._fill(self.code_intro.pick(rng), prompt, rng, lang=lang.capitalize())
            return f"{intro}\n\n```{lang}\n{code}\n```\n\n{self.code_outro.pick(rng)}".strip()
        if capability == "reasoning":
            steps = " ".join(self._fill(self.math_steps.pick(rng), prompt, rng) for _ in range(rng.randint(1, 3)))
            ans = self.answer_of(prompt, capability, rng)
            return f"{steps}\n\n{self._fill(self.math_answer.pick(rng), prompt, rng, answer=ans)}"
        parts = [self._fill(self.chat_body.pick(rng), prompt, rng) for _ in range(rng.randint(1, 3))]
        return (self.chat_open.pick(rng) + " ".join(parts) + self.chat_close.pick(rng)).strip()

    def visible_reasoning(self, prompt: str, capability: str, style: str, rng: random.Random, steps: int) -> str:
        """A long, explicit reasoning answer in the format a system prompt or phrase asked for."""
        label = rng.choice(self.step_label)
        lines = [
            label.replace("{i}", str(i + 1)) + self._fill(self.think.pick(rng), prompt, rng) for i in range(steps)
        ]
        final = self.body(prompt, capability, rng)
        if style == "think_tags":
            return "<think>\n" + "\n".join(lines) + "\n</think>\n\n" + final
        if style == "sections":
            return "## Thought\n\n" + "\n\n".join(lines) + "\n\n## Solution\n\n" + final
        return "\n".join(lines) + "\n\nFinal answer: " + final

    def enterprise(self, output: str, doc: str, rng: random.Random) -> str:
        """The short structured answer of a batch template."""
        text = self.ent[output].pick(rng)
        return self._fill(text, doc, rng, label=rng.choice(self.ent_labels), prio=str(rng.randint(1, 4)))

    def agent_text(self, target: str, rng: random.Random, final: bool) -> str:
        """Short narration of an agent step (or its final summary)."""
        phrases = self.agent_final if final else self.agent_pre
        return phrases.pick(rng).replace("{target}", target)

    def tool_result(self, kind: str, rng: random.Random) -> str:
        """Output of a coding-agent tool."""
        return self.agent_results[kind].pick(rng)

    def tool_preamble(self, tool: str, rng: random.Random) -> str:
        """Text sent before a tool call (often empty)."""
        return self.tool_text.pick(rng).replace("{tool}", tool)

    def tool_summary(self, tool: str, prompt: str, rng: random.Random) -> str:
        """Text after a tool result."""
        return self._fill(self.tool_final.pick(rng), prompt, rng, tool=tool)


def _fn_name(prompt: str) -> str:
    m = re.search(r"def (\w+)\(", prompt)
    if m:
        return m.group(1)
    words = [w.lower() for w in _WORD.findall(prompt[:120]) if w.lower() not in _STOP][:2]
    return "_".join(words) or "solve"


def tool_arguments(tool: dict[str, Any], prompt: str, rng: random.Random) -> dict[str, Any]:
    """Plausible arguments for ``tool`` filled from the prompt's words and numbers."""
    props: dict[str, Any] = tool["parameters"].get("properties") or {}
    required = tool["parameters"].get("required") or list(props)[:1]
    nums = [int(x) for x in _NUM.findall(prompt[:300]) if len(x) < 9] or [rng.randint(1, 100)]
    words = [w for w in _WORD.findall(prompt[:300]) if w.lower() not in _STOP] or ["value"]
    out: dict[str, Any] = {}
    for i, name in enumerate(required if isinstance(required, list) else []):
        spec = props.get(name) if isinstance(props, dict) else None
        typ = spec.get("type") if isinstance(spec, dict) else "string"
        if typ == "integer":
            out[name] = nums[i % len(nums)]
        elif typ == "number":
            out[name] = float(nums[i % len(nums)])
        elif typ == "boolean":
            out[name] = True
        elif typ == "array":
            out[name] = words[:2]
        elif typ == "object":
            out[name] = {}
        else:
            out[name] = " ".join(words[i % len(words) : i % len(words) + 2])
    return out
