"""Verifying chaincut health codes, our own and partner jurisdictions', offline.

A code is checked like an EU DCC (``chaincut.codes.hcert``) and reported in the same shape:
``valid``, a human-readable ``reason``, the decoded ``payload`` and ``checks`` with the keys
``unprefix``, ``b45decode``, ``compression``, ``decode``, ``verify``, ``expirationcheck`` and
``schemavalidation`` (true, false, or absent when not reached), plus the parsed
``HealthCodeClaims``. ``keyusage`` is always absent for these codes: a health code is one kind
of credential, so our signer certificates carry none of the DCC's test/vaccination/recovery
key usages; a signer is limited instead by being listed, unrevoked, under its issuer's root.

The signer is found by the code's issuer (CWT ``iss``) and its ``kid``, which must sit in the
protected header (we sign it there; an unprotected kid could be swapped). A kid the issuer
revoked, a kid it does not list, a signer not chained to the issuer's pinned root, an altered
code, an expired code (past ``exp`` by more than the verifier's clock leeway,
``chaincut.domain.code_validity``) and a payload that breaks the schema are each refused with
their reason. Public keys and chain checks are cached per (issuer, kid). Whatever the input, the answer is a
result, never an exception.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from chaincut.codes.code_format import (
    CODE_PREFIX,
    CWT_EXP,
    CWT_HCERT,
    CWT_IAT,
    CWT_ISS,
    claims_from_cwt,
    payload_json,
)
from chaincut.codes.cose import ALG_ES256, CoseSign1
from chaincut.codes.hcert import CONTEXT_PREFIX, MAX_QR_TEXT, VerificationResult, open_envelope, verify_hcert
from chaincut.codes.signing_keys import chains_to, format_kid
from chaincut.codes.trust import TrustAnchors
from chaincut.codes.trust_list import IssuerTrust
from chaincut.domain.code_validity import DEFAULT_CODE_LEEWAY_SECONDS, signer_time_problem, validity_problem
from chaincut.domain.health_codes import HealthCodeClaims
from chaincut.errors import InvalidHealthCertificate

__all__ = ["CODE_CHECKS", "CodeTrust", "CodeVerificationResult", "CodeVerifier", "verify_qr"]

CODE_CHECKS = (
    "unprefix",
    "b45decode",
    "compression",
    "decode",
    "verify",
    "expirationcheck",
    "schemavalidation",
)
_HEADER_ALG, _HEADER_KID = 1, 4


@dataclass(frozen=True)
class CodeTrust:
    """The issuers whose codes a verifier accepts (our own authority and each partner), by name."""

    issuers: Mapping[str, IssuerTrust] = field(default_factory=dict)

    def with_issuer(self, trust: IssuerTrust) -> CodeTrust:
        return CodeTrust({**self.issuers, trust.issuer: trust})


@dataclass(frozen=True)
class CodeVerificationResult(VerificationResult):
    """A verified (or refused) code: the DCC result's shape plus its claims, issuer and kid."""

    claims: HealthCodeClaims | None = None
    issuer: str | None = None
    kid: str | None = None


@dataclass(frozen=True)
class _Signer:
    key: ec.EllipticCurvePublicKey | None
    not_before: float
    not_after: float
    problem: str | None  # why this signer cannot be used (not chained, not P-256)


def _decode(text: str, checks: dict[str, bool]) -> tuple[CoseSign1, Mapping[Any, Any]]:
    sign1, cwt = open_envelope(text, CODE_PREFIX, checks)
    if not isinstance(cwt.get(CWT_HCERT), Mapping):
        raise InvalidHealthCertificate("the CWT holds no health code (claim -260)", step="decode")
    if not isinstance(cwt.get(CWT_ISS), str):
        raise InvalidHealthCertificate("the CWT names no issuer (claim 1, iss)", step="decode")
    checks["decode"] = True
    return sign1, cwt


