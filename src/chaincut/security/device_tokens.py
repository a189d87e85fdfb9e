"""Tokens for residents' apps and venues' devices that the server checks without a database read.

A city's check-ins come from millions of phones, each seldom, so a per-worker
cache of database lookups would almost always miss. These tokens carry what
the server needs (the token's id, whose it is, and when it expires) with an
HMAC-SHA-256 over it under a key from configuration; the server checks the
MAC and the expiry, and a list of revoked token ids it refreshes from the
store every few seconds. The store keeps each token's row (its digest, owner,
expiry and revocation), so tokens can be listed, revoked and audited.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass

import orjson

__all__ = ["DeviceClaims", "DeviceTokens", "derive_key"]

_PREFIXES = {"resident": "ccr_", "venue": "ccv_"}
_KINDS = {prefix: kind for kind, prefix in _PREFIXES.items()}
_MAC_BYTES = 20
_MAX_LENGTH = 400


@dataclass(frozen=True)
class DeviceClaims:
    """What a device token says: its id, kind, owner (id, public id, ref) and expiry."""

    token_id: int
    kind: str  # "resident" or "venue"
    subject_id: int
    public_id: str
    ref: str
    expires_at: int  # epoch seconds


def derive_key(secret: bytes, purpose: str) -> bytes:
    """A key for ``purpose`` derived from a configured secret with HKDF-SHA-256 (RFC 5869).

    Each purpose gets an independent key, so one configured secret can serve several
    without a MAC made for one purpose being valid for another.
    """
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(secret)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class DeviceTokens:
    """Issues and opens device tokens under one key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the device-token key must be at least 32 bytes")
        self._key = key

    def _mac(self, prefix: str, body: str) -> bytes:
        return hmac.new(self._key, f"{prefix}{body}".encode("ascii"), hashlib.sha256).digest()[:_MAC_BYTES]

    def issue(self, claims: DeviceClaims) -> str:
        prefix = _PREFIXES[claims.kind]
        payload = [claims.token_id, claims.subject_id, claims.public_id, claims.ref, claims.expires_at]
        body = _b64(orjson.dumps(payload))
        return f"{prefix}{body}.{_b64(self._mac(prefix, body))}"

    @staticmethod
    def looks_like(secret: str) -> bool:
        return secret[:4] in _KINDS

    def open(self, secret: str) -> DeviceClaims | None:
        """The claims of a genuine token (expired or not), or None for anything else."""
        if len(secret) > _MAX_LENGTH or secret[:4] not in _KINDS or not secret.isascii():
            return None
        prefix, rest = secret[:4], secret[4:]
        body, dot, mac = rest.partition(".")
        if not dot:
            return None
        try:
            offered = _unb64(mac)
            if not hmac.compare_digest(offered, self._mac(prefix, body)):
                return None
            fields = orjson.loads(_unb64(body))
        except (binascii.Error, ValueError, orjson.JSONDecodeError):
            return None
        if not (isinstance(fields, list) and len(fields) == 5):
            return None
        token_id, subject_id, public_id, ref, expires_at = fields
        if not (
            isinstance(token_id, int)
            and isinstance(subject_id, int)
            and isinstance(public_id, str)
            and isinstance(ref, str)
            and isinstance(expires_at, int)
        ):
            return None
        return DeviceClaims(token_id, _KINDS[prefix], subject_id, public_id, ref, expires_at)
