"""Daily follow-up of contacts: symptoms and test results, one record per person per local day.

Symptoms come from a fixed vocabulary (``SYMPTOMS``), so that onset dates and
epidemic curves can be counted from them; anything else the person says goes in
the free-text ``note``. A positive test makes the person a case: the service
calls ``on_positive(person_id, on_date, linked_case_id, actor)`` (the signature of
``CaseRegistry.register_from_positive_test``), where the linked case
is the one whose tracing gave the person their open order, so tracing continues
from them. The follow-up is stored first, in its own transaction; the callback
runs after it commits (it opens its own), and its errors reach the caller.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from chaincut.clock import Clock, from_epoch
from chaincut.domain import Case, FollowUp, TestResult
from chaincut.errors import InvalidInput, NotFound
from chaincut.store import FollowUpEntry, Store
from chaincut.store.orders import FollowUpDay, OpenOrderRow
from chaincut.tracing.actors import validate_actor
from chaincut.tracing.orders import validate_note

__all__ = [
    "SYMPTOMS",
    "WORKLIST_DAYS",
    "DayStatus",
    "FollowUpRecorded",
    "FollowUpService",
    "OnPositive",
    "OnTestResult",
    "Worklist",
    "WorklistRow",
    "followed_from",
]

log = logging.getLogger("chaincut.follow_ups")

# The symptoms of the WHO COVID-19 case definition (WHO/2019-nCoV/Surveillance_Case_Definition/2022.1)
# and of the CHP's reporting criteria for suspected cases, as stable codes.
SYMPTOMS: frozenset[str] = frozenset(
    {
        "fever",
        "chills",
        "cough",
        "sore_throat",
        "runny_nose",
        "shortness_of_breath",
        "fatigue",
        "headache",
        "muscle_pain",
        "loss_of_taste_or_smell",
        "nausea_or_vomiting",
        "diarrhoea",
    }
)

# Called with (person_id, the day of the positive test as the specimen date, the linked
# case's id or None, the actor); returns the case, or None when it made none.
OnPositive = Callable[[int, date, int | None, str], Case | None]

# Called with (person_id, the follow-up's day, "positive" or "negative", the actor) after the
# follow-up is stored, so health codes can count the test.
OnTestResult = Callable[[int, date, str, str], object]


WORKLIST_DAYS = 8  # the days a worklist row shows, today included (SORMAS's follow-up view)


class DayStatus(enum.Enum):
    """What a day of a person's follow-up shows on the worklist."""

    SEEN = "seen"  # reached, and well
    SYMPTOMATIC = "symptomatic"  # reached, with a symptom or a positive test
    NOT_REACHED = "not_reached"  # called, and not reached
    NOT_DONE = "not_done"  # under an order that day, and nothing recorded
    OUTSIDE = "outside"  # under no order that day


@dataclass(frozen=True)
class WorklistRow:
    """One person under follow-up: their open orders, and the worklist's days, oldest first."""

    person_ref: str
    orders: tuple[OpenOrderRow, ...]
    days: tuple[tuple[date, DayStatus], ...]

    @property
    def due_today(self) -> bool:
        """Today's follow-up is still to be done."""
        return self.days[-1][1] is DayStatus.NOT_DONE


@dataclass(frozen=True)
class Worklist:
    """A page of the people under follow-up, by keyset (``next_after``: the next page's cursor)."""

    rows: list[WorklistRow]
    today: date
    next_after: int | None


@dataclass(frozen=True)
class FollowUpRecorded:
    """A stored follow-up, the order it was attached to, and whether a positive test made a case."""

    follow_up: FollowUp
    order_public_id: str | None
    case_created: bool
    case: Case | None = None


def normalise_symptoms(symptoms: Sequence[str]) -> tuple[str, ...]:
    """The symptoms as stored: known codes, lower case, each once, sorted."""
    cleaned = sorted({s.strip().lower().replace(" ", "_").replace("-", "_") for s in symptoms})
    unknown = [s for s in cleaned if s not in SYMPTOMS]
    if unknown:
        raise InvalidInput(
            f"unknown symptom {unknown[0]!r}; expected any of {', '.join(sorted(SYMPTOMS))}"
            " (other complaints go in the note)",
            field="symptoms",
            code="unknown_symptom",
        )
    return tuple(cleaned)


