"""The generated city held in memory while its days are simulated."""

from __future__ import annotations

from dataclasses import dataclass

from chaincut.whereabouts.synth.population import Households, People
from chaincut.whereabouts.synth.routines import Routines
from chaincut.whereabouts.synth.venues import Venues

__all__ = ["City"]


@dataclass(frozen=True)
class City:
    """Venues, households, residents and their routines: everything a day needs."""

    venues: Venues
    households: Households
    people: People
    routines: Routines
