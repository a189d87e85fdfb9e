"""Bearer tokens and session ids: random, shown once, stored only as their SHA-256.

A token is 32 random bytes, so an unkeyed hash is enough to make a stolen
database useless for signing in. Its prefix says what it is for, which helps
secret scanners and people, not the server: the server trusts only the lookup.
"""

from __future__ import annotations

import hashlib
import secrets

__all__ = ["TOKEN_PREFIXES", "digest", "new_secret"]

TOKEN_PREFIXES = {"staff": "ccs_", "resident": "ccr_", "venue": "ccv_", "session": "ccw_"}


def new_secret(kind: str) -> str:
    """A fresh secret of ``kind`` (a key of TOKEN_PREFIXES), such as 'ccr_…'."""
    return TOKEN_PREFIXES[kind] + secrets.token_urlsafe(32)


def digest(secret: str) -> bytes:
    """What the store keeps of a secret."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()
