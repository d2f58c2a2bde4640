"""Distillation campaigns: when each account sends what, and how it elicits reasoning."""

from __future__ import annotations

import itertools
import random
from typing import Any

import numpy as np

from distillguard.core.errors import ConfigError
from distillguard.sim import sessions
from distillguard.sim.campaign_accounts import CampaignAccounts
from distillguard.sim.clients import families
from distillguard.sim.corpus import Prompt
from distillguard.sim.exchange import Emitter, Req, Sink
from distillguard.sim.grammar import PhraseSet
from distillguard.sim.group import Group
from distillguard.sim.identity import DAY_MS, Account
from distillguard.sim.operators import Operators
from distillguard.sim.scenario import Campaign
from distillguard.sim.schedule import HOUR_MS, rhythm, rngs, volume_weights
from distillguard.sim.world import World


class Sweep:
    """Walks a prompt pool in order or in a shuffled order, repeating only when exhausted."""

    def __init__(self, prompts: list[Prompt], order: str, rng: np.random.Generator) -> None:
        if not prompts:
            raise ConfigError("sources: no prompts to sweep")
        self.prompts = prompts
        self.order = np.arange(len(prompts)) if order == "sequential" else rng.permutation(len(prompts))
        self.i = int(rng.integers(0, len(prompts))) if order == "sequential" else 0

    def next(self) -> Prompt:
        """The next prompt."""
        p = self.prompts[int(self.order[self.i % len(self.order)])]
        self.i += 1
        return p


