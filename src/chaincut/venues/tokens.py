"""Signed venue tokens: what a venue's QR poster holds, so forged posters are refused.

A token is ``CHAINCUT:1:`` followed by a compact JWS (RFC 7515) signed with ES256
(ECDSA over P-256 with SHA-256), like the NHS COVID-19 app's ``UKC19TRACING:1:``
posters. The protected header is ``{"alg":"ES256","kid":<key id>}``; the payload is
``{"v":<venue public id>,"t":<venue type>,"iat":<issued at, whole seconds since the
Unix epoch, UTC>}``, and on posters printed since the residents' pages, the venue's names
``"en"`` and ``"zh"`` (the check-in page shows them, checked against the signature in the
browser, before anything is sent); both are compact JSON, base64url-encoded without
padding. The signature is raw ``r || s`` (64 bytes), as JWS requires, not DER: what
WebCrypto's ECDSA verifies.

A poster's QR holds the token as the fragment of the public check-in page's address,
``https://<public host>/v#CHAINCUT:1:...`` (`checkin_url`), so a phone's own camera
opens the page, and the token, being a fragment, never reaches a server's log.

Tokens carry no expiry: a poster stays valid while its signing key is trusted. To
retire a key, build a new `VenueTokenVerifier` without it.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from chaincut.errors import InvalidVenueToken

__all__ = [
    "DEFAULT_VERIFIED_CACHE_SIZE",
    "MAX_TOKEN_LENGTH",
    "VENUE_TOKEN_PREFIX",
    "InvalidVenueToken",
    "VenueClaims",
    "VenueTokenSigner",
    "VenueTokenVerifier",
    "checkin_url",
    "generate_signing_key",
    "key_id_for",
    "load_private_key_pem",
    "load_public_key_pem",
    "private_key_pem",
    "public_jwk",
    "public_key_pem",
    "token_in",
]

VENUE_TOKEN_PREFIX = "CHAINCUT:1:"  # noqa: S105 - a format marker, not a secret
"""Marks a chaincut venue token, version 1; scanners refuse anything else."""

MAX_TOKEN_LENGTH = 2048
"""Longest token accepted, in characters; real tokens are about 230."""

DEFAULT_VERIFIED_CACHE_SIZE = 8192
"""Tokens remembered as verified; every visitor of a venue scans the same token."""

_ALGORITHM = "ES256"
_SIGNATURE_BYTES = 64
_COORDINATE_BYTES = 32
_ALLOWED_HEADER_FIELDS = frozenset({"alg", "kid", "typ"})
_CLAIM_FIELDS = frozenset({"v", "t", "iat"})
_NAME_FIELDS = frozenset({"en", "zh"})
_MAX_CLAIM_CHARS = 256
CHECKIN_PATH = "/v"
"""The public check-in page a poster's QR opens."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# iat must land between the epoch and the year 9999 so it converts to a datetime.
_MAX_IAT = (datetime(9999, 12, 31, tzinfo=UTC) - _EPOCH) // timedelta(seconds=1)
_SEGMENT = "[A-Za-z0-9_-]+"
_COMPACT_JWS = re.compile(rf"({_SEGMENT})\.({_SEGMENT})\.({_SEGMENT})")


@dataclass(frozen=True)
class VenueClaims:
    """What a venue poster vouches for: which venue, of what type, issued when."""

    venue_id: str
    venue_type: str
    issued_at: datetime
    name_en: str = ""
    name_zh: str = ""

    def __post_init__(self) -> None:
        if not self.venue_id or not self.venue_type:
            raise ValueError("venue_id and venue_type must be non-empty")
        if len(self.name_en) > _MAX_CLAIM_CHARS or len(self.name_zh) > _MAX_CLAIM_CHARS:
            raise ValueError(f"a venue's names on its token are at most {_MAX_CLAIM_CHARS} characters")
        offset = self.issued_at.utcoffset()
        if offset is None or offset != timedelta(0):
            raise ValueError("issued_at must be a timezone-aware UTC datetime")


