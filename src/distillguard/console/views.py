"""How the read pages format values: the Jinja filters they use, registered on the console's environment."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment


def when(moment: datetime | None) -> str:
    """``YYYY-MM-DD HH:MM`` (UTC), or a dash."""
    return "–" if moment is None else f"{moment:%Y-%m-%d %H:%M}"


def span(start: datetime | None, end: datetime | None) -> str:
    """The length from ``start`` to ``end`` in hours (under two days) or days."""
    if start is None or end is None:
        return "–"
    hours = (end - start).total_seconds() / 3600
    return f"{hours:,.0f} h" if hours < 48 else f"{hours / 24:,.1f} d"


def num(value: float | int | None, places: int = 0) -> str:
    """A number with thousands separators (``places`` decimals), or a dash."""
    return "–" if value is None else f"{value:,.{places}f}"


def pct(value: float | None) -> str:
    """A share as a whole percentage, or a dash."""
    return "–" if value is None else f"{value:.0%}"


def label(name: str | None) -> str:
    """A snake_case name in words."""
    return "–" if name is None else name.replace("_", " ")


def query(params: dict[str, Any], **changes: Any) -> str:
    """``params`` with ``changes`` (None drops a key) as a URL query string, for sort and page links."""
    merged = {**params, **changes}
    return urlencode({k: v for k, v in merged.items() if v is not None and v != ""})


def register(env: Environment) -> None:
    """Add the page filters to the console's Jinja environment."""
    env.filters.update(when=when, span=span, num=num, pct=pct, label=label)
    env.globals.update(query=query)
