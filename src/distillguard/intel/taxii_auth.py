"""HTTP basic authentication of the TAXII server's users: argon2 hashes, or passwords from the environment.

Checking an argon2 hash is slow on purpose, so the last password each user proved is remembered as an
HMAC under a key of this process (never the password itself): one entry per configured user at most. An
unknown user costs one argon2 check too, against a hash of a random password, so that the time an answer
takes does not tell which users exist.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from distillguard.intel.taxii_config import TaxiiUser


def basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    """``(user, password)`` of an ``Authorization: Basic ...`` header, or None when absent or malformed."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


class Authenticator:
    """Checks a user's password against the settings (see the module's doc)."""

    def __init__(self, users: Mapping[str, TaxiiUser], environ: Mapping[str, str] | None = None) -> None:
        self._users = dict(users)
        self._environ = os.environ if environ is None else environ
        self._hasher = PasswordHasher()
        self._key = secrets.token_bytes(32)
        self._proven: dict[str, bytes] = {}
        self._decoy = self._hasher.hash(secrets.token_hex(16))

    def check(self, user: str, password: str) -> bool:
        """Whether ``password`` is ``user``'s (False for an unknown user)."""
        entry = self._users.get(user)
        if entry is None:
            try:
                self._hasher.verify(self._decoy, password)
            except VerificationError:
                pass
            return False
        digest = hmac.new(self._key, password.encode(), hashlib.sha256).digest()
        proven = self._proven.get(user)
        if proven is not None and hmac.compare_digest(proven, digest):
            return True
        if entry.password_env is not None:
            expected = self._environ.get(entry.password_env, "")
            ok = bool(expected) and hmac.compare_digest(expected.encode(), password.encode())
        else:
            try:
                ok = self._hasher.verify(entry.password_hash or "", password)
            except (VerificationError, InvalidHashError):
                ok = False
        if ok:
            self._proven[user] = digest
        return ok
