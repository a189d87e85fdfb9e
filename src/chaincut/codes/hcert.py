"""Verifying an EU Digital COVID Certificate offline, from the text of its QR code.

The steps follow the DCC technical specification (eHealth Network, volume 1):
strip the ``HC1:`` context prefix, base45-decode, zlib-decompress, decode the
COSE_Sign1 envelope and its CWT payload, check the signature against a trusted
signer certificate, check the validity period, the signer's permitted
certificate kinds (key usage), and the content against the official DCC schema
of its version (``dcc_schema``). Each step's outcome is reported in ``checks``;
a step not reached is absent. Once the envelope is decoded the last four checks
are all made, so an officer sees every problem. Whatever the input, the answer
is a result, never an exception.
"""

from __future__ import annotations

import base64
import math
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509

from chaincut.codes.base45 import b45decode
from chaincut.codes.cose import CoseSign1, decode_cbor, decode_sign1, verify_signature
from chaincut.codes.dcc_schema import check_schema
from chaincut.codes.key_usage import key_usage_problem
from chaincut.codes.trust import TrustAnchors
from chaincut.domain.code_validity import DEFAULT_CODE_LEEWAY_SECONDS, signer_time_problem, validity_problem
from chaincut.errors import InvalidHealthCertificate

__all__ = [
    "CHECKS",
    "CONTEXT_PREFIX",
    "MAX_QR_TEXT",
    "VerificationResult",
    "decompress",
    "open_envelope",
    "verify_hcert",
]

CONTEXT_PREFIX = "HC1:"
CHECKS = (
    "unprefix",
    "b45decode",
    "compression",
    "decode",
    "verify",
    "expirationcheck",
    "keyusage",
    "schemavalidation",
)
MAX_QR_TEXT = 8192  # a version-40 QR code holds at most 4,296 alphanumeric characters
_MAX_DECOMPRESSED = 1 << 20  # real certificates are a few hundred bytes; refuse zip bombs
_MAX_NESTING = 32
_CWT_ISS, _CWT_IAT, _CWT_EXP, _CWT_HCERT = 1, 6, 4, -260


@dataclass(frozen=True)
class VerificationResult:
    """What a border officer learns from a scanned certificate: valid or not, why, and each check."""

    valid: bool
    reason: str
    checks: dict[str, bool] = field(default_factory=dict)
    payload: Any = None

    def to_json(self) -> dict[str, Any]:
        """The result as one JSON object: valid, payload, reason, checks."""
        return {"valid": self.valid, "payload": self.payload, "reason": self.reason, "checks": self.checks}


def _plain(value: Any, depth: int = 0) -> Any:
    """A CBOR value as JSON-ready data: byte strings in base64, keys as text, tags by their content."""
    if depth > _MAX_NESTING:
        raise InvalidHealthCertificate("the certificate content is nested too deeply")
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, Mapping):
        return {str(key): _plain(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item, depth + 1) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def decompress(data: bytes) -> bytes:
    """A certificate's zlib stream inflated, refusing bombs, truncation and trailing bytes."""
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, _MAX_DECOMPRESSED)
    except zlib.error as exc:
        raise InvalidHealthCertificate(
            f"the certificate is not zlib-compressed: {exc}", step="compression"
        ) from None
    if inflater.unconsumed_tail:
        raise InvalidHealthCertificate("the certificate decompresses to more than 1 MiB", step="compression")
    if not inflater.eof:
        raise InvalidHealthCertificate("the compressed certificate is truncated", step="compression")
    if inflater.unused_data:
        raise InvalidHealthCertificate(
            "bytes follow the end of the compressed certificate", step="compression"
        )
    return out