class VenueTokenSigner:
    """Issues the signed token printed on a venue's QR poster."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey, key_id: str) -> None:
        _require_p256(private_key.curve)
        if not key_id:
            raise ValueError("key_id must be non-empty")
        self._private_key = private_key
        self._key_id = key_id
        self._header_b64 = _b64encode(_compact_json({"alg": _ALGORITHM, "kid": key_id}))

    def sign(self, claims: VenueClaims) -> str:
        """Return the poster token for ``claims``; ``issued_at`` is kept to the second."""
        iat = (claims.issued_at - _EPOCH) // timedelta(seconds=1)
        if not 0 <= iat <= _MAX_IAT:
            raise ValueError("issued_at must fall between 1970 and 9999")
        payload: dict[str, object] = {"v": claims.venue_id, "t": claims.venue_type, "iat": iat}
        if claims.name_en:
            payload["en"] = claims.name_en
        if claims.name_zh:
            payload["zh"] = claims.name_zh
        signing_input = f"{self._header_b64}.{_b64encode(_compact_json(payload))}"
        der = self._private_key.sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        signature = r.to_bytes(_COORDINATE_BYTES, "big") + s.to_bytes(_COORDINATE_BYTES, "big")
        return f"{VENUE_TOKEN_PREFIX}{signing_input}.{_b64encode(signature)}"

    def sign_detached(self, body: bytes, content_type: str) -> str:
        """A detached JWS (RFC 7515, appendix F) of ``body``: ``header..signature``, the header naming
        ``content_type`` as its ``typ``, so a signed document is never taken for a poster's token."""
        header = _b64encode(_compact_json({"alg": _ALGORITHM, "kid": self._key_id, "typ": content_type}))
        signing_input = f"{header}.{_b64encode(body)}".encode("ascii")
        r, s = decode_dss_signature(self._private_key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(_COORDINATE_BYTES, "big") + s.to_bytes(_COORDINATE_BYTES, "big")
        return f"{header}..{_b64encode(signature)}"


class VenueTokenVerifier:
    """Checks a scanned venue token at check-in and says which venue it names.

    ``public_keys`` maps key id to key; several keys may be trusted at once so signing
    keys can be rotated. The mapping is copied: a verifier's trust never changes, and
    tokens it has verified are remembered (up to ``cache_size``) so the signature of a
    busy venue's poster is checked once rather than for every visitor.
    """

    def __init__(
        self,
        public_keys: Mapping[str, ec.EllipticCurvePublicKey],
        *,
        cache_size: int = DEFAULT_VERIFIED_CACHE_SIZE,
    ) -> None:
        for key in public_keys.values():
            _require_p256(key.curve)
        self._public_keys = dict(public_keys)
        # Only successful verifications are cached (lru_cache does not store exceptions),
        # so garbage cannot push genuine posters out of the cache.
        self._verify_cached = functools.lru_cache(maxsize=cache_size)(self._verify_uncached)

    def verify(self, token: str) -> VenueClaims:
        """Return the claims of a genuine token; raise `InvalidVenueToken` for anything else.

        ``token`` is what was scanned: a bare token or a poster's check-in address holding one.
        """
        if not isinstance(token, str):
            raise InvalidVenueToken("malformed token")
        if len(token) > MAX_TOKEN_LENGTH:
            raise InvalidVenueToken("token too long")
        return self._verify_cached(token_in(token))

    def jwks(self) -> list[dict[str, str]]:
        """Every trusted key as a JSON Web Key, for pages that check posters themselves."""
        return [public_jwk(key, key_id) for key_id, key in sorted(self._public_keys.items())]

    def _verify_uncached(self, token: str) -> VenueClaims:
        if not token.startswith(VENUE_TOKEN_PREFIX):
            raise InvalidVenueToken("missing prefix")
        match = _COMPACT_JWS.fullmatch(token, len(VENUE_TOKEN_PREFIX))
        if match is None:
            raise InvalidVenueToken("malformed token")
        header_b64, payload_b64, signature_b64 = match.groups()

        header = _decode_json_object(header_b64, "malformed header")
        if not header.keys() <= _ALLOWED_HEADER_FIELDS:
            raise InvalidVenueToken("unsupported header")
        if header.get("alg") != _ALGORITHM:
            raise InvalidVenueToken("unsupported algorithm")
        key_id = header.get("kid")
        if not isinstance(key_id, str):
            raise InvalidVenueToken("malformed header")
        public_key = self._public_keys.get(key_id)
        if public_key is None:
            raise InvalidVenueToken("unknown key id")

        signature = _b64decode(signature_b64, "bad signature")
        if len(signature) != _SIGNATURE_BYTES:
            raise InvalidVenueToken("bad signature")
        der = encode_dss_signature(
            int.from_bytes(signature[:_COORDINATE_BYTES], "big"),
            int.from_bytes(signature[_COORDINATE_BYTES:], "big"),
        )
        signing_input = token[len(VENUE_TOKEN_PREFIX) : match.end(2)].encode("ascii")
        try:
            public_key.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise InvalidVenueToken("bad signature") from None

        return _claims_from_payload(_decode_json_object(payload_b64, "malformed claims"))


def checkin_url(public_url: str, token: str) -> str:
    """What a poster's QR holds: the public check-in page with ``token`` as its fragment."""
    return f"{public_url.rstrip('/')}{CHECKIN_PATH}#{token}"


def token_in(scanned: str) -> str:
    """The venue token in what was scanned: a poster's check-in address, or a bare token (older posters).

    Anything else is returned as it is, for the verifier to refuse.
    """
    if scanned.startswith(VENUE_TOKEN_PREFIX):
        return scanned
    _, hash_mark, fragment = scanned.partition("#")
    if hash_mark and fragment.startswith(VENUE_TOKEN_PREFIX):
        return fragment
    return scanned


def public_jwk(public_key: ec.EllipticCurvePublicKey, key_id: str) -> dict[str, str]:
    """A poster-verification key as a JSON Web Key (RFC 7517), which WebCrypto imports."""
    numbers = public_key.public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": _b64encode(numbers.x.to_bytes(_COORDINATE_BYTES, "big")),
        "y": _b64encode(numbers.y.to_bytes(_COORDINATE_BYTES, "big")),
        "kid": key_id,
        "alg": _ALGORITHM,
        "use": "sig",
    }


