"""Students behind one university NAT asking homework questions."""

from __future__ import annotations

import random

from distillguard.sim import sessions
from distillguard.sim.corpus import Prompt
from distillguard.sim.identity import DAY_MS, Account, account_age_ms, payment_fp
from distillguard.sim.populations.base import LegitPopulation
from distillguard.sim.scenario import StudentsPopulation
from distillguard.sim.schedule import HOUR_MS


class Students(LegitPopulation):
    """Students behind one university NAT asking homework questions."""

    daily = "student"
    weekly = "student"
    mix = "student"
    spec: StudentsPopulation

    def _build(self) -> None:
        rng, w, spec = self.rng, self.world, self.spec
        people = w.people
        uni = people.university(rng, spec.university)
        self.university = uni
        self.nat = w.net.university(self.nrng, uni["cidr"], spec.nat_ips)
        homes = w.net.residential(self.nrng, uni["country"], spec.accounts)
        tz = people.tz(random.Random(0), uni["country"])
        semester = w.start_ms - int(rng.uniform(20, 100) * DAY_MS)
        for i in range(spec.accounts):
            r = rng.random()
            if r < 0.4:
                local = f"{rng.choice('suae')}{rng.randint(1_000_000, 9_999_999)}"
            elif r < 0.7:
                local = f"{rng.choice(people.first)[0]}{rng.choice(people.last)}{rng.randint(20, 29)}"
            else:
                local = people.person_local(rng)
            created = (
                semester + int(rng.expovariate(1 / (6 * DAY_MS)))
                if rng.random() < 0.75
                else w.start_ms - account_age_ms(rng, 100, 900)
            )
            self._account(
                rng,
                created_ms=min(created, w.start_ms - HOUR_MS),
                email_domain=uni["students"],
                email_local=local,
                country=uni["country"],
                payment_fp=payment_fp(rng) if rng.random() < 0.4 else None,
                signup_ip=rng.choice(self.nat) if rng.random() < 0.6 else homes[i],
                tz=tz,
                ips=[homes[i]],
            )
        pool = w.distill("reasoning") + w.distill("coding")
        weeks = int(w.scenario.duration_hours // 168) + 2
        self.homework = [rng.sample(pool, min(spec.homework_size, len(pool))) for _ in range(weeks)]
        self.pool = pool

    def mean_session_len(self) -> float:
        return 1 + self.spec.followup_share * 1.5

    def session(self, acct: Account, ts: int) -> None:
        rng, w, spec = self.rng, self.world, self.spec
        week = (ts - w.start_ms) // (7 * DAY_MS)
        p: Prompt = rng.choice(self.homework[week]) if rng.random() < 0.7 else rng.choice(self.pool)
        text = p.turns[0]
        prefix = w.phrases.student_prefixes.pick(rng)
        suffix = w.phrases.student_suffixes.pick(rng) if rng.random() < spec.show_work_share else ""
        turns = [prefix + text + suffix]
        if rng.random() < spec.followup_share:
            turns += [w.phrases.student_followups.pick(rng) for _ in range(rng.randint(1, 2))]
        ip = acct.ips[0] if rng.random() < spec.home_share else rng.choice(self.nat)
        sessions.chat(w, self.emitter, rng, acct, ts, turns, self._via(ip, ts), thinking=self._thinking(),
                      capability=p.capability, gap_s=90.0)