class CodeVerifier:
    """Verifies health codes against a fixed ``CodeTrust``, caching each signer's public key.

    ``leeway``: the clock skew tolerated on ``iat``, ``exp`` and the signer's validity
    (``chaincut.domain.code_validity``; the setting ``CHAINCUT_CODE_LEEWAY_SECONDS``).
    """

    def __init__(
        self, trust: CodeTrust, *, leeway: timedelta = timedelta(seconds=DEFAULT_CODE_LEEWAY_SECONDS)
    ) -> None:
        self.trust = trust
        self.leeway = leeway
        self._signers: dict[tuple[str, bytes], _Signer] = {}

    def _signer(self, issuer: IssuerTrust, kid: bytes) -> _Signer | None:
        cached = self._signers.get((issuer.issuer, kid))
        if cached is not None:
            return cached
        certificate = issuer.signers.get(kid)
        if certificate is None:
            return None
        key = certificate.public_key()
        problem = None
        if not chains_to(certificate, issuer.root):
            problem = (
                f"the signer certificate {format_kid(kid)} is not chained to {issuer.issuer}'s pinned root"
            )
        elif not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
            problem = "ES256 needs a P-256 signer key"
        signer = _Signer(
            key if isinstance(key, ec.EllipticCurvePublicKey) else None,
            certificate.not_valid_before_utc.timestamp(),
            certificate.not_valid_after_utc.timestamp(),
            problem,
        )
        self._signers[(issuer.issuer, kid)] = signer
        return signer

    def _verify_problem(self, sign1: CoseSign1, issuer_name: str) -> tuple[str | None, _Signer | None]:
        issuer = self.trust.issuers.get(issuer_name)
        if issuer is None:
            return f"no trust list for the issuer {issuer_name[:16]!r}", None
        kid = sign1.protected.get(_HEADER_KID)
        if not isinstance(kid, bytes):
            return "the code's key id is not in its protected header", None
        if sign1.protected.get(_HEADER_ALG) != ALG_ES256:
            return "the code is not signed with ES256 (-7)", None
        if kid in issuer.revoked:
            revoked_at = issuer.revoked[kid].isoformat().replace("+00:00", "Z")
            return f"the signing key {format_kid(kid)} was revoked by {issuer_name} at {revoked_at}", None
        signer = self._signer(issuer, kid)
        if signer is None:
            return f"unknown key id {format_kid(kid)}: {issuer_name}'s trust list does not list it", None
        if signer.problem is not None or signer.key is None:
            return signer.problem or "the signer's key cannot be read", signer
        if len(sign1.signature) != 64:
            return "an ES256 signature is 64 bytes (r||s)", signer
        r = int.from_bytes(sign1.signature[:32], "big")
        s = int.from_bytes(sign1.signature[32:], "big")
        try:
            signer.key.verify(encode_dss_signature(r, s), sign1.to_be_signed(), ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError):
            return "the signature does not match the signer's key (altered or forged)", signer
        return None, signer

    def _verify(self, text: str, at: datetime) -> CodeVerificationResult:
        checks: dict[str, bool] = {}
        try:
            sign1, cwt = _decode(text, checks)
        except InvalidHealthCertificate as refusal:
            checks[refusal.step] = False
            return CodeVerificationResult(False, refusal.reason, checks)
        issuer = str(cwt[CWT_ISS])
        problems: dict[str, str | None] = {}
        problems["verify"], signer = self._verify_problem(sign1, issuer)
        problems["expirationcheck"] = _expiration_problem(cwt, signer, at, self.leeway.total_seconds())
        claims: HealthCodeClaims | None = None
        try:
            claims = claims_from_cwt(cwt)
            problems["schemavalidation"] = None
        except InvalidHealthCertificate as exc:
            problems["schemavalidation"] = exc.reason
        checks.update({step: problem is None for step, problem in problems.items()})
        failed = [problem for problem in problems.values() if problem is not None]
        kid = sign1.protected.get(_HEADER_KID)
        return CodeVerificationResult(
            not failed,
            failed[0] if failed else "valid",
            checks,
            None if claims is None else payload_json(claims),
            claims=claims,
            issuer=issuer[:16],
            kid=format_kid(kid) if isinstance(kid, bytes) else None,
        )

    def verify(self, text: str, at: datetime) -> CodeVerificationResult:
        """Verify a scanned code's QR text at the time ``at``."""
        try:
            return self._verify(text, at)
        except RecursionError:
            return CodeVerificationResult(False, "the code is nested too deeply to read", {})
        except (zlib.error, ValueError, TypeError, OverflowError, MemoryError) as exc:
            return CodeVerificationResult(False, f"the code cannot be read ({type(exc).__name__})", {})


def _number(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _expiration_problem(
    cwt: Mapping[Any, Any], signer: _Signer | None, at: datetime, leeway: float
) -> str | None:
    now = at.timestamp()
    issued, expires = _number(cwt.get(CWT_IAT)), _number(cwt.get(CWT_EXP))
    problem = validity_problem(issued, expires, now, leeway, noun="code")
    if problem is not None or signer is None:
        return problem
    problem = signer_time_problem(signer.not_before, signer.not_after, now, leeway)
    if problem is None and expires is not None and expires > signer.not_after:
        return "the code outlives its signer certificate"
    return problem


def verify_qr(
    text: str, *, codes: CodeVerifier, dcc: TrustAnchors, at: datetime
) -> VerificationResult | CodeVerificationResult:
    """Any credential a traveller shows: a chaincut code (``CC1:``) or an EU DCC (``HC1:``), both read
    with the code verifier's clock leeway."""
    if isinstance(text, str) and text.startswith(CODE_PREFIX):
        return codes.verify(text, at)
    if isinstance(text, str) and (text.startswith(CONTEXT_PREFIX) or len(text) > MAX_QR_TEXT):
        return verify_hcert(text, dcc, at, leeway=codes.leeway)
    return VerificationResult(
        False,
        f"the QR text starts with neither {CODE_PREFIX!r} (a health code) nor {CONTEXT_PREFIX!r} (an EU DCC)",
        {"unprefix": False},
    )
