"""Retention: whereabouts past the policy's cut-off are purged, and each purge is logged.

Visits arrive one at a time (check-ins, uploads: SQL on both backends) and in bulk
(the Parquet archive on the embedded default, SQL on PostgreSQL); encounters arrive
in bulk. The default policy keeps both 31 days.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import fields
from datetime import datetime, timedelta

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, select, text

from chaincut.access.audit import ANCHOR_FILE
from chaincut.api import create_app
from chaincut.api.app import run_maintenance
from chaincut.bootstrap import Services
from chaincut.clock import FixedClock, to_epoch
from chaincut.domain import VisitSource
from chaincut.domain.access import Role
from chaincut.store import ENCOUNTER_SCHEMA, VISIT_SCHEMA, PurgeRecord
from chaincut.store.tables import encounters, purges, visits
from chaincut.whereabouts.retention import purge_expired
from support.auth import resident_headers, staff_headers

RETENTION = timedelta(
    days=31
)  # retention.visits_days, encounters_days, corrected_values_days in default.toml
ENDED_ACCESS = timedelta(days=7)  # retention.ended_access_days: sessions, tokens, approvals
LATER = timedelta(days=25)  # how far the clock moves before purging
# What each purge run records, in order: whereabouts, then replaced details and ended credentials
# (signed codes' records once the codes expired).
WHEREABOUTS = ["visits", "encounters"]
KINDS = [
    *WHEREABOUTS,
    "corrections",
    "sessions",
    "tokens",
    "approvals",
    "signed_codes",
    "rate_counts",
    "warnings",
    "exposure_reports",
]


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    """Signed in as an administrator, who runs purges (and reads no personal data)."""
    headers = staff_headers(services, Role.ADMINISTRATOR, username="admin")
    app = create_app(services, schedule_maintenance=False)
    with TestClient(app, raise_server_exceptions=False, headers=headers) as c:
        yield c


def _visit_ends(services: Services) -> list[int]:
    """Every stored visit's end (or, still open, its start), in SQL and in the archive."""
    with services.store.read() as uow:
        rows = uow.connection.execute(select(visits.c.entered_at, visits.c.left_at)).all()
    ends = [left if left is not None else entered for entered, left in rows]
    if services.store.archive is not None:
        ends += services.store.archive.read("visits").column("left_at").to_pylist()
    return sorted(ends)


def _encounter_ends(services: Services) -> list[int]:
    with services.store.read() as uow:
        ends = list(uow.connection.execute(select(encounters.c.end_at)).scalars())
    if services.store.archive is not None:
        ends += services.store.archive.read("encounters").column("end_at").to_pylist()
    return sorted(ends)


def _bulk_visits(services: Services, person: int, venue: int, spans: list[tuple[int, int]]) -> None:
    table = pa.table(
        {
            "person_id": [person] * len(spans),
            "venue_id": [venue] * len(spans),
            "entered_at": [start for start, _ in spans],
            "left_at": [end for _, end in spans],
            "left_inferred": [False] * len(spans),
            "source": [VisitSource.IMPORT.code] * len(spans),
            "clipped": [False] * len(spans),
        },
        schema=VISIT_SCHEMA,
    )
    with services.store.bulk("visits") as sink:
        sink.write(table)


def _bulk_encounters(services: Services, pairs: tuple[int, int], spans: list[tuple[int, int]]) -> None:
    table = pa.table(
        {
            "person_a": [pairs[0]] * len(spans),
            "person_b": [pairs[1]] * len(spans),
            "start_at": [start for start, _ in spans],
            "end_at": [end for _, end in spans],
        },
        schema=ENCOUNTER_SCHEMA,
    )
    with services.store.bulk("encounters") as sink:
        sink.write(table)


