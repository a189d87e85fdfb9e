"""The policy epidemiologists edit, as typed values.

Every duration carries its unit in its name. Tiers order contacts by how close
they came: a *close contact* is quarantined, an *exposed* person gets a
compulsory testing notice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from chaincut.domain.contacts import Tier

__all__ = [
    "BookingMode",
    "BorderRules",
    "CheckpointRule",
    "ContactRule",
    "ContactsOfContactsRule",
    "EncounterRule",
    "HouseholdRule",
    "InfectiousWindowRule",
    "OrderRules",
    "Policy",
    "RetentionRules",
    "Tier",
    "UploadRules",
    "VenueTypeRule",
]


@dataclass(frozen=True)
class ContactRule:
    """Who counts as a contact of a case at one venue type.

    A visit is compared with a case's visit to the same venue, clipped to the case's
    infectious window and extended by ``after_leave_minutes`` (the air stays
    infectious a while after the case leaves). The visitor is a contact when the two
    intervals meet and overlap by at least ``min_overlap_minutes``.
    """

    min_overlap_minutes: int
    after_leave_minutes: int
    tier: Tier

    @property
    def min_overlap_seconds(self) -> int:
        return self.min_overlap_minutes * 60

    @property
    def after_leave_seconds(self) -> int:
        return self.after_leave_minutes * 60


@dataclass(frozen=True)
class VenueTypeRule:
    """What the policy says about one venue type."""

    name: str
    label_en: str
    label_zh: str
    default_stay_minutes: int
    contact: ContactRule

    @property
    def default_stay(self) -> timedelta:
        return timedelta(minutes=self.default_stay_minutes)


@dataclass(frozen=True)
class RetentionRules:
    """How long whereabouts, replaced details and ended credentials are kept before they are purged."""

    visits_days: int
    encounters_days: int
    corrected_values_days: int  # a corrected detail's old value; the fact of the correction stays
    ended_access_days: int  # sessions, tokens and export approvals after they expire or are revoked


@dataclass(frozen=True)
class UploadRules:
    """Limits on a resident's upload of their visit history."""

    max_records_per_batch: int
    history_days: int


@dataclass(frozen=True)
class InfectiousWindowRule:
    """When a case may have infected others: from N days before onset until isolation.

    For a case without symptoms the window opens N days before the specimen date.
    Days are whole local calendar days: the window opens at local midnight.
    """

    days_before_onset: int
    days_before_specimen: int


@dataclass(frozen=True)
class HouseholdRule:
    """Members of a case's household are contacts of this tier."""

    tier: Tier


@dataclass(frozen=True)
class EncounterRule:
    """Proximity: cumulative minutes near a case within its window make a contact."""

    cumulative_minutes: int
    tier: Tier

    @property
    def cumulative_seconds(self) -> int:
        return self.cumulative_minutes * 60


@dataclass(frozen=True)
class ContactsOfContactsRule:
    """How far tracing goes beyond a case's own contacts.

    ``depth`` 1 finds a case's contacts only; 2 also their contacts; and so on.
    Tracing continues only from contacts of a tier in ``from_tiers``; everyone found
    beyond the first generation gets ``tier``.
    """

    depth: int
    from_tiers: frozenset[Tier]
    tier: Tier


@dataclass(frozen=True)
class OrderRules:
    """How long quarantine orders and compulsory testing notices last."""

    quarantine_days: int  # counted from the last exposure
    testing_notice_days: int  # the test must be taken within this many days of issue
    follow_up_days: int  # daily follow-up of a close contact, from the last exposure


class BookingMode(StrEnum):
    """How border crossings are allocated: in order of booking, or by a daily ballot."""

    FIRST_COME = "first_come"
    BALLOT = "ballot"


@dataclass(frozen=True)
class CheckpointRule:
    """One land crossing that takes bookings, with its quota of travellers per slot and day."""

    id: str
    name_en: str
    name_zh: str
    slots: Mapping[str, int]  # slot ("morning", "afternoon", "night") -> travellers a day


@dataclass(frozen=True)
class BorderRules:
    """Quota-controlled crossings: how far ahead one books, with how many companions, and where."""

    booking_days_ahead: int  # the last day one may book, counted from today (local date)
    max_companions: int  # travellers on one booking besides the booker's traveller
    mode: BookingMode
    checkpoints: Mapping[str, CheckpointRule]
    # A slot seen full is refused without asking the store for this long; a seat a cancellation
    # gives back in another server process is offered again after it at the latest.
    full_slot_recheck_seconds: int

    def checkpoint(self, checkpoint_id: str) -> CheckpointRule | None:
        return self.checkpoints.get(checkpoint_id)


@dataclass(frozen=True)
class Policy:
    """One version of the experts' policy; ``digest`` identifies its exact content."""

    version: str
    digest: str
    retention: RetentionRules
    uploads: UploadRules
    venue_types: Mapping[str, VenueTypeRule]
    infectious_window: InfectiousWindowRule
    household: HouseholdRule
    encounters: EncounterRule
    contacts_of_contacts: ContactsOfContactsRule
    orders: OrderRules
    border: BorderRules

    def venue_type(self, name: str) -> VenueTypeRule | None:
        return self.venue_types.get(name)

    @property
    def longest_after_leave_seconds(self) -> int:
        return max((t.contact.after_leave_seconds for t in self.venue_types.values()), default=0)
