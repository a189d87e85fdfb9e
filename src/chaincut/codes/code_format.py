"""The wire format of chaincut's signed health codes: HCERT's envelope with a payload of our own.

A code is what an EU DCC is (DCC technical specification, volume 1): a CWT (RFC 8392) signed
as COSE_Sign1 with ES256 and the signer's ``kid`` in the protected header, compressed with
zlib, encoded in base45, behind a context prefix; ours is ``CC1:`` so that no DCC verifier
mistakes it for an ``HC1:`` certificate, nor we one of theirs.

CWT claims: 1 ``iss`` (the issuing jurisdiction, e.g. "HK"), 6 ``iat`` and 4 ``exp`` (epoch
seconds), 7 ``cti`` (the code id, ASCII bytes), and under -260 (``hcert``) the map
``{1: payload}``, where the payload is a CBOR map with text keys::

    "v"  payload version, 1
    "c"  colour: the policy's name, e.g. "green" (text, 1-16 characters)
    "r"  reasons: array of text (at most 20, each at most 200 characters)
    "u"  status until: epoch seconds, or null (until the facts change)
    "t"  last negative test taken at: epoch seconds, or null
    "s"  subject: the holder's border subject id (22 base64url characters), or null
    "n"  name, as on the holder's record, or null

Keys are one letter so that a code fits a QR code a phone screen shows well.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from chaincut.clock import from_epoch, to_epoch
from chaincut.domain.health_codes import HealthCodeClaims
from chaincut.errors import InvalidHealthCertificate

__all__ = [
    "CODE_PREFIX",
    "PAYLOAD_VERSION",
    "claims_from_cwt",
    "claims_to_cwt",
    "payload_json",
]

CODE_PREFIX = "CC1:"
PAYLOAD_VERSION = 1
CWT_ISS, CWT_EXP, CWT_IAT, CWT_CTI, CWT_HCERT = 1, 4, 6, 7, -260
_MAX_REASONS = 20
_MAX_REASON_CHARS = 200
_MAX_TEXT = 200
_LAST_EPOCH = 253_402_300_799  # 9999-12-31T23:59:59Z, the last instant a datetime holds


def _epoch(at: datetime | None) -> int | None:
    return None if at is None else to_epoch(at)


def claims_to_cwt(claims: HealthCodeClaims) -> dict[int, Any]:
    """The CWT claims map for a code (see the module's docstring)."""
    payload = {
        "v": PAYLOAD_VERSION,
        "c": claims.colour,
        "r": [reason[:_MAX_REASON_CHARS] for reason in claims.reasons[:_MAX_REASONS]],
        "u": _epoch(claims.status_until),
        "t": _epoch(claims.last_negative_test_at),
        "s": claims.subject,
        "n": claims.name,
    }
    return {
        CWT_ISS: claims.issuer,
        CWT_IAT: to_epoch(claims.issued_at),
        CWT_EXP: to_epoch(claims.expires_at),
        CWT_CTI: claims.code_id.encode("ascii"),
        CWT_HCERT: {1: payload},
    }


def _schema(reason: str) -> InvalidHealthCertificate:
    return InvalidHealthCertificate(
        f"the code breaks the chaincut code schema: {reason}", step="schemavalidation"
    )


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _schema(f"{what} is not a whole number of seconds")
    if not 0 <= value <= _LAST_EPOCH:
        raise _schema(f"{what} is out of range")
    return value


def _opt_int(value: Any, what: str) -> int | None:
    return None if value is None else _int(value, what)


def _text(value: Any, what: str, limit: int = _MAX_TEXT) -> str:
    if not isinstance(value, str) or not value or len(value) > limit:
        raise _schema(f"{what} is not text of 1-{limit} characters")
    return value


def _opt_text(value: Any, what: str, limit: int = _MAX_TEXT) -> str | None:
    return None if value is None else _text(value, what, limit)


def _instant(value: int | None) -> datetime | None:
    return None if value is None else from_epoch(value)


def claims_from_cwt(cwt: Mapping[Any, Any]) -> HealthCodeClaims:
    """The claims a decoded CWT states, or a schema refusal naming the first broken field."""
    hcert = cwt.get(CWT_HCERT)
    payload = hcert.get(1) if isinstance(hcert, Mapping) else None
    if not isinstance(payload, Mapping):
        raise _schema("no payload (claim -260, entry 1)")
    if payload.get("v") != PAYLOAD_VERSION:
        raise _schema(f"payload version (v) is not {PAYLOAD_VERSION}")
    extra = set(payload) - {"v", "c", "r", "u", "t", "s", "n"}
    if extra:
        raise _schema(f"unknown payload keys {sorted(map(str, extra))[:5]}")
    reasons = payload.get("r")
    if not isinstance(reasons, list) or len(reasons) > _MAX_REASONS:
        raise _schema(f"reasons (r) is not an array of at most {_MAX_REASONS}")
    cti = cwt.get(CWT_CTI)
    if not isinstance(cti, bytes) or not 1 <= len(cti) <= 64 or not cti.isascii():
        raise _schema("the code id (cti) is not 1-64 ASCII bytes")
    issuer = _text(cwt.get(CWT_ISS), "the issuer (iss)", 16)
    colour = _text(payload.get("c"), "colour (c)", 16)
    issued, expires = _int(cwt.get(CWT_IAT), "iat"), _int(cwt.get(CWT_EXP), "exp")
    return HealthCodeClaims(
        code_id=cti.decode("ascii"),
        issuer=issuer,
        subject=_opt_text(payload.get("s"), "subject (s)", 64),
        name=_opt_text(payload.get("n"), "name (n)"),
        colour=colour,
        reasons=tuple(_text(r, f"reason {i}", _MAX_REASON_CHARS) for i, r in enumerate(reasons)),
        status_until=_instant(_opt_int(payload.get("u"), "status until (u)")),
        last_negative_test_at=_instant(_opt_int(payload.get("t"), "last negative test (t)")),
        issued_at=from_epoch(issued),
        expires_at=from_epoch(expires),
    )


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat().replace("+00:00", "Z")


def payload_json(claims: HealthCodeClaims) -> dict[str, Any]:
    """What ``chaincut verify --json`` prints as a code's ``payload``."""
    return {
        "kind": "chaincut_health_code",
        "version": PAYLOAD_VERSION,
        "issuer": claims.issuer,
        "code_id": claims.code_id,
        "colour": claims.colour,
        "reasons": list(claims.reasons),
        "status_until": _iso(claims.status_until),
        "last_negative_test_at": _iso(claims.last_negative_test_at),
        "subject": claims.subject,
        "name": claims.name,
        "issued_at": _iso(claims.issued_at),
        "expires_at": _iso(claims.expires_at),
    }
