"""The policy epidemiologists edit, as typed values.

Every duration carries its unit in its name. Tiers order contacts by how close
they came: a *close contact* is quarantined, an *exposed* person gets a
compulsory testing notice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum

from chaincut.domain.contacts import Tier
from chaincut.errors import UnknownVenueType

__all__ = [
    "CODE_RULE_PARAMETERS",
    "BookingMode",
    "BorderRules",
    "CheckpointRule",
    "ClearanceRules",
    "ClusterRules",
    "CodeRule",
    "CodeRuleKind",
    "ContactRule",
    "ContactsOfContactsRule",
    "EncounterRule",
    "EpidemicCurveRules",
    "HealthCodeRules",
    "HouseholdRule",
    "InfectiousWindowRule",
    "OrderRules",
    "Policy",
    "PresenceRules",
    "ReproductionNumberRules",
    "RetentionRules",
    "SignedCodeRules",
    "SlotHours",
    "Tier",
    "TracingTargetRules",
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
    """What the policy says about one venue type.

    ``default_stay_minutes`` closes a visit nobody checked out of; ``max_stay_minutes``
    is the longest believable stay there: a longer visit (a phone with a stuck clock)
    is clipped to it and marked clipped.
    """

    name: str
    label_en: str
    label_zh: str
    default_stay_minutes: int
    max_stay_minutes: int
    contact: ContactRule

    @property
    def default_stay(self) -> timedelta:
        return timedelta(minutes=self.default_stay_minutes)

    @property
    def max_stay(self) -> timedelta:
        return timedelta(minutes=self.max_stay_minutes)

    def clip(self, entered_at: datetime, left_at: datetime) -> tuple[datetime, bool]:
        """The end of a stay from ``entered_at`` to ``left_at`` within the longest believable
        stay, and whether it had to be clipped."""
        longest = entered_at + self.max_stay
        return (longest, True) if left_at > longest else (left_at, False)


@dataclass(frozen=True)
class RetentionRules:
    """How long whereabouts, replaced details and ended credentials are kept before they are purged."""

    visits_days: int
    encounters_days: int
    corrected_values_days: int  # a corrected detail's old value; the fact of the correction stays
    ended_access_days: int  # sessions, tokens and export approvals after they expire or are revoked


@dataclass(frozen=True)
class PresenceRules:
    """Decentralised check-in (CrowdNotifier): how long phones keep records, and the limits on warnings."""

    records_days: int  # phones delete their encrypted check-ins after this; warnings expire with them
    max_warning_hours: int  # the longest window at a venue one warning may cover
    max_checkins_per_day: int  # check-ins a phone keeps per day
    dummy_requests_per_hour: int  # dummy shares and reports an enrolled phone sends while a page is open


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


@dataclass(frozen=True)
class TracingTargetRules:
    """What tracing should achieve, as the console measures it."""

    contacts_traced_within_hours: int  # a case untraced this long after it was reported is overdue
    indicator_days: int  # WHO's tracing indicators cover this many days, today included
    lost_to_follow_up_days: int  # an order's person unreached on each of its last days this many: lost


@dataclass(frozen=True)
class EpidemicCurveRules:
    """How the epidemic curve is smoothed and how far back its growth rate is fitted."""

    average_window_days: int  # the trailing average's window: the day and the ones before it
    growth_fit_days: int  # the last days the exponential growth rate is fitted over


@dataclass(frozen=True)
class SignedCodeRules:
    """How long a signed health code stays valid once issued, and an offline checkpoint's bundle."""

    valid_hours: int  # from issue; short, so that a screenshot soon expires
    # An offline checkpoint's synced bundle (with the codes revoked as of its sync) is refused after this.
    bundle_max_age_hours: int