class CampaignGroup(Group):
    """One campaign's accounts and traffic."""

    def __init__(self, spec: Campaign, world: World, seed: int, sink: Sink, operators: Operators) -> None:
        self.spec = spec
        self.world = world
        self.name = spec.id
        self.label = "attack"
        self.campaign = spec.id
        self.rng, self.nrng = rngs(seed, "campaign", spec.id)
        self.emitter = Emitter(sink, world.end_ms, random.Random(self.rng.getrandbits(64)), spec.errors,
                               spec.max_per_account)
        self.op = operators.get(spec.operator)
        if spec.client is not None and spec.client not in families():
            raise ConfigError(f"campaigns ({spec.id}).client: unknown client family {spec.client!r}")
        self.client_family = spec.client or self.op.client_family
        self.exits = operators.pool(self.op, spec.proxy.kind, spec.proxy.pool_size)
        self.t0 = world.start_ms + int(spec.start_hour * HOUR_MS)
        end_h = spec.start_hour + spec.duration_hours if spec.duration_hours else world.scenario.duration_hours
        self.t1 = min(world.end_ms, world.start_ms + int(end_h * HOUR_MS))
        self.pivot_ts = self.t0 + int(spec.pivot.after_hours * HOUR_MS) if spec.pivot else None
        self.evasions = set(spec.evasions)
        self.accounts, self.active_from, self.active_to = CampaignAccounts(
            spec, world, self.op, self.exits, self.client_family, self.rng, self.nrng, self.t0, self.t1).open()
        self._build_prompts()
        self._build_phrases()
        self._build_rates()

    # -- prompts and phrases ------------------------------------------------
    def _build_prompts(self) -> None:
        w, spec = self.world, self.spec
        named: list[Prompt] = []
        if spec.sources:
            if w.corpus.builtin:
                named = [p for p in w.corpus.select(kind="distill")]
            else:
                named = w.corpus.from_files(spec.sources)
        self.sweeps: dict[str, Sweep] = {}
        for cap in sorted(spec.focus):
            want = "coding" if cap == "agentic" else cap
            pool = [p for p in named if p.capability == want] or w.distill(cap)
            if cap == "tool_use":
                pool = [p for p in pool if p.tools] or pool
            self.sweeps[cap] = Sweep(pool, spec.order, self.nrng)
        self.caps = sorted(spec.focus)
        self.cap_cum = list(itertools.accumulate(spec.focus[c] for c in self.caps))
        self.styles = sorted(spec.elicitation)
        self.style_cum = list(itertools.accumulate(spec.elicitation[s] for s in self.styles))
        self.langs = sorted(spec.languages)
        self.lang_cum = list(itertools.accumulate(spec.languages[k] for k in self.langs))
        agent_names = ("python", "bash", "read_file", "write_file", "web_search", "list_dir")
        self.agent_tools = [t for t in w.agent_tools if t["name"] in agent_names]

    def _build_phrases(self) -> None:
        """Without paraphrase, an operator reuses a few fixed expansions verbatim."""
        rng, ph = self.rng, self.world.phrases
        k = self.spec.fixed_phrases
        self.paraphrase = "paraphrase" in self.evasions
        self.fixed: dict[str, list[Any]] = {}
        systems = rng.sample(ph.long_systems, min(len(ph.long_systems), k))
        self.fixed["long"] = [(style, ps.pick(rng)) for style, ps in systems]
        if ph.reasoning_systems and rng.random() < 0.5:
            self.fixed["long"].append(("sections", rng.choice(ph.reasoning_systems)))
        for lang, ps in ph.inline.items():
            self.fixed["inline:" + lang] = [ps.pick(rng) for _ in range(k)]
        for lang, ps in ph.long_systems_i18n.items():
            self.fixed["system:" + lang] = [ps.pick(rng) for _ in range(k)]
        for lang, ps in ph.reconstruct.items():
            self.fixed["reconstruct:" + lang] = [ps.pick(rng) for _ in range(k)]
        self.fixed["format"] = [ph.answer_formats.pick(rng) for _ in range(k)]
        self.fixed["harvest"] = [ph.harvest_systems.pick(rng) for _ in range(k)]
        self.fixed["agent"] = [ph.harvest_agent_systems.pick(rng)]
        self.inline_suffix = rng.random() < 0.6
        if "rubric" in self.spec.elicitation:
            self.fixed["rubric"] = [ph.rubric.pick(rng) for _ in range(k)]
            self.fixed["grader"] = [ph.grader_systems.pick(rng) for _ in range(k)]

    def _phrase(self, key: str, ps: PhraseSet | None) -> str:
        if self.paraphrase and ps is not None:
            return ps.pick(self.rng)
        return self.rng.choice(self.fixed[key])

    def _noise(self, text: str) -> str:
        if not self.paraphrase:
            return text
        ph, rng = self.world.phrases, self.rng
        return rng.choice(ph.para_prefixes) + text + rng.choice(ph.para_suffixes)

    # -- timing -----------------------------------------------------------
    def _shape(self, t: int) -> float:
        spec = self.spec
        if t < self.t0 or t >= self.t1:
            return 0.0
        ramp = 1.0 if spec.ramp_hours <= 0 else min(1.0, 0.15 + 0.85 * (t - self.t0) / (spec.ramp_hours * HOUR_MS))
        if spec.timing == "diurnal":
            return ramp * float(rhythm("consumer", "consumer", t, spec.timezone_offset))
        if spec.timing == "synchronized":
            k = (t - self.t0) // HOUR_MS
            return ramp if k % max(1, round(spec.wave_every_hours)) == 0 else 0.0
        return ramp

    def _build_rates(self) -> None:
        w, spec = self.world, self.spec
        hours = w.hours
        self.shape = np.array([self._shape(w.start_ms + h * HOUR_MS + HOUR_MS // 2) for h in range(hours)])
        total = self.shape.sum()
        mean_len = sum(self._session_len(c) * w for c, w in self.spec.focus.items()) / sum(self.spec.focus.values())
        mean_len = (1 - spec.blend_legit) * mean_len + spec.blend_legit * 2.5
        self.sessions_per_shape = spec.exchanges / mean_len / total if total > 0 else 0.0
        self.weights = volume_weights(self.nrng, spec.accounts, 0.35)
        self.used = np.zeros(spec.accounts, dtype=np.int64)
        self.today = np.zeros(spec.accounts, dtype=np.int64)
        self.day = -1
        self.cursor = 0
        self.wave_offset = int(self.rng.uniform(0, 50) * 60_000)
        self.current = -1
        self.run_len = max(1.0, spec.exchanges / mean_len / spec.accounts)
        cap = spec.daily_cap
        if cap is None and "low_and_slow" in self.evasions:
            cap = 12
        self.daily_cap = cap

    def _sticky(self, idx: np.ndarray, n: int) -> np.ndarray:
        """One account at a time, switching after about its share of the sessions."""
        who = np.empty(n, dtype=np.int64)
        for k in range(n):
            if self.current not in idx or self.nrng.random() < 1.0 / self.run_len:
                self.current = int(self.nrng.choice(idx))
            who[k] = self.current
        return who

    def _bursts(self, idx: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sessions grouped into bursts of about ``burst_sessions``, each burst one account's, minutes long."""
        n = len(starts)
        n_bursts = max(1, round(n / self.spec.burst_sessions))
        p = self.weights[idx] / self.weights[idx].sum()
        owner = self.nrng.choice(idx, size=n_bursts, p=p)
        burst = self.nrng.integers(0, n_bursts, size=n)
        anchors = starts[self.nrng.choice(n, size=n_bursts, replace=False)]
        ts = anchors[burst] + self.nrng.integers(0, 10 * 60_000, size=n)
        order = np.argsort(ts, kind="stable")
        return ts[order], owner[burst][order]

    @staticmethod
    def _session_len(cap: str) -> float:
        return {"agentic": 7.5, "tool_use": 1.7}.get(cap, 1.0)

    def run_hour(self, hour: int) -> None:
        spec, w = self.spec, self.world
        t = w.start_ms + hour * HOUR_MS
        s = self.shape[hour] if hour < len(self.shape) else 0.0
        if s <= 0:
            return
        day = (t - w.start_ms) // DAY_MS
        if day != self.day:
            self.day, self.today[:] = day, 0
        active = (self.active_from <= t + HOUR_MS) & (self.active_to > t)
        if spec.max_per_account is not None:
            active &= self.used < spec.max_per_account
        if self.daily_cap is not None:
            active &= self.today < self.daily_cap
        idx = np.flatnonzero(active)
        if not len(idx):
            return
        n = int(self.nrng.poisson(self.sessions_per_shape * s))
        if not n:
            return
        if spec.timing == "synchronized":
            starts = t + self.wave_offset + self.nrng.integers(0, int(spec.wave_minutes * 60_000), size=n)
        elif spec.timing == "round_robin":
            step = HOUR_MS / n
            starts = t + (np.arange(n) * step + self.nrng.uniform(0, step * 0.2, size=n)).astype(np.int64)
        else:
            starts = t + self.nrng.integers(0, HOUR_MS, size=n)
        starts.sort()
        mode = spec.dispatch or ("round_robin" if spec.timing in ("round_robin", "synchronized") else "weighted")
        if mode == "round_robin":
            order = idx[np.argsort(self.active_from[idx], kind="stable")]
            who = order[(self.cursor + np.arange(n)) % len(order)]
            self.cursor = int((self.cursor + n) % len(order))
        elif mode == "weighted":
            p = self.weights[idx] / self.weights[idx].sum()
            who = self.nrng.choice(idx, size=n, p=p)
        elif mode == "random":
            who = self.nrng.choice(idx, size=n)
        elif mode == "sticky":
            who = self._sticky(idx, n)
        else:
            starts, who = self._bursts(idx, starts)
        for i, ts in zip(who.tolist(), starts.tolist()):
            a = self.accounts[i]
            if ts < a.created_ms or ts >= w.end_ms:
                continue
            if spec.max_per_account is not None and self.used[i] >= spec.max_per_account:
                continue
            before = a.n_exchanges
            self.session(a, int(ts))
            self.used[i] += a.n_exchanges - before
            self.today[i] += a.n_exchanges - before

    # -- traffic ----------------------------------------------------------
    def _model(self, ts: int) -> str:
        piv = self.spec.pivot
        if piv is not None and self.pivot_ts is not None and ts >= self.pivot_ts and self.rng.random() < piv.share:
            return piv.model
        return self.spec.model

    def _via(self, acct: Account) -> sessions.Via:
        rng, rot = self.rng, self.spec.proxy.rotation
        exits = self.exits
        if rot == "per_request":
            ip = lambda: exits[int(rng.random() * len(exits))]  # noqa: E731
        else:
            fixed = acct.ips[0] if rot == "per_account" else exits[int(rng.random() * len(exits))]
            ip = lambda: fixed  # noqa: E731
        pool = self.op.ua_pool
        rotate = "ua_rotation" in self.evasions or self.spec.identity == "rotating"
        ua = (lambda: rng.choice(pool)) if rotate else (lambda: None)
        return sessions.Via(ip=ip, model=self._model, ua=ua)

    def session(self, acct: Account, ts: int) -> None:
        """One harvesting session (or a resold ordinary chat)."""
        rng, w, spec = self.rng, self.world, self.spec
        via = self._via(acct)
        if spec.blend_legit and rng.random() < spec.blend_legit:
            p = rng.choice(w.legit_chat)
            turns = sessions.pick_turns(rng, p.turns, 6)
            thinking = 4000 if rng.random() < 0.1 else None
            sessions.chat(w, self.emitter, rng, acct, ts, turns, via, thinking=thinking)
            return
        cap = rng.choices(self.caps, cum_weights=self.cap_cum)[0]
        prompt = self.sweeps[cap].next()
        if cap == "agentic":
            self._agentic(acct, ts, prompt, via)
        elif cap == "tool_use" and prompt.tools:
            text, system, _, thinking = self._elicit(prompt, "tool_use")
            sessions.tool_call(w, self.emitter, rng, acct, ts, text, list(prompt.tools), via, system=system,
                               thinking=thinking, complete=rng.random() < 0.7, max_tokens=8192 + (thinking or 0),
                               temperature=self.op.temperature)
        else:
            cap = prompt.capability if cap == "tool_use" else cap
            text, system, visible, thinking = self._elicit(prompt, cap)
            req = Req(self._model(ts), [{"role": "user", "content": text}], system, None, thinking,
                      (thinking or 0) + rng.choice(spec.max_tokens), None if thinking else self.op.temperature,
                      rng.random() < 0.1)
            resp = sessions.respond(w, rng, prompt.turns[0], cap, thinking, visible)
            self.emitter.emit(acct, ts, req, resp, via.ip(), user_agent=via.ua())

    def _elicit(self, prompt: Prompt, cap: str) -> tuple[str, str | None, str | None, int | None]:
        """User text, system prompt, requested visible-reasoning format and thinking budget."""
        rng, ph, spec = self.rng, self.world.phrases, self.spec
        task = prompt.turns[0]
        style = rng.choices(self.styles, cum_weights=self.style_cum)[0]
        thinking = spec.thinking_budget if rng.random() < spec.thinking_share else None
        system: str | None = prompt.system
        visible: str | None = "steps"
        if style == "system_long_thinking":
            if self.paraphrase:
                visible, node = rng.choice(ph.long_systems)
                system = node.pick(rng)
            else:
                visible, system = rng.choice(self.fixed["long"])
            text = self._phrase("format", ph.answer_formats).replace("{prompt}", task) if rng.random() < 0.4 else task
        elif style == "inline":
            phrase = self._phrase("inline:en", ph.inline["en"])
            text = f"{task}\n\n{phrase}" if self.inline_suffix else f"{phrase}\n\n{task}"
            system = system or (self._phrase("harvest", ph.harvest_systems) if rng.random() < 0.5 else None)
        elif style == "reconstruct":
            lang = "en" if rng.random() < 0.85 else rng.choice(sorted(ph.reconstruct))
            tpl = self._phrase("reconstruct:" + lang, ph.reconstruct[lang])
            answer = self.world.responder.answer_of(task, cap, rng)
            text = tpl.replace("{prompt}", task).replace("{answer}", answer)
        elif style == "non_english":
            lang = rng.choices(self.langs, cum_weights=self.lang_cum)[0]
            if rng.random() < 0.5 and lang in ph.long_systems_i18n:
                system = self._phrase("system:" + lang, ph.long_systems_i18n[lang])
                text = task
                visible = "think_tags"
            else:
                phrase = self._phrase("inline:" + lang, ph.inline[lang])
                text = f"{task}\n\n{phrase}" if self.inline_suffix else f"{phrase}\n{task}"
        elif style == "thinking_budget":
            thinking = spec.thinking_budget
            text, visible = task, None
        elif style == "rubric":
            tpl = self._phrase("rubric", ph.rubric)
            answer = self.world.responder.answer_of(task, cap, rng)
            text = tpl.replace("{prompt}", task).replace("{answer}", answer)
            system = system or (self._phrase("grader", ph.grader_systems) if rng.random() < 0.5 else None)
            visible = "sections"
        else:
            text, visible = task, None
            system = system or (self._phrase("harvest", ph.harvest_systems) if rng.random() < 0.3 else None)
        return self._noise(text), system, visible, thinking

    def _agentic(self, acct: Account, ts: int, prompt: Prompt, via: sessions.Via) -> None:
        rng, w = self.rng, self.world
        text, _, _, thinking = self._elicit(prompt, "coding")
        system = self._phrase("agent", w.phrases.harvest_agent_systems)
        sessions.agent(w, self.emitter, rng, acct, ts, text, system, self.agent_tools, via,
                       steps=rng.randint(3, 12), window=5, thinking=thinking or self.spec.thinking_budget // 2,
                       gap_s=(0.8, 6.0), pause_share=0.0, max_tokens=32_000)
