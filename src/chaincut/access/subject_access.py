"""A person's data-access request (PDPO s.18, DPP6): everything held about them, and corrections.

The report gathers, for one person: their details (opened), household,
whether an identity document is held (only its keyed hash ever is), every visit
and encounter still held (SQL and, on the embedded default, the Parquet archive),
cases, orders with their status history, follow-ups, app tokens (dates only),
border bookings, ballot entries and checkpoint clearances (``subject_border``),
corrections with their history, and the audit log's entries about them: who
accessed their data, when, doing what, and why. ``subject_report`` lays it out
as JSON and as a printable page.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pyarrow.compute as pc

from chaincut.access.audit import AuditTrail, event_for
from chaincut.access.records import RecordAccess
from chaincut.access.subject_border import border_sections
from chaincut.access.subject_report import (
    Row,
    SubjectAccessReport,
    audit_row,
    case_row,
    code_row,
    correction_row,
    follow_up_row,
    instant,
    order_row,
    person_row,
    source_name,
    token_row,
)
from chaincut.clock import Clock, from_epoch
from chaincut.domain import Person
from chaincut.domain.access import Permission, Principal
from chaincut.people.corrections import Correction, PersonCorrections
from chaincut.policy import Policy
from chaincut.security.identity import BorderSubjects
from chaincut.store import OrderEntry, OrderFilter, Store, UnitOfWork
from chaincut.store.corrections import resident_tokens_of

__all__ = ["SubjectAccess", "SubjectAccessReport"]

_FOREVER = 2**62  # an instant later than any stored one, in epoch seconds
_LIMIT = 100_000  # rows per section; far beyond one person's share of any table


class SubjectAccess:
    """Answers a person's data-access request, and corrects their details with the history kept."""

    def __init__(
        self,
        store: Store,
        policy: Policy,
        clock: Clock,
        zone: ZoneInfo,
        records: RecordAccess,
        audit: AuditTrail,
        subjects: BorderSubjects | None = None,
    ) -> None:
        self._store = store
        self._policy = policy
        self._clock = clock
        self._zone = zone
        self._records = records
        self._audit = audit
        self._subjects = subjects
        self._corrections = PersonCorrections(store, clock)

    # --- data access -------------------------------------------------------------------------

    def report_for(self, principal: Principal, ref: str, *, purpose: str) -> SubjectAccessReport:
        """The report on ``ref`` if ``principal`` may see them; the access is audited either way."""
        person = self._records.person(principal, ref, action=Permission.SUBJECT_ACCESS, purpose=purpose)
        return self.report(person)

    def report(self, person: Person, *, for_subject: bool = False) -> SubjectAccessReport:
        """The report on a person the caller has already been allowed to see (and audited for).

        ``for_subject``: the person reads it themselves (a resident's app), so nothing in it may
        identify anyone else: an order from another person's case names "a case", not its ref.
        """
        assert person.id is not None
        zone = self._zone
        visits, encounters = self._whereabouts(person.id)
        with self._store.read() as uow:
            venues = uow.venues.get_many(sorted({v["venue_id"] for v in visits}))
            cases = uow.cases.get_by_person(person.id)
            orders = self._orders(uow, person.id)
            follow_ups, _ = uow.follow_ups.list(person_id=person.id, limit=_LIMIT)
            tokens = resident_tokens_of(uow.connection, person.id)
            corrections = uow.corrections.of_person(person.id)
            audit = uow.audit.find(subject_person_id=person.id, limit=_LIMIT)
            household = None
            if person.household_ref is not None:
                ids = uow.households.ids_for([person.household_ref])
                found = uow.households.get(ids[person.household_ref]) if ids else None
                household = None if found is None else {"ref": found.ref, "district": found.district}
            case_refs = uow.cases.refs_of([c.linked_case_id for c in cases if c.linked_case_id is not None])
            border = border_sections(uow, person, self._subjects, zone)
            code_history, _ = uow.health_codes.history(person.id, limit=_LIMIT)
            tests = uow.health_codes.tests_of([person.id]).get(person.id, [])
            doses = uow.health_codes.vaccinations_of([person.id]).get(person.id, [])
            arrivals = uow.health_codes.arrivals_of([person.id]).get(person.id, [])
            signed = uow.issued_codes.of_person(person.id)
            reported = uow.presence.reports_of(person.id)
        own_cases = frozenset(c.ref for c in cases) if for_subject else None
        rules = self._policy.retention
        visit_days, encounter_days = timedelta(days=rules.visits_days), timedelta(days=rules.encounters_days)
        visit_rows = []
        for v in sorted(visits, key=lambda v: v["entered_at"]):
            venue = venues.get(v["venue_id"])
            ended = v["left_at"] if v["left_at"] is not None else v["entered_at"]
            visit_rows.append(
                {
                    "venue": venue.ref if venue else None,
                    "venue_name": venue.name_en if venue else None,
                    "venue_name_zh": venue.name_zh if venue else None,
                    "entered_at": instant(v["entered_at"], zone),
                    "left_at": instant(v["left_at"], zone),
                    "left_inferred": v["left_inferred"],
                    "clipped": v["clipped"],
                    "source": v["source"],
                    "kept_until": instant(ended + visit_days, zone),
                }
            )
        return SubjectAccessReport(
            generated_at=self._clock.now(),
            zone=zone,
            policy_version=self._policy.version,
            retention={
                "visits": rules.visits_days,
                "encounters": rules.encounters_days,
                "corrected_values": rules.corrected_values_days,
            },
            person=person_row(person, zone),
            household=household,
            visits=visit_rows,
            encounters=[
                {
                    "start": instant(start, zone),
                    "end": instant(end, zone),
                    "other_person": "withheld",
                    "kept_until": instant(end + encounter_days, zone),
                }
                for start, end in sorted(encounters)
            ],
            cases=[case_row(c, case_refs, zone, for_subject=for_subject) for c in cases],
            orders=[order_row(o, zone, own_cases=own_cases) for o in orders],
            follow_ups=[follow_up_row(f) for f in follow_ups],
            resident_tokens=[token_row(t, zone) for t in tokens],
            corrections=[correction_row(c, zone) for c in corrections],
            audit=[audit_row(r, zone) for r in audit],
            border=border,
            health_codes=[code_row(c, zone, own_cases=own_cases) for c in code_history],
            health_records={
                "tests": [
                    {"taken_at": instant(from_epoch(at), zone), "kind": kind, "result": result}
                    for at, kind, result in tests
                ],
                "vaccinations": [{"dose_on": day.isoformat(), "product": product} for day, product in doses],
                "arrivals": [
                    {"arrived_at": instant(from_epoch(at), zone), "origin": origin} for at, origin in arrivals
                ],
                # Matches of a decentralised venue's warning the person chose to report (no case named).
                "exposure_reports": [
                    {
                        "warning": r["warning_public_id"],
                        "venue": r["ref"],
                        "venue_name": r["name_en"],
                        "venue_name_zh": r["name_zh"],
                        "last_exposure_at": instant(from_epoch(r["last_exposure_at"]), zone),
                        "reported_at": instant(from_epoch(r["reported_at"]), zone),
                        "kept_until": instant(from_epoch(r["last_exposure_at"]) + visit_days, zone),
                    }
                    for r in reported
                ],
                "signed_codes": [
                    {
                        "code_id": c.code_id,
                        "issued_at": instant(from_epoch(c.issued_at), zone),
                        "expires_at": instant(from_epoch(c.expires_at), zone),
                        "revoked_at": None
                        if c.revoked_at is None
                        else instant(from_epoch(c.revoked_at), zone),
                    }
                    for c in signed
                ],
            },
        )

    def _whereabouts(self, person_id: int) -> tuple[list[Row], list[tuple[datetime, datetime]]]:
        """Every visit (as rows) and encounter (start, end) held for the person, SQL and archive."""
        visits: list[Row] = []
        spans: list[tuple[datetime, datetime]] = []
        archive = self._store.archive
        if archive is not None:
            for row in archive.read("visits", pc.field("person_id") == person_id).to_pylist():
                visits.append(
                    {
                        "venue_id": row["venue_id"],
                        "entered_at": from_epoch(row["entered_at"]),
                        "left_at": None if row["left_at"] is None else from_epoch(row["left_at"]),
                        "left_inferred": bool(row["left_inferred"]),
                        "clipped": bool(row["clipped"]),  # older segments read as not clipped
                        "source": source_name(row["source"]),
                    }
                )
            either = (pc.field("person_a") == person_id) | (pc.field("person_b") == person_id)
            for row in archive.read("encounters", either).to_pylist():
                spans.append((from_epoch(row["start_at"]), from_epoch(row["end_at"])))
        with self._store.read() as uow:
            for v in uow.visits.of_person(person_id, 0, _FOREVER):
                visits.append(
                    {
                        "venue_id": v.venue_id,
                        "entered_at": v.entered_at,
                        "left_at": v.left_at,
                        "left_inferred": v.left_inferred,
                        "clipped": v.clipped,
                        "source": v.source.value,
                    }
                )
            spans += [(e.start, e.end) for e in uow.encounters.of_person(person_id, 0, _FOREVER)]
        return visits, spans

    @staticmethod
    def _orders(uow: UnitOfWork, person_id: int) -> list[OrderEntry]:
        entries, _ = uow.orders.list(OrderFilter(person_id=person_id), limit=_LIMIT)
        out = []
        for entry in entries:
            assert entry.order.id is not None
            out.append(
                OrderEntry(
                    entry.order, entry.person_ref, entry.case_ref, tuple(uow.orders.history(entry.order.id))
                )
            )
        return out

    # --- correction ----------------------------------------------------------------------------

    def correct(
        self, principal: Principal, person: Person, correction: Correction, *, purpose: str
    ) -> list[Row]:
        """Correct the person's details (who may see them may correct them); the whole history after.

        The new values, one history row per changed field and the audit entry are
        written in one transaction.
        """
        assert person.id is not None

        def audit(uow: UnitOfWork, person_id: int, fields: list[str]) -> None:
            event = event_for(
                principal,
                Permission.PEOPLE_CORRECT,
                "people",
                record=person.ref,
                purpose=purpose,
                details={"fields": ",".join(fields)},
                subject_person_id=person_id,
            )
            self._audit.record_in(uow, event)

        self._corrections.correct(person.id, correction, principal.name, on_write=audit)
        return self.corrections(person)

    def corrections(self, person: Person) -> list[Row]:
        """The history of corrections of the person's details, oldest first."""
        assert person.id is not None
        with self._store.read() as uow:
            return [correction_row(c, self._zone) for c in uow.corrections.of_person(person.id)]
