"""What clearance needs from outside the border package: a health-code verifier, a trust list, and
what the codes' issuer knows of them now.

The verifier checks a signed health code (HCERT wire format, ``chaincut.codes``)
offline, against the trust list it was built with, and says what the code claims.
``CodeCheck`` is structural: any object with ``valid``, ``reason`` and ``claims``
will do, so the codes package's own result type plugs in unchanged. A test
double ships in ``chaincut.border.testing``.

A signed code states its holder's colour when it was issued. ``CodeStanding`` is what is
known at the moment of the scan: whether the code has been revoked (its holder's colour
worsened since) and, for a holder in our own store, their current code. Online it comes
from the issuer's store (``StandingLookup``); offline from the bundle's revoked code ids.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from chaincut.domain.health_codes import HealthCodeClaims
from chaincut.errors import ChaincutError

__all__ = [
    "NOTHING_KNOWN",
    "CheckedCode",
    "CodeCheck",
    "CodeStanding",
    "CodeVerifier",
    "KnownStanding",
    "RevokedCodesProvider",
    "StandingLookup",
    "TrustListProvider",
    "VerifierFactory",
    "check_code",
]


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


class CodeStanding(Protocol):
    """What the code's issuer knows now of a scanned code and its holder."""

    @property
    def revoked(self) -> str | None: ...  # why the code may no longer be used; None when it may

    @property
    def colour(self) -> str | None: ...  # the holder's colour now; None: not known here (a partner's code)

    @property
    def reasons(self) -> tuple[str, ...]: ...  # the holder's reasons now

    @property
    def until(self) -> datetime | None: ...  # when the holder's colour may change by itself


@dataclass(frozen=True)
class KnownStanding:
    """A plain ``CodeStanding``: what an offline bundle knows (revoked or not), or a lookup's answer."""

    revoked: str | None = None
    colour: str | None = None
    reasons: tuple[str, ...] = ()
    until: datetime | None = None


NOTHING_KNOWN = KnownStanding()
"""Nothing beyond what the code states: not revoked, holder's current code unknown."""

StandingLookup = Callable[[HealthCodeClaims], CodeStanding]
"""The standing of a code a verifier accepted, read from the issuer's store at the moment of the scan."""

RevokedCodesProvider = Callable[[], Mapping[str, Collection[str]]]
"""Every code id known to be revoked, by issuer (ours and partners'), for the offline bundle."""

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
