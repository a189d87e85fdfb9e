"""Health codes: signing the authority's codes, and verifying the credentials travellers present.

Public names: ``verify_hcert`` and its ``VerificationResult`` for EU Digital COVID
Certificates (HCERT), ``TrustAnchors`` and ``parse_trust_list`` for their trusted signers,
and ``load_certificate`` for one signer certificate. For chaincut's own signed health codes
(``CC1:``): ``CodeIssuer``, ``IssuedCode``, ``build_claims`` and ``code_qr_png`` to issue
them, ``CodeVerifier``, ``CodeTrust`` and ``CodeVerificationResult`` to verify them, and
``verify_qr`` for any credential. The services over the store (``key_service.CodeKeys``,
``partners.Partners``, ``partners.TrustedCodes``) are wired in ``chaincut.bootstrap``.
"""

from __future__ import annotations

from chaincut.codes.code_verify import CodeTrust, CodeVerificationResult, CodeVerifier, verify_qr
from chaincut.codes.hcert import CHECKS, VerificationResult, verify_hcert
from chaincut.codes.issuance import CodeIssuer, IssuedCode, build_claims, code_qr_png
from chaincut.codes.trust import TrustAnchors, load_certificate, parse_trust_list

__all__ = [
    "CHECKS",
    "CodeIssuer",
    "CodeTrust",
    "CodeVerificationResult",
    "CodeVerifier",
    "IssuedCode",
    "TrustAnchors",
    "VerificationResult",
    "build_claims",
    "code_qr_png",
    "load_certificate",
    "parse_trust_list",
    "verify_hcert",
    "verify_qr",
]
