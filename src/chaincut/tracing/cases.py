"""Cases: registering confirmed and probable cases, their isolation and infectious windows.

A case is registered through the API, the command line or a bulk file, by the same
rules: it belongs to a registered person, has a symptom onset or a specimen date (the
infectious window opens from one of them, see chaincut.tracing.windows), no date or
isolation time in the future, and an isolation time no earlier than the window's
opening. Dates are local calendar days (``zone``, Asia/Hong_Kong by default); "today"
is the local date of the clock. Every write records who made it (``actor``) and the
version of the policy in force.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError

from chaincut.clock import Clock, from_epoch, to_epoch
from chaincut.domain import Case, CaseClassification, CaseStatus
from chaincut.domain.ids import new_public_id
from chaincut.errors import Conflict, InvalidInput, NotFound
from chaincut.policy import Policy
from chaincut.store import Store
from chaincut.tracing.actors import validate_actor
from chaincut.tracing.case_checks import (
    CaseDraft,
    CaseProblem,
    check_case_fields,
    isolation_problems,
)
from chaincut.tracing.timeline import CaseTimeline, ResidentEncounters, read_timeline
from chaincut.tracing.windows import infectious_window, window_opening

__all__ = [
    "CaseDraft",
    "CaseProblem",
    "CaseRecord",
    "CaseRegistry",
    "CaseWindow",
    "check_case_fields",
]

log = logging.getLogger("chaincut.cases")

_STATUSES = ", ".join(s.value for s in CaseStatus)
_CLASSIFICATIONS = ", ".join(c.value for c in CaseClassification)


@dataclass(frozen=True)
class CaseWindow:
    """A case's infectious window, aware UTC datetimes, both ends included.

    ``ongoing`` while the case is not isolated: the window then ends at the time asked.
    """

    start: datetime
    end: datetime
    ongoing: bool
    policy_version: str  # the policy whose rule gave the window


@dataclass(frozen=True)
class CaseRecord:
    """A case with what a tracer reads beside it: the person's ref, the linked case, the window."""

    case: Case
    person_ref: str
    linked_case_ref: str | None
    window: CaseWindow


# Told the ref of a case registered or changed, after the change commits (health codes follow).
OnCaseChange = Callable[[str], object]