@dataclass(frozen=True)
class ReproductionNumberRules:
    """How the time-varying reproduction number R_t is estimated (Cori et al. 2013, as in EpiEstim).

    A gamma prior on R_t (mean ``prior_mean``, standard deviation ``prior_sd``) is updated with the
    local cases of each sliding window of ``window_days`` days; a window is reported only where the
    posterior's coefficient of variation is below ``max_posterior_cv``. The serial interval is a gamma
    distribution offset by one day (EpiEstim's ``discr_si``) with this mean and standard deviation.
    """

    window_days: int
    prior_mean: float  # of R_t, dimensionless
    prior_sd: float
    max_posterior_cv: float
    serial_interval_mean_days: float
    serial_interval_sd_days: float


@dataclass(frozen=True)
class ClusterRules:
    """How clusters of cases are inferred from shared settings and direct links (``analytics.clusters``).

    Cases at one setting whose days (onset, else report date) are at most ``interval_days`` apart
    form a group of at least ``min_cases``; venue groups sharing ``merge_min_shared_cases`` cases
    merge; a cluster is active while a member was reported in the last ``active_days`` days.
    Settings of the ``non_linking_kinds`` link no cases; those of the ``attach_only_kinds`` only
    attach cases that are in no other cluster. ``building_kinds`` maps a kind to the words in a
    building-list name that give it (the first kind whose word appears wins).
    """

    min_cases: int
    interval_days: int
    active_days: int
    coarse_exposure_days_before_onset: int
    merge_min_shared_cases: int
    non_linking_kinds: frozenset[str]
    attach_only_kinds: frozenset[str]
    building_kinds: tuple[tuple[str, tuple[str, ...]], ...]


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
class SlotHours:
    """When a slot is open at a checkpoint, in local time: from ``start`` to before ``end``."""

    slot: str
    start: time
    end: time | None  # None: until midnight ("24:00" in the policy file)

    def holds(self, at: time) -> bool:
        return self.start <= at and (self.end is None or at < self.end)

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{'24:00' if self.end is None else f'{self.end:%H:%M}'}"


@dataclass(frozen=True)
class ClearanceRules:
    """What a traveller must show at the checkpoint, when each slot is open, and when the ballot is drawn."""

    negative_test_hours: int  # a negative test taken at most this many hours before the crossing
    cleared_colours: frozenset[str]  # code colours that may cross
    slot_hours: Mapping[str, SlotHours]  # slot -> local opening hours
    ballot_draw_local_time: time  # the local time of day a ballot is drawn ...
    ballot_draw_days_before: int  # ... this many days before the crossing day
    negative_test_kinds: frozenset[str] = frozenset({"pcr"})  # which tests count (health_tests.kind)

    def slot_at(self, at: time) -> str | None:
        """The slot open at local time ``at``; None when no slot is."""
        return next((s.slot for s in self.slot_hours.values() if s.holds(at)), None)


@dataclass(frozen=True)
class BorderRules:
    """Quota-controlled crossings: how far ahead one books, with how many companions, and where."""

    booking_days_ahead: int  # the last day one may book, counted from today (local date)
    max_companions: int  # travellers on one booking besides the booker's traveller
    mode: BookingMode
    checkpoints: Mapping[str, CheckpointRule]
    clearance: ClearanceRules
    # A slot seen full is refused without asking the store for this long; a seat a cancellation
    # gives back in another server process is offered again after it at the latest.
    full_slot_recheck_seconds: int

    def checkpoint(self, checkpoint_id: str) -> CheckpointRule | None:
        return self.checkpoints.get(checkpoint_id)


class CodeRuleKind(StrEnum):
    """The facts a health-code rule may test; chaincut knows how to read each from the store."""

    OPEN_CASE = "open_case"  # a confirmed or probable case, not discharged
    DISCHARGED = "discharged"  # a case discharged within ``within_days``
    CLOSE_CONTACT = "close_contact"  # traced as a close contact, last exposure within ``within_days``
    EXPOSED_CONTACT = "exposed_contact"  # traced as exposed, last exposure within ``within_days``
    QUARANTINE_ORDER = "quarantine_order"  # an open quarantine order, until its end
    TESTING_NOTICE = "testing_notice"  # an open compulsory testing notice, until it is due
    POSITIVE_TEST = "positive_test"  # a positive test taken within ``within_hours``
    VACCINATION = "vaccination"  # fewer than ``min_doses`` vaccine doses
    ARRIVAL = "arrival"  # arrived from elsewhere within ``within_days``
    RISKY_VISIT = "risky_visit"  # same day at a venue an infectious case visited, within ``within_days``


