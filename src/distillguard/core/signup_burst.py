"""What a signup burst is: signups sharing a key within one creation slot.

Slots are :data:`SIGNUP_BURST_MINUTES` wide and aligned on the Unix epoch
(whole half hours, UTC), as DuckDB's ``time_bucket`` cuts them. Campaign
linking keys bursts on the slot; the signup assessor counts the signups in a
new signup's slot before it.
"""

from __future__ import annotations

SIGNUP_BURST_MINUTES = 30
"""Width of the creation slots a signup burst is counted in."""
SIGNUP_BURST_MS = SIGNUP_BURST_MINUTES * 60_000


def signup_burst_slot(at_ms: int) -> int:
    """Start (epoch ms) of the slot holding a signup created at ``at_ms`` (epoch ms)."""
    return at_ms - at_ms % SIGNUP_BURST_MS


__all__ = ["SIGNUP_BURST_MINUTES", "SIGNUP_BURST_MS", "signup_burst_slot"]
