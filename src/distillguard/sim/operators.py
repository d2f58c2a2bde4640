"""Distillation operators: the infrastructure (client, e-mail habits, cards, exit pools) one operator reuses."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from distillguard.sim.clients import rotation_pool
from distillguard.sim.data import load_data
from distillguard.sim.identity import payment_fp
from distillguard.sim.schedule import rngs
from distillguard.sim.world import World

_PREFIXES = ("ml.team", "research.lab", "ai.study", "data.team", "nlp.group", "lab.user", "dev", "aiteam",
             "project", "eval.bot", "proj", "labmember", "student", "rs")
_SEPS = ("", "", ".", "_", "-")


@dataclass(slots=True)
class Operator:
    """Infrastructure one operator reuses across its campaigns."""

    id: str
    client_family: str
    version_index: int
    prefix: str
    sep: str
    domain: str
    temperature: float | None
    cards: list[str] = field(default_factory=list)
    next_number: int = 1
    pools: dict[tuple[str, int], list[str]] = field(default_factory=dict)
    ua_pool: list[str] = field(default_factory=list)

    def card(self, rng: random.Random, k: int) -> str:
        """One of the operator's first ``k`` payment cards (created on demand)."""
        while len(self.cards) < k:
            self.cards.append(payment_fp(rng))
        return self.cards[int(rng.random() * k)]


class Operators:
    """Operators by id, created on first use from a seed derived from the id."""

    def __init__(self, world: World, seed: int) -> None:
        self.world = world
        self.seed = seed
        self._ops: dict[str, Operator] = {}

    def get(self, op_id: str) -> Operator:
        """The operator ``op_id``."""
        if op_id not in self._ops:
            rng, _ = rngs(self.seed, "operator", op_id)
            mix = load_data("clients")["mixes"]["attacker"]
            fams = sorted(mix)
            self._ops[op_id] = Operator(
                id=op_id,
                client_family=rng.choices(fams, weights=[mix[f] for f in fams])[0],
                version_index=rng.randint(0, 3),
                prefix=rng.choice(_PREFIXES),
                sep=rng.choice(_SEPS),
                domain=self.world.people.company_domain(rng),
                temperature=rng.choice((None, 0.6, 0.7, 1.0)),
                ua_pool=rotation_pool(rng, 40),
            )
        return self._ops[op_id]

    def pool(self, op: Operator, kind: str, size: int) -> list[str]:
        """The operator's proxy exits of a kind (shared by its campaigns)."""
        key = (kind, size)
        if key not in op.pools:
            _, nrng = rngs(self.seed, "proxy", op.id, kind, str(size))
            net = self.world.net
            if kind == "residential":
                countries = sorted(net.countries)
                per = max(1, size // len(countries))
                op.pools[key] = [ip for c in countries for ip in net.residential(nrng, c, per)]
            elif kind == "datacenter":
                op.pools[key] = net.datacenter(nrng, size, blocks=max(2, size // 64))
            elif kind == "reseller":
                op.pools[key] = net.datacenter(nrng, min(size, 12), blocks=2)
            elif kind == "vpn":
                op.pools[key] = net.vpn(nrng, size)
            elif kind == "tor":
                op.pools[key] = net.tor(nrng, size)
            else:
                shared = self.world.shared.pool(kind)
                picked = nrng.choice(len(shared), size=min(size, len(shared)), replace=False)
                op.pools[key] = [shared[int(i)] for i in sorted(picked)]
        return op.pools[key]