# Which parameter each kind needs (besides the optional lifted_by_negative_test_hours and enabled).
CODE_RULE_PARAMETERS: Mapping[CodeRuleKind, str | None] = {
    CodeRuleKind.OPEN_CASE: None,
    CodeRuleKind.DISCHARGED: "within_days",
    CodeRuleKind.CLOSE_CONTACT: "within_days",
    CodeRuleKind.EXPOSED_CONTACT: "within_days",
    CodeRuleKind.QUARANTINE_ORDER: None,
    CodeRuleKind.TESTING_NOTICE: None,
    CodeRuleKind.POSITIVE_TEST: "within_hours",
    CodeRuleKind.VACCINATION: "min_doses",
    CodeRuleKind.ARRIVAL: "within_days",
    CodeRuleKind.RISKY_VISIT: "within_days",
}


@dataclass(frozen=True)
class CodeRule:
    """One named rule: when its fact holds, the person's code is at least ``colour``.

    ``lifted_by_negative_test_hours``: a negative test taken after the fact began and
    no more than this many hours ago lifts the rule (None: no test lifts it).
    """

    name: str
    when: CodeRuleKind
    colour: str
    within_days: int | None = None
    within_hours: int | None = None
    min_doses: int | None = None
    lifted_by_negative_test_hours: int | None = None
    enabled: bool = True


@dataclass(frozen=True)
class HealthCodeRules:
    """The code colours, least to most restrictive, the colour when no rule holds, and the rules."""

    colours: tuple[str, ...]
    default_colour: str
    rules: Mapping[str, CodeRule]

    def rank(self, colour: str) -> int:
        """Higher is more restrictive; -1 for a colour the policy does not name."""
        return self.colours.index(colour) if colour in self.colours else -1

    @property
    def enabled_rules(self) -> tuple[CodeRule, ...]:
        return tuple(r for r in self.rules.values() if r.enabled)


@dataclass(frozen=True)
class Policy:
    """One version of the experts' policy; ``digest`` identifies its exact content."""

    version: str
    digest: str
    retention: RetentionRules
    uploads: UploadRules
    presence: PresenceRules
    venue_types: Mapping[str, VenueTypeRule]
    infectious_window: InfectiousWindowRule
    household: HouseholdRule
    encounters: EncounterRule
    contacts_of_contacts: ContactsOfContactsRule
    orders: OrderRules
    tracing_targets: TracingTargetRules
    border: BorderRules
    signed_codes: SignedCodeRules
    health_codes: HealthCodeRules
    reproduction_number: ReproductionNumberRules
    clusters: ClusterRules
    epidemic_curve: EpidemicCurveRules

    def venue_rule(self, name: str, *, field: str = "venue_type") -> VenueTypeRule:
        """The rule of venue type ``name``; UnknownVenueType, naming it, when the policy has none.

        The one place a venue type is looked up: registering, importing, checking in,
        closing stale visits and tracing all ask here, so a type the policy lacks is
        refused the same way everywhere instead of being given a guessed stay. ``field``
        is the request's field the refusal names (a check-in's ``token`` or ``plate``).
        """
        rule = self.venue_types.get(name)
        if rule is None:
            raise UnknownVenueType(name, sorted(self.venue_types), field=field)
        return rule

    @property
    def longest_after_leave_seconds(self) -> int:
        return max((t.contact.after_leave_seconds for t in self.venue_types.values()), default=0)
