"""Research labs running reasoning evals: chain-of-thought prompts, several samples, model and budget sweeps."""

from __future__ import annotations

from typing import Any

from distillguard.sim import sessions
from distillguard.sim.exchange import Req
from distillguard.sim.identity import Account
from distillguard.sim.populations.benchmarks import BenchmarkEvals
from distillguard.sim.scenario import ResearchEvalPopulation
from distillguard.sim.schedule import HOUR_MS

BUDGETS = (1024, 4000, 8000, 16_000, 32_000, 64_000)


class ResearchEvals(BenchmarkEvals):
    """Labs sweeping reasoning benchmarks across models, thinking budgets and samples."""

    capabilities = ("reasoning", "coding")
    spec: ResearchEvalPopulation

    def _models_at(self, ts: int) -> list[str]:
        w = self.world
        return [m.name for m in w.scenario.models if w.start_ms + int(m.released_hour * HOUR_MS) <= ts]

    def _job(self, job: dict[str, Any]) -> None:
        rng, w, spec = self.rng, self.world, self.spec
        acct: Account = job["acct"]
        ts = job["start"]
        cap = job["items"][0].capability
        cot = rng.random() < spec.cot_share
        wrapper = (w.phrases.answer_formats if cap == "reasoning" else w.phrases.code_wrappers).pick(rng)
        system = (w.phrases.eval_systems.pick(rng) or None) if cot else None
        models = self._models_at(ts) if rng.random() < spec.model_sweep_share else [self._model(ts)]
        if rng.random() < spec.budget_sweep_share:
            budgets: list[int | None] = [*sorted(rng.sample(BUDGETS, rng.randint(2, 4)))]
        else:
            budgets = [rng.choice(BUDGETS) if rng.random() < spec.thinking_share else None]
        samples = rng.randint(*spec.samples)
        per_item = len(models) * len(budgets) * samples
        items = job["items"][: max(3, len(job["items"]) // per_item)]
        ip = rng.choice(acct.ips)
        gap = 60_000 / job["rpm"]
        for _ in range(job["runs"]):
            for model in models:
                for budget in budgets:
                    temperature = None if budget else (0.0 if samples == 1 else rng.choice((0.6, 0.7, 1.0)))
                    for p in items:
                        text = wrapper.replace("{prompt}", p.turns[0])
                        for _ in range(samples):
                            req = Req(model, [{"role": "user", "content": text}], system, None, budget,
                                      (budget or 0) + rng.choice((4096, 8192, 16_384)), temperature)
                            resp = sessions.respond(w, rng, p.turns[0], cap, budget, "steps" if cot else None)
                            self.emitter.emit(acct, ts, req, resp, ip)
                            ts += int(rng.expovariate(1 / gap)) + 50
            ts += int(rng.uniform(5, 60) * 60_000)