def _populate(client: TestClient, services: Services, clock: FixedClock) -> int:
    """Whereabouts at many ages around the cut-off the purge will use; returns that cut-off."""
    now = clock.now()
    cutoff = to_epoch(now + LATER - RETENTION)  # what the purge after LATER will use
    desk = staff_headers(services, Role.SUPERVISOR, Role.VENUE_OPERATOR, username="desk")
    for ref in ("P001", "P002"):
        assert client.post("/people", json={"ref": ref}, headers=desk).status_code == 201
    venue = {"ref": "V001", "venue_type": "restaurant", "name_en": "Cafe", "name_zh": "咖啡店"}
    assert client.post("/venues", json=venue, headers=desk).status_code == 201
    token = client.get("/venues/V001/token", headers=desk).json()["token"]
    phone = {ref: resident_headers(services, ref) for ref in ("P001", "P002")}

    # Check-ins, closed by check-out, by the next check-in, or left open.
    for client_id, days_ago, minutes in (("old", 8, 60), ("older", 20, 30), ("recent", 2, 45)):
        entered = now - timedelta(days=days_ago)
        body = {"client_id": client_id, "person": "P001", "token": token, "at": entered.isoformat()}
        assert client.post("/checkins", json=body, headers=phone["P001"]).status_code == 201
        left = (entered + timedelta(minutes=minutes)).isoformat()
        out = client.post(
            f"/checkins/{client_id}/checkout", json={"person": "P001", "at": left}, headers=phone["P001"]
        )
        assert out.status_code == 200, out.text
    for client_id, days_ago in (("open-old", 7), ("open-new", 5)):  # P002 never checks out
        entered = (now - timedelta(days=days_ago)).isoformat()
        body = {"client_id": client_id, "person": "P002", "token": token, "at": entered}
        assert client.post("/checkins", json=body, headers=phone["P002"]).status_code == 201

    # An upload of a case's history.
    uploaded = [
        {"token": token, "entered_at": (now - timedelta(days=d, hours=2)).isoformat(), "client_id": f"u{d}"}
        for d in (3, 6, 10, 15)
    ]
    response = client.post("/people/P001/visit-history", json={"visits": uploaded}, headers=phone["P001"])
    assert response.json() == {"stored": 4, "already_stored": 0, "clipped": 0}, response.text

    # Bulk rows: one commit straddling the cut-off, one wholly before it, one wholly after.
    with services.store.read() as uow:
        p1, p2 = uow.people.id_for_ref("P001"), uow.people.id_for_ref("P002")
        venue_row = uow.venues.get_by_ref("V001")
    assert p1 is not None and p2 is not None and venue_row is not None and venue_row.id is not None
    hour = 3600
    # Each entered at its own second: a bulk visit is stored once per (person, venue, entered_at).
    straddling = [(cutoff - hour, cutoff - 1), (cutoff - hour + 1, cutoff), (cutoff - 30, cutoff + 1)]
    _bulk_visits(services, p1, venue_row.id, straddling)
    _bulk_visits(services, p2, venue_row.id, [(cutoff - 9 * hour + i, cutoff - 8 * hour) for i in range(3)])
    _bulk_visits(services, p2, venue_row.id, [(cutoff + hour + i, cutoff + 2 * hour) for i in range(2)])
    _bulk_encounters(services, (p1, p2), [*straddling, (cutoff - 99 * hour, cutoff - 98 * hour)])
    _bulk_encounters(services, (p2, p1), [(cutoff + 5 * hour, cutoff + 6 * hour)])
    return cutoff


