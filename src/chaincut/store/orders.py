"""Quarantine orders, testing notices, their status history, and daily follow-ups in the store.

Each status change appends an ``order_events`` row naming who made it, so an
order's history is complete from the ``issued`` row on. Follow-ups are unique
per person per local day; symptoms are stored comma-separated.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Row, Select, and_, func, insert, select, true, update
from sqlalchemy.exc import IntegrityError

from chaincut.clock import from_epoch, to_epoch
from chaincut.domain import FollowUp, Order, OrderKind, OrderStatus, TestResult, Tier
from chaincut.errors import Conflict
from chaincut.store.tables import case_assignments, cases, follow_ups, order_events, orders, people

__all__ = [
    "FollowUpDay",
    "FollowUpEntry",
    "FollowUpRepository",
    "OpenOrderRow",
    "OrderEntry",
    "OrderEvent",
    "OrderFilter",
    "OrderRepository",
]

_OPEN_STATUSES = tuple(s.value for s in OrderStatus if not s.final)


@dataclass(frozen=True)
class OrderEvent:
    """One step in an order's history: the status it took, when, by whom, and why."""

    status: OrderStatus
    changed_at: datetime
    changed_by: str
    note: str | None = None


@dataclass(frozen=True)
class OrderEntry:
    """An order with the external references people read (never internal ids)."""

    order: Order
    person_ref: str
    case_ref: str | None
    history: tuple[OrderEvent, ...] = ()


@dataclass(frozen=True)
class OrderFilter:
    """Which orders to list; ``ends_before`` and ``ends_after`` are exclusive local dates."""

    person_id: int | None = None
    case_id: int | None = None
    kind: OrderKind | None = None
    status: OrderStatus | None = None
    ends_before: date | None = None
    ends_after: date | None = None


@dataclass(frozen=True)
class FollowUpEntry:
    """A follow-up with the public id of the order it was recorded under, if any."""

    follow_up: FollowUp
    order_public_id: str | None


def _order(r: Row[Any]) -> Order:
    return Order(
        public_id=r.public_id,
        kind=OrderKind(r.kind),
        person_id=r.person_id,
        tier=Tier(r.tier),
        starts_on=r.starts_on,
        ends_on=r.ends_on,
        status=OrderStatus(r.status),
        issued_at=from_epoch(r.issued_at),
        issued_by=r.issued_by,
        policy_version=r.policy_version,
        case_id=r.case_id,
        last_exposure_at=None if r.last_exposure_at is None else from_epoch(r.last_exposure_at),
        id=r.id,
    )


def _order_row(order: Order) -> dict[str, Any]:
    return {
        "public_id": order.public_id,
        "kind": order.kind.value,
        "person_id": order.person_id,
        "case_id": order.case_id,
        "tier": order.tier.value,
        "starts_on": order.starts_on,
        "ends_on": order.ends_on,
        "status": order.status.value,
        "last_exposure_at": None if order.last_exposure_at is None else to_epoch(order.last_exposure_at),
        "issued_at": to_epoch(order.issued_at),
        "issued_by": order.issued_by,
        "policy_version": order.policy_version,
        "updated_at": to_epoch(order.issued_at),
    }


