"""Health codes: the colour each resident holds, why, and what a signed code says.

A colour is a name from the policy's ``[health_codes]`` section (green, amber
and red by default, least to most restrictive); chaincut never hard-codes
which colour means what. A ``HealthCode`` is the computed status with its
reasons; ``HealthCodeClaims`` is what a signed code (HCERT wire format, see
``chaincut.codes``) carries to a checkpoint that may be offline.
Instants are timezone-aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["CodeReason", "HealthCode", "HealthCodeClaims"]


@dataclass(frozen=True)
class CodeReason:
    """One rule that holds for a person now: its colour, why, and until when it holds."""

    rule: str  # the policy rule's name, e.g. "close_contact"
    colour: str
    text: str  # e.g. "close contact (visit to venue V-1 with case C-7)"
    until: datetime | None  # None: until the facts change (an open case)
    case_ref: str | None = None
    venue_ref: str | None = None


@dataclass(frozen=True)
class HealthCode:
    """A person's current code: the most restrictive colour whose rules hold, and every reason."""

    person_id: int
    colour: str
    reasons: tuple[CodeReason, ...]
    until: datetime | None  # when the colour may change by itself; None: only when facts change
    computed_at: datetime
    policy_version: str
    overridden: bool = False  # set by a supervisor with a reason (see the override's history entry)


@dataclass(frozen=True)
class HealthCodeClaims:
    """What a signed health code states, for a verifier that may be offline.

    ``subject`` is the holder's border subject id: a keyed hash derived from
    their identity document (never the number itself), the same value a
    checkpoint's synced booking list carries, so a code can be matched to a
    booking without the network. ``code_id`` is unique per issued code (the
    CWT ``cti``) and lets a checkpoint refuse a replayed code.
    """

    code_id: str
    issuer: str  # the issuing jurisdiction, e.g. "HK"
    subject: str | None  # None when the holder has no identity document on record
    name: str | None
    colour: str
    reasons: tuple[str, ...]
    status_until: datetime | None
    last_negative_test_at: datetime | None
    issued_at: datetime
    expires_at: datetime
