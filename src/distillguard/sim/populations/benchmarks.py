"""Researchers running one benchmark a few times over a few hours, then stopping."""

from __future__ import annotations

from typing import Any

import numpy as np

from distillguard.sim import sessions
from distillguard.sim.corpus import Prompt
from distillguard.sim.exchange import Req
from distillguard.sim.identity import Account, payment_fp
from distillguard.sim.populations.base import LegitPopulation
from distillguard.sim.scenario import BenchmarkPopulation
from distillguard.sim.schedule import HOUR_MS, volume_weights


class BenchmarkEvals(LegitPopulation):
    """Researchers running one benchmark a few times over a few hours, then stopping."""

    mix = "research"
    capabilities: tuple[str, ...] = ("reasoning", "coding", "tool_use")
    spec: BenchmarkPopulation

    def _build(self) -> None:
        rng, w, spec = self.rng, self.world, self.spec
        people = w.people
        lab: dict[str, Any] | None = None
        for i in range(spec.accounts):
            if i % spec.lab_size == 0 or lab is None:
                if rng.random() < 0.7:
                    uni = people.university(rng)
                    domain, country, cidr = uni["domain"], uni["country"], uni["cidr"]
                else:
                    domain, country, cidr = people.company_domain(rng), people.country(rng, spec.countries), None
                if cidr is None or rng.random() < spec.cloud_share:
                    ips = w.net.cloud(self.nrng, rng.randint(1, 3))
                else:
                    ips = w.net.university(self.nrng, cidr, rng.randint(1, 3))
                lab = {"domain": domain, "country": country, "ips": ips, "pf": payment_fp(rng)}
            self._account(
                rng,
                created_ms=self._created(rng),
                email_domain=lab["domain"],
                email_local=people.person_local(rng),
                country=lab["country"],
                payment_fp=lab["pf"] if rng.random() < 0.8 else payment_fp(rng),
                signup_ip=lab["ips"][0],
                tz=people.tz(rng, lab["country"]),
                ips=lab["ips"],
            )
        files: dict[str, list[Prompt]] = {}
        distill = w.corpus.select(kind="distill")
        benchmarks = [p for p in distill if p.capability in self.capabilities] or distill
        for p in benchmarks:
            files.setdefault(p.file, []).append(p)
        self.files = files
        self._plan_jobs()

    def _plan_jobs(self) -> None:
        rng, w, spec = self.rng, self.world, self.spec
        vols = volume_weights(self.nrng, len(self.accounts), self.spec.volume_sigma) * spec.exchanges
        names = sorted(self.files)
        self.jobs: dict[int, list[dict[str, Any]]] = {}
        span = w.end_ms - w.start_ms
        for acct, vol in zip(self.accounts, vols.tolist()):
            n_jobs = 1 if vol < 400 or rng.random() < 0.6 else 2
            for _ in range(n_jobs):
                runs = rng.randint(*spec.runs)
                fname = rng.choice(names)
                items = self.files[fname]
                n = max(5, min(len(items), round(vol / (n_jobs * runs))))
                first = rng.randrange(len(items))
                rpm = rng.uniform(*spec.requests_per_minute)
                length = int(runs * n / rpm * 60_000) + runs * 30 * 60_000
                start = w.start_ms + int(rng.random() * max(span - length, span * 0.1))
                job = {"acct": acct, "items": [items[(first + k) % len(items)] for k in range(n)], "runs": runs,
                       "rpm": rpm, "start": max(start, acct.created_ms)}
                self.jobs.setdefault((job["start"] - w.start_ms) // HOUR_MS, []).append(job)

    def _rates(self) -> np.ndarray:
        return np.zeros(len(self.accounts))

    def run_hour(self, hour: int) -> None:
        for job in self.jobs.get(hour, ()):
            self._job(job)

    def _job(self, job: dict[str, Any]) -> None:
        rng, w, spec = self.rng, self.world, self.spec
        acct: Account = job["acct"]
        cap = job["items"][0].capability
        if cap == "coding":
            wrapper, system = w.phrases.code_wrappers.pick(rng), None
        elif cap == "reasoning":
            wrapper = w.phrases.answer_formats.pick(rng)
            sys_pool = w.phrases.reasoning_systems
            system = rng.choice(sys_pool) if sys_pool and rng.random() < 0.25 else (w.phrases.eval_systems.pick(rng) or None)
        else:
            wrapper, system = "{prompt}", None
        thinking = rng.choice((8000, 16_000, 32_000)) if rng.random() < spec.thinking_share else None
        temperature = rng.choice((0.0, 0.0, 0.6, 0.7, 1.0)) if not thinking else None
        ip = rng.choice(acct.ips)
        ts = job["start"]
        gap = 60_000 / job["rpm"]
        for _ in range(job["runs"]):
            model = self._model(ts)
            via = sessions.Via(ip=lambda: ip, model=lambda _t, m=model: m)
            for p in job["items"]:
                text = wrapper.replace("{prompt}", p.turns[0])
                if cap == "tool_use" and p.tools:
                    sessions.tool_call(w, self.emitter, rng, acct, ts, text, list(p.tools), via, thinking=thinking,
                                       complete=False, temperature=temperature)
                else:
                    req = Req(model, [{"role": "user", "content": text}], system, None, thinking,
                              (thinking or 0) + 4096, temperature)
                    self.emitter.emit(acct, ts, req, sessions.respond(w, rng, p.turns[0], cap, thinking), ip)
                ts += int(rng.expovariate(1 / gap)) + 50
            ts += int(rng.uniform(5, 60) * 60_000)
