"""People chatting from home, and the same people behind commercial VPN exits."""

from __future__ import annotations

import random

import numpy as np

from distillguard.sim import sessions
from distillguard.sim.identity import Account, People, payment_fp, rand_id
from distillguard.sim.populations.base import LegitPopulation, weighted_choice
from distillguard.sim.scenario import IndividualPopulation, VpnPopulation


class Individuals(LegitPopulation):
    """People chatting from home (ShareGPT / Arena-Hard conversations, some tool use)."""

    spec: IndividualPopulation

    def _build(self) -> None:
        rng, w, spec = self.rng, self.world, self.spec
        people: People = w.people
        countries = [people.country(rng, spec.countries) for _ in range(spec.accounts)]
        homes = self._home_ips(countries)
        if spec.proxy_exit_share:
            for i, country in enumerate(countries):
                if rng.random() < spec.proxy_exit_share:
                    homes[i] = [rng.choice(w.shared.residential(country)), *homes[i][1:]]
        self.mobile = {c: w.net.residential(self.nrng, c, 200) for c in sorted(set(countries))}
        for i, country in enumerate(countries):
            category = weighted_choice(rng, spec.categories)
            if category in ("startup", "enterprise") and rng.random() < 0.6:
                domain = people.company_domain(rng)
            else:
                domain = people.webmail(rng, country)
            local = people.person_local(rng) if rng.random() < 0.85 else f"user{rng.randint(100, 99999)}"
            ips = homes[i]
            if spec.ipv6_share and rng.random() < spec.ipv6_share:
                ips = [w.net.residential_v6(rng, country), *ips]
            self._account(
                rng,
                category=category,
                created_ms=self._created(rng, spec.new_account_share),
                email_domain=domain,
                email_local=local,
                country=country,
                payment_fp=payment_fp(rng) if rng.random() < 0.9 else None,
                signup_ip=ips[0],
                tz=people.tz(rng, country),
                org_id=rand_id(rng, "org_", 12) if rng.random() < 0.2 else None,
                ips=ips,
            )
        self.tool_share = spec.tool_share if w.legit_tools else 0.0
        # some API users pin a generic system prompt in their app
        self.system = {a.id: w.phrases.harvest_systems.pick(rng) for a in self.accounts if rng.random() < 0.2}
        scratch = random.Random(0)
        self._chat_len = float(np.mean([len(self._turns(scratch)) for _ in range(3000)]))

    def _home_ips(self, countries: list[str]) -> list[list[str]]:
        out: list[list[str]] = [[] for _ in countries]
        for c in sorted(set(countries)):
            idx = [i for i, x in enumerate(countries) if x == c]
            pool = self.world.net.residential(self.nrng, c, 2 * len(idx))
            for j, i in enumerate(idx):
                out[i] = [pool[2 * j]] + ([pool[2 * j + 1]] if self.rng.random() < 0.3 else [])
        return out

    def mean_session_len(self) -> float:
        return self._chat_len * (1 - self.tool_share) + 1.8 * self.tool_share

    def _turns(self, rng: random.Random) -> list[str]:
        w, spec = self.world, self.spec
        turns = sessions.pick_turns(rng, rng.choice(w.legit_chat).turns, spec.max_turns)
        turns[0] = sessions.with_aside(rng, turns[0], w.phrases.cot_asides, spec.cot_aside_share)
        if rng.random() < 0.08:
            turns.append(w.phrases.followups.pick(rng))
        if len(turns) > 1 and rng.random() < spec.cot_aside_share:
            turns.insert(1, w.phrases.cot_asides.pick(rng))
        return turns

    def _session_ip(self, acct: Account) -> str:
        rng = self.rng
        if rng.random() < 0.12:
            return rng.choice(self.mobile[acct.country])
        return acct.ips[0] if rng.random() < 0.7 else rng.choice(acct.ips)

    def session(self, acct: Account, ts: int) -> None:
        rng, w = self.rng, self.world
        via = self._via(self._session_ip(acct), ts)
        thinking = self._thinking()
        if self.tool_share and rng.random() < self.tool_share:
            p = rng.choice(w.legit_tools)
            sessions.tool_call(w, self.emitter, rng, acct, ts, p.turns[0], list(p.tools), via,
                               system=p.system or self.system.get(acct.id),
                               thinking=thinking, complete=rng.random() < 0.8)
            return
        sessions.chat(w, self.emitter, rng, acct, ts, self._turns(rng), via, system=self.system.get(acct.id),
                      thinking=thinking,
                      max_tokens=rng.choice((1024, 2048, 4096, 8192)) + (thinking or 0))


class VpnUsers(Individuals):
    """Individuals behind commercial VPN exits; many users share one exit."""

    spec: VpnPopulation

    def _home_ips(self, countries: list[str]) -> list[list[str]]:
        rng = self.rng
        exits = self.world.net.vpn(self.nrng, self.spec.exits)
        popularity = [1.0 / (r + 1) ** 0.8 for r in range(len(exits))]
        return [rng.choices(exits, weights=popularity, k=rng.randint(1, 3)) for _ in countries]

    def _session_ip(self, acct: Account) -> str:
        return self.rng.choice(acct.ips)
