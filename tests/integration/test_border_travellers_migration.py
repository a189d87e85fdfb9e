"""Migration 0009 on both backends: bookings, entries and clearances stored before it get their travellers,
the one-a-day rule holds for them afterwards, and the schema is exactly the tables' definitions."""

from __future__ import annotations

import warnings
from datetime import date

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from chaincut.bootstrap import bootstrap
from chaincut.border import BookingRequest
from chaincut.clock import FixedClock
from chaincut.errors import BookingRefused
from chaincut.settings import Settings
from chaincut.store import Database
from chaincut.store.migrate import upgrade
from chaincut.store.tables import metadata

DAY = date(2026, 11, 21)


def _legacy_rows(conn: sa.Connection, lead: bytes, other: bytes) -> None:
    """As 0007 stored them: a live booking with two companions counted, a cancelled one, an entry, and
    the live booking's clearance."""
    run = conn.execute
    run(sa.text("INSERT INTO people (id, ref, public_id, created_at) VALUES (1, 'P1', 'p1', 0)"))
    booking = (
        "INSERT INTO border_bookings (id, public_id, person_id, traveller_hash, day, checkpoint, slot, "
        "companions, status, request_id, created_at, subject) VALUES "
        "(:id, :pid, 1, :h, :day, 'man_kam_to', 'night', :n, :status, :rid, 0, :subject)"
    )
    run(sa.text(booking), dict(id=1, pid="b1", h=lead, day=DAY, n=2, status="booked", rid="r1", subject=None))
    run(
        sa.text(booking),
        dict(id=2, pid="b2", h=other, day=DAY, n=0, status="cancelled", rid="r2", subject="s2"),
    )
    run(
        sa.text(
            "INSERT INTO border_ballot_entries (id, public_id, person_id, traveller_hash, day, checkpoint, "
            "slot, companions, status, request_id, created_at) VALUES "
            "(1, 'e1', 1, :h, :day, 'man_kam_to', 'night', 1, 'entered', 'e1', 0)"
        ),
        {"h": other, "day": date(2026, 11, 22)},
    )
    run(
        sa.text(
            "INSERT INTO border_clearances (id, public_id, code_id, subject, booking_id, checkpoint, day, "
            "slot, decided_at, recorded_at, cleared, reasons, officer, offline) VALUES "
            "(1, 'c1', 'code-1', 's1', 1, 'man_kam_to', :day, 'night', 0, 0, :yes, '', 'officer', :no)"
        ),
        {"day": DAY, "yes": True, "no": False},
    )


def test_stored_bookings_get_their_travellers_and_keep_the_rules(
    settings: Settings, clock: FixedClock
) -> None:
    db = Database(settings.resolved_database_url())
    upgrade(db, "0007")
    early = bootstrap(settings, clock=clock, require_schema=False)  # for the hasher only
    lead, other = early.hasher.hash("A1234563"), early.hasher.hash("B7654321")
    early.close()
    with db.engine.begin() as conn:
        _legacy_rows(conn, lead, other)
    upgrade(db)
    with db.engine.connect() as conn:
        travellers = conn.execute(
            sa.text(
                "SELECT id, booking_id, position, traveller_hash, subject, day, live "
                "FROM border_booking_travellers ORDER BY booking_id"
            )
        ).all()
        entries = conn.execute(
            sa.text("SELECT entry_id, position, traveller_hash FROM border_entry_travellers")
        ).all()
        clearance = conn.execute(sa.text("SELECT traveller_id FROM border_clearances")).scalar_one()
        with warnings.catch_warnings():
            # SQLite's reflection cannot read the visits' key index (it has an expression in it).
            warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index")
            warnings.filterwarnings(
                "ignore", "autogenerate skipping metadata-specified expression-based index"
            )
            differences = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), metadata
            )
    db.dispose()
    assert [
        (t.booking_id, t.position, bytes(t.traveller_hash), t.subject, bool(t.live)) for t in travellers
    ] == [
        (1, 0, lead, None, True),
        (2, 0, other, "s2", False),
    ]
    assert [(e.entry_id, e.position, bytes(e.traveller_hash)) for e in entries] == [(1, 0, other)]
    assert clearance == next(t.id for t in travellers if t.booking_id == 1)
    assert differences == []

    services = bootstrap(settings, clock=clock)
    try:
        stored = services.border.bookings(DAY)
        assert [(b.public_id, b.companions, b.unlisted, b.travellers) for b in stored] == [
            ("b1", (), 2, 3),
            ("b2", (), 0, 1),
        ]
        # The one-live-booking rule holds for the traveller booked before the migration.
        with services.store.read() as uow:
            person_id = uow.people.id_for_ref("P1")
        assert person_id is not None
        ask = BookingRequest(person_id, "Z0000001", DAY, "shenzhen_bay", "morning", ("A1234563",), "r9")
        with pytest.raises(BookingRefused) as caught:
            services.border.book(ask)
        assert (caught.value.code, caught.value.field) == ("already_booked", "companions[0]")
        # The clearance's subject ids are filled in, and a clearance looks it up by subject.
        with services.store.write() as uow:
            uow.clearances.fill_subjects(services.subjects.subject_of)
        with services.store.read() as uow:
            found = uow.clearances.bookings_of(services.subjects.subject_of(lead))
        assert [b.booking_id for b in found] == ["b1"]
    finally:
        services.close()
