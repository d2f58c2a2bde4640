"""What every legitimate population shares: accounts, per-account session rates, model and thinking choices."""

from __future__ import annotations

import itertools
import random
from typing import Any

import numpy as np

from distillguard.sim import sessions
from distillguard.sim.clients import pick_client
from distillguard.sim.exchange import GATEWAY_EPOCH, GATEWAY_ISO, GATEWAY_OFFSET, Emitter, Sink
from distillguard.sim.group import Group
from distillguard.sim.identity import Account, account_age_ms, rand_id, verification_for
from distillguard.sim.scenario import Population
from distillguard.sim.schedule import HOUR_MS, rhythm, rngs, session_starts, volume_weights
from distillguard.sim.world import World

THINKING_BUDGETS = (1024, 2048, 4000, 8000, 10_000, 16_000, 32_000)
THINKING_CUM = tuple(itertools.accumulate((10, 20, 20, 20, 10, 12, 8)))


def weighted_choice(rng: random.Random, weights: dict[str, float]) -> str:
    """One key of ``weights``, drawn in proportion to its weight (keys taken in sorted order)."""
    keys = sorted(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


class LegitPopulation(Group):
    """A legitimate population whose sessions start as per-account Poisson processes."""

    daily = "consumer"
    weekly = "consumer"
    mix = "consumer"

    def __init__(self, spec: Population, world: World, seed: int, sink: Sink) -> None:
        self.spec = spec
        self.world = world
        self.name = spec.label
        self.label = "legit"
        self.campaign = None
        self.rng, self.nrng = rngs(seed, "population", self.name)
        self.emitter = Emitter(sink, world.end_ms, random.Random(self.rng.getrandbits(64)), spec.errors)
        self.model_names = sorted(spec.models)
        self.model_cum = list(itertools.accumulate(spec.models[m] for m in self.model_names))
        self.accounts = []
        self._build()
        self._hours = (world.end_ms - world.start_ms) / HOUR_MS
        self.tz = np.array([a.tz for a in self.accounts], dtype=np.float64)
        self.created = np.array([a.created_ms for a in self.accounts], dtype=np.int64)
        self.rates = self._rates()

    # -- accounts ---------------------------------------------------------
    def _build(self) -> None:
        raise NotImplementedError

    def _gateway(self, rng: random.Random) -> int:
        r = rng.random()
        share = self.spec.epoch_ms_share
        return GATEWAY_EPOCH if r < share else (GATEWAY_OFFSET if r < share + 0.01 else GATEWAY_ISO)

    def _account(self, rng: random.Random, **kw: Any) -> Account:
        category = kw.pop("category", None) or weighted_choice(rng, self.spec.categories)
        acct = Account(
            id=rand_id(rng, "acct_"),
            category=category,
            verification=kw.pop("verification", None) or verification_for(rng, category),
            group=self.name,
            label="legit",
            campaign=None,
            client=kw.pop("client", None) or pick_client(rng, self.mix, self.spec.anthropic_share),
            keys=tuple(rand_id(rng, "key_", 16) for _ in range(1 + (rng.random() < 0.25) + (rng.random() < 0.05))),
            gateway=self._gateway(rng),
            **kw,
        )
        self.accounts.append(acct)
        return acct

    def _created(self, rng: random.Random, new_share: float = 0.0) -> int:
        w = self.world
        if rng.random() < new_share:
            return w.start_ms + int(rng.random() * (w.end_ms - w.start_ms) * 0.8)
        return w.start_ms - account_age_ms(rng)

    # -- volume -----------------------------------------------------------
    def mean_session_len(self) -> float:
        """Mean exchanges per session (to turn the exchange target into session rates)."""
        return 1.0

    def _rates(self) -> np.ndarray:
        n = len(self.accounts)
        sessions_total = self.spec.exchanges / max(self.mean_session_len(), 1e-9)
        w = volume_weights(self.nrng, n, self.spec.volume_sigma)
        return sessions_total * w / max(self._hours, 1e-9)

    def _rhythm(self, t: int) -> np.ndarray:
        return rhythm(self.daily, self.weekly, t, self.tz)  # type: ignore[return-value]

    def run_hour(self, hour: int) -> None:
        w = self.world
        t = w.start_ms + hour * HOUR_MS
        frac = min(1.0, (w.end_ms - t) / HOUR_MS)
        lam = self.rates * self._rhythm(t + HOUR_MS // 2) * frac
        lam[self.created > t] = 0.0
        idx, starts = session_starts(self.nrng, lam, t)
        for i, s in zip(idx.tolist(), starts.tolist()):
            if s < w.end_ms:
                self.session(self.accounts[i], s)

    def session(self, acct: Account, ts: int) -> None:
        """Generate one session of ``acct`` starting at ``ts``."""
        raise NotImplementedError

    # -- helpers ----------------------------------------------------------
    def _model(self, ts: int) -> str:
        return self.world.models.pick(self.rng, self.model_names, self.model_cum, ts)

    def _thinking(self) -> int | None:
        if self.rng.random() < self.spec.thinking_share:
            return self.rng.choices(THINKING_BUDGETS, cum_weights=THINKING_CUM)[0]
        return None

    def _via(self, ip: str, ts: int) -> sessions.Via:
        model = self._model(ts)
        return sessions.Via(ip=lambda: ip, model=lambda _t: model)
