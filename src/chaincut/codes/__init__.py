"""Health codes: reading and verifying the certificates travellers present at the border.

Public names: ``verify_hcert`` and its ``VerificationResult`` for EU Digital COVID
Certificates (HCERT), ``TrustAnchors`` and ``parse_trust_list`` for the trusted
signers, and ``load_certificate`` for one signer certificate.
"""

from __future__ import annotations

from chaincut.codes.hcert import CHECKS, VerificationResult, verify_hcert
from chaincut.codes.trust import TrustAnchors, load_certificate, parse_trust_list

__all__ = [
    "CHECKS",
    "TrustAnchors",
    "VerificationResult",
    "load_certificate",
    "parse_trust_list",
    "verify_hcert",
]
