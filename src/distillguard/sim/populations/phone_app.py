"""People using a chat app on their phones: young accounts behind their carrier's NAT, sometimes on home Wi-Fi."""

from __future__ import annotations

import random

import numpy as np

from distillguard.sim import sessions
from distillguard.sim.identity import DAY_MS, Account, payment_fp
from distillguard.sim.populations.base import LegitPopulation, weighted_choice
from distillguard.sim.scenario import PhoneAppPopulation


class PhoneApp(LegitPopulation):
    """Phone users: many accounts share a few carrier NAT addresses."""

    mix = "mobile"
    spec: PhoneAppPopulation

    def _build(self) -> None:
        rng, w, spec = self.rng, self.world, self.spec
        people = w.people
        countries = [weighted_choice(rng, spec.carriers) for _ in range(spec.accounts)]
        homes = {c: iter(w.net.residential(self.nrng, c, countries.count(c))) for c in sorted(set(countries))}
        for country in countries:
            if rng.random() < spec.new_account_share:
                created = w.start_ms + int(rng.random() * (w.end_ms - w.start_ms) * 0.8)
            else:
                created = w.start_ms - int(rng.uniform(1, 120) * DAY_MS)
            home = next(homes[country])
            self._account(
                rng,
                category="individual",
                verification=rng.choice(("phone", "phone", "email")),
                created_ms=created,
                email_domain=people.webmail(rng, country),
                email_local=people.person_local(rng) if rng.random() < 0.7 else f"user{rng.randint(1000, 999_999)}",
                country=country,
                payment_fp=payment_fp(rng) if rng.random() < 0.3 else None,
                signup_ip=rng.choice(w.shared.carrier_nat(country)),
                tz=people.tz(rng, country),
                ips=[home],
            )
        scratch = random.Random(0)
        self._chat_len = float(np.mean([len(self._turns(scratch)) for _ in range(2000)]))

    def mean_session_len(self) -> float:
        return self._chat_len

    def _turns(self, rng: random.Random) -> list[str]:
        w = self.world
        turns = sessions.pick_turns(rng, rng.choice(w.legit_chat).turns, self.spec.max_turns)
        turns[0] = sessions.with_aside(rng, turns[0], w.phrases.cot_asides, self.spec.cot_aside_share)
        return turns

    def session(self, acct: Account, ts: int) -> None:
        rng, w = self.rng, self.world
        if rng.random() < self.spec.wifi_share:
            ip = acct.ips[0]
        else:
            ip = rng.choice(w.shared.carrier_nat(acct.country))
        thinking = self._thinking()
        sessions.chat(w, self.emitter, rng, acct, ts, self._turns(rng), self._via(ip, ts), thinking=thinking,
                      max_tokens=rng.choice((1024, 2048, 4096)) + (thinking or 0), gap_s=40.0)