class OrderRepository:
    """Orders and their status history."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def lock_people(self, person_ids: Iterable[int]) -> None:
        """Hold the people's rows until the transaction ends, so that two issues never race.

        SQLite has one writer at a time anyway (FOR UPDATE is left out there); on
        PostgreSQL the rows are locked in id order, so concurrent batches cannot deadlock.
        """
        ids = sorted(set(person_ids))
        for start in range(0, len(ids), 5000):
            chunk = ids[start : start + 5000]
            self._conn.execute(
                select(people.c.id).where(people.c.id.in_(chunk)).order_by(people.c.id).with_for_update()
            ).all()

    def person_exists(self, person_id: int) -> bool:
        return self._conn.execute(select(people.c.id).where(people.c.id == person_id)).first() is not None

    def case_exists(self, case_id: int) -> bool:
        return self._conn.execute(select(cases.c.id).where(cases.c.id == case_id)).first() is not None

    def add(self, order: Order) -> int:
        """Store a new order and its first history row (its issue); returns its id."""
        result = self._conn.execute(insert(orders).values(**_order_row(order)))
        assert result.inserted_primary_key is not None
        order_id = int(result.inserted_primary_key[0])
        self._conn.execute(
            insert(order_events).values(
                order_id=order_id,
                status=order.status.value,
                changed_at=to_epoch(order.issued_at),
                changed_by=order.issued_by,
                note=None,
            )
        )
        return order_id

    def add_many(self, items: Sequence[Order]) -> None:
        """Store new orders and their issue rows, in two statements per batch."""
        if not items:
            return
        self._conn.execute(insert(orders), [_order_row(o) for o in items])
        ids = self._ids_for_public([o.public_id for o in items])
        self._conn.execute(
            insert(order_events),
            [
                {
                    "order_id": ids[o.public_id],
                    "status": o.status.value,
                    "changed_at": to_epoch(o.issued_at),
                    "changed_by": o.issued_by,
                    "note": None,
                }
                for o in items
            ],
        )

    def _ids_for_public(self, public_ids: Sequence[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for start in range(0, len(public_ids), 5000):
            chunk = public_ids[start : start + 5000]
            rows = self._conn.execute(
                select(orders.c.public_id, orders.c.id).where(orders.c.public_id.in_(chunk))
            )
            out.update({p: int(i) for p, i in rows})
        return out

    def get(self, order_id: int) -> Order | None:
        row = self._conn.execute(select(orders).where(orders.c.id == order_id)).one_or_none()
        return None if row is None else _order(row)

    def get_by_public_id(self, public_id: str, *, for_update: bool = False) -> Order | None:
        query = select(orders).where(orders.c.public_id == public_id)
        if for_update:
            query = query.with_for_update()
        row = self._conn.execute(query).one_or_none()
        return None if row is None else _order(row)

    def entry(self, public_id: str) -> OrderEntry | None:
        """The order with its references and its whole status history, oldest first."""
        row = self._conn.execute(self._select().where(orders.c.public_id == public_id)).one_or_none()
        if row is None:
            return None
        return OrderEntry(_order(row), row.person_ref, row.case_ref, tuple(self.history(int(row.id))))

    def history(self, order_id: int) -> list[OrderEvent]:
        rows = self._conn.execute(
            select(order_events).where(order_events.c.order_id == order_id).order_by(order_events.c.id)
        )
        return [
            OrderEvent(OrderStatus(r.status), from_epoch(r.changed_at), r.changed_by, r.note) for r in rows
        ]

    def open_for(
        self, person_id: int, kind: OrderKind | None = None, case_id: int | None = None
    ) -> list[Order]:
        """The person's orders that are not final, newest first; ``case_id`` None matches any case."""
        query = select(orders).where(orders.c.person_id == person_id, orders.c.status.in_(_OPEN_STATUSES))
        if kind is not None:
            query = query.where(orders.c.kind == kind.value)
        if case_id is not None:
            query = query.where(orders.c.case_id == case_id)
        rows = self._conn.execute(query.order_by(orders.c.issued_at.desc(), orders.c.id.desc()))
        return [_order(r) for r in rows]

    def open_kinds_for_case(
        self, person_ids: Sequence[int], case_id: int | None
    ) -> set[tuple[int, OrderKind]]:
        """Which (person, kind) pairs already have an open order from this case (or from no case)."""
        out: set[tuple[int, OrderKind]] = set()
        same_case = orders.c.case_id.is_(None) if case_id is None else orders.c.case_id == case_id
        for start in range(0, len(person_ids), 5000):
            chunk = person_ids[start : start + 5000]
            rows = self._conn.execute(
                select(orders.c.person_id, orders.c.kind).where(
                    orders.c.person_id.in_(chunk), orders.c.status.in_(_OPEN_STATUSES), same_case
                )
            )
            out.update((int(p), OrderKind(k)) for p, k in rows)
        return out

    def set_status(
        self, order_id: int, status: OrderStatus, *, at: datetime, by: str, note: str | None
    ) -> None:
        """Move the order to ``status`` and append the change to its history."""
        self._conn.execute(
            update(orders).where(orders.c.id == order_id).values(status=status.value, updated_at=to_epoch(at))
        )
        self._conn.execute(
            insert(order_events).values(
                order_id=order_id, status=status.value, changed_at=to_epoch(at), changed_by=by, note=note
            )
        )

    def _select(self) -> Select[Any]:
        return (
            select(orders, people.c.ref.label("person_ref"), cases.c.ref.label("case_ref"))
            .join(people, people.c.id == orders.c.person_id)
            .outerjoin(cases, cases.c.id == orders.c.case_id)
        )

    def list(self, where: OrderFilter, *, offset: int = 0, limit: int = 100) -> tuple[list[OrderEntry], int]:
        """One page of orders, soonest ending first, and how many match in all."""
        clauses: list[Any] = []
        if where.person_id is not None:
            clauses.append(orders.c.person_id == where.person_id)
        if where.case_id is not None:
            clauses.append(orders.c.case_id == where.case_id)
        if where.kind is not None:
            clauses.append(orders.c.kind == where.kind.value)
        if where.status is not None:
            clauses.append(orders.c.status == where.status.value)
        if where.ends_before is not None:
            clauses.append(orders.c.ends_on < where.ends_before)
        if where.ends_after is not None:
            clauses.append(orders.c.ends_on > where.ends_after)
        condition = and_(true(), *clauses)
        rows = self._conn.execute(
            self._select()
            .where(condition)
            .order_by(orders.c.ends_on, orders.c.id)
            .offset(offset)
            .limit(limit)
        )
        entries = [OrderEntry(_order(r), r.person_ref, r.case_ref) for r in rows]
        total = self._conn.execute(select(func.count()).select_from(orders).where(condition)).scalar_one()
        return entries, int(total)

    def count(self) -> int:
        return int(self._conn.execute(select(func.count()).select_from(orders)).scalar_one())


