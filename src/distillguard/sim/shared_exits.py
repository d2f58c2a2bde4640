"""Exits legitimate users and proxy networks share: carriers' NAT addresses and a residential proxy pool.

A residential proxy network routes through consumers' own devices, and a
mobile proxy through a carrier's NAT, so the same addresses carry ordinary
users' traffic and a campaign's. Pools are drawn on first use from the
scenario seed, the same for every group that asks.
"""

from __future__ import annotations

from distillguard.sim.network import AddressSpace
from distillguard.sim.schedule import rngs

CARRIER_NAT_SIZE = 24
"""Public addresses of one carrier's NAT."""

RESIDENTIAL_POOL_PER_COUNTRY = 120
"""Addresses per country of the shared residential proxy pool."""


class SharedExits:
    """The scenario's shared exit pools, by kind and country."""

    def __init__(self, net: AddressSpace, seed: int) -> None:
        self.net = net
        self.seed = seed
        self._pools: dict[tuple[str, str], list[str]] = {}

    def carrier_nat(self, country: str) -> list[str]:
        """The NAT addresses of ``country``'s mobile carrier."""
        return self._pool("carrier_nat", country)

    def residential(self, country: str) -> list[str]:
        """The residential proxy network's exits in ``country`` (consumers' home addresses)."""
        return self._pool("shared_residential", country)

    def pool(self, kind: str) -> list[str]:
        """Every exit of a kind (``carrier_nat`` or ``shared_residential``) across countries."""
        return [ip for country in sorted(self.net.countries) for ip in self._pool(kind, country)]

    def _pool(self, kind: str, country: str) -> list[str]:
        key = (kind, country)
        if key not in self._pools:
            _, nrng = rngs(self.seed, "shared-exit", kind, country)
            if kind == "carrier_nat":
                self._pools[key] = self.net.carrier_nat(nrng, country, CARRIER_NAT_SIZE)
            elif kind == "shared_residential":
                self._pools[key] = self.net.residential(nrng, country, RESIDENTIAL_POOL_PER_COUNTRY)
            else:
                raise ValueError(f"no shared exits of kind {kind!r}")
        return self._pools[key]
