"""Issuing signed health codes: a resident's code as a credential a checkpoint verifies offline.

``CodeIssuer.issue(claims)`` signs ``HealthCodeClaims`` with the authority's active document
signer (ES256, its ``kid`` in the protected header) in the wire format of
``chaincut.codes.code_format``; ``code_qr_png`` draws the text as a QR code in alphanumeric
mode with error correction Q, as the DCC specification recommends for certificates on paper
and screens (volume 1, section 4.4). ``CodeIssuer.claims_for`` builds the claims from a
person's computed ``HealthCode``: a code is valid for the policy's ``signed_codes.valid_hours``
and never past the time its colour may change by itself.
"""

from __future__ import annotations

import base64
import io
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import cbor2
import segno
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from chaincut.clock import Clock
from chaincut.codes.base45 import b45encode
from chaincut.codes.code_format import CODE_PREFIX, claims_from_cwt, claims_to_cwt
from chaincut.codes.cose import ALG_ES256
from chaincut.codes.signing_keys import format_kid
from chaincut.domain.health_codes import HealthCode, HealthCodeClaims
from chaincut.errors import InvalidHealthCertificate, InvalidInput
from chaincut.security.identity import BorderSubjects

__all__ = [
    "ActiveSigner",
    "CodeIssuer",
    "IssuedCode",
    "SignerSource",
    "build_claims",
    "code_qr",
    "code_qr_png",
    "new_code_id",
    "sign_code",
]

_HEADER_ALG, _HEADER_KID = 1, 4
_TAG_SIGN1 = 18
_QR_ERROR = "q"  # DCC technical specification, volume 1, 4.4: error correction Q (25%)


@dataclass(frozen=True)
class ActiveSigner:
    """The document signer that signs new codes now."""

    kid: bytes
    private_key: ec.EllipticCurvePrivateKey
    not_after: datetime  # its certificate's end: no code may outlive it


class SignerSource(Protocol):
    """Where the issuer gets the active signer (the key service, which follows rotations)."""

    def active_signer(self) -> ActiveSigner: ...


@dataclass(frozen=True)
class IssuedCode:
    """A signed code: the QR text, its id, the signer's key id (base64) and when it expires."""

    text: str
    code_id: str
    kid: str
    expires_at: datetime


def new_code_id(random_bytes: Callable[[int], bytes] = os.urandom) -> str:
    """A fresh code id: 16 random bytes, base64url (22 characters)."""
    return base64.urlsafe_b64encode(random_bytes(16)).rstrip(b"=").decode("ascii")


def build_claims(
    code: HealthCode,
    *,
    code_id: str,
    issuer: str,
    subject: str | None,
    name: str | None,
    last_negative_test_at: datetime | None,
    now: datetime,
    valid_hours: int,
) -> HealthCodeClaims:
    """The claims of a code for ``code``, valid ``valid_hours`` from ``now`` and never past the
    time its colour may change by itself (``code.until``)."""
    expires = now + timedelta(hours=valid_hours)
    if code.until is not None and now < code.until < expires:
        expires = code.until
    return HealthCodeClaims(
        code_id=code_id,
        issuer=issuer,
        subject=subject,
        name=name,
        colour=code.colour,
        reasons=tuple(reason.text for reason in code.reasons),
        status_until=code.until,
        last_negative_test_at=last_negative_test_at,
        issued_at=now.replace(microsecond=0),
        expires_at=expires.replace(microsecond=0),
    )


def sign_code(claims: HealthCodeClaims, signer: ActiveSigner) -> str:
    """The QR text of a code stating ``claims``, signed by ``signer``."""
    protected = cbor2.dumps({_HEADER_ALG: ALG_ES256, _HEADER_KID: signer.kid})
    payload = cbor2.dumps(claims_to_cwt(claims))
    to_be_signed = cbor2.dumps(["Signature1", protected, b"", payload])
    r, s = decode_dss_signature(signer.private_key.sign(to_be_signed, ec.ECDSA(hashes.SHA256())))
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    message = cbor2.dumps(cbor2.CBORTag(_TAG_SIGN1, [protected, {}, payload, signature]))
    return CODE_PREFIX + b45encode(zlib.compress(message, 9))


def code_qr(text: str) -> segno.QRCode:
    """The code's QR symbol: alphanumeric mode (base45 and the prefix are in its alphabet), error
    correction Q; segno refuses text that alphanumeric mode cannot hold rather than switch modes."""
    return segno.make_qr(text, mode="alphanumeric", error=_QR_ERROR, boost_error=False)


def code_qr_png(text: str, *, scale: int = 4) -> bytes:
    """A PNG of the code's QR symbol (``code_qr``), with a 4-module quiet zone."""
    qr = code_qr(text)
    out = io.BytesIO()
    qr.save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


class CodeIssuer:
    """Signs health codes for the authority (``issuer``, e.g. "HK") with the active signer."""

    def __init__(
        self,
        signers: SignerSource,
        issuer: str,
        valid_hours: int,
        clock: Clock,
        subjects: BorderSubjects | None = None,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self._signers = signers
        self.issuer = issuer
        self.valid_hours = valid_hours
        self._clock = clock
        self._subjects = subjects
        self._random = random_bytes

    def claims_for(
        self,
        code: HealthCode,
        *,
        name: str | None,
        id_document_hash: bytes | None,
        last_negative_test_at: datetime | None,
    ) -> HealthCodeClaims:
        """The claims of a fresh code for a person's current ``code`` (subject from their identity hash)."""
        subject = None
        if id_document_hash is not None and self._subjects is not None:
            subject = self._subjects.subject_of(id_document_hash)
        return build_claims(
            code,
            code_id=new_code_id(self._random),
            issuer=self.issuer,
            subject=subject,
            name=name,
            last_negative_test_at=last_negative_test_at,
            now=self._clock.now(),
            valid_hours=self.valid_hours,
        )

    def issue(self, claims: HealthCodeClaims) -> IssuedCode:
        """Sign ``claims`` with the active document signer; refuses claims of another issuer."""
        if claims.issuer != self.issuer:
            raise InvalidInput(
                f"expected claims issued by {self.issuer!r}, got {claims.issuer!r}",
                field="issuer",
                code="wrong_issuer",
            )
        if not 1 <= len(claims.code_id) <= 64 or not claims.code_id.isascii():
            raise InvalidInput(
                "expected a code id of 1-64 ASCII characters", field="code_id", code="invalid_claims"
            )
        if not claims.issued_at < claims.expires_at:
            raise InvalidInput(
                "expected expires_at after issued_at", field="expires_at", code="invalid_claims"
            )
        try:
            claims_from_cwt(claims_to_cwt(claims))  # never sign what a verifier would refuse
        except InvalidHealthCertificate as exc:
            raise InvalidInput(exc.reason, field="claims", code="invalid_claims") from None
        signer = self._signers.active_signer()
        if claims.expires_at > signer.not_after:
            raise InvalidInput(
                "the code would outlive its signer's certificate: rotate the code-signing key",
                field="expires_at",
                code="signer_expiring",
            )
        text = sign_code(claims, signer)
        return IssuedCode(text, claims.code_id, format_kid(signer.kid), claims.expires_at)