def test_purge_deletes_exactly_what_ended_before_the_cut_off(
    client: TestClient, services: Services, clock: FixedClock
) -> None:
    cutoff = _populate(client, services, clock)
    visit_ends, encounter_ends = _visit_ends(services), _encounter_ends(services)
    assert len(visit_ends) == 3 + 2 + 4 + 3 + 3 + 2
    assert len(encounter_ends) == 5
    assert any(end < cutoff for end in visit_ends)  # the data does straddle the cut-off

    # Nothing is old enough yet.
    first = purge_expired(services.store, services.policy, clock)
    assert [(r.kind, r.deleted) for r in first] == [(kind, 0) for kind in KINDS]
    assert _visit_ends(services) == visit_ends

    clock.advance(LATER)
    records = purge_expired(services.store, services.policy, clock)
    kept_visits = [end for end in visit_ends if end >= cutoff]
    kept_encounters = [end for end in encounter_ends if end >= cutoff]
    assert _visit_ends(services) == kept_visits
    assert _encounter_ends(services) == kept_encounters
    assert services.store.counts().visits == len(kept_visits)
    assert services.store.counts().encounters == len(kept_encounters)

    now = clock.now()
    assert [r.kind for r in records] == KINDS
    assert records[:2] == [
        PurgeRecord(
            "visits", len(visit_ends) - len(kept_visits), now - RETENTION, now, services.policy.version
        ),
        PurgeRecord(
            "encounters",
            len(encounter_ends) - len(kept_encounters),
            now - RETENTION,
            now,
            services.policy.version,
        ),
    ]
    # Which ones went: the check-ins of 8 and 20 days before, the one begun 7 days before and
    # closed by the next check-in, the uploads from 6, 10 and 15 days before (their inferred
    # ends fall before the cut-off), and the bulk rows that ended before it.
    assert records[0].deleted == 2 + 1 + 3 + 1 + 3
    assert records[1].deleted == 2

    with services.store.read() as uow:
        logged = uow.purges.recent()
    assert logged[: len(KINDS)] == list(reversed(records))  # newest first
    assert [(r.kind, r.deleted) for r in logged[len(KINDS) :]] == [(kind, 0) for kind in reversed(KINDS)]

    # Purging again finds nothing more.
    again = purge_expired(services.store, services.policy, clock)
    assert [r.deleted for r in again] == [0] * len(KINDS)
    assert _visit_ends(services) == kept_visits


def test_the_archive_keeps_only_live_segments(embedded_services: Services, clock: FixedClock) -> None:
    services = embedded_services
    archive = services.store.archive
    assert archive is not None
    with TestClient(create_app(services, schedule_maintenance=False)) as client:
        cutoff = _populate(client, services, clock)
    assert len(archive.segments("visits")) == 3
    clock.advance(LATER)
    purge_expired(services.store, services.policy, clock)

    for kind in ("visits", "encounters"):
        segments = archive.segments(kind)
        assert all(s.min_end >= cutoff for s in segments), segments
        on_disk = sorted(p.name for p in (archive.root / kind).glob("*.parquet"))
        assert on_disk == sorted(s.file for s in segments)  # dropped files are deleted
    # The wholly-old segment is gone; the straddling one was rewritten with what remains.
    assert sorted(s.rows for s in archive.segments("visits")) == [2, 2]


def test_the_purge_log_holds_no_personal_or_venue_data(
    client: TestClient, services: Services, clock: FixedClock
) -> None:
    _populate(client, services, clock)
    clock.advance(LATER)
    purge_expired(services.store, services.policy, clock)
    columns = {c["name"] for c in inspect(services.db.engine).get_columns("purges")}
    assert columns == {"id", "kind", "deleted", "cutoff", "run_at", "policy_version"}
    assert {f.name for f in fields(PurgeRecord)} == {"kind", "deleted", "cutoff", "run_at", "policy_version"}
    with services.store.read() as uow:
        rows = uow.connection.execute(select(purges)).all()
    assert len(rows) == len(KINDS)
    text = repr(rows)
    for private in ("P001", "P002", "V001", "Cafe", "咖啡店"):
        assert private not in text


def test_purges_over_the_api(client: TestClient, services: Services, clock: FixedClock) -> None:
    assert client.get("/purges").json() == {"data": [], "count": 0}
    _populate(client, services, clock)
    clock.advance(LATER)
    before = services.store.counts().visits

    # Purging is the administrator's: the tracing desk may not.
    desk = staff_headers(services, Role.SUPERVISOR, Role.VENUE_OPERATOR, username="desk")
    forbidden = client.post("/purges", headers=desk)
    assert (forbidden.status_code, forbidden.json()["code"]) == (403, "forbidden")
    assert services.store.counts().visits == before

    # The administrator signs in again: the first sign-in's token ended with the days gone by.
    admin = staff_headers(services, Role.ADMINISTRATOR, username="admin")
    posted = client.post("/purges", headers=admin)
    assert posted.status_code == 200, posted.text
    body = posted.json()
    assert body["count"] == len(KINDS)
    by_kind = {r["kind"]: r for r in body["data"]}
    assert set(by_kind) == set(KINDS)
    assert by_kind["visits"]["deleted"] == before - services.store.counts().visits > 0
    for entry in body["data"]:
        assert set(entry) == {"kind", "deleted", "cutoff", "run_at", "policy_version"}
        assert datetime.fromisoformat(entry["run_at"]) == clock.now()
        kept = (
            RETENTION if entry["kind"] in (*WHEREABOUTS, "corrections", "exposure_reports") else ENDED_ACCESS
        )
        if entry["kind"] == "signed_codes":
            kept = timedelta(hours=1)  # expired, and past the largest clock leeway a verifier allows
        if entry["kind"] == "warnings":
            kept = timedelta(days=services.policy.presence.records_days)  # after the window's end
        if entry["kind"] == "rate_counts":
            kept = timedelta(minutes=1)  # the window before this minute's (the clock is on a minute)
        assert datetime.fromisoformat(entry["cutoff"]) == clock.now() - kept, entry
        assert entry["policy_version"] == services.policy.version

    listed = client.get("/purges", headers=admin).json()
    assert listed["count"] == len(KINDS)
    assert sorted(listed["data"], key=lambda r: r["kind"]) == sorted(body["data"], key=lambda r: r["kind"])


