"""The facts a code is computed from, read from the store, and the exposures a trace yields.

``load_facts`` reads everything the rules need about many people in a handful of
queries. ``exposure_rows`` turns a case's trace (its contacts with their evidence)
into exposures to store; ``risky_visit_rows`` adds the people who were at a venue
the same local day as the case, during its infectious window, without meeting the
contact rule (the Health Code's "visited a high-risk place").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow.compute as pc

from chaincut.clock import from_epoch, to_epoch
from chaincut.codes.rules import (
    ArrivalFact,
    CaseFact,
    ExposureFact,
    OrderFact,
    OverrideFact,
    PersonFacts,
    TestFact,
)
from chaincut.domain import Contact, EvidenceKind, Interval, Venue
from chaincut.store import Store, UnitOfWork

__all__ = ["CaseTrace", "exposure_rows", "load_facts", "local_midnight", "risky_visit_rows"]


class CaseTrace(Protocol):
    """What codes read from a case's trace (``chaincut.tracing.trace.Trace`` has it)."""

    index_person_id: int
    window: Interval

    @property
    def contacts(self) -> list[Contact]: ...

    def venues(self, venue_ids: Iterable[int | None]) -> dict[int, Venue]: ...


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The instant the local day starts."""
    return datetime.combine(day, time(0), zone)


def load_facts(uow: UnitOfWork, person_ids: Sequence[int], zone: ZoneInfo) -> dict[int, PersonFacts]:
    """Every person's facts, read together."""
    repo = uow.health_codes
    cases: dict[int, list[CaseFact]] = {}
    for c in repo.cases_of(person_ids):
        discharged = None if c.discharged_at is None else from_epoch(c.discharged_at)
        cases.setdefault(c.person_id, []).append(CaseFact(c.ref, c.status, discharged))
    exposures: dict[int, list[ExposureFact]] = {}
    for e in repo.exposures_of(person_ids):
        exposures.setdefault(e.person_id, []).append(
            ExposureFact(
                e.case_ref, e.tier, e.evidence, from_epoch(e.last_exposure_at), e.venue_ref, e.generation
            )
        )
    orders: dict[int, list[OrderFact]] = {}
    for o in repo.open_orders_of(person_ids):
        # An order runs to the end of its last local day.
        ends = local_midnight(o.ends_on + timedelta(days=1), zone)
        orders.setdefault(o.person_id, []).append(
            OrderFact(o.kind, o.public_id, from_epoch(o.issued_at), ends, o.case_ref)
        )
    tests = {
        p: [TestFact(from_epoch(at), kind, result) for at, kind, result in rows]
        for p, rows in repo.tests_of(person_ids).items()
    }
    doses = {
        p: [local_midnight(day, zone) for day, _ in rows]
        for p, rows in repo.vaccinations_of(person_ids).items()
    }
    arrivals = {
        p: [ArrivalFact(from_epoch(at), origin) for at, origin in rows]
        for p, rows in repo.arrivals_of(person_ids).items()
    }
    overrides = {
        p: OverrideFact(o.colour, o.reason, None if o.until is None else from_epoch(o.until))
        for p, o in repo.overrides_of(person_ids).items()
    }
    return {
        p: PersonFacts(
            person_id=p,
            cases=tuple(cases.get(p, ())),
            exposures=tuple(exposures.get(p, ())),
            orders=tuple(orders.get(p, ())),
            tests=tuple(tests.get(p, ())),
            vaccine_doses=tuple(doses.get(p, ())),
            arrivals=tuple(arrivals.get(p, ())),
            override=overrides.get(p),
        )
        for p in sorted(set(person_ids))
    }


def _last_exposure(
    kind: EvidenceKind, index: Interval | None, contact: Interval | None, end: datetime
) -> datetime:
    if kind is EvidenceKind.HOUSEHOLD or contact is None:
        return end  # living together: exposed until the case's window closed
    if kind is EvidenceKind.VENUE and index is not None:
        return min(contact.end, index.end)
    return contact.end


