"""The policy epidemiologists edit, as typed values.

Every duration carries its unit in its name. The tracing issue adds contact
rules, windows and orders; this holds what capturing whereabouts needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

__all__ = ["Policy", "RetentionRules", "UploadRules", "VenueTypeRule"]


@dataclass(frozen=True)
class VenueTypeRule:
    """What the policy says about one venue type."""

    name: str
    label_en: str
    label_zh: str
    default_stay_minutes: int

    @property
    def default_stay(self) -> timedelta:
        return timedelta(minutes=self.default_stay_minutes)


@dataclass(frozen=True)
class RetentionRules:
    """How long whereabouts are kept before they are purged."""

    visits_days: int
    encounters_days: int


@dataclass(frozen=True)
class UploadRules:
    """Limits on a resident's upload of their visit history."""

    max_records_per_batch: int
    history_days: int


@dataclass(frozen=True)
class Policy:
    """One version of the experts' policy; ``digest`` identifies its exact content."""

    version: str
    digest: str
    retention: RetentionRules
    uploads: UploadRules
    venue_types: Mapping[str, VenueTypeRule]

    def venue_type(self, name: str) -> VenueTypeRule | None:
        return self.venue_types.get(name)