def test_the_server_purges_on_a_schedule(services: Services, clock: FixedClock) -> None:
    services.settings.maintenance_interval_seconds = 5
    with TestClient(create_app(services, schedule_maintenance=False)) as setup:
        _populate(setup, services, clock)
    clock.advance(LATER)
    before = services.store.counts().visits

    with TestClient(create_app(services, schedule_maintenance=True)) as client:
        deadline = time.monotonic() + 20
        logged: list[PurgeRecord] = []
        while time.monotonic() < deadline:
            with services.store.read() as uow:
                logged = uow.purges.recent()
            if len(logged) >= len(KINDS):
                break
            time.sleep(0.05)
        assert client.get("/health").status_code == 200
    assert sorted(r.kind for r in logged) == sorted(KINDS), logged
    assert all(r.run_at == clock.now() for r in logged)
    assert services.store.counts().visits < before
    # The same run closed the visit P002 left open 5 days ago, after its default stay.
    with services.store.read() as uow:
        p2 = uow.people.id_for_ref("P002")
        assert p2 is not None
        still_open = uow.visits.open_visits_of(p2)
    assert still_open == []


def _refuse_visit_updates(services: Services) -> None:
    """A database that refuses every update of a visit (as a lock or a permission would): closing fails."""
    with services.db.engine.begin() as conn:
        if services.db.is_sqlite:
            conn.execute(
                text(
                    "CREATE TRIGGER visits_frozen BEFORE UPDATE ON visits "
                    "BEGIN SELECT RAISE(ABORT, 'visits are frozen'); END"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE FUNCTION visits_frozen() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'visits are frozen'; END $$"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER visits_frozen BEFORE UPDATE ON visits "
                    "FOR EACH ROW EXECUTE FUNCTION visits_frozen()"
                )
            )


def test_a_failing_maintenance_step_leaves_the_others_running(
    client: TestClient, services: Services, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Before, closing stale visits failing stopped the run: no purge, no code sweep, no audit check."""
    _populate(client, services, clock)
    clock.advance(LATER)
    before = services.store.counts().visits
    _refuse_visit_updates(services)

    with caplog.at_level(logging.INFO, logger="chaincut.maintenance"):
        failed = run_maintenance(services)

    assert failed == ["closing stale visits"]
    [error] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert error.getMessage().startswith("maintenance: closing stale visits failed")
    assert error.exc_info is not None and "visits are frozen" in str(error.exc_info[1])
    with services.store.read() as uow:
        logged = uow.purges.recent()
        p2 = uow.people.id_for_ref("P002")
        assert p2 is not None
        still_open = uow.visits.open_visits_of(p2)
    assert sorted(r.kind for r in logged) == sorted(KINDS)  # the purges ran
    assert services.store.counts().visits < before
    assert len(still_open) == 1  # P002's open visit was not closed: that step failed
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any(m.startswith("maintenance: recomputed") for m in said)  # the health-code sweep ran
    assert "maintenance: the audit log is intact; its head is anchored" in said
    anchored = json.loads((services.settings.data_dir / ANCHOR_FILE).read_text(encoding="utf-8"))
    assert anchored["seq"] == services.audit.verify().last_seq
