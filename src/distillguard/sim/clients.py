"""API clients: user agents, JA4 TLS fingerprints, API format, message style."""

from __future__ import annotations

import random
from dataclasses import dataclass

from distillguard.sim.data import load_data


@dataclass(frozen=True, slots=True)
class Client:
    """One client installation: what it sends and how."""

    family: str
    user_agent: str
    ja4: str
    api_format: str  # "anthropic" | "openai"
    content: str  # "string" | "blocks" | "mixed"
    stream: float


def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    keys = sorted(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def families() -> dict[str, dict]:
    """Client families of clients.yaml."""
    return load_data("clients")["families"]


def make_client(
    rng: random.Random, family: str, api_format: str, version_index: int | None = None, ua_index: int | None = None
) -> Client:
    """A client of ``family`` speaking ``api_format``; newer versions are likelier.

    ``version_index`` and ``ua_index`` pin the version and user-agent template
    (an operator's tooling is one installation).
    """
    fam = families()[family]
    versions = fam["versions"]
    n = len(versions)
    if version_index is None:
        # recency-weighted: the last version is n times as likely as the first
        version_index = rng.choices(range(n), weights=range(1, n + 1))[0]
    version = versions[min(version_index, n - 1)]
    templates = fam["ua"]
    template = templates[ua_index % len(templates)] if ua_index is not None else rng.choice(templates)
    ua = template.replace("{v}", version)
    ja4s = fam["ja4"]
    ja4 = ja4s[min(len(ja4s) - 1, version_index * len(ja4s) // n)]
    return Client(family, ua, ja4, api_format, fam["content"], float(fam["stream"]))


def pick_client(rng: random.Random, mix: str, anthropic_share: float) -> Client:
    """A client drawn from a usage mix (``consumer``, ``agent``, ``server``, ...).

    The API format is drawn first (``anthropic_share``), then a family that can speak it.
    """
    fmt = "anthropic" if rng.random() < anthropic_share else "openai"
    weights = {
        name: w
        for name, w in load_data("clients")["mixes"][mix].items()
        if families()[name]["format"] in (fmt, "mixed")
    }
    return make_client(rng, _weighted(rng, weights), fmt)


def rotation_pool(rng: random.Random, size: int) -> list[str]:
    """User agents a UA-rotating operator cycles through (the SDKs and browsers clients.yaml lists)."""
    out: list[str] = []
    fams = families()
    names: list[str] = load_data("clients")["rotation"]
    for _ in range(size):
        fam = fams[rng.choice(names)]
        out.append(rng.choice(fam["ua"]).replace("{v}", rng.choice(fam["versions"])))
    return out
