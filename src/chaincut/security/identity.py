"""Identity-document numbers, held only as keyed hashes.

A keyed hash (HMAC-SHA-256 with a secret from configuration) lets the authority
match a document number it is given against the store without being able to
read numbers back out of it, even from a stolen copy of the database.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from chaincut.errors import ConfigurationError, InvalidInput

__all__ = ["IdentityHasher", "normalise_document_number"]

_STRIP = re.compile(r"[\s()\-/]")


def normalise_document_number(raw: str) -> str:
    """Upper case without spaces, brackets or dashes: 'a123456(7)' -> 'A1234567'."""
    cleaned = _STRIP.sub("", raw).upper()
    if not cleaned or not cleaned.isascii() or not cleaned.isalnum() or len(cleaned) > 32:
        raise InvalidInput(
            "expected an identity-document number of letters and digits",
            field="id_document",
            code="invalid_id_document",
        )
    return cleaned


class IdentityHasher:
    """Turns document numbers into keyed hashes for matching."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ConfigurationError("the identity hash key must be at least 32 bytes")
        self._key = key

    def hash(self, document_number: str) -> bytes:
        normal = normalise_document_number(document_number)
        return hmac.new(self._key, normal.encode("ascii"), hashlib.sha256).digest()