class CaseRegistry:
    """Registers cases, records their isolation and discharge, and tells their infectious windows.

    ``on_change`` (wired in bootstrap to the health codes) is told each case registered or
    changed here, after the change commits; its failure is logged, not raised: the case is
    stored, and ``chaincut codes refresh`` catches up.
    """

    def __init__(
        self,
        store: Store,
        policy: Policy,
        clock: Clock,
        zone: ZoneInfo,
        on_change: OnCaseChange | None = None,
        resident: ResidentEncounters | None = None,
    ) -> None:
        """``resident``: a server's in-memory index of the archive's encounters, for timelines."""
        self._store = store
        self._policy = policy
        self._clock = clock
        self._zone = zone
        self._on_change = on_change
        self._resident = resident

    def _changed(self, ref: str) -> None:
        if self._on_change is None:
            return
        try:
            self._on_change(ref)
        except Exception:
            log.exception("case %s: updating health codes failed; `chaincut codes refresh` retries", ref)

    @property
    def zone(self) -> ZoneInfo:
        """The local time zone of dates (onset, specimen, report)."""
        return self._zone

    def today(self) -> date:
        """The local date of the clock."""
        return self._clock.now().astimezone(self._zone).date()

    def register(self, draft: CaseDraft, actor: str) -> Case:
        """Register a case; InvalidInput, NotFound (person, linked case) or Conflict (ref) store nothing."""
        actor = validate_actor(actor)
        now = self._clock.now()
        problems = check_case_fields(draft, self._policy, self._zone, now)
        if problems:
            raise problems[0].error()
        try:
            with self._store.write() as uow:
                person_id = uow.people.id_for_ref(draft.person)
                if person_id is None:
                    raise NotFound("no such person", field="person")
                if uow.cases.get_by_ref(draft.ref) is not None:
                    raise Conflict("a case with this ref is already registered", field="ref")
                linked_id = None
                if draft.linked_case is not None:
                    linked = uow.cases.get_by_ref(draft.linked_case)
                    if linked is None:
                        raise NotFound("no such case to link to", field="linked_case")
                    linked_id = linked.id
                case = Case(
                    ref=draft.ref,
                    person_id=person_id,
                    status=CaseStatus(draft.status),
                    classification=CaseClassification(draft.classification),
                    reported_on=draft.reported_on or now.astimezone(self._zone).date(),
                    onset_on=draft.onset_on,
                    specimen_on=draft.specimen_on,
                    isolated_at=draft.isolated_at,
                    created_by=actor,
                    policy_version=self._policy.version,
                    linked_case_id=linked_id,
                )
                stored = uow.cases.get(uow.cases.add(case, to_epoch(now)))
        except IntegrityError as exc:
            raise Conflict("a case with this ref is already registered", field="ref") from exc
        assert stored is not None
        log.info("case %s registered by %s (policy %s)", stored.ref, actor, self._policy.version)
        self._changed(stored.ref)
        return stored

    def register_from_positive_test(
        self, person_id: int, specimen_on: date, linked_case_id: int | None, actor: str
    ) -> Case:
        """Make a contact who tested positive a confirmed case, linked to the case they came from.

        The case gets a generated ref ("C-" and an opaque id), status confirmed and
        classification linked, and is reported today. Calling it again for the same
        person, specimen date and linked case returns the case already registered.
        """
        actor = validate_actor(actor)
        now = self._clock.now()
        today = now.astimezone(self._zone).date()
        if specimen_on > today:
            raise InvalidInput(
                f"{specimen_on.isoformat()} is after today ({today.isoformat()})",
                field="specimen_on",
                code="date_in_future",
            )
        with self._store.write() as uow:
            if not uow.cases.person_refs([person_id]):
                raise NotFound("no such person", field="person")
            if linked_case_id is not None and uow.cases.get(linked_case_id) is None:
                raise NotFound("no such case to link to", field="linked_case")
            for existing in uow.cases.get_by_person(person_id):
                if existing.specimen_on == specimen_on and existing.linked_case_id == linked_case_id:
                    return existing
            case = Case(
                ref=f"C-{new_public_id()}",
                person_id=person_id,
                status=CaseStatus.CONFIRMED,
                classification=CaseClassification.LINKED,
                reported_on=today,
                specimen_on=specimen_on,
                created_by=actor,
                policy_version=self._policy.version,
                linked_case_id=linked_case_id,
            )
            stored = uow.cases.get(uow.cases.add(case, to_epoch(now)))
        assert stored is not None
        log.info("case %s registered from a positive test by %s", stored.ref, actor)
        self._changed(stored.ref)
        return stored

    def get(self, ref: str) -> Case:
        with self._store.read() as uow:
            case = uow.cases.get_by_ref(ref)
        if case is None:
            raise NotFound("no such case", field="ref")
        return case

    def set_isolation(self, ref: str, at: datetime, actor: str) -> Case:
        """Record when the case was isolated, which closes its infectious window."""
        actor = validate_actor(actor)
        now = self._clock.now()
        with self._store.write() as uow:
            case = uow.cases.get_by_ref(ref)
            if case is None:
                raise NotFound("no such case", field="ref")
            problems = isolation_problems(at, case.onset_on, case.specimen_on, self._policy, self._zone, now)
            if problems:
                raise problems[0].error()
            assert case.id is not None
            uow.cases.set_isolation(case.id, to_epoch(at))
        # No column records who changed an isolation time yet (the audit issue, #4): log it.
        log.info("case %s isolation set by %s", ref, actor)
        self._changed(ref)
        return replace(case, isolated_at=from_epoch(to_epoch(at)))

    def set_discharge(self, ref: str, at: datetime, actor: str) -> Case:
        """Record when the case was discharged (from isolation or hospital): it is no longer an open case.

        Not in the future, and not before the case's isolation (when recorded) or the
        opening of its infectious window.
        """
        actor = validate_actor(actor)
        now = self._clock.now()
        if at.tzinfo is None:
            raise InvalidInput("expected a time with a UTC offset", field="discharged_at")
        if at > now:
            raise InvalidInput("discharged_at is in the future", field="discharged_at", code="in_future")
        with self._store.write() as uow:
            case = uow.cases.get_by_ref(ref)
            if case is None:
                raise NotFound("no such case", field="ref")
            if case.isolated_at is not None and at < case.isolated_at:
                raise InvalidInput(
                    "discharged_at is before the case's isolation",
                    field="discharged_at",
                    code="before_isolation",
                )
            opening = window_opening(self._policy, self._zone, case.onset_on, case.specimen_on)
            if to_epoch(at) < opening:
                raise InvalidInput(
                    "discharged_at is before the case's infectious window opens",
                    field="discharged_at",
                    code="before_window",
                )
            assert case.id is not None
            uow.cases.set_discharge(case.id, to_epoch(at))
        log.info("case %s discharge set by %s", ref, actor)
        self._changed(ref)
        return replace(case, discharged_at=from_epoch(to_epoch(at)))

    def window_of(self, case: Case, as_of: datetime | None = None) -> CaseWindow:
        """The case's infectious window under the policy, as of ``as_of`` (default: now)."""
        as_of = as_of or self._clock.now()
        window = infectious_window(case, self._policy, self._zone, as_of)
        return CaseWindow(
            from_epoch(window.start), from_epoch(window.end), case.isolated_at is None, self._policy.version
        )

    def window(self, ref: str) -> CaseWindow:
        """The infectious window of the case ``ref``, as of now."""
        return self.window_of(self.get(ref))

    def describe(self, cases: Sequence[Case]) -> list[CaseRecord]:
        """Each case with its person's ref, its linked case's ref and its window."""
        with self._store.read() as uow:
            people = uow.cases.person_refs([c.person_id for c in cases])
            linked = uow.cases.refs_of([c.linked_case_id for c in cases if c.linked_case_id is not None])
        now = self._clock.now()
        return [
            CaseRecord(
                case=c,
                person_ref=people.get(c.person_id, ""),
                linked_case_ref=None if c.linked_case_id is None else linked.get(c.linked_case_id),
                window=self.window_of(c, now),
            )
            for c in cases
        ]

    def timeline(self, ref: str) -> CaseTimeline:
        """Where the case was, and whom it met, during its infectious window, in time order."""
        case = self.get(ref)
        window = self.window_of(case)
        entries = read_timeline(
            self._store, case.person_id, to_epoch(window.start), to_epoch(window.end), self._resident
        )
        return CaseTimeline(ref=case.ref, start=window.start, end=window.end, entries=entries)

    def set_status(self, ref: str, status: CaseStatus, actor: str) -> Case:
        """Change a case's status by hand (the caller checks who may, and audits it)."""
        actor = validate_actor(actor)
        with self._store.write() as uow:
            case = uow.cases.get_by_ref(ref)
            if case is None:
                raise NotFound("no such case", field="ref")
            assert case.id is not None
            uow.cases.set_status(case.id, status)
        log.info("case %s status set to %s by %s", ref, status.value, actor)
        self._changed(ref)
        return replace(case, status=status)

    # Last in the class: its name would shadow the builtin in the annotations below it.
    def list(
        self,
        *,
        assigned_to: int | None = None,
        status: str | None = None,
        classification: str | None = None,
        reported_from: date | None = None,
        reported_to: date | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> tuple[list[Case], int]:
        """One page of cases (latest reports first) and how many match in all."""
        try:
            wanted_status = None if status is None else CaseStatus(status)
        except ValueError:
            raise InvalidInput(f"expected one of {_STATUSES}", field="status") from None
        try:
            wanted_class = None if classification is None else CaseClassification(classification)
        except ValueError:
            raise InvalidInput(f"expected one of {_CLASSIFICATIONS}", field="classification") from None
        if reported_from is not None and reported_to is not None and reported_to < reported_from:
            raise InvalidInput("the end of the report period is before its start", field="reported_to")
        with self._store.read() as uow:
            return uow.cases.list(
                assigned_to=assigned_to,
                status=wanted_status,
                classification=wanted_class,
                reported_from=reported_from,
                reported_to=reported_to,
                offset=offset,
                limit=limit,
            )
