"""People whose whereabouts the authority holds, and their households."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["Household", "Person", "PersonalDetails"]


@dataclass(frozen=True)
class PersonalDetails:
    """What identifies a person to a tracer: kept encrypted at rest, never logged."""

    name: str | None = None
    phone: str | None = None
    address: str | None = None

    def __repr__(self) -> str:  # never leak personal data through a repr in a log
        return "PersonalDetails(<redacted>)"


@dataclass(frozen=True)
class Household:
    """People who live together: close contacts of each other by default."""

    ref: str
    district: str | None = None
    id: int | None = None


@dataclass(frozen=True)
class Person:
    """A resident or visitor known to the authority.

    ``ref`` is the reference the source system uses (the external reference);
    ``public_id`` is the opaque id the API shows; ``id`` is the store's own key.
    The identity-document number is never held, only its keyed hash.
    """

    ref: str
    public_id: str
    details: PersonalDetails = field(default_factory=PersonalDetails, repr=False)
    id_document_hash: bytes | None = field(default=None, repr=False)
    household_ref: str | None = None
    created_at: datetime | None = None
    id: int | None = None
