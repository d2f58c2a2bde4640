"""Translation and localisation pipelines: documents and user texts into other languages, often in nightly batches."""

from __future__ import annotations

import numpy as np

from distillguard.sim.exchange import Req
from distillguard.sim.identity import Account, account_age_ms, payment_fp, rand_id
from distillguard.sim.populations.base import LegitPopulation, weighted_choice
from distillguard.sim.responses import Resp
from distillguard.sim.scenario import TranslationPopulation
from distillguard.sim.schedule import rhythm

BATCH_CHUNKS = (2, 24)
"""Chunks one batch session translates."""


class Translation(LegitPopulation):
    """Pipelines translating documents and user texts; batch accounts run at night."""

    mix = "server"
    spec: TranslationPopulation

    def _build(self) -> None:
        rng, w, spec = self.rng, self.world, self.spec
        people, ph = w.people, w.phrases
        self.system: dict[str, str] = {}
        batch: list[bool] = []
        i = 0
        while i < spec.accounts:
            size = min(rng.randint(1, spec.accounts_per_org), spec.accounts - i)
            country = people.country(rng, spec.countries)
            domain, org, card = people.company_domain(rng), rand_id(rng, "org_", 12), payment_fp(rng)
            nat = w.net.cloud(self.nrng, rng.randint(1, 3))
            for _ in range(size):
                acct = self._account(
                    rng,
                    category=weighted_choice(rng, spec.categories),
                    verification="business" if rng.random() < 0.7 else "email",
                    created_ms=w.start_ms - account_age_ms(rng, 20, 900),
                    email_domain=domain,
                    email_local=rng.choice(("l10n", "i18n", "translate", "content", "api", "localization")),
                    country=country,
                    payment_fp=card,
                    signup_ip=nat[0],
                    tz=people.tz(rng, country),
                    org_id=org,
                    ips=nat,
                )
                lang = ph.language_names[weighted_choice(rng, spec.target_languages)]
                self.system[acct.id] = ph.translation_systems.pick(rng).replace("{lang}", lang)
                batch.append(rng.random() < spec.batch_share)
                i += 1
        self.batch = np.array(batch, dtype=bool)
        self.batch_of = {a.id: b for a, b in zip(self.accounts, batch)}

    def mean_session_len(self) -> float:
        return 1 + self.spec.batch_share * (sum(BATCH_CHUNKS) / 2 - 1)

    def _rhythm(self, t: int) -> np.ndarray:
        night = rhythm("nightly", "nightly", t, self.tz)
        day = rhythm("business", "business", t, self.tz)
        return np.where(self.batch, night, day)

    def _document(self) -> str:
        rng, w = self.rng, self.world
        if rng.random() < 0.5:
            return rng.choice(w.legit_chat).turns[0][:3000]
        kind = rng.choice(sorted(w.phrases.documents))
        return w.phrases.documents[kind].pick(rng).replace("{num}", str(rng.randint(1000, 99999))).replace(
            "{num1}", str(rng.randint(1, 9))).replace("{num2}", str(rng.randint(0, 9)))

    def session(self, acct: Account, ts: int) -> None:
        rng, w = self.rng, self.world
        chunks = rng.randint(*BATCH_CHUNKS) if self.batch_of[acct.id] else 1
        model = self._model(ts)
        for _ in range(chunks):
            doc = self._document()
            text = w.phrases.translation_requests.pick(rng).replace("{doc}", doc)
            req = Req(model, [{"role": "user", "content": text}], self.system[acct.id],
                      max_tokens=rng.choice((1024, 2048, 4096)), temperature=rng.choice((0.0, 0.2, 0.3)))
            ts = self.emitter.emit(acct, ts, req, Resp(w.responder.body(doc, "general", rng)), rng.choice(acct.ips))
            ts += int(rng.uniform(0.2, 3.0) * 1000)
