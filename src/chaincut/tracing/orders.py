"""Issuing quarantine orders and compulsory testing notices, and moving them through their statuses.

Dates come from the policy (``[orders]``) and are local calendar dates in the
authority's zone:

* a **quarantine order** starts on the local date of the last exposure and ends
  ``quarantine_days`` after it (exposure on 1 March, 14 days: 1 to 15 March);
* a **testing notice** starts on the local date it is issued and the test is due
  by ``testing_notice_days`` after it (its ``ends_on``).

Issuing is idempotent: while a person has an open (not final) order of the same
kind from the same case, issuing again returns that order. Every issue and
status change records who made it, in the order's history.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from chaincut.clock import Clock
from chaincut.domain import ALLOWED_STATUS_CHANGES, Contact, Order, OrderKind, OrderStatus, Tier
from chaincut.domain.ids import new_public_id
from chaincut.errors import InvalidInput, NotFound
from chaincut.policy import Policy
from chaincut.store import OrderEntry, OrderFilter, Store, UnitOfWork
from chaincut.tracing.actors import validate_actor

__all__ = [
    "IssueSummary",
    "IssuedOrder",
    "OrderPreview",
    "OrderService",
    "last_exposure_of",
]

log = logging.getLogger("chaincut.orders")

NOTE_MAX_CHARS = 500
PUBLIC_ID_PATTERN = re.compile(r"^[a-z2-7]{26}\Z")


def validate_note(note: str | None) -> str | None:
    if note is None:
        return None
    note = note.strip()
    if len(note) > NOTE_MAX_CHARS:
        raise InvalidInput(f"expected at most {NOTE_MAX_CHARS} characters", field="note", code="too_long")
    return note or None


def last_exposure_of(contact: Contact, fallback: datetime) -> datetime:
    """When the contact was last exposed, from their evidence.

    For a venue or an encounter it is the end of the overlap of the two stays;
    household evidence has no interval, and exposure at home goes on until the
    case is isolated, so it is ``fallback`` (the time of issue). The latest
    exposure across the evidence wins, and it is never later than ``fallback``.
    """
    latest: datetime | None = None
    for evidence in contact.evidence:
        ends = [i.end for i in (evidence.index_interval, evidence.contact_interval) if i is not None]
        end = min(ends) if ends else fallback
        latest = end if latest is None else max(latest, end)
    if latest is None:
        return fallback
    return min(latest, fallback)


@dataclass(frozen=True)
class IssuedOrder:
    """An order from ``issue_by_ref``: ``created`` is False when an open one was returned."""

    entry: OrderEntry
    created: bool


@dataclass(frozen=True)
class OrderPreview:
    """The order a contact would get if orders were issued now, and whether one is already open."""

    person_id: int
    kind: OrderKind
    starts_on: date
    ends_on: date
    last_exposure_at: datetime | None
    already_open: bool


@dataclass(frozen=True)
class IssueSummary:
    """What issuing orders for a case's contacts did."""

    issued: int
    already_open: int


