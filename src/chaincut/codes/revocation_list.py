"""Signed code-revocation lists: the code ids an authority has revoked, for partners and checkpoints.

An authority publishes (``GET /codes/revocations``) one JSON object::

    {"format": "chaincut-code-revocations/1", "issuer": "HK", "sequence": 12,
     "issued_at": "2026-11-20T04:00:00Z",
     "revoked": {"<code id>": "<the code's expiry, ISO 8601>", ...},
     "signature": "<ES256 by the root key over the canonical JSON of the rest: base64 of r||s>"}

It is signed like the trust list (``chaincut.codes.trust_list.canonical_bytes``) by the root key
partners pinned. ``sequence`` rises by one with every revocation, so a reader refuses an older
list (a rollback) and sees a gap (lists it never fetched). Each list is complete, not a change
since the last: a gap loses nothing. A code stays listed until it expires (plus the largest clock
leeway a verifier may allow), after which nobody accepts it anyway; so a list may shrink without
a new sequence. The list holds code ids and expiries only: nothing that names a person.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from chaincut.codes.trust_list import root_signature, verify_root_signature
from chaincut.errors import TrustListError

__all__ = ["REVOCATION_LIST_FORMAT", "RevocationList", "read_revocation_list", "sign_revocation_list"]

REVOCATION_LIST_FORMAT = "chaincut-code-revocations/1"
_WHAT = "code-revocation list"


@dataclass(frozen=True)
class RevocationList:
    """An issuer's revoked code ids (each with its code's expiry), as a verified list states them."""

    issuer: str
    sequence: int
    issued_at: datetime
    revoked: Mapping[str, datetime]

    def __repr__(self) -> str:
        return f"RevocationList({self.issuer!r}, sequence {self.sequence}, {len(self.revoked)} codes)"


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def sign_revocation_list(
    *,
    issuer: str,
    sequence: int,
    issued_at: datetime,
    revoked: Mapping[str, datetime],
    root_key: ec.EllipticCurvePrivateKey,
) -> dict[str, Any]:
    """The revocation list of ``issuer``, signed by its root key."""
    document: dict[str, Any] = {
        "format": REVOCATION_LIST_FORMAT,
        "issuer": issuer,
        "sequence": sequence,
        "issued_at": _iso(issued_at),
        "revoked": {code_id: _iso(expires) for code_id, expires in sorted(revoked.items())},
    }
    document["signature"] = root_signature(document, root_key)
    return document


def _instant(text: Any, what: str) -> datetime:
    if not isinstance(text, str):
        raise TrustListError(f"{_WHAT} {what} is not an ISO-8601 string")
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise TrustListError(f"{_WHAT} {what} is not an ISO-8601 instant") from None
    if at.tzinfo is None:
        raise TrustListError(f"{_WHAT} {what} has no UTC offset")
    return at.astimezone(UTC)


def read_revocation_list(text: str | bytes, root: x509.Certificate) -> RevocationList:
    """A signed revocation list checked whole against ``root`` (the issuer's pinned root)."""
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        raise TrustListError(f"the {_WHAT} is not JSON") from None
    if not isinstance(document, dict) or document.get("format") != REVOCATION_LIST_FORMAT:
        raise TrustListError(f"the {_WHAT} is not in the format {REVOCATION_LIST_FORMAT!r}")
    issuer = document.get("issuer")
    if not isinstance(issuer, str) or not 1 <= len(issuer) <= 16:
        raise TrustListError(f"{_WHAT} issuer is not text of 1-16 characters")
    sequence = document.get("sequence")
    if isinstance(sequence, bool) or not isinstance(sequence, int) or sequence < 0:
        raise TrustListError(f"{_WHAT} sequence is not a non-negative whole number")
    verify_root_signature(document, root, _WHAT)
    raw = document.get("revoked")
    if not isinstance(raw, dict):
        raise TrustListError(f"{_WHAT} revoked is not an object of code id -> expiry")
    revoked: dict[str, datetime] = {}
    for code_id, expires in raw.items():
        if not 1 <= len(code_id) <= 64 or not code_id.isascii():
            raise TrustListError(f"{_WHAT} code id {code_id[:20]!r} is not 1-64 ASCII characters")
        revoked[code_id] = _instant(expires, f"revoked {code_id}")
    return RevocationList(issuer, sequence, _instant(document.get("issued_at"), "issued_at"), revoked)
