"""Signed trust lists: the signer certificates an authority publishes for its partners.

An authority publishes (``GET /codes/trust-list``) one JSON object::

    {"format": "chaincut-trust-list/1", "issuer": "HK", "sequence": 7,
     "issued_at": "2026-11-20T04:00:00Z",
     "root": "<root certificate, base64 DER>",
     "signers": {"<kid, base64>": {"certificate": "<base64 DER>", "status": "active",
                                   "trusted_until": null}, ...},
     "revoked": {"<kid, base64>": "<revoked at, ISO 8601>", ...},
     "signature": "<ES256 by the root key: base64 of r||s>"}

The signature covers the canonical serialisation of every other member: JSON with keys
sorted, no insignificant white space, ASCII only (``canonical_bytes``). ``sequence`` only
grows, so a partner refuses an older list (a rollback). A reader checks the signature with
the root it pinned (or, for a file an operator hands to ``chaincut verify``, the list's own
root), that every signer's certificate was issued by that root, and that each kid is the
one the DCC specification derives from the certificate. Revoked key ids are listed so that
a verifier can say a code's key was revoked rather than merely unknown.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding

from chaincut.codes.cose import key_id
from chaincut.codes.signing_keys import chains_to, format_kid, parse_kid
from chaincut.errors import TrustListError

__all__ = [
    "TRUST_LIST_FORMAT",
    "IssuerTrust",
    "ListedSigner",
    "canonical_bytes",
    "is_signed_trust_list",
    "read_trust_list",
    "root_signature",
    "sign_trust_list",
    "verify_root_signature",
]

TRUST_LIST_FORMAT = "chaincut-trust-list/1"
_MAX_SIGNERS = 1000


@dataclass(frozen=True)
class ListedSigner:
    """A document signer as a trust list names it."""

    kid: bytes
    certificate: x509.Certificate
    status: str  # active, retired
    trusted_until: datetime | None = None


@dataclass(frozen=True)
class IssuerTrust:
    """What a verifier trusts for one issuing jurisdiction: its root, its signers, its revoked kids."""

    issuer: str
    root: x509.Certificate
    signers: Mapping[bytes, x509.Certificate]
    revoked: Mapping[bytes, datetime] = field(default_factory=dict)
    sequence: int = 0
    issued_at: datetime | None = None


def canonical_bytes(document: Mapping[str, Any]) -> bytes:
    """The bytes a trust list's signature covers: every member but ``signature``, canonical JSON."""
    body = {key: value for key, value in document.items() if key != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def sign_trust_list(
    *,
    issuer: str,
    sequence: int,
    issued_at: datetime,
    root_key: ec.EllipticCurvePrivateKey,
    root: x509.Certificate,
    signers: list[ListedSigner],
    revoked: Mapping[bytes, datetime],
) -> dict[str, Any]:
    """A trust list for ``issuer``, signed by its root key."""
    document: dict[str, Any] = {
        "format": TRUST_LIST_FORMAT,
        "issuer": issuer,
        "sequence": sequence,
        "issued_at": _iso(issued_at),
        "root": _b64(root.public_bytes(Encoding.DER)),
        "signers": {
            format_kid(s.kid): {
                "certificate": _b64(s.certificate.public_bytes(Encoding.DER)),
                "status": s.status,
                "trusted_until": None if s.trusted_until is None else _iso(s.trusted_until),
            }
            for s in signers
        },
        "revoked": {format_kid(kid): _iso(at) for kid, at in revoked.items()},
    }
    document["signature"] = root_signature(document, root_key)
    return document


def root_signature(document: Mapping[str, Any], root_key: ec.EllipticCurvePrivateKey) -> str:
    """The root's ES256 signature (base64 of r||s) over a published document's canonical bytes."""
    r, s = decode_dss_signature(root_key.sign(canonical_bytes(document), ec.ECDSA(hashes.SHA256())))
    return _b64(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def is_signed_trust_list(document: object) -> bool:
    """Whether a parsed JSON document claims to be a chaincut signed trust list."""
    return isinstance(document, dict) and document.get("format") == TRUST_LIST_FORMAT


def _der(text: Any, what: str) -> x509.Certificate:
    if not isinstance(text, str):
        raise TrustListError(f"trust list {what} is not a base64 string")
    try:
        return x509.load_der_x509_certificate(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError):
        raise TrustListError(f"trust list {what} is not a base64 DER X.509 certificate") from None


def _instant(text: Any, what: str) -> datetime:
    if not isinstance(text, str):
        raise TrustListError(f"trust list {what} is not an ISO-8601 string")
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise TrustListError(f"trust list {what} is not an ISO-8601 instant") from None
    if at.tzinfo is None:
        raise TrustListError(f"trust list {what} has no UTC offset")
    return at.astimezone(UTC)


def verify_root_signature(document: Mapping[str, Any], root: x509.Certificate, what: str) -> None:
    """TrustListError (naming ``what``: "trust list", ...) unless the root signed the document."""
    raw = document.get("signature")
    try:
        signature = base64.b64decode(raw, validate=True) if isinstance(raw, str) else b""
    except (binascii.Error, ValueError):
        signature = b""
    if len(signature) != 64:
        raise TrustListError(f"{what} signature is missing or not 64 bytes (ES256 r||s)")
    key = root.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise TrustListError(f"{what} root key is not an EC key")
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    try:
        key.verify(der, canonical_bytes(document), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise TrustListError(f"{what} signature does not match its root key (altered or forged)") from None


def _signers(raw: Any, root: x509.Certificate, issuer: str) -> dict[bytes, x509.Certificate]:
    if not isinstance(raw, dict) or len(raw) > _MAX_SIGNERS:
        raise TrustListError(f"trust list signers is not an object of at most {_MAX_SIGNERS} entries")
    signers: dict[bytes, x509.Certificate] = {}
    for kid_text, entry in raw.items():
        kid = parse_kid(kid_text)
        if kid is None:
            raise TrustListError(f"trust list key id {kid_text[:20]!r} is not 8 bytes of base64")
        if not isinstance(entry, dict):
            raise TrustListError(f"trust list signer {kid_text} is not an object")
        certificate = _der(entry.get("certificate"), f"signer {kid_text}")
        if key_id(certificate) != kid:
            raise TrustListError(f"trust list signer {kid_text}: the key id is not its certificate's")
        if not chains_to(certificate, root):
            raise TrustListError(f"trust list signer {kid_text} is not chained to {issuer}'s root")
        signers[kid] = certificate
    return signers


def read_trust_list(text: str | bytes, pinned_root: x509.Certificate | None = None) -> IssuerTrust:
    """A signed trust list checked whole; ``pinned_root``: the root it must be signed by.

    Without a pinned root the list's own root is used (an operator's file); a list whose root
    is not the pinned one is refused, as is any signer not chained to it.
    """
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        raise TrustListError("the trust list is not JSON") from None
    if not is_signed_trust_list(document):
        raise TrustListError(f"the trust list is not in the format {TRUST_LIST_FORMAT!r}")
    issuer = document.get("issuer")
    if not isinstance(issuer, str) or not 1 <= len(issuer) <= 16:
        raise TrustListError("trust list issuer is not text of 1-16 characters")
    sequence = document.get("sequence")
    if isinstance(sequence, bool) or not isinstance(sequence, int) or sequence < 0:
        raise TrustListError("trust list sequence is not a non-negative whole number")
    root = _der(document.get("root"), "root")
    if pinned_root is not None and root.public_bytes(Encoding.DER) != pinned_root.public_bytes(Encoding.DER):
        raise TrustListError(f"trust list root is not the root pinned for {issuer}")
    verify_root_signature(document, root, "trust list")
    signers = _signers(document.get("signers"), root, issuer)
    raw_revoked = document.get("revoked", {})
    if not isinstance(raw_revoked, dict):
        raise TrustListError("trust list revoked is not an object of key id -> time")
    revoked: dict[bytes, datetime] = {}
    for kid_text, at in raw_revoked.items():
        kid = parse_kid(kid_text)
        if kid is None:
            raise TrustListError(f"trust list revoked key id {kid_text[:20]!r} is not 8 bytes of base64")
        revoked[kid] = _instant(at, f"revoked {kid_text}")
    return IssuerTrust(
        issuer=issuer,
        root=root,
        signers={kid: cert for kid, cert in signers.items() if kid not in revoked},
        revoked=revoked,
        sequence=sequence,
        issued_at=_instant(document.get("issued_at"), "issued_at"),
    )
