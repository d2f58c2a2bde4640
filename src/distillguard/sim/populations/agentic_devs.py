"""Developers running coding agents: long tool loops in working hours."""

from __future__ import annotations

import random
from typing import Any

import numpy as np

from distillguard.sim import sessions
from distillguard.sim.identity import Account, payment_fp, rand_id
from distillguard.sim.populations.base import LegitPopulation, weighted_choice
from distillguard.sim.scenario import AgenticDevPopulation


class AgenticDevs(LegitPopulation):
    """Developers running coding agents: long tool loops in working hours."""

    daily = "work"
    weekly = "work"
    mix = "agent"
    spec: AgenticDevPopulation

    def _build(self) -> None:
        rng, w, spec = self.rng, self.world, self.spec
        people = w.people
        company: dict[str, Any] | None = None
        left = 0
        homes_country: list[str] = [people.country(rng, spec.countries) for _ in range(spec.accounts)]
        pools = {c: iter(w.net.residential(self.nrng, c, 2 * homes_country.count(c) + 2)) for c in sorted(set(homes_country))}
        core = [t for t in w.agent_tools if t["name"] not in ("python", "web_search")]
        self.tools: dict[str, list[dict[str, Any]]] = {}
        self.system: dict[str, str] = {}
        self.budget: dict[str, int] = {}
        for country in homes_country:
            category = weighted_choice(rng, spec.categories)
            org = None
            if category in ("startup", "enterprise"):
                if left <= 0 or company is None:
                    left = rng.randint(1, 8)
                    company = {"domain": people.company_domain(rng), "org": rand_id(rng, "org_", 12),
                               "pf": payment_fp(rng), "office": next(pools[country])}
                left -= 1
                org = company
            home = next(pools[country])
            ips = [org["office"], home] if org else [home]
            if rng.random() < 0.1:
                ips.append(w.net.cloud(self.nrng, 1)[0])
            acct = self._account(
                rng,
                category=category,
                created_ms=self._created(rng),
                email_domain=org["domain"] if org else people.webmail(rng, country),
                email_local=people.person_local(rng),
                country=country,
                payment_fp=org["pf"] if org else payment_fp(rng),
                signup_ip=ips[0],
                tz=people.tz(rng, country),
                org_id=org["org"] if org else None,
                ips=ips,
            )
            extra = [t for t in w.agent_tools if t["name"] == "web_search"] if rng.random() < 0.3 else []
            self.tools[acct.id] = rng.sample(core, rng.randint(min(5, len(core)), len(core))) + extra
            self.system[acct.id] = w.phrases.agent_systems.pick(rng)
            self.budget[acct.id] = rng.choice((4000, 8000, 10_000, 16_000, 31_999))
        steps = [self._steps(random.Random(i)) for i in range(500)]
        self._mean = float(np.mean(steps))

    def _steps(self, rng: random.Random) -> int:
        s = int(rng.lognormvariate(2.5, 0.6))
        return max(self.spec.min_steps, min(self.spec.max_steps, s))

    def mean_session_len(self) -> float:
        return self._mean

    def session(self, acct: Account, ts: int) -> None:
        rng, w = self.rng, self.world
        if rng.random() < 0.8:
            task = w.phrases.fill_slots(w.phrases.agent_tasks.pick(rng), rng)
        else:
            task = rng.choice(w.legit_coding).turns[0]
        thinking = self.budget[acct.id] if rng.random() < self.spec.thinking_share else None
        ip = acct.ips[0] if rng.random() < 0.7 else rng.choice(acct.ips)
        system = w.phrases.fill_slots(self.system[acct.id], rng)
        sessions.agent(w, self.emitter, rng, acct, ts, task, system, self.tools[acct.id], self._via(ip, ts),
                       steps=self._steps(rng), window=self.spec.history_window, thinking=thinking,
                       max_tokens=(thinking or 0) + rng.choice((8192, 16_384, 32_000)))
