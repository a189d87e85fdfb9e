"""One repository suite, run on the embedded default and on PostgreSQL (the ``services`` fixture)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
import pytest
from sqlalchemy import select, text

from chaincut.bootstrap import Services
from chaincut.clock import to_epoch
from chaincut.domain import (
    Case,
    CaseClassification,
    CaseStatus,
    Encounter,
    Person,
    PersonalDetails,
    Venue,
    Visit,
    VisitSource,
)
from chaincut.domain.ids import new_public_id
from chaincut.store import ENCOUNTER_SCHEMA, VISIT_SCHEMA, NewPersonRow, PurgeRecord, Store
from chaincut.store.tables import people, visits

T0 = datetime(2026, 11, 19, 2, 0, tzinfo=UTC)


def _person(ref: str, name: str = "CHAN Tai Man") -> Person:
    return Person(
        ref=ref,
        public_id=new_public_id(),
        details=PersonalDetails(name=name, phone="91234567", address="1 Nathan Road"),
        id_document_hash=b"\x01" * 32,
    )


def _venue(ref: str, venue_type: str = "restaurant", plate: str | None = None) -> Venue:
    return Venue(ref, new_public_id(), venue_type, f"{ref} name", "名稱", "Wan Chai", "addr", plate)


def test_people_are_sealed_at_rest_and_opened_on_read(services: Services) -> None:
    with services.store.write() as uow:
        household = uow.households.ensure(["H1"])["H1"]
        person_id = uow.people.add(_person("P1", name="WONG Siu Ming"), household, 100)
    with services.store.read() as uow:
        person = uow.people.get_by_ref("P1")
        raw_name = uow.connection.execute(
            select(people.c.name_sealed).where(people.c.id == person_id)
        ).scalar_one()
    assert person is not None
    assert person.id == person_id
    assert person.details.name == "WONG Siu Ming"
    assert person.household_ref == "H1"
    assert b"WONG" not in raw_name
    assert "WONG" not in repr(person)


def test_people_bulk_insert_and_ref_index(services: Services) -> None:
    rows = [
        NewPersonRow(f"P{i}", new_public_id(), PersonalDetails(name=f"N{i}"), None, None, 5)
        for i in range(3000)
    ]
    with services.store.write() as uow:
        uow.people.add_many(rows)
    with services.store.read() as uow:
        index = uow.people.ref_index()
        assert uow.people.count() == 3000
        assert uow.people.existing_refs(["P1", "P2999", "nope"]) == {"P1", "P2999"}
    assert index.num_rows == 3000
    mapping = dict(zip(index["ref"].to_pylist(), index["id"].to_pylist(), strict=True))
    with services.store.read() as uow:
        assert uow.people.id_for_ref("P42") == mapping["P42"]


def test_a_failed_unit_of_work_leaves_nothing_behind(services: Services) -> None:
    with pytest.raises(RuntimeError), services.store.write() as uow:
        uow.people.add(_person("P1"), None, 1)
        raise RuntimeError("crash in the middle")
    assert services.store.counts().people == 0


def test_venues_by_ref_public_id_plate_and_pages(services: Services) -> None:
    with services.store.write() as uow:
        uow.venues.add_many([_venue(f"V{i:03}") for i in range(7)], 1)
        taxi_id = uow.venues.add(_venue("T1", "taxi", plate="AB1234"), 1)
    with services.store.read() as uow:
        taxi = uow.venues.get_by_plate("AB1234")
        assert taxi is not None and taxi.id == taxi_id and taxi.is_taxi
        assert uow.venues.get_by_public_id(taxi.public_id) == taxi
        page, total = uow.venues.list(venue_type="restaurant", offset=2, limit=3)
        assert total == 7
        assert [v.ref for v in page] == ["V002", "V003", "V004"]
        assert uow.venues.existing("plate", ["AB1234", "ZZ1"]) == {"AB1234"}


def _seed_person_and_venue(services: Services) -> tuple[int, int]:
    with services.store.write() as uow:
        person_id = uow.people.add(_person("P1"), None, 1)
        venue_id = uow.venues.add(_venue("V1", "restaurant"), 1)
    return person_id, venue_id


def test_visits_idempotency_key_open_close_and_overlap_query(services: Services) -> None:
    person_id, venue_id = _seed_person_and_venue(services)
    visit = Visit(person_id, venue_id, T0, None, VisitSource.QR, client_id="c1")
    with services.store.write() as uow:
        visit_id = uow.visits.add(visit)
    with pytest.raises(Exception, match="(?i)unique|duplicate"), services.store.write() as uow:
        uow.visits.add(visit)
    with services.store.write() as uow:
        assert [v.id for v in uow.visits.open_visits_of(person_id)] == [visit_id]
        uow.visits.close(visit_id, to_epoch(T0 + timedelta(minutes=30)), inferred=False)
    with services.store.read() as uow:
        stored = uow.visits.by_client_id(person_id, "c1")
        assert stored is not None and stored.left_at == T0 + timedelta(minutes=30)
        assert not stored.left_inferred
        assert uow.visits.open_visits_of(person_id) == []
        # overlap is half-open: a window starting exactly at the check-out still sees the visit
        t = to_epoch(T0)
        assert len(uow.visits.of_person(person_id, t + 1800, t + 4000)) == 1
        assert uow.visits.of_person(person_id, t + 1801, t + 4000) == []
        assert uow.visits.of_person(person_id, t - 100, t) == []


def test_close_stale_uses_each_venue_types_stay(services: Services) -> None:
    person_id, restaurant = _seed_person_and_venue(services)
    with services.store.write() as uow:
        office = uow.venues.add(_venue("V2", "office"), 1)
        uow.visits.add_many(
            [
                Visit(person_id, restaurant, T0, None, VisitSource.QR, client_id="a"),
                Visit(person_id, office, T0, None, VisitSource.QR, client_id="b"),
            ]
        )
    now = to_epoch(T0 + timedelta(minutes=100))  # past the restaurant's 90, not the office's 540
    with services.store.write() as uow:
        closed = uow.visits.close_stale(now, {"restaurant": 90 * 60, "office": 540 * 60})
    assert closed == 1
    with services.store.read() as uow:
        a = uow.visits.by_client_id(person_id, "a")
        b = uow.visits.by_client_id(person_id, "b")
    assert a is not None and a.left_at == T0 + timedelta(minutes=90) and a.left_inferred
    assert b is not None and b.left_at is None


def test_deleting_by_end_time_keeps_what_ends_at_the_cutoff(services: Services) -> None:
    person_id, venue_id = _seed_person_and_venue(services)
    with services.store.write() as uow:
        other = uow.people.add(_person("P2"), None, 1)
        uow.visits.add_many(
            [
                Visit(person_id, venue_id, T0, T0 + timedelta(hours=1), VisitSource.IMPORT),
                # Entered a minute later: bulk visits are one per (person, venue, entered_at).
                Visit(
                    person_id,
                    venue_id,
                    T0 + timedelta(minutes=1),
                    T0 + timedelta(hours=2),
                    VisitSource.IMPORT,
                ),
            ]
        )
        uow.encounters.add_many(
            [
                Encounter(person_id, other, T0, T0 + timedelta(minutes=10)),
                Encounter(person_id, other, T0, T0 + timedelta(hours=3)),
            ]
        )
    cutoff = to_epoch(T0 + timedelta(hours=2))
    with services.store.write() as uow:
        assert uow.visits.delete_ended_before(cutoff) == 1
        assert uow.encounters.delete_ended_before(cutoff) == 1
    with services.store.read() as uow:
        assert uow.visits.count() == 1
        assert len(uow.encounters.of_person(other, 0, 2**40)) == 1


def test_cases_and_clusters(services: Services) -> None:
    person_id, _ = _seed_person_and_venue(services)
    with services.store.write() as uow:
        uow.cases.add_many(
            [
                Case(
                    "hk-1",
                    person_id,
                    CaseStatus.CONFIRMED,
                    CaseClassification.UNLINKED,
                    reported_on=date(2026, 11, 18),
                    onset_on=date(2026, 11, 16),
                )
            ],
            created_at=7,
        )
        case_id = uow.cases.ids_for(["hk-1"])["hk-1"]
        cluster = uow.clusters.add("Dance club cluster", 1, [case_id, case_id])
    with services.store.read() as uow:
        case = uow.cases.get_by_ref("hk-1")
        assert case is not None and case.onset_on == date(2026, 11, 16)
        assert case.classification is CaseClassification.UNLINKED
        assert uow.clusters.members(cluster) == [case_id]
    assert services.store.counts().cases == 1


def test_purge_log_is_append_only_history(services: Services) -> None:
    first = PurgeRecord("visits", 5, T0 - timedelta(days=31), T0, "v1")
    second = PurgeRecord("encounters", 0, T0 - timedelta(days=31), T0 + timedelta(hours=1), "v1")
    with services.store.write() as uow:
        uow.purges.record(first)
        uow.purges.record(second)
    with services.store.read() as uow:
        assert uow.purges.recent() == [second, first]


def _visit_table(rows: list[tuple[int, int, int, int]]) -> pa.Table:
    return pa.table(
        {
            "person_id": [r[0] for r in rows],
            "venue_id": [r[1] for r in rows],
            "entered_at": [r[2] for r in rows],
            "left_at": [r[3] for r in rows],
            "left_inferred": [False] * len(rows),
            "source": [VisitSource.IMPORT.code] * len(rows),
            "clipped": [False] * len(rows),
        },
        schema=VISIT_SCHEMA,
    )


def test_bulk_sink_commits_all_together_or_nothing(services: Services) -> None:
    t = to_epoch(T0)
    with services.store.bulk("visits") as sink:
        sink.write(_visit_table([(1, 1, t, t + 60), (2, 1, t, t + 120)]))
        sink.write(_visit_table([(3, 2, t, t + 60)]))
    assert services.store.counts().visits == 3
    with pytest.raises(RuntimeError), services.store.bulk("visits") as sink:
        sink.write(_visit_table([(4, 2, t, t + 60)]))
        raise RuntimeError("the file turned out bad")
    assert services.store.counts().visits == 3
    encounters = pa.table(
        {"person_a": [1], "person_b": [2], "start_at": [t], "end_at": [t + 900]},
        schema=ENCOUNTER_SCHEMA,
    )
    with services.store.bulk("encounters") as sink:
        sink.write(encounters)
    assert services.store.counts().encounters == 1


@pytest.mark.parametrize("archive", [True, False], ids=["as-wired", "sql-only"])
def test_bulk_rows_already_held_are_skipped_and_counted(services: Services, archive: bool) -> None:
    """Each sink (archive, COPY on PostgreSQL, INSERTs on SQLite) keeps a natural key once, the first row."""
    store = services.store if archive else Store(services.db, services.store.cipher, None)
    t = to_epoch(T0)
    with store.bulk("visits") as sink:
        sink.write(_visit_table([(1, 1, t, t + 60), (2, 1, t, t + 120), (1, 1, t, t + 999)]))
        sink.write(_visit_table([(2, 1, t, t + 5), (3, 1, t, t + 60)]))
    first = sink.outcome
    with store.bulk("visits") as sink:
        sink.write(_visit_table([(3, 1, t, t + 60), (4, 1, t, t + 60)]))
    encounters = pa.table(
        {
            "person_a": [1, 2, 1],
            "person_b": [2, 1, 2],
            "start_at": [t, t, t],
            "end_at": [t + 900, t + 900, t + 60],
        },
        schema=ENCOUNTER_SCHEMA,
    )
    with store.bulk("encounters") as paired:
        paired.write(encounters)

    assert (first.stored, first.duplicates, sink.outcome.stored, sink.outcome.duplicates) == (3, 2, 1, 1)
    assert (paired.outcome.stored, paired.outcome.duplicates) == (2, 1)
    assert (store.counts().visits, store.counts().encounters) == (4, 2)
    with store.read() as uow:
        held = [tuple(r) for r in uow.connection.execute(select(visits.c.person_id, visits.c.left_at))]
    if store.archive is not None:
        archived = store.archive.read("visits")
        held += zip(archived["person_id"].to_pylist(), archived["left_at"].to_pylist(), strict=True)
    assert sorted(held) == [(1, t + 60), (2, t + 120), (3, t + 60), (4, t + 60)]


def test_backend_is_what_the_fixture_promised(services: Services, backend: str) -> None:
    with services.store.read() as uow:
        version = uow.connection.execute(
            text("select sqlite_version()" if backend == "embedded" else "select version()")
        ).scalar_one()
    assert ("PostgreSQL" in version) == (backend == "postgres")
    assert (services.store.archive is not None) == (backend == "embedded")
