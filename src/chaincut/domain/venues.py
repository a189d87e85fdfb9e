"""Venues people check in at: premises, and taxis identified by their plate."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["TAXI", "Venue"]

TAXI = "taxi"


@dataclass(frozen=True)
class Venue:
    """A place (or a taxi) where people can be traced to.

    ``venue_type`` is one of the types the policy lists; taxis carry their
    registration ``plate``.
    """

    ref: str
    public_id: str
    venue_type: str
    name_en: str
    name_zh: str
    district: str | None = None
    address: str | None = None
    plate: str | None = None
    created_at: datetime | None = None
    id: int | None = None
    operator_id: int | None = None  # the venue operator's staff id, when one registered it

    @property
    def is_taxi(self) -> bool:
        return self.venue_type == TAXI
