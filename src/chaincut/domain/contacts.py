"""Contacts of a case and the evidence that names each one.

Instants inside are timezone-aware UTC; the tracing engine works in int seconds
since the Unix epoch and turns them into these at the edge.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

__all__ = ["Contact", "Evidence", "EvidenceKind", "Interval", "Tier"]


class Tier(enum.Enum):
    """What finding someone a contact leads to; ``CLOSE`` outranks ``EXPOSED``."""

    CLOSE = "close"  # close contact: quarantine order
    EXPOSED = "exposed"  # exposed: compulsory testing notice

    @property
    def rank(self) -> int:
        """Higher is closer; the strongest tier a person earns is theirs."""
        return 2 if self is Tier.CLOSE else 1


class EvidenceKind(enum.Enum):
    """Which kind of whereabouts made someone a contact."""

    VENUE = "venue"  # at the same venue around the same time
    ENCOUNTER = "encounter"  # near the index person (Bluetooth or a sensor)
    HOUSEHOLD = "household"  # lives with the index person


@dataclass(frozen=True)
class Interval:
    """From ``start`` to ``end``, both included."""

    start: datetime
    end: datetime

    @property
    def seconds(self) -> int:
        return int((self.end - self.start).total_seconds())


@dataclass(frozen=True)
class Evidence:
    """One reason a person is a contact: which rule fired, where, when, for how long.

    ``index_person_id`` is whose exposure it is: the case for a first-generation
    contact, the contact it came through for a contact of a contact. For a venue,
    ``index_interval`` is the index person's stay clipped to their window and
    extended by the rule's after-leave minutes; ``contact_interval`` is the
    contact's own stay. ``index_clipped`` and ``contact_clipped`` say that the index
    person's or the contact's stay, as given, ran past the venue type's longest
    believable stay and was clipped to it (a phone with a stuck clock): evidence a
    tracer should check. For encounters, ``seconds`` is cumulative within the window.
    """

    kind: EvidenceKind
    rule: str
    tier: Tier
    seconds: int
    index_person_id: int
    venue_id: int | None = None
    index_interval: Interval | None = None
    contact_interval: Interval | None = None
    encounters: int = 0
    index_clipped: bool = False
    contact_clipped: bool = False

    @property
    def minutes(self) -> float:
        return round(self.seconds / 60, 2)


@dataclass(frozen=True)
class Contact:
    """A person found by tracing, with the strongest tier their evidence earns.

    ``generation`` is 1 for a case's own contacts, 2 for contacts of contacts, and
    so on; ``via_person_id`` is the contact they were found through (None at 1).
    ``seconds`` is the sum of the evidence's seconds.
    """

    person_id: int
    tier: Tier
    generation: int
    seconds: int
    evidence: tuple[Evidence, ...]
    via_person_id: int | None = None

    @property
    def minutes(self) -> float:
        return round(self.seconds / 60, 2)
