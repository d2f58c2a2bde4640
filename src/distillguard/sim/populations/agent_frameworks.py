"""Products built on agent frameworks: ReAct loops ("think step by step, then act") and function calls."""

from __future__ import annotations

import random
from typing import Any

from distillguard.sim import sessions
from distillguard.sim.identity import Account, account_age_ms, payment_fp, rand_id
from distillguard.sim.populations.base import LegitPopulation, weighted_choice
from distillguard.sim.scenario import AgentFrameworkPopulation

_TOOLS = ("web_search", "python", "read_file", "list_dir", "bash")


class AgentFrameworks(LegitPopulation):
    """Agent products: each account one product with its own prompt and tools, serving its end users."""

    daily = "business"
    weekly = "business"
    mix = "server"
    spec: AgentFrameworkPopulation

    def _build(self) -> None:
        rng, w, spec = self.rng, self.world, self.spec
        people, ph = w.people, w.phrases
        agent_tools = [t for t in w.agent_tools if t["name"] in _TOOLS]
        self.system: dict[str, str] = {}
        self.tools: dict[str, list[dict[str, Any]]] = {}
        i = 0
        while i < spec.accounts:
            size = min(rng.randint(1, spec.accounts_per_org), spec.accounts - i)
            country = people.country(rng, spec.countries)
            domain, org, card = people.company_domain(rng), rand_id(rng, "org_", 12), payment_fp(rng)
            nat = w.net.cloud(self.nrng, rng.randint(1, 4))
            for _ in range(size):
                acct = self._account(
                    rng,
                    category=weighted_choice(rng, spec.categories),
                    verification="business" if rng.random() < 0.6 else rng.choice(("email", "phone")),
                    created_ms=w.start_ms - account_age_ms(rng, 10, 700),
                    email_domain=domain,
                    email_local=rng.choice(("agents", "platform", "ai", "backend", "eng", "bot")),
                    country=country,
                    payment_fp=card,
                    signup_ip=nat[0],
                    tz=people.tz(rng, country),
                    org_id=org,
                    ips=nat,
                )
                tools = rng.sample(agent_tools, rng.randint(1, len(agent_tools)))
                if w.legit_tools and rng.random() < 0.6:
                    tools += list(rng.choice(w.legit_tools).tools)
                self.tools[acct.id] = tools
                names = "\n".join(f"{t['name']}: {t['description'][:80]}" for t in tools)
                self.system[acct.id] = self._fill(ph.framework_systems.pick(rng), rng).replace("{tools}", names)
                i += 1
        self._steps_mean = (2 + spec.max_steps) / 2

    def _fill(self, text: str, rng: random.Random) -> str:
        for key, values in self.world.phrases.framework_slots.items():
            text = text.replace("{" + key + "}", rng.choice(values))
        return text.replace("{num}", str(rng.randint(10_000, 999_999)))

    def mean_session_len(self) -> float:
        react = self.spec.react_share
        return react * self._steps_mean + (1 - react) * 2

    def session(self, acct: Account, ts: int) -> None:
        rng, w, spec = self.rng, self.world, self.spec
        thinking = self._thinking()
        via = self._via(rng.choice(acct.ips), ts)
        tools = self.tools[acct.id]
        if rng.random() < spec.react_share or not w.legit_tools:
            task = self._fill(w.phrases.framework_tasks.pick(rng), rng)
            sessions.agent(w, self.emitter, rng, acct, ts, task, self.system[acct.id], tools, via,
                           steps=rng.randint(2, spec.max_steps), window=spec.max_steps, thinking=thinking,
                           gap_s=(0.4, 5.0), pause_share=0.0, max_tokens=(thinking or 0) + 4096)
            return
        p = rng.choice(w.legit_tools)
        sessions.tool_call(w, self.emitter, rng, acct, ts, p.turns[0], list(p.tools), via,
                           system=self.system[acct.id], thinking=thinking, complete=rng.random() < 0.9)
