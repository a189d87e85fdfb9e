"""Health-code storage: the facts codes are computed from, the current codes, history and overrides.

Reads take many people at once (a traced case's thousand contacts are recomputed
together), in chunks that keep within every backend's limit on bound parameters.
Instants are epoch seconds here, as in every table.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from chaincut.store.tables import cases, orders
from chaincut.store.tables_codes import (
    code_case_traces,
    code_exposures,
    health_arrivals,
    health_code_history,
    health_code_overrides,
    health_codes,
    health_tests,
    health_vaccinations,
)

__all__ = [
    "CaseRow",
    "ExposureRow",
    "HealthCodeRepository",
    "OrderRow",
    "OverrideRow",
    "StoredCode",
]

_CHUNK = 5000
_OPEN_ORDERS = ("issued", "delivered", "in_force")


def _chunks(ids: Sequence[int]) -> Iterator[list[int]]:
    unique = sorted(set(ids))
    for start in range(0, len(unique), _CHUNK):
        yield unique[start : start + _CHUNK]


@dataclass(frozen=True)
class StoredCode:
    """A code as stored: reasons as JSON text, instants as epoch seconds."""

    person_id: int
    colour: str
    reasons: str
    until: int | None
    refresh_at: int | None
    computed_at: int
    policy_version: str
    overridden: bool
    changed_by: str | None = None  # history rows only


@dataclass(frozen=True)
class ExposureRow:
    """One exposure of a person to a case, as tracing found it."""

    person_id: int
    case_ref: str
    tier: str
    evidence: str
    venue_ref: str | None
    generation: int
    last_exposure_at: int


@dataclass(frozen=True)
class CaseRow:
    person_id: int
    ref: str
    status: str
    discharged_at: int | None


@dataclass(frozen=True)
class OrderRow:
    person_id: int
    kind: str
    public_id: str
    issued_at: int
    ends_on: date
    case_ref: str | None


@dataclass(frozen=True)
class OverrideRow:
    person_id: int
    colour: str
    reason: str
    until: int | None
    set_at: int
    set_by: str


class HealthCodeRepository:
    """Facts, codes, history and overrides, many people at a time."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def _insert(self, table: Any) -> Any:
        return (postgresql if self._conn.dialect.name == "postgresql" else sqlite).insert(table)

    # --- facts recorded by staff ------------------------------------------------------------

    def add_test(self, person_id: int, taken_at: int, kind: str, result: str, at: int, by: str) -> None:
        self._conn.execute(
            insert(health_tests).values(
                person_id=person_id,
                taken_at=taken_at,
                kind=kind,
                result=result,
                recorded_at=at,
                recorded_by=by,
            )
        )

    def add_vaccination(self, person_id: int, dose_on: date, product: str, at: int, by: str) -> None:
        self._conn.execute(
            insert(health_vaccinations).values(
                person_id=person_id, dose_on=dose_on, product=product, recorded_at=at, recorded_by=by
            )
        )

    def add_arrival(self, person_id: int, arrived_at: int, origin: str, at: int, by: str) -> None:
        self._conn.execute(
            insert(health_arrivals).values(
                person_id=person_id, arrived_at=arrived_at, origin=origin, recorded_at=at, recorded_by=by
            )
        )

    def tests_of(self, person_ids: Sequence[int]) -> dict[int, list[tuple[int, str, str]]]:
        """(taken_at, kind, result) per person, oldest first."""
        out: dict[int, list[tuple[int, str, str]]] = {}
        for chunk in _chunks(person_ids):
            rows = self._conn.execute(
                select(
                    health_tests.c.person_id,
                    health_tests.c.taken_at,
                    health_tests.c.kind,
                    health_tests.c.result,
                )
                .where(health_tests.c.person_id.in_(chunk))
                .order_by(health_tests.c.taken_at, health_tests.c.id)
            )
            for p, taken, kind, result in rows:
                out.setdefault(int(p), []).append((int(taken), kind, result))
        return out

    def vaccinations_of(self, person_ids: Sequence[int]) -> dict[int, list[tuple[date, str]]]:
        """(dose date, product) per person, oldest first."""
        out: dict[int, list[tuple[date, str]]] = {}
        for chunk in _chunks(person_ids):
            rows = self._conn.execute(
                select(
                    health_vaccinations.c.person_id,
                    health_vaccinations.c.dose_on,
                    health_vaccinations.c.product,
                )
                .where(health_vaccinations.c.person_id.in_(chunk))
                .order_by(health_vaccinations.c.dose_on, health_vaccinations.c.id)
            )
            for p, day, product in rows:
                out.setdefault(int(p), []).append((day, product))
        return out

    def arrivals_of(self, person_ids: Sequence[int]) -> dict[int, list[tuple[int, str]]]:
        """(arrived_at, origin) per person, oldest first."""
        out: dict[int, list[tuple[int, str]]] = {}
        for chunk in _chunks(person_ids):
            rows = self._conn.execute(
                select(health_arrivals.c.person_id, health_arrivals.c.arrived_at, health_arrivals.c.origin)
                .where(health_arrivals.c.person_id.in_(chunk))
                .order_by(health_arrivals.c.arrived_at, health_arrivals.c.id)
            )
            for p, arrived, origin in rows:
                out.setdefault(int(p), []).append((int(arrived), origin))
        return out

    def last_negative_test(self, person_id: int, kinds: Iterable[str] | None = None) -> int | None:
        """When the person's latest negative test was taken (of ``kinds``, if given)."""
        query = select(func.max(health_tests.c.taken_at)).where(
            health_tests.c.person_id == person_id, health_tests.c.result == "negative"
        )
        if kinds is not None:
            query = query.where(health_tests.c.kind.in_(list(kinds)))
        value = self._conn.execute(query).scalar_one_or_none()
        return None if value is None else int(value)

    # --- facts from cases, tracing and orders -----------------------------------------------

    def cases_of(self, person_ids: Sequence[int]) -> list[CaseRow]:
        out: list[CaseRow] = []
        for chunk in _chunks(person_ids):
            rows = self._conn.execute(
                select(cases.c.person_id, cases.c.ref, cases.c.status, cases.c.discharged_at).where(
                    cases.c.person_id.in_(chunk)
                )
            )
            out += [CaseRow(int(p), ref, status, d) for p, ref, status, d in rows]
        return out

    def open_orders_of(self, person_ids: Sequence[int]) -> list[OrderRow]:
        out: list[OrderRow] = []
        for chunk in _chunks(person_ids):
            rows = self._conn.execute(
                select(
                    orders.c.person_id,
                    orders.c.kind,
                    orders.c.public_id,
                    orders.c.issued_at,
                    orders.c.ends_on,
                    cases.c.ref,
                )
                .select_from(orders.outerjoin(cases, orders.c.case_id == cases.c.id))
                .where(orders.c.person_id.in_(chunk), orders.c.status.in_(_OPEN_ORDERS))
            )
            out += [OrderRow(int(p), k, pub, int(at), ends, ref) for p, k, pub, at, ends, ref in rows]
        return out

    def exposures_of(self, person_ids: Sequence[int]) -> list[ExposureRow]:
        out: list[ExposureRow] = []
        e = code_exposures.c
        for chunk in _chunks(person_ids):
            rows = self._conn.execute(
                select(
                    e.person_id,
                    cases.c.ref,
                    e.tier,
                    e.evidence,
                    e.venue_ref,
                    e.generation,
                    e.last_exposure_at,
                )
                .select_from(code_exposures.join(cases, e.case_id == cases.c.id))
                .where(e.person_id.in_(chunk))
                .order_by(e.id)
            )
            out += [
                ExposureRow(int(p), ref, t, ev, v, int(g), int(last)) for p, ref, t, ev, v, g, last in rows
            ]
        return out

    def exposed_people(self, case_id: int) -> list[int]:
        rows = self._conn.execute(
            select(code_exposures.c.person_id).where(code_exposures.c.case_id == case_id)
        )
        return sorted({int(p) for (p,) in rows})

    def replace_exposures(
        self, case_id: int, rows: Sequence[dict[str, Any]], traced_at: int, policy_version: str
    ) -> list[int]:
        """Store a case's exposures from a new trace in place of the last; returns who was exposed before."""
        before = self.exposed_people(case_id)
        self._conn.execute(delete(code_exposures).where(code_exposures.c.case_id == case_id))
        if rows:
            self._conn.execute(
                insert(code_exposures), [{**r, "case_id": case_id, "traced_at": traced_at} for r in rows]
            )
        stmt = self._insert(code_case_traces).values(
            case_id=case_id, traced_at=traced_at, exposures=len(rows), policy_version=policy_version
        )
        self._conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["case_id"],
                set_={"traced_at": traced_at, "exposures": len(rows), "policy_version": policy_version},
            )
        )
        return before

    def untraced_open_cases(self) -> list[str]:
        """Confirmed and probable cases never traced for codes (a bulk import leaves them to the sweep)."""
        query = (
            select(cases.c.ref)
            .select_from(cases.outerjoin(code_case_traces, code_case_traces.c.case_id == cases.c.id))
            .where(cases.c.status.in_(("confirmed", "probable")), code_case_traces.c.case_id.is_(None))
            .order_by(cases.c.id)
        )
        return [r for (r,) in self._conn.execute(query)]

    # --- overrides --------------------------------------------------------------------------

    def overrides_of(self, person_ids: Sequence[int]) -> dict[int, OverrideRow]:
        out: dict[int, OverrideRow] = {}
        o = health_code_overrides.c
        for chunk in _chunks(person_ids):
            for r in self._conn.execute(select(health_code_overrides).where(o.person_id.in_(chunk))):
                out[int(r.person_id)] = OverrideRow(
                    int(r.person_id), r.colour, r.reason, r.until, int(r.set_at), r.set_by
                )
        return out

    def set_override(self, row: OverrideRow) -> None:
        values = {"colour": row.colour, "reason": row.reason, "until": row.until}
        values |= {"set_at": row.set_at, "set_by": row.set_by}
        stmt = self._insert(health_code_overrides).values(person_id=row.person_id, **values)
        self._conn.execute(stmt.on_conflict_do_update(index_elements=["person_id"], set_=values))

    def clear_override(self, person_id: int) -> bool:
        result = self._conn.execute(
            delete(health_code_overrides).where(health_code_overrides.c.person_id == person_id)
        )
        return bool(result.rowcount)

    # --- codes and history ------------------------------------------------------------------

    def current(self, person_ids: Sequence[int]) -> dict[int, StoredCode]:
        out: dict[int, StoredCode] = {}
        for chunk in _chunks(person_ids):
            for r in self._conn.execute(select(health_codes).where(health_codes.c.person_id.in_(chunk))):
                out[int(r.person_id)] = _stored(r)
        return out

    def lock_current(self, person_id: int) -> StoredCode | None:
        """The person's stored code, its row locked until this transaction ends (PostgreSQL; SQLite
        writers are serial anyway): a recompute of this person waits for the caller, or has committed."""
        query = select(health_codes).where(health_codes.c.person_id == person_id).with_for_update()
        row = self._conn.execute(query).first()
        return None if row is None else _stored(row)

    def save(self, codes: Sequence[StoredCode], changed: Sequence[StoredCode]) -> None:
        """Store ``codes`` as current and append ``changed`` (with ``changed_by``) to the history."""
        if codes:
            stmt = self._insert(health_codes)
            columns = (
                "colour",
                "reasons",
                "until",
                "refresh_at",
                "computed_at",
                "policy_version",
                "overridden",
            )
            stmt = stmt.on_conflict_do_update(
                index_elements=["person_id"], set_={c: stmt.excluded[c] for c in columns}
            )
            self._conn.execute(stmt, [_row(c) for c in codes])
        if changed:
            rows = [_row(c) | {"changed_by": c.changed_by or "system"} for c in changed]
            for r in rows:
                del r["refresh_at"]
            self._conn.execute(insert(health_code_history), rows)

    def history(self, person_id: int, *, offset: int = 0, limit: int = 100) -> tuple[list[StoredCode], int]:
        """The person's code changes, newest first, and how many there are."""
        h = health_code_history.c
        rows = self._conn.execute(
            select(health_code_history)
            .where(h.person_id == person_id)
            .order_by(h.id.desc())
            .offset(offset)
            .limit(limit)
        )
        count = self._conn.execute(select(func.count()).where(h.person_id == person_id)).scalar_one()
        return [_stored(r) for r in rows], int(count)

    def due_for_refresh(self, now: int) -> list[int]:
        """People whose stored code has a reason that may have changed by ``now``."""
        rows = self._conn.execute(select(health_codes.c.person_id).where(health_codes.c.refresh_at <= now))
        return [int(p) for (p,) in rows]

    def people_with_codes(self) -> list[int]:
        return [int(p) for (p,) in self._conn.execute(select(health_codes.c.person_id))]


def _stored(r: Any) -> StoredCode:
    m = r._mapping
    keys = m.keys()
    return StoredCode(
        person_id=int(m["person_id"]),
        colour=m["colour"],
        reasons=m["reasons"],
        until=m["until"],
        refresh_at=m["refresh_at"] if "refresh_at" in keys else None,
        computed_at=int(m["computed_at"]),
        policy_version=m["policy_version"],
        overridden=bool(m["overridden"]),
        changed_by=m["changed_by"] if "changed_by" in keys else None,
    )


def _row(c: StoredCode) -> dict[str, Any]:
    return {
        "person_id": c.person_id,
        "colour": c.colour,
        "reasons": c.reasons,
        "until": c.until,
        "refresh_at": c.refresh_at,
        "computed_at": c.computed_at,
        "policy_version": c.policy_version,
        "overridden": c.overridden,
    }
