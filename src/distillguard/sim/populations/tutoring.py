"""An education product relaying its students' maths questions: every request asks for step-by-step explanations."""

from __future__ import annotations

from distillguard.sim import sessions
from distillguard.sim.identity import DAY_MS, Account, payment_fp, rand_id
from distillguard.sim.populations.base import LegitPopulation, weighted_choice
from distillguard.sim.scenario import TutoringPopulation


class Tutoring(LegitPopulation):
    """Verified business accounts, months old, relaying students' questions and their follow-ups."""

    daily = "student"
    weekly = "student"
    mix = "server"
    spec: TutoringPopulation

    def _build(self) -> None:
        rng, w, spec = self.rng, self.world, self.spec
        people, ph = w.people, w.phrases
        lo, hi = spec.age_days
        self.system: dict[str, str] = {}
        i = 0
        while i < spec.accounts:
            size = min(rng.randint(1, spec.accounts_per_product), spec.accounts - i)
            country = people.country(rng, spec.countries)
            product = rng.choice(ph.tutor_products)
            domain = f"{product.lower()}.{rng.choice(('com', 'io', 'app', 'org'))}"
            org, card = rand_id(rng, "org_", 12), payment_fp(rng)
            backend = w.net.cloud(self.nrng, rng.randint(1, 4))
            system = ph.tutor_systems.pick(rng).replace("{product}", product).replace("{grade}", rng.choice(ph.grades))
            for _ in range(size):
                acct = self._account(
                    rng,
                    category=weighted_choice(rng, spec.categories),
                    verification="business",
                    created_ms=w.start_ms - int(rng.uniform(lo, hi) * DAY_MS),
                    email_domain=domain,
                    email_local=rng.choice(("api", "platform", "eng", "backend", "ml", "dev")),
                    country=country,
                    payment_fp=card,
                    signup_ip=backend[0],
                    tz=people.tz(rng, country),
                    org_id=org,
                    ips=backend,
                )
                self.system[acct.id] = system
                i += 1
        self.maths = w.distill("reasoning")
        self.coding = w.distill("coding")

    def mean_session_len(self) -> float:
        return 1 + self.spec.followup_share * (1 + self.spec.max_followups) / 2

    def session(self, acct: Account, ts: int) -> None:
        rng, w, spec = self.rng, self.world, self.spec
        coding = rng.random() < spec.coding_share
        problem = rng.choice(self.coding if coding else self.maths).turns[0]
        request = w.phrases.tutor_requests.pick(rng)
        turns = [request.replace("{prompt}", problem).replace("{grade}", rng.choice(w.phrases.grades))]
        if rng.random() < spec.followup_share:
            turns += [w.phrases.student_followups.pick(rng) for _ in range(rng.randint(1, spec.max_followups))]
        sessions.chat(w, self.emitter, rng, acct, ts, turns, self._via(rng.choice(acct.ips), ts),
                      system=self.system[acct.id], thinking=self._thinking(),
                      capability="coding" if coding else "reasoning", max_tokens=rng.choice((2048, 4096, 8192)),
                      gap_s=50.0, visible="steps")