def open_envelope(text: str, prefix: str, checks: dict[str, bool]) -> tuple[CoseSign1, Mapping[Any, Any]]:
    """The COSE_Sign1 and its CWT claims from QR text behind ``prefix``; each step passed is noted.

    Raises InvalidHealthCertificate naming the step that failed (unprefix, b45decode,
    compression, decode). Shared by EU certificates and chaincut's own health codes.
    """
    if len(text) > MAX_QR_TEXT:
        raise InvalidHealthCertificate("the text is longer than any QR code holds", step="unprefix")
    if not text.startswith(prefix):
        raise InvalidHealthCertificate(f"the QR text does not start with {prefix!r}", step="unprefix")
    checks["unprefix"] = True
    try:
        compressed = b45decode(text[len(prefix) :])
    except InvalidHealthCertificate as exc:
        raise InvalidHealthCertificate(f"the QR text is not base45: {exc.reason}", step="b45decode") from None
    checks["b45decode"] = True
    message = decompress(compressed)
    checks["compression"] = True
    try:
        sign1 = decode_sign1(message)
        claims = decode_cbor(sign1.payload, "the CWT payload")
    except InvalidHealthCertificate as exc:
        raise InvalidHealthCertificate(exc.reason, step="decode") from None
    if not isinstance(claims, Mapping):
        raise InvalidHealthCertificate("the CWT payload is not a map of claims", step="decode")
    return sign1, claims


def _decode(text: str, checks: dict[str, bool]) -> tuple[CoseSign1, Mapping[Any, Any], Any]:
    sign1, claims = open_envelope(text, CONTEXT_PREFIX, checks)
    hcert = claims.get(_CWT_HCERT)
    if not isinstance(hcert, Mapping) or not isinstance(hcert.get(1), Mapping):
        raise InvalidHealthCertificate(
            "the CWT holds no health certificate (claim -260, entry 1)", step="decode"
        )
    checks["decode"] = True
    return sign1, claims, hcert[1]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _expiration_problem(
    claims: Mapping[Any, Any], signer: x509.Certificate | None, at: datetime, leeway: float
) -> str | None:
    now = at.timestamp()
    issued, expires = _number(claims.get(_CWT_IAT)), _number(claims.get(_CWT_EXP))
    problem = validity_problem(issued, expires, now, leeway, noun="certificate")
    if problem is not None or signer is None:
        return problem
    end = signer.not_valid_after_utc.timestamp()
    problem = signer_time_problem(signer.not_valid_before_utc.timestamp(), end, now, leeway)
    if problem is None and expires is not None and expires > end:
        return "the certificate outlives its signer certificate"
    return problem


def _verify(text: str, trust: TrustAnchors, at: datetime, leeway: float) -> VerificationResult:
    checks: dict[str, bool] = {}
    try:
        sign1, claims, dcc = _decode(text, checks)
    except InvalidHealthCertificate as refusal:
        checks[refusal.step] = False
        return VerificationResult(False, refusal.reason, checks)
    problems: dict[str, str | None] = {}
    signer = trust.signer_for(sign1.kid)
    if signer is None:
        problems["verify"] = "no trusted signer certificate has the certificate's key id"
    else:
        try:
            verify_signature(sign1, signer)
            problems["verify"] = None
        except InvalidHealthCertificate as exc:
            problems["verify"] = exc.reason
    problems["expirationcheck"] = _expiration_problem(claims, signer, at, leeway)
    if signer is not None:
        problems["keyusage"] = key_usage_problem(signer, dcc)
    problems["schemavalidation"] = check_schema(dcc).reason
    checks.update({step: problem is None for step, problem in problems.items()})
    try:
        payload = _plain(dcc)
    except InvalidHealthCertificate as exc:
        payload, problems["schemavalidation"] = None, exc.reason
        checks["schemavalidation"] = False
    failed = [problem for problem in problems.values() if problem is not None]
    return VerificationResult(not failed, failed[0] if failed else "valid", checks, payload)


def verify_hcert(
    text: str,
    trust: TrustAnchors,
    at: datetime,
    *,
    leeway: timedelta = timedelta(seconds=DEFAULT_CODE_LEEWAY_SECONDS),
) -> VerificationResult:
    """Verify a scanned certificate's QR text at the time ``at`` against the trusted signers, its
    validity period read with ``leeway`` for clock skew (``chaincut.domain.code_validity``)."""
    try:
        return _verify(text, trust, at, leeway.total_seconds())
    except RecursionError:
        return VerificationResult(False, "the certificate is nested too deeply to read", {})
