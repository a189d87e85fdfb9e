"""The knobs of a synthetic city and the summary of what was written."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from chaincut.errors import InvalidInput
from chaincut.whereabouts.synth.venue_types import VENUE_TYPES

__all__ = [
    "DEFAULT_ENCOUNTERS_PER_PERSON_DAY",
    "CityParameters",
    "CitySummary",
    "ProgressCallback",
]

ProgressCallback = Callable[[str, int, int], None]
"""Called as ``progress(stage, done, total)`` while a city is generated."""

DEFAULT_ENCOUNTERS_PER_PERSON_DAY = 0.4
"""Recorded close-range encounters per person per day when none is given.

A synthetic-model choice: enough proximity records (households every
evening, many co-workers, a few strangers) to exercise contact finding at
scale without dwarfing the visit log.
"""


@dataclass(frozen=True)
class CityParameters:
    """How big a synthetic city to build and from which seed."""

    people: int
    venues: int
    days: int
    checkins_per_day: int
    seed: int
    encounters_per_day: int | None = None  # None -> DEFAULT_ENCOUNTERS_PER_PERSON_DAY x people

    def __post_init__(self) -> None:
        minimum_venues = len(VENUE_TYPES)  # one of each kind
        checks = (
            ("people", self.people >= 2, "a city needs at least 2 people"),
            (
                "venues",
                self.venues >= minimum_venues,
                f"a city needs at least {minimum_venues} venues, one of each kind",
            ),
            ("days", self.days >= 1, "days must be at least 1"),
            ("checkins_per_day", self.checkins_per_day >= 0, "must not be negative"),
            ("seed", self.seed >= 0, "seed must not be negative"),
            (
                "encounters_per_day",
                self.encounters_per_day is None or self.encounters_per_day >= 0,
                "must not be negative",
            ),
        )
        for name, ok, rule in checks:
            if not ok:
                raise InvalidInput(f"{name}={getattr(self, name)}: {rule}", field=name)

    @property
    def daily_encounters(self) -> int:
        """Encounters to generate per simulated day."""
        if self.encounters_per_day is not None:
            return self.encounters_per_day
        return round(DEFAULT_ENCOUNTERS_PER_PERSON_DAY * self.people)


@dataclass(frozen=True)
class CitySummary:
    """What ``synthesize_city`` wrote: row counts and the Parquet file of each table."""

    people: int
    households: int
    venues: int
    visits: int
    encounters: int
    files: dict[str, Path]  # table name -> Parquet file
