"""The longest believable stay: a stay past its venue type's ``max_stay_minutes`` is clipped.

One phone with a stuck clock must not make its owner a contact of every case at a venue
for weeks. An imported, uploaded or checked-out stay longer than the venue type's
longest believable one is clipped to it, marked clipped where it is stored (SQL and the
Parquet archive), counted in the import report and the upload receipt, and flagged in
the contact evidence (JSON and exports). Archive segments written before the flag existed
read as not clipped. Both backends.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from chaincut.bootstrap import Services
from chaincut.clock import FixedClock, to_epoch
from chaincut.people import PersonDraft
from chaincut.store import ParquetArchive
from chaincut.store.archive import Segment
from chaincut.store.archive_dedupe import StagedKeys
from chaincut.store.tables import visits as visits_table
from chaincut.tracing.archive_index import ResidentIndex
from chaincut.tracing.cases import CaseDraft
from chaincut.tracing.exports import contact_rows
from chaincut.tracing.service import TracingService
from chaincut.tracing.store_sources import ArchiveScanSource
from chaincut.venues.registry import VenueDraft
from chaincut.whereabouts.checkin import CheckInRequest
from chaincut.whereabouts.importing import ImportOptions, import_visits
from chaincut.whereabouts.uploads import UploadedVisit, upload_history

RESTAURANT_MAX = timedelta(hours=12)  # venue_types.restaurant.max_stay_minutes in default.toml
HOTEL_MAX = timedelta(days=7)  # venue_types.hotel.max_stay_minutes


@pytest.fixture
def city(services: Services) -> Services:
    for ref in ("P1", "P2", "P3", "P4"):
        services.people.register(PersonDraft(ref))
    services.venues.register(VenueDraft("restaurant", "Tai Hing", "太興", ref="R1"))
    services.venues.register(VenueDraft("hotel", "Harbour Hotel", "海港酒店", ref="H1"))
    return services


def stored_visits(services: Services) -> dict[tuple[str, int], tuple[int, bool, bool]]:
    """Every visit, SQL and archive: {(person ref, entered): (left, inferred, clipped)}."""
    rows: list[dict[str, Any]] = []
    if services.store.archive is not None:
        rows += services.store.archive.read("visits").to_pylist()
    with services.store.read() as uow:
        rows += [dict(r._mapping) for r in uow.connection.execute(select(visits_table))]
        refs = uow.people.refs_for(sorted({r["person_id"] for r in rows}))
    return {
        (refs[r["person_id"]], r["entered_at"]): (r["left_at"], bool(r["left_inferred"]), bool(r["clipped"]))
        for r in rows
    }


def test_an_imported_stay_past_the_longest_believable_one_is_clipped_and_counted(
    city: Services, clock: FixedClock, tmp_path: Path
) -> None:
    now = clock.now()
    stuck = now - timedelta(days=10)  # a phone whose clock stuck: "left" ten days later
    path = tmp_path / "visits.csv"
    path.write_text(
        "person,venue,entered_at,left_at\n"
        f"P1,R1,{stuck.isoformat()},{(now - timedelta(hours=1)).isoformat()}\n"
        f"P2,R1,{(now - timedelta(days=1)).isoformat()},{(now - timedelta(hours=22)).isoformat()}\n"
        f"P2,H1,{(now - timedelta(days=5)).isoformat()},{(now - timedelta(days=1)).isoformat()}\n"
        f"P3,R1,{(now - timedelta(days=2)).isoformat()},\n"
        f"P4,R1,{(now - timedelta(days=3)).isoformat()},"  # exactly the longest: kept as given
        f"{(now - timedelta(days=3) + RESTAURANT_MAX).isoformat()}\n",
        encoding="utf-8",
    )
    report = import_visits(city.store, city.policy, city.clock, path, ImportOptions())
    assert (report.stored, report.clipped) == (5, 1)
    assert stored_visits(city) == {
        ("P1", to_epoch(stuck)): (to_epoch(stuck + RESTAURANT_MAX), False, True),
        ("P2", to_epoch(now - timedelta(days=1))): (to_epoch(now - timedelta(hours=22)), False, False),
        ("P2", to_epoch(now - timedelta(days=5))): (to_epoch(now - timedelta(days=1)), False, False),  # hotel
        ("P3", to_epoch(now - timedelta(days=2))): (
            to_epoch(now - timedelta(days=2, minutes=-90)),
            True,
            False,
        ),
        ("P4", to_epoch(now - timedelta(days=3))): (
            to_epoch(now - timedelta(days=3) + RESTAURANT_MAX),
            False,
            False,
        ),
    }


def test_a_stuck_clock_makes_no_contact_of_later_cases_and_the_evidence_says_clipped(
    city: Services, clock: FixedClock, tmp_path: Path
) -> None:
    now = clock.now()
    stuck = now - timedelta(days=10)
    path = tmp_path / "visits.csv"
    path.write_text(
        "person,venue,entered_at,left_at\n"
        f"P1,R1,{stuck.isoformat()},{(now - timedelta(hours=1)).isoformat()}\n"  # "at R1 for ten days"
        f"P2,R1,{(now - timedelta(days=3)).isoformat()},{(now - timedelta(days=3, hours=-1)).isoformat()}\n"
        f"P3,R1,{(stuck + timedelta(hours=1)).isoformat()},{(stuck + timedelta(hours=2)).isoformat()}\n",
        encoding="utf-8",
    )
    import_visits(city.store, city.policy, city.clock, path, ImportOptions())
    zone = city.settings.zone
    # C2's person dined three days ago, a week after P1's clipped stay ended: P1 is no contact of it.
    city.cases.register(
        CaseDraft("C2", "P2", "local", onset_on=(now - timedelta(days=3)).astimezone(zone).date()),
        actor="tester",
    )
    assert "P1" not in {c["person"] for c in city.tracing.trace_case("C2").to_json(zone)["contacts"]}
    # C3's person dined within P1's first twelve hours there: a contact, on evidence marked clipped.
    onset = (stuck + timedelta(days=1)).astimezone(zone).date()
    city.cases.register(
        CaseDraft("C3", "P3", "local", onset_on=onset, isolated_at=stuck + timedelta(days=1)), actor="tester"
    )
    trace = city.tracing.trace_case("C3")
    doc = trace.to_json(zone)
    [p1] = [c for c in doc["contacts"] if c["person"] == "P1"]
    [evidence] = p1["evidence"]
    assert (evidence["index_clipped"], evidence["contact_clipped"]) == (False, True)
    assert evidence["contact_interval"]["end"] == (stuck + RESTAURANT_MAX).astimezone(zone).isoformat()
    # A server's in-memory index of the archive says the same, before and after it read the segments.
    resident = TracingService(city.store, city.policy, city.clock, zone, resident=True)
    assert resident.trace_case("C3").to_json(zone) == doc
    resident.warm_up()
    assert resident.trace_case("C3").to_json(zone) == doc
    # Traced the other way round, P1 as the index person: the index stay is the clipped one.
    backwards = city.tracing.trace_person("P1", stuck, stuck + timedelta(days=1)).to_json(zone)
    [p3] = [c for c in backwards["contacts"] if c["person"] == "P3"]
    assert (p3["evidence"][0]["index_clipped"], p3["evidence"][0]["contact_clipped"]) == (True, False)
    # The contact list a tracing team exports says so too.
    [row] = [
        r
        for r in contact_rows(
            trace.contacts,
            case_ref="C3",
            policy_version=trace.policy_version,
            person_ref=trace.refs(c.person_id for c in trace.contacts),
        )
        if r.person_ref == "P1"
    ]
    assert "the contact's stay clipped" in row.evidence


def test_an_uploaded_stay_past_the_longest_believable_one_is_clipped_and_counted(
    city: Services, clock: FixedClock
) -> None:
    now = clock.now()
    with city.store.read() as uow:
        restaurant, hotel = uow.venues.get_by_ref("R1"), uow.venues.get_by_ref("H1")
    assert restaurant is not None and hotel is not None
    stuck = now - timedelta(days=9)
    receipt = upload_history(
        city.store,
        city.policy,
        city.clock,
        city.verifier,
        "P1",
        [
            UploadedVisit(stuck, now, token=city.venues.token(restaurant), client_id="stuck"),
            UploadedVisit(now - timedelta(days=6), now, token=city.venues.token(hotel), client_id="hotel"),
            UploadedVisit(
                now - timedelta(days=1), None, token=city.venues.token(restaurant), client_id="lunch"
            ),
        ],
    )
    assert (receipt.stored, receipt.clipped) == (3, 1)
    assert stored_visits(city) == {
        ("P1", to_epoch(stuck)): (to_epoch(stuck + RESTAURANT_MAX), False, True),
        ("P1", to_epoch(now - timedelta(days=6))): (to_epoch(now), False, False),  # six days: a hotel's fine
        ("P1", to_epoch(now - timedelta(days=1))): (
            to_epoch(now - timedelta(days=1, minutes=-90)),
            True,
            False,
        ),
    }


def test_a_check_out_days_later_is_clipped(city: Services, clock: FixedClock) -> None:
    now = clock.now()
    with city.store.read() as uow:
        restaurant = uow.venues.get_by_ref("R1")
    assert restaurant is not None
    entered = now - timedelta(days=3)
    city.checkins.check_in(CheckInRequest("P1", "forgot", token=city.venues.token(restaurant), at=entered))
    receipt = city.checkins.check_out("P1", "forgot", now)  # three days later
    assert receipt.left_at == entered + RESTAURANT_MAX
    assert receipt.left_inferred is False
    assert receipt.clipped is True  # the phone is told its check-out was not taken as given
    assert stored_visits(city)[("P1", to_epoch(entered))] == (to_epoch(entered + RESTAURANT_MAX), False, True)
    replayed = city.checkins.check_in(CheckInRequest("P1", "forgot", token=city.venues.token(restaurant)))
    assert (replayed.replayed, replayed.clipped) == (True, True)


def test_archive_segments_written_before_the_flag_read_as_not_clipped(tmp_path: Path) -> None:
    archive = ParquetArchive(tmp_path / "whereabouts")
    old = pa.table(  # the archive's visit columns before ``clipped``
        {
            "person_id": pa.array([1, 2], pa.int64()),
            "venue_id": pa.array([7, 7], pa.int64()),
            "entered_at": pa.array([1_000, 2_000], pa.int64()),
            "left_at": pa.array([1_600, 2_600], pa.int64()),
            "left_inferred": pa.array([False, True]),
            "source": pa.array([3, 3], pa.int8()),
        }
    )
    staged = tmp_path / "whereabouts" / "visits" / "old.parquet"
    staged.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(old, staged)
    keys = StagedKeys("visits")
    keys.add(old)
    archive._commit("visits", [(staged, Segment("seg-old.parquet", 2, 1_600, 2_600))], keys)
    assert "clipped" not in pq.read_schema(tmp_path / "whereabouts" / "visits" / "seg-old.parquet").names
    newer = old.append_column("clipped", pa.array([True, False]))
    newer = newer.set_column(0, "person_id", pa.array([3, 4], pa.int64()))
    newer = newer.set_column(3, "left_at", pa.array([3_600, 3_700], pa.int64()))
    with archive.writer("visits") as writer:  # and one written since, with a clipped stay
        writer.write(newer)
        writer.commit()

    assert archive.read("visits").column("clipped").to_pylist() == [False, False, True, False]
    scanned = [
        flag for b in archive.scan("visits", ["person_id", "clipped"]) for flag in b["clipped"].to_pylist()
    ]
    assert scanned == [False, False, True, False]
    everyone = np.array([1, 2, 3, 4], dtype=np.int64)
    index = ResidentIndex(archive)
    for source in (index.catch_up(), ArchiveScanSource(archive)):
        found = source.visits_of(everyone, 0, 10_000)
        assert dict(zip(found.person.tolist(), found.clipped.tolist(), strict=True)) == {
            1: False,
            2: False,
            3: True,
            4: False,
        }, type(source).__name__
        near = source.visits_near(np.array([7]), np.array([0]), np.array([10_000]))
        assert sorted(zip(near.person.tolist(), near.clipped.tolist(), strict=True)) == [
            (1, False),
            (2, False),
            (3, True),
            (4, False),
        ]
    archive.purge("visits", 2_000)  # rewrites the old segment, still without the column
    assert archive.read("visits").column("clipped").to_pylist() == [False, True, False]
    found = index.catch_up().visits_of(everyone, 0, 10_000)  # the purged row filtered, the rest as before
    assert dict(zip(found.person.tolist(), found.clipped.tolist(), strict=True)) == {
        2: False,
        3: True,
        4: False,
    }


def test_the_default_and_longest_stays_used_here(city: Services) -> None:
    assert city.policy.venue_rule("restaurant").max_stay == RESTAURANT_MAX
    assert city.policy.venue_rule("hotel").max_stay == HOTEL_MAX