def generate_signing_key() -> ec.EllipticCurvePrivateKey:
    """Create a new P-256 key for signing venue posters."""
    return ec.generate_private_key(ec.SECP256R1())


def key_id_for(public_key: ec.EllipticCurvePublicKey) -> str:
    """Name a poster-signing key: the first 8 bytes of SHA-256 of its DER SubjectPublicKeyInfo."""
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return _b64encode(hashlib.sha256(spki).digest()[:8])


def load_private_key_pem(data: bytes, password: bytes | None = None) -> ec.EllipticCurvePrivateKey:
    """Load a poster-signing key from PEM; refuse anything but a P-256 key."""
    key = serialization.load_pem_private_key(data, password=password)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("not an elliptic-curve private key")
    _require_p256(key.curve)
    return key


def private_key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """Serialise a poster-signing key as unencrypted PKCS#8 PEM (protect the file itself)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_public_key_pem(data: bytes) -> ec.EllipticCurvePublicKey:
    """Load a trusted poster-verification key from PEM; refuse anything but P-256."""
    key = serialization.load_pem_public_key(data)
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("not an elliptic-curve public key")
    _require_p256(key.curve)
    return key


def public_key_pem(key: ec.EllipticCurvePublicKey) -> bytes:
    """Serialise a poster-verification key as SubjectPublicKeyInfo PEM."""
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _require_p256(curve: ec.EllipticCurve) -> None:
    if not isinstance(curve, ec.SECP256R1):
        raise ValueError(f"ES256 needs a P-256 key, not {curve.name}")


def _compact_json(value: Mapping[str, object]) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(segment: str, reason: str) -> bytes:
    """Decode unpadded base64url, refusing non-canonical spellings of the same bytes."""
    try:
        data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise InvalidVenueToken(reason) from None
    if _b64encode(data) != segment:
        raise InvalidVenueToken(reason)
    return data


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate key")
    return result


def _decode_json_object(segment: str, reason: str) -> dict[str, Any]:
    raw = _b64decode(segment, reason)
    try:
        value = json.loads(raw.decode("utf-8"), object_pairs_hook=_reject_duplicate_keys)
    except (ValueError, RecursionError):
        raise InvalidVenueToken(reason) from None
    if not isinstance(value, dict):
        raise InvalidVenueToken(reason)
    return value


def _claims_from_payload(payload: dict[str, Any]) -> VenueClaims:
    if not _CLAIM_FIELDS <= payload.keys() <= _CLAIM_FIELDS | _NAME_FIELDS:
        raise InvalidVenueToken("malformed claims")
    venue_id, venue_type, iat = payload["v"], payload["t"], payload["iat"]
    if not (_is_claim_text(venue_id) and _is_claim_text(venue_type)):
        raise InvalidVenueToken("malformed claims")
    if type(iat) is not int or not 0 <= iat <= _MAX_IAT:
        raise InvalidVenueToken("malformed claims")
    names = [payload.get(field, "") for field in ("en", "zh")]
    if not all(isinstance(name, str) and len(name) <= _MAX_CLAIM_CHARS for name in names):
        raise InvalidVenueToken("malformed claims")
    return VenueClaims(venue_id, venue_type, _EPOCH + timedelta(seconds=iat), names[0], names[1])


def _is_claim_text(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= _MAX_CLAIM_CHARS
