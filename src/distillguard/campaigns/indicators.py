"""Per-account infrastructure, metadata and behaviour indicators, grouped in families.

An indicator is a value an account shows (an address, a client, a template,
a payment fingerprint, a signup burst, an active ten-minute slot, an indicator
a partner reported in the ``partner_indicators`` table, a request shape),
grouped in *families*: evidence from one family alone (e.g. a shared NAT
address) never links two accounts.

The *behaviour* family holds what an operator's harvesting driver sends
whatever exits and clients it rotates through: the request parameters
(``params``: model, API format, endpoint, thinking budget, reasoning effort).
A distiller cannot drop them without giving up what it came for; a popular
value (an SDK's defaults) is a *hub* that says nothing about an operator
(:attr:`~distillguard.campaigns.settings.LinkSettings.hubs`). The system
prompt is not a behaviour indicator: it is part of the template, and counting
it in both families made two families of one fact (unrelated businesses
running one batch template were linked); nor is the declared tool set, which
the users of one app all share.

The *rotation* family is derived, not read: accounts that take a new exit
for nearly every request and share their exits with other such accounts use
one proxy pool (``rotation_pool``, :func:`~distillguard.campaigns.pools.rotation_pools`);
accounts that their own evidence flags and that share exits most of whose
accounts it flags use one too (``flagged_pool``,
:func:`~distillguard.campaigns.pools.flagged_pools`).

A template is the near-identical template group of the row's template
fingerprint (``~`` + hex, :mod:`distillguard.campaigns.templates`), else its
exact ``template_key``.

For linking, indicators are compact (account code, family, kind, 64-bit hash,
share), so that 200,000 accounts and their twelve million indicators fit in a
few hundred megabytes. The store reads them (:mod:`distillguard.store.linking`);
the analysis layer assembles them into :class:`Indicators`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

FAMILIES: tuple[str, ...] = (
    "network", "client", "template", "payment", "signup", "timing", "partner", "behaviour", "rotation",
)
KINDS: dict[str, str] = {
    "ip": "network", "subnet": "network", "signup_ip": "network", "client": "client", "template": "template",
    "payment": "payment", "signup_burst": "signup", "active": "timing", "partner": "partner",
    "params": "behaviour", "rotation_pool": "rotation", "flagged_pool": "rotation",
}
"""Indicator kind → its family."""
ACTIVITY_BUCKET_MINUTES = 10


@dataclass(frozen=True)
class Indicators:
    """Compact indicators: ``table`` (``i, family, kind, h, x``) over the accounts ``accounts[i]``.

    ``starts`` holds the accounts' conversation starts (``i, t``: account code,
    epoch milliseconds), the requests that open a conversation. ``young``
    (optional, by account code) says which accounts were first used within
    days of their creation (False where the creation time is unknown); linking
    reads it for young cohorts (:func:`~distillguard.campaigns.edges.with_hubs`). ``rotating`` (optional, by
    account code) says which accounts take a new address for nearly every request; rotation pools and a campaign's
    burners are read from them (:mod:`~distillguard.campaigns.pools`). ``harvesting`` (optional, by account code)
    says which accounts' own tasks weigh for a harvester (counted evidence above 0 nats,
    :func:`~distillguard.accounts.risk.elicitation_nats`): a campaign's burners that keep an address a while are read
    from them. ``flagged`` (optional, by account code) says which accounts their own evidence flags (their own risk
    at the policy's flag threshold): the pools of exits they share are read from them.
    """

    accounts: pl.Series
    table: pl.DataFrame
    starts: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema={"i": pl.UInt32, "t": pl.Int64}))
    young: np.ndarray | None = None
    rotating: np.ndarray | None = None
    harvesting: np.ndarray | None = None
    flagged: np.ndarray | None = None

    @property
    def height(self) -> int:
        """Number of (account, indicator) rows."""
        return self.table.height


def compact_indicators(rows: pl.DataFrame) -> pl.DataFrame:
    """``i, kind, h, x`` rows typed compactly, with each kind's family added, in one order whatever the order of
    ``rows`` (floating-point sums over them, and so the linking edges and the communities, then repeat exactly)."""
    return rows.select(
        pl.col("i").cast(pl.UInt32),
        pl.col("kind").replace_strict(KINDS, return_dtype=pl.Enum(list(FAMILIES))).alias("family"),
        pl.col("kind").cast(pl.Enum(list(KINDS))),
        pl.col("h").cast(pl.UInt64),
        pl.col("x").cast(pl.Float32),
    ).sort("i", "kind", "h", "x")