class OrderService:
    """Issues orders from the policy's durations, changes their status, and lists them."""

    def __init__(
        self,
        store: Store,
        policy: Policy,
        clock: Clock,
        zone: ZoneInfo,
        on_change: Callable[[Sequence[int]], object] | None = None,
    ) -> None:
        self._store = store
        self._policy = policy
        self._clock = clock
        self._zone = zone
        # Told whose orders were issued or changed, after the change commits (health codes follow).
        self._on_change = on_change

    def _changed(self, person_ids: Sequence[int]) -> None:
        if self._on_change is None or not person_ids:
            return
        try:
            self._on_change(person_ids)
        except Exception:  # the orders are stored; `chaincut codes refresh --all` catches up
            log.exception(
                "updating the health codes of %d people after an order change failed", len(person_ids)
            )

    # --- dates ---------------------------------------------------------------------------------

    def _local_date(self, at: datetime) -> date:
        return at.astimezone(self._zone).date()

    def dates_for(
        self, kind: OrderKind, last_exposure_at: datetime | None, issued_at: datetime
    ) -> tuple[date, date]:
        """``(starts_on, ends_on)`` of an order of ``kind`` issued at ``issued_at``."""
        rules = self._policy.orders
        if kind is OrderKind.QUARANTINE:
            if last_exposure_at is None:
                raise InvalidInput(
                    "a quarantine order needs the last exposure time",
                    field="last_exposure_at",
                    code="required",
                )
            if last_exposure_at.year < 1900:  # a typing mistake; year 1 would overflow in local time
                raise InvalidInput(
                    "the last exposure time is out of range", field="last_exposure_at", code="out_of_range"
                )
            starts = self._local_date(last_exposure_at)
            return starts, starts + timedelta(days=rules.quarantine_days)
        starts = self._local_date(issued_at)
        return starts, starts + timedelta(days=rules.testing_notice_days)

    def _draft(
        self,
        person_id: int,
        kind: OrderKind,
        tier: Tier,
        last_exposure_at: datetime | None,
        case_id: int | None,
        actor: str,
        now: datetime,
        public_id: str = "",
    ) -> Order:
        """The order as it would be issued now; ``public_id`` is given only to one being issued
        (a preview of a wave's busiest case drafts tens of thousands)."""
        starts_on, ends_on = self.dates_for(kind, last_exposure_at, now)
        return Order(
            public_id=public_id,
            kind=kind,
            person_id=person_id,
            tier=tier,
            starts_on=starts_on,
            ends_on=ends_on,
            status=OrderStatus.ISSUED,
            issued_at=now,
            issued_by=actor,
            policy_version=self._policy.version,
            case_id=case_id,
            last_exposure_at=last_exposure_at,
        )

    def _check_exposure(self, last_exposure_at: datetime | None, now: datetime) -> None:
        if last_exposure_at is None:
            return
        if last_exposure_at.tzinfo is None:
            raise InvalidInput(
                "expected a time with a UTC offset", field="last_exposure_at", code="naive_datetime"
            )
        if last_exposure_at > now:
            raise InvalidInput(
                "the last exposure is in the future", field="last_exposure_at", code="in_future"
            )

    # --- issuing -------------------------------------------------------------------------------

    def issue(
        self,
        person_id: int,
        tier: Tier,
        last_exposure_at: datetime | None,
        case_id: int | None,
        actor: str,
    ) -> Order:
        """The order a contact of ``tier`` gets (a new one, or the open one already issued)."""
        with self._store.write() as uow:
            order, created = self._issue(
                uow, person_id, OrderKind.for_tier(tier), tier, last_exposure_at, case_id, actor
            )
        if created:
            self._changed([person_id])
        return order

    def issue_by_ref(
        self,
        person_ref: str,
        *,
        tier: Tier | None,
        kind: OrderKind | None,
        last_exposure_at: datetime | None,
        case_ref: str | None,
        actor: str,
    ) -> IssuedOrder:
        """Issue by external references, as a tracer does by hand; ``kind`` or ``tier`` or both, agreeing."""
        if tier is None and kind is None:
            raise InvalidInput("give the order's kind or the contact's tier", field="kind", code="required")
        if kind is None:
            assert tier is not None
            kind = OrderKind.for_tier(tier)
        elif tier is None:
            tier = Tier.CLOSE if kind is OrderKind.QUARANTINE else Tier.EXPOSED
        elif OrderKind.for_tier(tier) is not kind:
            raise InvalidInput(
                f"a {tier.value} contact gets a {OrderKind.for_tier(tier).value}, not a {kind.value}",
                field="kind",
                code="kind_tier_mismatch",
            )
        with self._store.write() as uow:
            person_id = uow.people.id_for_ref(person_ref)
            if person_id is None:
                raise NotFound("no such person", field="person")
            case_id = self._case_id(uow, case_ref)
            order, created = self._issue(uow, person_id, kind, tier, last_exposure_at, case_id, actor)
            entry = uow.orders.entry(order.public_id)
        assert entry is not None
        if created:
            self._changed([person_id])
        return IssuedOrder(entry, created)

    def _issue(
        self,
        uow: UnitOfWork,
        person_id: int,
        kind: OrderKind,
        tier: Tier,
        last_exposure_at: datetime | None,
        case_id: int | None,
        actor: str,
    ) -> tuple[Order, bool]:
        actor = validate_actor(actor)
        now = self._clock.now()
        self._check_exposure(last_exposure_at, now)
        draft = self._draft(person_id, kind, tier, last_exposure_at, case_id, actor, now, new_public_id())
        if not uow.orders.person_exists(person_id):
            raise NotFound("no such person", field="person")
        if case_id is not None and not uow.orders.case_exists(case_id):
            raise NotFound("no such case", field="case")
        uow.orders.lock_people([person_id])
        for existing in uow.orders.open_for(person_id, kind):
            if existing.case_id == case_id:
                return existing, False
        order_id = uow.orders.add(draft)
        stored = uow.orders.get(order_id)
        assert stored is not None
        return stored, True

    def issue_for_contacts(
        self, contacts: Sequence[Contact], case_id: int | None, actor: str
    ) -> IssueSummary:
        """Orders for a case's contacts, all in one transaction: quarantine for close, a notice for exposed.

        A contact who already has an open order of that kind from this case is counted
        in ``already_open`` and left as they are.
        """
        actor = validate_actor(actor)
        drafts = self._drafts_for(contacts, case_id, actor, self._clock.now())
        with self._store.write() as uow:
            if case_id is not None and not uow.orders.case_exists(case_id):
                raise NotFound("no such case", field="case")
            person_ids = sorted(drafts)
            uow.orders.lock_people(person_ids)
            open_pairs = uow.orders.open_kinds_for_case(person_ids, case_id)
            new = [
                replace(d, public_id=new_public_id())
                for d in drafts.values()
                if (d.person_id, d.kind) not in open_pairs
            ]
            uow.orders.add_many(new)
        self._changed([d.person_id for d in new])
        return IssueSummary(issued=len(new), already_open=len(drafts) - len(new))

    def _drafts_for(
        self, contacts: Sequence[Contact], case_id: int | None, actor: str, now: datetime
    ) -> dict[int, Order]:
        """The order each contact gets, by person: quarantine for close, a notice for exposed."""
        drafts: dict[int, Order] = {}
        for contact in contacts:
            kind = OrderKind.for_tier(contact.tier)
            exposure = last_exposure_of(contact, now) if kind is OrderKind.QUARANTINE else None
            draft = self._draft(contact.person_id, kind, contact.tier, exposure, case_id, actor, now)
            earlier = drafts.get(contact.person_id)
            # Tracing lists each person once; should one come twice, the stronger tier wins.
            if earlier is None or contact.tier.rank > earlier.tier.rank:
                drafts[contact.person_id] = draft
        return drafts

    def preview_for_contacts(self, contacts: Sequence[Contact], case_id: int | None) -> list[OrderPreview]:
        """What ``issue_for_contacts`` would issue now, with each order's dates; nothing is stored."""
        drafts = self._drafts_for(contacts, case_id, "preview", self._clock.now())
        with self._store.read() as uow:
            open_pairs = uow.orders.open_kinds_for_case(sorted(drafts), case_id)
        return [
            OrderPreview(
                person_id=d.person_id,
                kind=d.kind,
                starts_on=d.starts_on,
                ends_on=d.ends_on,
                last_exposure_at=d.last_exposure_at,
                already_open=(d.person_id, d.kind) in open_pairs,
            )
            for d in drafts.values()
        ]

    # --- status --------------------------------------------------------------------------------

    def change_status(
        self, public_id: str, new_status: OrderStatus, actor: str, note: str | None = None
    ) -> OrderEntry:
        """Move an order on (``ALLOWED_STATUS_CHANGES``); the change joins its history."""
        actor = validate_actor(actor)
        note = validate_note(note)
        with self._store.write() as uow:
            order = self._get(uow, public_id, for_update=True)
            if new_status not in ALLOWED_STATUS_CHANGES[order.status]:
                allowed = ", ".join(sorted(s.value for s in ALLOWED_STATUS_CHANGES[order.status])) or "none"
                raise InvalidInput(
                    f"an order cannot go from {order.status.value} to {new_status.value}"
                    f" (from {order.status.value}: {allowed})",
                    field="status",
                    code="invalid_transition",
                )
            assert order.id is not None
            uow.orders.set_status(order.id, new_status, at=self._clock.now(), by=actor, note=note)
            entry = uow.orders.entry(public_id)
        assert entry is not None
        self._changed([order.person_id])
        return entry

    # --- reading -------------------------------------------------------------------------------

    def get(self, public_id: str) -> OrderEntry:
        """The order with its status history, oldest first."""
        with self._store.read() as uow:
            entry = uow.orders.entry(public_id) if PUBLIC_ID_PATTERN.match(public_id) else None
        if entry is None:
            raise NotFound("no such order", field="public_id")
        return entry

    def list(
        self,
        *,
        person_ref: str | None = None,
        case_ref: str | None = None,
        kind: OrderKind | None = None,
        status: OrderStatus | None = None,
        ends_before: date | None = None,
        ends_after: date | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> tuple[list[OrderEntry], int]:
        """One page of orders matching every filter given, soonest ending first, and the total."""
        with self._store.read() as uow:
            person_id = None
            if person_ref is not None:
                person_id = uow.people.id_for_ref(person_ref)
                if person_id is None:
                    raise NotFound("no such person", field="person")
            where = OrderFilter(
                person_id=person_id,
                case_id=self._case_id(uow, case_ref),
                kind=kind,
                status=status,
                ends_before=ends_before,
                ends_after=ends_after,
            )
            return uow.orders.list(where, offset=offset, limit=limit)

    @staticmethod
    def _case_id(uow: UnitOfWork, case_ref: str | None) -> int | None:
        if case_ref is None:
            return None
        case = uow.cases.get_by_ref(case_ref)
        if case is None or case.id is None:
            raise NotFound("no such case", field="case")
        return case.id

    @staticmethod
    def _get(uow: UnitOfWork, public_id: str, *, for_update: bool = False) -> Order:
        order = (
            uow.orders.get_by_public_id(public_id, for_update=for_update)
            if PUBLIC_ID_PATTERN.match(public_id)
            else None
        )
        if order is None:
            raise NotFound("no such order", field="public_id")
        return order