def _follow_up(r: Row[Any]) -> FollowUp:
    return FollowUp(
        person_id=r.person_id,
        on_date=r.on_date,
        symptoms=tuple(s for s in r.symptoms.split(",") if s),
        test_result=None if r.test_result is None else TestResult(r.test_result),
        recorded_at=from_epoch(r.recorded_at),
        recorded_by=r.recorded_by,
        order_id=r.order_id,
        note=r.note,
        id=r.id,
        reached=bool(r.reached),
    )


@dataclass(frozen=True)
class OpenOrderRow:
    """An open order of a person under follow-up, with the references a worklist shows."""

    person_id: int
    person_ref: str
    public_id: str
    kind: OrderKind
    starts_on: date
    ends_on: date
    case_ref: str | None
    issued_at: int  # Unix seconds: days before it were not followed up under this order


@dataclass(frozen=True)
class FollowUpDay:
    """What one day's follow-up of a person found."""

    person_id: int
    on_date: date
    reached: bool
    symptomatic: bool  # any symptom, or a positive test


class FollowUpRepository:
    """Daily follow-ups: one per person per local day."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def under_follow_up(
        self, *, today: date, staff_id: int | None, after_person: int | None, limit: int
    ) -> list[OpenOrderRow]:
        """The open orders, begun by ``today``, of the next ``limit`` people by id after ``after_person``.

        With ``staff_id``, only orders from the cases assigned to that member. People come in id
        order (a keyset), each with every open order they hold.
        """
        conditions: list[Any] = [
            orders.c.status.in_(_OPEN_STATUSES),
            orders.c.starts_on <= today,
            orders.c.ends_on >= today,  # an order whose days are over is no longer followed up
        ]
        if staff_id is not None:
            mine = select(case_assignments.c.case_id).where(case_assignments.c.staff_id == staff_id)
            conditions.append(orders.c.case_id.in_(mine))
        if after_person is not None:
            conditions.append(orders.c.person_id > after_person)
        chosen = [
            int(p)
            for p in self._conn.execute(
                select(orders.c.person_id)
                .where(*conditions)
                .group_by(orders.c.person_id)
                .order_by(orders.c.person_id)
                .limit(limit)
            ).scalars()
        ]
        if not chosen:
            return []
        rows = self._conn.execute(
            select(
                orders.c.person_id,
                people.c.ref.label("person_ref"),
                orders.c.public_id,
                orders.c.kind,
                orders.c.starts_on,
                orders.c.ends_on,
                cases.c.ref.label("case_ref"),
                orders.c.issued_at,
            )
            .join(people, people.c.id == orders.c.person_id)
            .outerjoin(cases, cases.c.id == orders.c.case_id)
            .where(*conditions, orders.c.person_id.in_(chosen))
            .order_by(orders.c.person_id, orders.c.ends_on.desc(), orders.c.id)
        )
        return [
            OpenOrderRow(
                int(r.person_id),
                r.person_ref,
                r.public_id,
                OrderKind(r.kind),
                r.starts_on,
                r.ends_on,
                r.case_ref,
                int(r.issued_at),
            )
            for r in rows
        ]

    def days(self, person_ids: Sequence[int], first: date, last: date) -> list[FollowUpDay]:
        """The follow-ups of these people from ``first`` to ``last`` (local days, both included)."""
        if not person_ids:
            return []
        rows = self._conn.execute(
            select(
                follow_ups.c.person_id,
                follow_ups.c.on_date,
                follow_ups.c.reached,
                follow_ups.c.symptoms,
                follow_ups.c.test_result,
            ).where(
                follow_ups.c.person_id.in_(list(person_ids)),
                follow_ups.c.on_date >= first,
                follow_ups.c.on_date <= last,
            )
        )
        return [
            FollowUpDay(
                int(r.person_id),
                r.on_date,
                bool(r.reached),
                bool(r.symptoms) or r.test_result == TestResult.POSITIVE.value,
            )
            for r in rows
        ]

    def exists(self, person_id: int, on_date: date) -> bool:
        query = select(follow_ups.c.id).where(
            follow_ups.c.person_id == person_id, follow_ups.c.on_date == on_date
        )
        return self._conn.execute(query).first() is not None

    def add(self, follow_up: FollowUp) -> int:
        """Store the day's follow-up; Conflict when the person already has one that day."""
        if self.exists(follow_up.person_id, follow_up.on_date):
            raise _already_recorded(follow_up.on_date)
        values = {
            "person_id": follow_up.person_id,
            "order_id": follow_up.order_id,
            "on_date": follow_up.on_date,
            "symptoms": ",".join(follow_up.symptoms),
            "test_result": None if follow_up.test_result is None else follow_up.test_result.value,
            "note": follow_up.note,
            "recorded_at": to_epoch(follow_up.recorded_at),
            "recorded_by": follow_up.recorded_by,
            "reached": follow_up.reached,
        }
        try:
            # A savepoint, so that losing a race to a concurrent writer leaves the
            # transaction usable and the caller gets the same Conflict.
            with self._conn.begin_nested():
                result = self._conn.execute(insert(follow_ups).values(**values))
        except IntegrityError as exc:
            raise _already_recorded(follow_up.on_date) from exc
        assert result.inserted_primary_key is not None
        return int(result.inserted_primary_key[0])

    def get(self, follow_up_id: int) -> FollowUp | None:
        row = self._conn.execute(select(follow_ups).where(follow_ups.c.id == follow_up_id)).one_or_none()
        return None if row is None else _follow_up(row)

    def list(
        self,
        *,
        person_id: int | None = None,
        order_id: int | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> tuple[list[FollowUpEntry], int]:
        """One page of follow-ups, latest day first, and how many match in all."""
        clauses: list[Any] = []
        if person_id is not None:
            clauses.append(follow_ups.c.person_id == person_id)
        if order_id is not None:
            clauses.append(follow_ups.c.order_id == order_id)
        condition = and_(true(), *clauses)
        query = (
            select(follow_ups, orders.c.public_id.label("order_public_id"))
            .outerjoin(orders, orders.c.id == follow_ups.c.order_id)
            .where(condition)
            .order_by(follow_ups.c.on_date.desc(), follow_ups.c.id.desc())
            .offset(offset)
            .limit(limit)
        )
        entries = [FollowUpEntry(_follow_up(r), r.order_public_id) for r in self._conn.execute(query)]
        total = self._conn.execute(select(func.count()).select_from(follow_ups).where(condition)).scalar_one()
        return entries, int(total)


def _already_recorded(on_date: date) -> Conflict:
    return Conflict(
        f"a follow-up is already recorded for this person on {on_date.isoformat()}; one per day",
        field="on_date",
    )
