"""Test doubles for the border package's ports, shipped with it (as httpx ships its mock transport).

``FakeCodeVerifier`` answers from a dict of QR text -> what the code states
(``HealthCodeClaims``) or why it is refused (a string); any other text is refused
as unknown, and a code outside its ``issued_at``..``expires_at``, read with the same clock
leeway as the real verifiers (``chaincut.domain.code_validity``), as not valid. Use it wherever the
real signed-code verifier is not wanted: tests, demos, a checkpoint drill.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from chaincut.border.ports import CheckedCode, CodeVerifier, VerifierFactory
from chaincut.domain.code_validity import DEFAULT_CODE_LEEWAY_SECONDS, validity_problem
from chaincut.domain.health_codes import HealthCodeClaims

__all__ = ["CheckedCode", "FakeCodeVerifier", "fake_verifier_factory"]


class FakeCodeVerifier:
    """A verifier from a dict: QR text -> claims (a valid code) or a reason (a refused one)."""

    def __init__(
        self,
        codes: Mapping[str, HealthCodeClaims | str],
        *,
        leeway: timedelta = timedelta(seconds=DEFAULT_CODE_LEEWAY_SECONDS),
    ) -> None:
        self.codes = dict(codes)
        self.leeway = leeway
        self.calls: list[tuple[str, datetime]] = []

    def __call__(self, qr_text: str, at: datetime) -> CheckedCode:
        self.calls.append((qr_text, at))
        found = self.codes.get(qr_text)
        if found is None:
            return CheckedCode(False, "unknown code: not signed by a trusted key", None)
        if isinstance(found, str):
            return CheckedCode(False, found, None)
        problem = validity_problem(
            found.issued_at.timestamp(),
            found.expires_at.timestamp(),
            at.timestamp(),
            self.leeway.total_seconds(),
            noun="code",
        )
        if problem is not None:
            return CheckedCode(False, problem, None)
        return CheckedCode(True, "", found)


def fake_verifier_factory(codes: Mapping[str, HealthCodeClaims | str]) -> VerifierFactory:
    """A ``VerifierFactory`` that ignores the bundle's trust list and answers from ``codes``."""
    verifier = FakeCodeVerifier(codes)

    def factory(_trust_list: Mapping[str, Any]) -> CodeVerifier:
        return verifier

    return factory
