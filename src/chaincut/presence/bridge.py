"""Decentralised check-in joined to central tracing, and only by the resident's own choice.

Nothing here runs unless a phone sends it, and the residents' page sends it only when its owner
asks:

- **A case shares private check-ins** (``share_visits``). As the techspec's server-based clients do
  when a case starts presence notification, the phone sends each visit's venue pre-identity, its
  times and its hours' time keys. The venue is found by the pre-identity among the entry codes the
  authority registered, and every time key is checked against that code, so a phone can share only
  visits to posters it scanned. The visits then join the case's whereabouts with source
  ``crowdnotifier``, as an uploaded diary's do, and tracers see them on the case's page.
- **A phone reports a match** (``report_exposure``). It names the published trace that opened its
  record, and sends the notification key from that record: only a phone that scanned the warned
  venue's poster holds it. The health code's ``risky_visit`` rule then applies to the person, as to
  a centrally checked-in visitor of the same venue.
"""

from __future__ import annotations

import hmac
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from chaincut.access.audit import AuditTrail, event_for
from chaincut.clock import Clock, from_epoch, to_epoch
from chaincut.codes.status import HealthCodeService
from chaincut.domain import Visit, VisitSource
from chaincut.domain.access import Principal
from chaincut.errors import BatchRejected, Conflict, FieldError, InvalidInput, NotFound, UnknownVenueType
from chaincut.policy import Policy
from chaincut.presence.protocol import INTERVAL_SECONDS, affected_hours, derive_nonces, time_key
from chaincut.store import Store, UnitOfWork
from chaincut.store.presence import WarningRecord
from chaincut.tracing.windows import infectious_window
from chaincut.whereabouts.uploads import check_batch_size

__all__ = ["PresenceBridge", "ReportReceipt", "ShareReceipt", "SharedVisit"]

_OPEN = ("confirmed", "probable")


@dataclass(frozen=True)
class SharedVisit:
    """A private check-in a case's phone shares: the venue's pre-identity, the stay, and the time key
    of every hour the stay touches (the hour's start in seconds -> its key)."""

    pre_id: bytes
    arrival: datetime
    departure: datetime
    time_keys: dict[int, bytes]


@dataclass(frozen=True)
class ShareReceipt:
    """How many visits were stored, how many were there already, and how many lay outside the case's
    infectious window (sent, checked, and not kept)."""

    stored: int
    already_stored: int
    outside_window: int


@dataclass(frozen=True)
class ReportReceipt:
    """Whether this report was new (False: the person had reported this warning already), and the
    warned venue's names."""

    recorded: bool
    venue_name_en: str
    venue_name_zh: str