class FollowUpService:
    """Records each day's follow-up of a person and lists them."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        zone: ZoneInfo,
        on_positive: OnPositive | None = None,
        on_test_result: OnTestResult | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._zone = zone
        self._on_positive = on_positive
        self._on_test_result = on_test_result

    def record(
        self,
        person_ref: str,
        on_date: date,
        symptoms: Sequence[str],
        test_result: TestResult | None,
        note: str | None,
        actor: str,
        *,
        reached: bool = True,
    ) -> FollowUpRecorded:
        """Store the day's follow-up; a positive result hands the person to case registration.

        A day the person could not be reached (``reached=False``) records the attempt only: no
        symptom and no result can then be known.
        """
        actor = validate_actor(actor)
        note = validate_note(note)
        stored_symptoms = normalise_symptoms(symptoms)
        if not reached and (stored_symptoms or test_result is not None):
            raise InvalidInput(
                "a person not reached has no symptoms or test result to record",
                field="reached",
                code="not_reached",
            )
        now = self._clock.now()
        today = now.astimezone(self._zone).date()
        if on_date > today:
            raise InvalidInput(
                f"the follow-up day is after today ({today.isoformat()}, {self._zone.key})",
                field="on_date",
                code="in_future",
            )
        with self._store.write() as uow:
            person_id = uow.people.id_for_ref(person_ref)
            if person_id is None:
                raise NotFound("no such person", field="person")
            open_orders = uow.orders.open_for(person_id)
            order = open_orders[0] if open_orders else None
            follow_up = FollowUp(
                person_id=person_id,
                on_date=on_date,
                symptoms=stored_symptoms,
                test_result=test_result,
                recorded_at=now,
                recorded_by=actor,
                order_id=None if order is None else order.id,
                note=note,
                reached=reached,
            )
            stored = uow.follow_ups.get(uow.follow_ups.add(follow_up))
        assert stored is not None
        case: Case | None = None
        if test_result is not None and self._on_test_result is not None:
            try:
                self._on_test_result(person_id, on_date, test_result.value, actor)
            except Exception:  # the follow-up is stored; `chaincut codes refresh` catches up
                log.exception("updating a health code after a follow-up's test result failed")
        if test_result is TestResult.POSITIVE and self._on_positive is not None:
            case = self._on_positive(person_id, on_date, None if order is None else order.case_id, actor)
        return FollowUpRecorded(
            follow_up=stored,
            order_public_id=None if order is None else order.public_id,
            case_created=case is not None,
            case=case,
        )

    def list(
        self, person_ref: str, *, order_public_id: str | None = None, offset: int = 0, limit: int = 100
    ) -> tuple[list[FollowUpEntry], int]:
        """One page of the person's follow-ups, latest day first, and how many there are."""
        with self._store.read() as uow:
            person_id = uow.people.id_for_ref(person_ref)
            if person_id is None:
                raise NotFound("no such person", field="person")
            order_id = None
            if order_public_id is not None:
                order = uow.orders.get_by_public_id(order_public_id)
                if order is None or order.person_id != person_id:
                    raise NotFound("no such order for this person", field="order")
                order_id = order.id
            return uow.follow_ups.list(person_id=person_id, order_id=order_id, offset=offset, limit=limit)

    def worklist(self, staff_id: int | None, *, after: int | None = None, limit: int = 50) -> Worklist:
        """The people under follow-up (an open order begun by today), a page at a time.

        With ``staff_id``, only those whose orders come from the member's assigned cases. Each row
        shows the last ``WORKLIST_DAYS`` local days, today last.
        """
        today = self._clock.now().astimezone(self._zone).date()
        first = today - timedelta(days=WORKLIST_DAYS - 1)
        with self._store.read() as uow:
            found = uow.follow_ups.under_follow_up(
                today=today, staff_id=staff_id, after_person=after, limit=limit + 1
            )
            people = sorted({o.person_id for o in found})
            shown = people[:limit]
            recorded = uow.follow_ups.days(shown, first, today)
        by_day: dict[tuple[int, date], FollowUpDay] = {(d.person_id, d.on_date): d for d in recorded}
        held: dict[int, list[OpenOrderRow]] = {}
        for order in found:
            if order.person_id in shown:
                held.setdefault(order.person_id, []).append(order)
        rows = []
        for person_id in shown:
            mine = held[person_id]
            days = []
            for offset in range(WORKLIST_DAYS):
                day = first + timedelta(days=offset)
                days.append((day, _status(by_day.get((person_id, day)), day, mine, self._zone)))
            rows.append(WorklistRow(mine[0].person_ref, tuple(mine), tuple(days)))
        return Worklist(rows, today, shown[-1] if len(people) > limit else None)


def followed_from(starts_on: date, issued_at: int, zone: ZoneInfo) -> date:
    """The first day an order's person is followed up: its start, or the day it was issued when
    later (a quarantine starts on the day of the last exposure, often before the order)."""
    return max(starts_on, from_epoch(issued_at).astimezone(zone).date())


def _status(
    recorded: FollowUpDay | None, day: date, held: Sequence[OpenOrderRow], zone: ZoneInfo
) -> DayStatus:
    if recorded is not None:
        if not recorded.reached:
            return DayStatus.NOT_REACHED
        return DayStatus.SYMPTOMATIC if recorded.symptomatic else DayStatus.SEEN
    if any(followed_from(o.starts_on, o.issued_at, zone) <= day <= o.ends_on for o in held):
        return DayStatus.NOT_DONE
    return DayStatus.OUTSIDE
