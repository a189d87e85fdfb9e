"""What clearance needs from outside the border package: a health-code verifier and a trust list.

The verifier checks a signed health code (HCERT wire format, ``chaincut.codes``)
offline, against the trust list it was built with, and says what the code claims.
``CodeCheck`` is structural: any object with ``valid``, ``reason`` and ``claims``
will do, so the codes package's own result type plugs in unchanged. A test
double ships in ``chaincut.border.testing``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from chaincut.domain.health_codes import HealthCodeClaims
from chaincut.errors import ChaincutError

__all__ = ["CheckedCode", "CodeCheck", "CodeVerifier", "TrustListProvider", "VerifierFactory", "check_code"]


class CodeCheck(Protocol):
    """A verifier's answer about one scanned code."""

    @property
    def valid(self) -> bool: ...

    @property
    def reason(self) -> str: ...  # why it is not valid ("expired", "unknown key id", ...); "" when valid

    @property
    def claims(self) -> HealthCodeClaims | None: ...  # what a valid code states; None when not valid


@dataclass(frozen=True)
class CheckedCode:
    """A plain ``CodeCheck``, for verifiers that have no result type of their own."""

    valid: bool
    reason: str
    claims: HealthCodeClaims | None


CodeVerifier = Callable[[str, datetime], CodeCheck]
"""Checks the QR text of a health code at an instant (aware UTC)."""

TrustListProvider = Callable[[], Mapping[str, Any]]
"""The signed trust list a checkpoint takes offline (JSON-ready); ``{}`` when none is published."""

VerifierFactory = Callable[[Mapping[str, Any]], CodeVerifier]
"""Builds an offline verifier from a synced bundle's trust list."""


def check_code(verifier: CodeVerifier, qr_text: str, at: datetime) -> CodeCheck:
    """The verifier's answer; a verifier that raises instead of answering refuses the code with its reason."""
    try:
        return verifier(qr_text, at)
    except ChaincutError as exc:
        return CheckedCode(False, exc.message, None)