class PresenceBridge:
    """A case's shared private check-ins, and residents' reported matches."""

    def __init__(
        self,
        store: Store,
        policy: Policy,
        clock: Clock,
        zone: ZoneInfo,
        audit: AuditTrail,
        codes: HealthCodeService,
    ) -> None:
        self._store = store
        self._policy = policy
        self._clock = clock
        self._zone = zone
        self._audit = audit
        self._codes = codes

    # -- a case shares private check-ins ------------------------------------------------------------

    def share_visits(self, person_ref: str, visits: Sequence[SharedVisit]) -> ShareReceipt:
        """Store the visits that lie in the person's open case's infectious window: all checked
        first, and none stored unless every one checks (BatchRejected naming each bad one)."""
        check_batch_size(self._policy, len(visits), "visits")
        now = self._clock.now()
        with self._store.write() as uow:
            person_id = uow.people.id_for_ref(person_ref)
            if person_id is None:
                raise NotFound("no such person", field="person")
            window = self._open_window(uow, person_id, now)
            checked = self._checked(uow, person_id, visits, now)
            inside = [v for v in checked if _overlaps(v, window)]
            keys = sorted({v.client_id for v in inside if v.client_id is not None})
            known = uow.visits.existing_client_ids(person_id, keys)
            fresh = [v for v in inside if v.client_id not in known]
            uow.visits.add_many(fresh)
        return ShareReceipt(len(fresh), len(inside) - len(fresh), len(checked) - len(inside))

    def _open_window(self, uow: UnitOfWork, person_id: int, now: datetime) -> tuple[int, int]:
        refs = [c.ref for c in uow.health_codes.cases_of([person_id]) if c.status in _OPEN]
        cases = [case for ref in refs if (case := uow.cases.get_by_ref(ref)) is not None]
        if not cases:
            raise Conflict(
                "private check-ins are shared only by a confirmed or probable case", field="person"
            )
        windows = [infectious_window(c, self._policy, self._zone, now) for c in cases]
        return min(w.start for w in windows), max(w.end for w in windows)

    def _checked(
        self, uow: UnitOfWork, person_id: int, visits: Sequence[SharedVisit], now: datetime
    ) -> list[Visit]:
        oldest = now - timedelta(days=self._policy.retention.visits_days)
        errors: list[FieldError] = []
        out: list[Visit] = []
        stays: list[tuple[int, int, int]] = []
        for index, shared in enumerate(visits):
            problems: list[FieldError] = []

            def problem(field: str, message: str, index: int = index) -> None:
                problems.append(FieldError(field, message, index=index))  # noqa: B023

            code = uow.presence.entry_code_by_pre_id(shared.pre_id) if len(shared.pre_id) == 32 else None
            if code is None:
                problem("pre_id", "no venue's entry code has this pre-identity")
            elif code.variant != "server":
                # Its phone keeps nothing to share (a pre-identity sent anyway was made from the poster).
                problem("pre_id", "a venue whose owner keeps its tracing code: its visits are not shared")
            elif not code.valid_from <= to_epoch(shared.arrival) <= code.valid_to:
                problem("arrival", "the venue's entry code was not valid then: no phone scanned it")
            arrival, departure = shared.arrival, shared.departure
            if arrival.tzinfo is None or departure.tzinfo is None:
                problem("arrival", "expected times with a UTC offset")
            elif departure < arrival:
                problem("departure", "expected a departure no earlier than the arrival")
            elif departure > now:
                problem("departure", "time is in the future")
            elif arrival < oldest:
                problem("arrival", f"older than the {self._policy.retention.visits_days}-day retention")
            if problems or code is None:
                errors.extend(problems)
                continue
            start, end = to_epoch(arrival), to_epoch(departure)
            nonces = derive_nonces(code.entry_payload)
            hours = [h * INTERVAL_SECONDS for h in affected_hours(start, end)]
            if sorted(shared.time_keys) != hours:
                problem("time_keys", "expected one time key for each hour the stay touches, and no other")
            else:
                for hour in hours:
                    if not hmac.compare_digest(shared.time_keys[hour], time_key(hour, nonces)):
                        problem(
                            "time_keys",
                            f"the key for the hour from {from_epoch(hour):%Y-%m-%d %H:%M} UTC "
                            "is not this venue's",
                        )
                        break
            venue = uow.venues.get_many([code.venue_id]).get(code.venue_id)
            rule = None
            if venue is not None:
                try:
                    rule = self._policy.venue_rule(venue.venue_type)
                except UnknownVenueType as exc:
                    problem("pre_id", exc.message)
            if problems or venue is None or venue.id is None or rule is None:
                errors.extend(problems)
                continue
            stays.append((start, end, index))
            left, clipped = rule.clip(arrival, departure)
            out.append(
                Visit(
                    person_id=person_id,
                    venue_id=venue.id,
                    entered_at=arrival,
                    left_at=left,
                    source=VisitSource.CROWDNOTIFIER,
                    client_id=f"cn:{shared.pre_id.hex()[:24]}:{start}",
                    clipped=clipped,
                )
            )
        stays.sort()
        for (_, ended, _), (began, _, index) in itertools.pairwise(stays):
            if began < ended:
                errors.append(
                    FieldError("arrival", "overlaps another shared visit: one place at a time", index=index)
                )
        if errors:
            raise BatchRejected(errors)
        return out

    # -- a phone reports a match --------------------------------------------------------------------

    def report_exposure(
        self,
        principal: Principal,
        person_ref: str,
        *,
        seq: int,
        notification_key: bytes,
        arrival: datetime,
        departure: datetime,
    ) -> ReportReceipt:
        """Record that the person's phone matched the published trace ``seq``, then recompute the
        health codes the warning's case touches."""
        if arrival.tzinfo is None or departure.tzinfo is None:
            raise InvalidInput("expected times with a UTC offset", field="arrival")
        if departure < arrival:
            raise InvalidInput("expected a departure no earlier than the arrival", field="departure")
        now = self._clock.now()
        with self._store.write() as uow:
            person_id = uow.people.id_for_ref(person_ref)
            if person_id is None:
                raise NotFound("no such person", field="person")
            found = uow.presence.published_trace(seq)
            if found is None:
                raise NotFound("no published warning has this trace (or it has expired)", field="seq")
            warning = uow.presence.warning(found[0])
            assert warning is not None
            hour = found[1]
            start, end = to_epoch(arrival), to_epoch(departure)
            if not (start < warning.end_time and end > warning.start_time):
                raise InvalidInput("the stay does not overlap the warning's window", field="arrival")
            if not (start < hour + INTERVAL_SECONDS and end >= hour):
                raise InvalidInput("the stay does not touch the hour of this trace", field="arrival")
            self._check_key(uow, warning, hour, notification_key)
            recorded = uow.presence.add_report(
                person_id=person_id,
                warning=warning,
                last_exposure_at=min(end, warning.end_time, to_epoch(now)),
                at=to_epoch(now),
            )
            if recorded:
                self._audit.record_in(
                    uow,
                    event_for(
                        principal,
                        "presence.exposures.report",
                        "presence_reports",
                        record=warning.public_id,
                        details={"venue": warning.venue_ref},
                        subject_person_id=person_id,
                    ),
                )
        if recorded:
            self._codes.case_changed(warning.case_ref)
        return ReportReceipt(recorded, warning.venue_name_en, warning.venue_name_zh)

    @staticmethod
    def _check_key(uow: UnitOfWork, warning: WarningRecord, hour: int, notification_key: bytes) -> None:
        """The key must be that of one of the venue's codes a phone could have scanned by that hour
        (a code of the day: that day's, or the day before's for a stay past midnight)."""
        for code in uow.presence.entry_codes(warning.venue_id):
            if code.valid_from >= hour + INTERVAL_SECONDS:
                continue  # scanned later than the hour it would open
            if hmac.compare_digest(derive_nonces(code.entry_payload).notification_key, notification_key):
                return
        raise InvalidInput("this is not the warned venue's notification key", field="notification_key")


def _overlaps(visit: Visit, window: tuple[int, int]) -> bool:
    left = visit.left_at or visit.entered_at
    return to_epoch(visit.entered_at) <= window[1] and to_epoch(left) >= window[0]  # touching counts
