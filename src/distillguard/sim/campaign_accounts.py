"""A campaign's accounts: when they were opened (signup pattern), their identities and the client they carry."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np

from distillguard.sim.clients import Client, families, make_client
from distillguard.sim.exchange import GATEWAY_EPOCH, GATEWAY_ISO
from distillguard.sim.identity import DAY_MS, Account, payment_fp, rand_id, verification_for
from distillguard.sim.operators import Operator
from distillguard.sim.populations.base import weighted_choice
from distillguard.sim.scenario import Campaign
from distillguard.sim.schedule import HOUR_MS
from distillguard.sim.world import World

_COUNTERPART = {  # the same vendor's SDK for the other API format
    "openai-python": "anthropic-python",
    "anthropic-python": "openai-python",
    "openai-js": "anthropic-typescript",
    "anthropic-typescript": "openai-js",
    "java-sdk": "openai-python",
    "claude-code": "openai-js",
    "cursor": "anthropic-typescript",
    "zed": "openai-js",
}
BROWSERS = ("chrome", "firefox", "safari")
ROTATING = ("openai-python", "anthropic-python", "httpx", "aiohttp", "requests", "litellm", "langchain", "go-http",
            "curl", "openai-js", "anthropic-typescript", "chrome", "firefox", "safari")
"""Client families an identity-rotating operator gives its accounts."""


class CampaignAccounts:
    """Opens a campaign's accounts and says when each is active.

    Draws from the campaign's own random streams, in the order the campaign
    gives them, so that a campaign's traffic depends only on its seed and spec.
    """

    def __init__(self, spec: Campaign, world: World, op: Operator, exits: list[str], client_family: str,
                 rng: random.Random, nrng: np.random.Generator, t0: int, t1: int) -> None:
        self.spec, self.world, self.op, self.exits = spec, world, op, exits
        self.client_family = client_family
        self.rng, self.nrng = rng, nrng
        self.t0, self.t1 = t0, t1

    def open(self) -> tuple[list[Account], np.ndarray, np.ndarray]:
        """The accounts, and the times (ms) each is active from and to."""
        rng, w, spec, op = self.rng, self.world, self.spec, self.op
        n = spec.accounts
        life = spec.account_lifetime_hours
        if life is not None:
            span = max(0, self.t1 - self.t0 - int(life * HOUR_MS))
            active_from = self.t0 + (self.nrng.random(n) * span).astype(np.int64)
            active_to = active_from + int(life * HOUR_MS)
        else:
            active_from = np.full(n, self.t0, dtype=np.int64)
            active_to = np.full(n, self.t1, dtype=np.int64)
        people, signup = w.people, spec.signup
        planned = None if signup.pattern == "burst" else self._planned(n)
        if planned is not None:
            active_from = np.maximum(active_from, planned)
            if life is not None:
                active_to = active_from + int(life * HOUR_MS)
        bought = signup.pattern == "bought"
        accounts: list[Account] = []
        for i in range(n):
            country = people.country(rng, None if bought else signup.countries)
            if planned is not None:
                created = int(planned[i])
            elif "aged_accounts" in spec.evasions:
                created = w.start_ms - int(rng.uniform(60, 400) * DAY_MS)
            elif life is not None:
                created = int(active_from[i]) - int(rng.uniform(1, 48) * HOUR_MS)
            else:
                end = self.t0 - int(signup.lead_hours * HOUR_MS)
                created = end - int(rng.random() * signup.burst_hours * HOUR_MS)
            domain = people.webmail(rng, country) if bought else self._email_domain(rng, country)
            client = self.client(rng)
            ip = self.exits[int(rng.random() * len(self.exits))]
            acct_id = rand_id(rng, "acct_")
            category = weighted_choice(rng, signup.categories)
            if bought:  # the first owner's traits: a real name, own card, home address
                local, card = people.person_local(rng), payment_fp(rng)
                verification = verification_for(rng, category)
                signup_ip = w.net.residential(self.nrng, country, 1)[0]
            else:
                local, card = self._email_local(rng), op.card(rng, signup.payment_fingerprints)
                verification = weighted_choice(rng, signup.verification)
                signup_ip = ip
            accounts.append(Account(
                id=acct_id,
                created_ms=created,
                category=category,
                email_domain=domain,
                email_local=local,
                country=country,
                payment_fp=card,
                signup_ip=signup_ip,
                verification=verification,
                group=spec.id,
                label="attack",
                campaign=spec.id,
                tz=people.tz(rng, country),
                client=client,
                keys=(rand_id(rng, "key_", 16),),
                gateway=GATEWAY_EPOCH if rng.random() < 0.03 else GATEWAY_ISO,
                ips=[ip],
            ))
        return accounts, active_from, active_to

    def _planned(self, n: int) -> np.ndarray:
        """Creation times (ms, sorted) of waves, a trickle, or aged or bought accounts."""
        signup, nrng = self.spec.signup, self.nrng
        lead = self.t0 - int(signup.lead_hours * HOUR_MS)
        if signup.pattern == "waves":
            centers = np.sort(lead + nrng.random(signup.waves) * max(1, self.t1 - lead) * 0.8).astype(np.int64)
            created = centers[nrng.integers(0, signup.waves, n)] + (
                nrng.random(n) * signup.burst_hours * HOUR_MS).astype(np.int64)
        elif signup.pattern == "trickle":
            created = lead + (nrng.random(n) * max(1, self.t1 - HOUR_MS - lead)).astype(np.int64)
        else:
            days = (60, 400) if signup.pattern == "aged" else (30, 1200)
            created = self.world.start_ms - (nrng.uniform(*days, n) * DAY_MS).astype(np.int64)
        return np.sort(created)

    def _email_domain(self, rng: random.Random, country: str) -> str:
        signup, people = self.spec.signup, self.world.people
        r = rng.random()
        if r < signup.disposable_share:
            return rng.choice(people.disposable)
        if r < signup.disposable_share + signup.own_domain_share:
            return self.op.domain
        return people.webmail(rng, country)

    def _email_local(self, rng: random.Random) -> str:
        style = self.spec.signup.email_style
        op = self.op
        if style == "patterned":
            num = op.next_number
            op.next_number += 1
            return f"{op.prefix}{op.sep}{num:03d}"
        if style == "random":
            return "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=rng.randint(8, 12)))
        people = self.world.people
        return f"{rng.choice(people.first)}{rng.choice(('', '.', '_'))}{rng.choice(people.last)}{rng.randint(1, 999)}"

    def client(self, rng: random.Random) -> Client:
        """The client an account's requests carry, by the campaign's identity (default: the operator's SDK)."""
        spec, op = self.spec, self.op
        fmt = spec.api_format if spec.api_format != "mixed" else rng.choice(("anthropic", "openai"))
        identity = spec.identity or "sdk"
        if identity == "browser":
            return make_client(rng, spec.client if spec.client in BROWSERS else rng.choice(BROWSERS), fmt)
        if identity == "rotating":
            names = sorted(f for f in ROTATING if families()[f]["format"] in ("mixed", fmt))
            return make_client(rng, rng.choice(names), fmt)
        actual = op.client_family if identity == "spoofed" else self.client_family
        if families()[actual]["format"] not in ("mixed", fmt):
            actual = _COUNTERPART.get(actual, "httpx")
        client = make_client(rng, actual, fmt, op.version_index, op.version_index)
        if identity == "sdk":
            return client
        claimed = spec.client or "claude-code"
        if claimed == actual:  # the stack underneath is never the one claimed
            client = make_client(rng, "go-http", fmt, op.version_index, op.version_index)
        shown = make_client(rng, claimed, fmt)
        return replace(shown, ja4=client.ja4, content=client.content, stream=client.stream)
