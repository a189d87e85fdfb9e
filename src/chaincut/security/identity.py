"""Identity-document numbers, held only as keyed hashes.

A keyed hash (HMAC-SHA-256 with a secret from configuration) lets the authority
match a document number it is given against the store without being able to
read numbers back out of it, even from a stolen copy of the database.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re

from chaincut.errors import ConfigurationError, InvalidInput
from chaincut.security.device_tokens import derive_key

__all__ = ["BorderSubjects", "IdentityHasher", "normalise_document_number"]

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

    @functools.cached_property
    def subjects(self) -> BorderSubjects:
        """The border subject ids of the hashes this hasher makes (under the same configured key)."""
        return BorderSubjects(self._key)


class BorderSubjects:
    """Border subject ids: what a signed health code and a checkpoint's booking list both carry.

    A subject id is derived from a person's identity hash under a key of its own
    (HKDF of the identity hash key), so a code or a synced booking list reveals
    neither the document number nor the hash the store matches on, yet a code
    and a booking for the same document carry the same id.
    """

    def __init__(self, identity_hash_key: bytes) -> None:
        self._key = derive_key(identity_hash_key, "chaincut border subject v1")

    def subject_of(self, id_document_hash: bytes) -> str:
        """The subject id (22 base64url characters) for a person's identity hash."""
        mac = hmac.new(self._key, id_document_hash, hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")
