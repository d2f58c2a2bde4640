"""What every generator shares: scenario clock, corpus, addresses, phrases, models."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

from distillguard.core.errors import ConfigError
from distillguard.sim.corpus import Corpus, Prompt, agent_tools
from distillguard.sim.data import load_data
from distillguard.sim.grammar import PhraseSet
from distillguard.sim.identity import People
from distillguard.sim.network import AddressSpace
from distillguard.sim.responses import Responder
from distillguard.sim.scenario import Scenario
from distillguard.sim.schedule import HOUR_MS
from distillguard.sim.shared_exits import SharedExits

_CODEY = re.compile(r"```|\bdef |\bfunction\b|\bclass \w+|\bpython\b|\bjava(script)?\b|\bSQL\b|\bC\+\+"
                    r"|\bcode (to|that|for)\b", re.I)


def is_codey(text: str) -> bool:
    """Whether a chat prompt is about code."""
    return _CODEY.search(text[:600]) is not None


class Phrases:
    """The phrasebook, compiled."""

    def __init__(self, corpus: Corpus) -> None:
        pb = load_data("phrasebook")
        self.long_systems = [(e["style"], PhraseSet([e["text"]])) for e in pb["long_thinking_systems"]]
        self.long_systems_i18n = {k: PhraseSet(v) for k, v in pb["long_thinking_systems_i18n"].items()}
        self.inline = {k: PhraseSet(v) for k, v in pb["inline_cot"].items()}
        self.reconstruct = {k: PhraseSet(v) for k, v in pb["reconstruct"].items()}
        self.answer_formats = PhraseSet(pb["answer_formats"] + corpus.templates.wrappers)
        self.reasoning_systems = corpus.templates.systems
        self.harvest_systems = PhraseSet(pb["harvest_systems"])
        self.harvest_agent_systems = PhraseSet(pb["harvest_agent_systems"])
        self.para_prefixes: list[str] = pb["paraphrase"]["prefixes"]
        self.para_suffixes: list[str] = pb["paraphrase"]["suffixes"]
        ind = pb["individual"]
        self.cot_asides, self.followups = PhraseSet(ind["cot_asides"]), PhraseSet(ind["followups"])
        st = pb["students"]
        self.student_prefixes = PhraseSet(st["prefixes"])
        self.student_suffixes = PhraseSet(st["suffixes"])
        self.student_followups = PhraseSet(st["followups"])
        self.eval_systems = PhraseSet(pb["research"]["eval_systems"])
        self.code_wrappers = PhraseSet(pb["research"]["code_wrappers"])
        ag = pb["agentic"]
        self.agent_systems = PhraseSet(ag["systems"])
        self.agent_tasks = PhraseSet(ag["tasks"])
        self.compaction: str = ag["compaction"]
        self.agent_slots: dict[str, list[str]] = ag["slots"]
        ent = pb["enterprise"]
        self.enterprise_templates: list[dict[str, Any]] = ent["templates"]
        self.documents = {k: PhraseSet(v) for k, v in ent["documents"].items()}
        self.enterprise_langs: list[str] = ent["langs"]
        rubric = pb["rubric_grading"]
        self.rubric, self.grader_systems = PhraseSet(rubric["templates"]), PhraseSet(rubric["systems"])
        tut = pb["tutoring"]
        self.tutor_systems, self.tutor_requests = PhraseSet(tut["systems"]), PhraseSet(tut["requests"])
        self.tutor_products: list[str] = tut["products"]
        self.grades: list[str] = tut["grades"]
        tr = pb["translation"]
        self.translation_systems, self.translation_requests = PhraseSet(tr["systems"]), PhraseSet(tr["requests"])
        self.language_names: dict[str, str] = tr["languages"]
        af = pb["agent_framework"]
        self.framework_systems, self.framework_tasks = PhraseSet(af["systems"]), PhraseSet(af["tasks"])
        self.framework_slots: dict[str, list[str]] = {"product": af["products"], "role": af["roles"],
                                                      "topic": af["topics"]}

    def fill_slots(self, text: str, rng: random.Random) -> str:
        """Replace agentic ``{slot}`` names with random values."""
        if "{" not in text:
            return text
        for key, values in self.agent_slots.items():
            token = "{" + key + "}"
            if token in text:
                text = text.replace(token, rng.choice(values))
        return text


class ModelPicker:
    """Which model a legitimate request uses, with gradual adoption of new releases."""

    def __init__(self, scenario: Scenario) -> None:
        start = scenario.start_ms()
        self.releases = [
            (start + int(m.released_hour * HOUR_MS), m.adoption, m.name)
            for m in scenario.models
            if m.released_hour > 0
        ]

    def pick(self, rng: random.Random, names: list[str], cum_weights: list[float], ts: int) -> str:
        """A model for a request at ``ts`` (``cum_weights``: cumulative weights of ``names``)."""
        for released, adoption, name in self.releases:
            if ts >= released and rng.random() < adoption * min(1.0, (ts - released) / (24 * HOUR_MS)):
                return name
        return rng.choices(names, cum_weights=cum_weights)[0]


@dataclass(slots=True)
class World:
    """Shared, read-only inputs of all generators."""

    scenario: Scenario
    corpus: Corpus
    net: AddressSpace
    people: People
    responder: Responder
    phrases: Phrases
    models: ModelPicker
    agent_tools: list[dict[str, Any]]
    legit_chat: list[Prompt]
    legit_coding: list[Prompt]
    legit_tools: list[Prompt]
    start_ms: int
    end_ms: int
    shared: SharedExits

    @classmethod
    def build(cls, scenario: Scenario, corpus: Corpus, net: AddressSpace) -> World:
        """Prepare the shared inputs (reads package data files)."""
        chat = corpus.select(kind="legit", capability="general") or corpus.select(kind="legit")
        if not chat or not corpus.select(kind="distill"):
            raise ConfigError("corpus: needs both kind 'legit' and kind 'distill' prompt files")
        tools = [p for p in corpus.select(kind="legit", capability="tool_use") if p.tools]
        return cls(
            scenario=scenario,
            corpus=corpus,
            net=net,
            people=People(),
            responder=Responder(),
            phrases=Phrases(corpus),
            models=ModelPicker(scenario),
            agent_tools=agent_tools(),
            legit_chat=chat,
            legit_coding=[p for p in chat if len(p.turns[0]) < 1500 and is_codey(p.turns[0])] or chat,
            legit_tools=tools,
            start_ms=scenario.start_ms(),
            end_ms=scenario.end_ms(),
            shared=SharedExits(net, scenario.seed),
        )

    @property
    def hours(self) -> int:
        """Number of (possibly partial) hour slices."""
        return -(-(self.end_ms - self.start_ms) // HOUR_MS)

    def distill(self, capability: str) -> list[Prompt]:
        """Replayable prompts of a capability (``agentic`` draws on coding tasks)."""
        cap = "coding" if capability == "agentic" else capability
        return (
            self.corpus.select(kind="distill", capability=cap)
            or self.corpus.select(kind="distill", capability="general")
            or self.corpus.select(kind="distill")
        )
