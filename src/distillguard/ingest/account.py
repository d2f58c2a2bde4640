"""Turn one raw account record (a decoded JSON object) into one canonical row.

``email`` is split into ``email_local`` and a lower-cased ``email_domain`` (fields
given explicitly win); ``category`` and ``verification`` match their vocabularies
case-insensitively; ``extra`` holds, as sorted-key JSON, every non-null top-level
field not read (:data:`ACCOUNT_INPUT_FIELDS`).
"""

from __future__ import annotations

from typing import Any

from distillguard.core.errors import RecordError
from distillguard.core.schema import ACCOUNT_SCHEMA, CATEGORIES, VERIFICATIONS
from distillguard.ingest.fields import NOT_OBJECT, extra_json, optional_str, parse_ip, parse_ts, required_str

__all__ = ["ACCOUNT_INPUT_FIELDS", "normalize_account"]

#: Top-level account fields the normaliser reads (``email`` is split into its parts).
ACCOUNT_INPUT_FIELDS: frozenset[str] = frozenset(
    {name for name in ACCOUNT_SCHEMA.names if name != "extra"} | {"email"}
)

_CATEGORY_SET = frozenset(CATEGORIES)
_VERIFICATION_SET = frozenset(VERIFICATIONS)


def normalize_account(obj: dict[str, Any]) -> dict[str, Any]:
    """Return one row of ``ACCOUNT_SCHEMA`` from a raw account record.

    Raises :class:`RecordError` (with the offending field) when the record cannot be read.
    """
    if not isinstance(obj, dict):
        raise RecordError(NOT_OBJECT)
    account_id = required_str(obj, "account_id")
    created_at = obj.get("created_at")
    if created_at is not None:
        created_at = parse_ts(created_at, "created_at")
    category = optional_str(obj, "category")
    if category is not None and category not in _CATEGORY_SET:
        category = category.strip().lower()
        if category not in _CATEGORY_SET:
            raise RecordError(f"not one of {', '.join(CATEGORIES)}", "category")
    verification = optional_str(obj, "verification")
    if verification is not None and verification not in _VERIFICATION_SET:
        verification = verification.strip().lower()
        if verification not in _VERIFICATION_SET:
            raise RecordError(f"not one of {', '.join(VERIFICATIONS)}", "verification")
    signup_ip = obj.get("signup_ip")
    if signup_ip is not None:
        signup_ip = parse_ip(signup_ip, "signup_ip")
    email_local = optional_str(obj, "email_local")
    email_domain = optional_str(obj, "email_domain")
    email = optional_str(obj, "email")
    if email is not None:
        local, at, domain = email.rpartition("@")
        if not at or not local or not domain:
            raise RecordError("invalid email address", "email")
        if email_local is None:
            email_local = local
        if email_domain is None:
            email_domain = domain.lower()
    return {
        "account_id": account_id,
        "created_at": created_at,
        "category": category,
        "email_domain": email_domain,
        "email_local": email_local,
        "country": optional_str(obj, "country"),
        "payment_fingerprint": optional_str(obj, "payment_fingerprint"),
        "signup_ip": signup_ip,
        "verification": verification,
        "extra": extra_json(obj, ACCOUNT_INPUT_FIELDS),
    }
