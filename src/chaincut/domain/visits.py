"""Whereabouts: visits to venues and proximity encounters between people."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

__all__ = ["Encounter", "Visit", "VisitSource"]


class VisitSource(enum.Enum):
    """How the authority learnt of a visit."""

    QR = "qr"  # the resident scanned the venue's poster
    UPLOAD = "upload"  # a case uploaded their visit history when asked
    INTERVIEW = "interview"  # a tracer recorded it in an interview
    IMPORT = "import"  # a bulk file from another system
    TAXI = "taxi"  # a ride checked in by taxi plate
    CROWDNOTIFIER = "crowdnotifier"  # a case sent a private (decentralised) check-in, by choice

    @property
    def code(self) -> int:
        """The compact code the store keeps."""
        return _SOURCE_CODES[self]

    @classmethod
    def from_code(cls, code: int) -> VisitSource:
        return _SOURCES_BY_CODE[code]


_SOURCE_CODES = {source: i for i, source in enumerate(VisitSource)}
_SOURCES_BY_CODE = {i: source for source, i in _SOURCE_CODES.items()}


@dataclass(frozen=True)
class Visit:
    """A person's stay at a venue from ``entered_at`` to ``left_at``.

    ``left_at`` is None while the person is still checked in. When nobody
    checked out, chaincut closes the visit after the venue type's default stay
    and sets ``left_inferred``. ``clipped``: the stay as given ran past the venue
    type's longest believable stay (a phone with a stuck clock), so ``left_at`` was
    brought back to it.
    """

    person_id: int
    venue_id: int
    entered_at: datetime
    left_at: datetime | None
    source: VisitSource
    left_inferred: bool = False
    client_id: str | None = None
    id: int | None = None
    clipped: bool = False

    def __post_init__(self) -> None:
        if self.entered_at.tzinfo is None or (self.left_at and self.left_at.tzinfo is None):
            raise ValueError("visit times must be timezone-aware")
        if self.left_at is not None and self.left_at < self.entered_at:
            raise ValueError("a visit cannot end before it starts")


@dataclass(frozen=True)
class Encounter:
    """Two people near each other from ``start`` to ``end`` (Bluetooth or a sensor)."""

    person_a: int
    person_b: int
    start: datetime
    end: datetime
    id: int | None = None

    def __post_init__(self) -> None:
        if self.person_a == self.person_b:
            raise ValueError("an encounter needs two different people")
        if self.end < self.start:
            raise ValueError("an encounter cannot end before it starts")