def exposure_rows(trace: CaseTrace) -> list[dict[str, Any]]:
    """One row per contact, evidence kind and venue, with the last exposure, from a case's trace."""
    contacts = trace.contacts
    venues = trace.venues(e.venue_id for c in contacts for e in c.evidence)
    best: dict[tuple[int, str, str | None], dict[str, Any]] = {}
    for c in contacts:
        for e in c.evidence:
            venue = venues.get(e.venue_id) if e.venue_id is not None else None
            key = (c.person_id, e.kind.value, venue.ref if venue else None)
            last = to_epoch(_last_exposure(e.kind, e.index_interval, e.contact_interval, trace.window.end))
            row = best.get(key)
            if row is None:
                best[key] = {
                    "person_id": c.person_id,
                    "tier": e.tier.value,
                    "evidence": e.kind.value,
                    "venue_ref": key[2],
                    "generation": c.generation,
                    "last_exposure_at": last,
                }
                continue
            if e.tier.rank > _RANK[row["tier"]]:
                row["tier"] = e.tier.value
            row["last_exposure_at"] = max(row["last_exposure_at"], last)
    return list(best.values())


_RANK = {"close": 2, "exposed": 1, "risky_visit": 0}


def _visits_at(store: Store, venue_ids: list[int], start: int, end: int) -> list[np.ndarray[Any, Any]]:
    ids = np.asarray(venue_ids, dtype=np.int64)
    with store.read() as uow:
        columns = uow.tracing.visits_at(ids, start, end)[:4]  # person, venue, entered, left (not clipped)
    if store.archive is not None:
        left = pc.field("left_at")
        table = store.archive.read(
            "visits",
            pc.field("venue_id").isin(venue_ids)
            & (pc.field("entered_at") <= end)
            & (left.is_null() | (left >= start)),
        )
        extra = [
            table.column("person_id").to_numpy(),
            table.column("venue_id").to_numpy(),
            table.column("entered_at").to_numpy(),
            table.column("left_at").fill_null(-1).to_numpy(),
        ]
        columns = [
            np.concatenate([a, np.asarray(b, dtype=np.int64)]) for a, b in zip(columns, extra, strict=True)
        ]
    return columns


def risky_visit_rows(
    store: Store,
    trace: CaseTrace,
    zone: ZoneInfo,
    *,
    skip: Iterable[int],
    venue_refs: Callable[[Iterable[int]], Mapping[int, str]],
) -> list[dict[str, Any]]:
    """People at a venue the same local day the case was there in its window (``skip``: already contacts)."""
    start, end = to_epoch(trace.window.start), to_epoch(trace.window.end)
    if end <= start:
        return []
    case_visits = _visits_of(store, trace.index_person_id, start, end)
    spans: dict[int, list[tuple[int, int]]] = {}
    for at_venue, came, went in case_visits:
        a, b = max(came, start), min(went if went >= 0 else end, end)
        day = from_epoch(a).astimezone(zone).date()
        while local_midnight(day, zone) <= from_epoch(b):
            lo = to_epoch(local_midnight(day, zone))
            spans.setdefault(at_venue, []).append(
                (lo, to_epoch(local_midnight(day + timedelta(days=1), zone)) - 1)
            )
            day += timedelta(days=1)
    if not spans:
        return []
    first = min(lo for days in spans.values() for lo, _ in days)
    last = max(hi for days in spans.values() for _, hi in days)
    person, venue, entered, left = _visits_at(store, sorted(spans), first, last)
    skipped = set(skip) | {trace.index_person_id}
    refs = venue_refs(spans)
    best: dict[tuple[int, int], int] = {}
    for p, v, a, b in zip(person.tolist(), venue.tolist(), entered.tolist(), left.tolist(), strict=True):
        if p in skipped:
            continue
        stay_end = b if b >= 0 else a
        for lo, hi in spans.get(v, ()):
            if a <= hi and stay_end >= lo:
                key = (p, v)
                best[key] = max(best.get(key, 0), min(stay_end, hi))
    return [
        {
            "person_id": p,
            "tier": "risky_visit",
            "evidence": "venue",
            "venue_ref": refs.get(v),
            "generation": 1,
            "last_exposure_at": last_at,
        }
        for (p, v), last_at in sorted(best.items())
    ]


def _visits_of(store: Store, person_id: int, start: int, end: int) -> list[tuple[int, int, int]]:
    with store.read() as uow:
        _, venue, entered, left, _ = uow.tracing.visits_of(
            np.asarray([person_id], dtype=np.int64), start, end
        )
    out = list(zip(venue.tolist(), entered.tolist(), left.tolist(), strict=True))
    if store.archive is not None:
        col = pc.field("left_at")
        table = store.archive.read(
            "visits",
            (pc.field("person_id") == person_id)
            & (pc.field("entered_at") <= end)
            & (col.is_null() | (col >= start)),
        )
        for row in table.to_pylist():
            out.append((row["venue_id"], row["entered_at"], -1 if row["left_at"] is None else row["left_at"]))
    return out
