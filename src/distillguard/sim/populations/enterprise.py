"""Enterprise batch jobs: one template per account, huge volume, cloud NAT addresses."""

from __future__ import annotations

from typing import Any

import numpy as np

from distillguard.sim.exchange import Req
from distillguard.sim.identity import Account, account_age_ms, payment_fp, rand_id
from distillguard.sim.populations.base import LegitPopulation, weighted_choice
from distillguard.sim.responses import Resp
from distillguard.sim.scenario import EnterprisePopulation
from distillguard.sim.schedule import rhythm


class EnterpriseBatch(LegitPopulation):
    """Batch jobs: one template per account, huge volume, cloud NAT addresses."""

    mix = "server"
    spec: EnterprisePopulation

    def _build(self) -> None:
        rng, w, spec = self.rng, self.world, self.spec
        people = w.people
        self.template: dict[str, dict[str, Any]] = {}
        nightly: list[bool] = []
        i = 0
        while i < spec.accounts:
            size = min(rng.randint(1, spec.accounts_per_org), spec.accounts - i)
            country = people.country(rng, spec.countries)
            category = weighted_choice(rng, spec.categories)
            domain, org, pf = people.company_domain(rng), rand_id(rng, "org_", 12), payment_fp(rng)
            provider = w.net.intel.all_cloud()[int(self.nrng.integers(0, len(w.net.intel.cloud)))]
            nat = w.net.cloud(self.nrng, rng.randint(1, 4), provider)
            for _ in range(size):
                acct = self._account(
                    rng,
                    category=category,
                    verification="business" if rng.random() < 0.85 else "email",
                    created_ms=w.start_ms - account_age_ms(rng, 30, 1100),
                    email_domain=domain,
                    email_local=rng.choice(("api", "ml-ops", "data", "platform", "ai", "eng", "batch")) + (
                        f"-{rng.randint(1, 9)}" if rng.random() < 0.4 else ""),
                    country=country,
                    payment_fp=pf,
                    signup_ip=nat[0],
                    tz=people.tz(rng, country),
                    org_id=org,
                    ips=nat,
                )
                tpl = dict(rng.choice(w.phrases.enterprise_templates))
                tpl["system"] = tpl["system"].replace("{lang}", rng.choice(w.phrases.enterprise_langs))
                tpl["max_tokens"] = rng.choice((256, 512, 1024))
                self.template[acct.id] = tpl
                nightly.append(rng.random() < spec.nightly_share)
                i += 1
        self.nightly = np.array(nightly, dtype=bool)

    def _rhythm(self, t: int) -> np.ndarray:
        night = rhythm("nightly", "nightly", t, self.tz)
        day = rhythm("business", "business", t, self.tz)
        return np.where(self.nightly, night, day)  # type: ignore[arg-type]

    def session(self, acct: Account, ts: int) -> None:
        rng, w = self.rng, self.world
        tpl = self.template[acct.id]
        doc = w.phrases.documents[tpl["doc"]].pick(rng)
        doc = doc.replace("{num}", str(rng.randint(1000, 99999))).replace("{num1}", str(rng.randint(1, 9))).replace(
            "{num2}", str(rng.randint(0, 9)))
        req = Req(self._model(ts), [{"role": "user", "content": tpl["user"].replace("{doc}", doc)}], tpl["system"],
                  max_tokens=tpl["max_tokens"], temperature=0.0)
        resp = Resp(w.responder.enterprise(tpl["output"], doc, rng))
        self.emitter.emit(acct, ts, req, resp, rng.choice(acct.ips))
