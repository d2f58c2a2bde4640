"""Families: every campaign and every hard negative is a draw from a parameterised family.

:data:`ATTACK_FAMILIES` and :data:`NEGATIVE_FAMILIES` name the families;
:func:`family_scenario` draws a scenario from some of them with a seeded
random stream. Each family's draws depend only on the seed, the scale and the
family (not on which other families are in the scenario), so a family held out
of one scenario is drawn the same way in another.

In the output, an attack account's campaign id is ``<family>-<n>`` and a hard
negative's population (``group``) is its family name; ``labels.jsonl`` carries
a ``family`` field for both.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from distillguard.core.errors import ConfigError
from distillguard.sim.draw import Draw
from distillguard.sim.family_attacks import ATTACK_DRAWS
from distillguard.sim.family_negatives import NEGATIVE_DRAWS
from distillguard.sim.scenario import Campaign, LogFields, ModelRelease, Population, Scenario
from distillguard.sim.schedule import derive_seed

CAMPAIGNS_PER_FAMILY = 2
"""Campaigns drawn from each attack family unless told otherwise."""

BACKGROUND = "background"
"""Name and family of the ordinary users a family scenario adds."""

NEW_MODEL = "atlas-3-pro"
"""The model released during a family scenario (pivoting campaigns move to it)."""


@dataclass(frozen=True, slots=True)
class AttackFamily:
    """A distribution over distillation campaigns."""

    name: str
    description: str
    draw: Callable[[Draw], Campaign]


@dataclass(frozen=True, slots=True)
class NegativeFamily:
    """A distribution over legitimate populations that look a little like distillation."""

    name: str
    description: str
    draw: Callable[[Draw], Population]


def _doc(fn: Callable[..., object]) -> str:
    return (fn.__doc__ or "").strip().splitlines()[0]


ATTACK_FAMILIES: dict[str, AttackFamily] = {
    name: AttackFamily(name, _doc(fn), fn) for name, fn in ATTACK_DRAWS.items()
}
"""Attack families by name."""

NEGATIVE_FAMILIES: dict[str, NegativeFamily] = {
    name: NegativeFamily(name, _doc(fn), fn) for name, fn in NEGATIVE_DRAWS.items()
}
"""Hard-negative families by name."""


def _draw(seed: int, kind: str, family: str, index: int, scale: float, hours: float, released: float) -> Draw:
    rng = random.Random(derive_seed(seed, "family", kind, family, str(index)))
    return Draw(rng, index, scale, hours, NEW_MODEL, released)


def _known(names: list[str], table: Mapping[str, object], what: str) -> None:
    unknown = [n for n in names if n not in table]
    if unknown:
        raise ConfigError(f"{what}: unknown famil{'ies' if len(unknown) > 1 else 'y'} {', '.join(unknown)} "
                          f"(known: {', '.join(table)})")
    if len(set(names)) != len(names):
        raise ConfigError(f"{what}: a family is named twice")


def split_names(text: str | None) -> list[str]:
    """Family names from a comma-separated list (``None``: none)."""
    return [n.strip() for n in (text or "").split(",") if n.strip()]


def family_scenario(
    attack: list[str],
    negatives: list[str],
    *,
    seed: int,
    scale: float = 1.0,
    campaigns_per_family: int = CAMPAIGNS_PER_FAMILY,
    name: str = "families",
    duration_hours: float = 72.0,
    background: float = 1.0,
    log: LogFields | None = None,
) -> Scenario:
    """A scenario of ``campaigns_per_family`` campaigns drawn from each attack family and one
    population drawn from each negative family.

    ``scale`` multiplies accounts and exchanges (1.0: tens of thousands of
    exchanges for a handful of families). ``background`` adds ordinary chat
    users (a ``consumer-chat`` draw named and labelled ``background``) at that
    scale, 0 for none. A new model is released a third of the way through, for
    campaigns that pivot. ``log`` says which fields the logs keep (default: all).
    """
    _known(attack, ATTACK_FAMILIES, "attack")
    _known(negatives, NEGATIVE_FAMILIES, "negatives")
    if scale <= 0:
        raise ConfigError("scale: must be > 0")
    if background < 0:
        raise ConfigError("background: must be >= 0")
    if campaigns_per_family < 1:
        raise ConfigError("campaigns_per_family: must be >= 1")
    released = round(duration_hours / 3, 1)
    populations = [
        NEGATIVE_FAMILIES[f].draw(_draw(seed, "negative", f, 1, scale, duration_hours, released)) for f in negatives
    ]
    if background:
        ordinary = NEGATIVE_FAMILIES["consumer-chat"].draw(
            _draw(seed, "background", BACKGROUND, 1, scale * background, duration_hours, released))
        populations.append(ordinary.model_copy(update={"name": BACKGROUND, "family": BACKGROUND}))
    campaigns = [
        ATTACK_FAMILIES[f].draw(_draw(seed, "attack", f, i, scale, duration_hours, released))
        for f in attack
        for i in range(1, campaigns_per_family + 1)
    ]
    return Scenario(
        name=name,
        description=f"families: attack {', '.join(attack) or '-'}; negatives {', '.join(negatives) or '-'}",
        seed=seed,
        start=datetime(2026, 3, 2, tzinfo=UTC),
        duration_hours=duration_hours,
        models=[ModelRelease(name="atlas-2-pro", released_hour=0.0, adoption=0.3),
                ModelRelease(name="atlas-2-fast", released_hour=0.0, adoption=0.3),
                ModelRelease(name=NEW_MODEL, released_hour=released, adoption=0.3)],
        populations=populations,
        campaigns=campaigns,
        log=log or LogFields(),
    )
