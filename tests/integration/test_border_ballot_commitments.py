"""Ballot seeds cannot be ground, on both backends: each day's seed is committed (its SHA-256 published)
before the day's entries open, the draw uses that seed and no other and reveals it, and the winners
are the documented order's, recomputed here independently."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from chaincut.api import create_app
from chaincut.api.app import draw_due_ballots
from chaincut.bootstrap import Services
from chaincut.border import BallotDraws, BookingService
from chaincut.clock import FixedClock
from chaincut.domain.access import Principal
from chaincut.domain.border import BallotEntry, EntryStatus
from chaincut.errors import BookingRefused, InvalidInput
from chaincut.people import PersonDraft
from chaincut.policy import BookingMode
from support.auth import resident_headers
from support.border import DAY, POINT, booking_request, companions_of, register_people, small_checkpoint_rules

TODAY = date(2026, 11, 20)  # the fixed clock: 12:00 in Hong Kong; DAY (the 21st) draws at 20:00 today
SEED = "seed of the 21st"
ROBOT = Principal.system("ballot")


def _ballot(
    services: Services, quota: int | None = None, seed: str = SEED
) -> tuple[BookingService, BallotDraws]:
    """Ballot-mode booking and draws, as the server wires them (one seed source for both)."""
    if quota is None:
        rules = replace(services.policy.border, mode=BookingMode.BALLOT)
    else:
        rules = small_checkpoint_rules(services, quota, mode=BookingMode.BALLOT)
    zone = services.settings.zone
    seeds = {DAY: seed}.get
    border = BookingService(
        services.store, rules, services.clock, zone, services.hasher, seeds=lambda d: seeds(d) or f"seed {d}"
    )
    draws = BallotDraws(services.store, rules, services.clock, zone, lambda d: seeds(d) or f"seed {d}")
    return border, draws


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    services.border, services.draws = _ballot(services)
    services.people.register(PersonDraft(ref="RES1"))
    with TestClient(create_app(services, schedule_maintenance=False), raise_server_exceptions=False) as c:
        yield c


def _published(client: TestClient, headers: dict[str, str]) -> list[dict[str, object]]:
    answer = client.get(
        "/border/ballot/commitments", params={"from": "2026-11-21", "to": "2026-11-21"}, headers=headers
    )
    assert answer.status_code == 200, answer.text
    data: list[dict[str, object]] = answer.json()["data"]
    return data


def test_the_seed_is_published_before_the_first_entry_and_revealed_by_the_draw(
    services: Services, client: TestClient
) -> None:
    app = resident_headers(services, "RES1")
    assert _published(client, app) == []
    body = {
        "request_id": "e1",
        "id_document": "A1234563",
        "day": "2026-11-21",
        "checkpoint": "man_kam_to",
        "slot": "night",
    }
    entered = client.post("/border/bookings", json=body, headers=app)
    assert entered.status_code == 202, entered.text
    (published,) = _published(client, app)
    assert published["commitment"] == hashlib.sha256(SEED.encode()).hexdigest()
    assert (published["hash"], published["entries_at_commitment"], published["seed"]) == ("sha256", 0, None)
    assert str(published["committed_at"]) <= entered.json()["created_at"]
    with services.store.read() as uow:
        actions = [r.event.action for r in uow.audit.find(limit=50)]
    assert actions.index("border.ballot.commit") < actions.index("border.book")  # committed, then entered

    # The draw takes the committed seed and no other; then anyone can check it.
    with pytest.raises(InvalidInput) as ground:
        services.draws.draw(ROBOT, DAY, "a seed chosen after seeing the entries")
    assert (ground.value.code, ground.value.field) == ("seed_mismatch", "seed")
    drawn = services.draws.draw(ROBOT, DAY)
    assert drawn.seed == SEED and len(drawn.won) == 1
    (revealed,) = _published(client, app)
    assert revealed["seed"] == SEED and revealed["drawn_at"] is not None
    assert hashlib.sha256(str(revealed["seed"]).encode()).hexdigest() == revealed["commitment"]
    with pytest.raises(BookingRefused) as late:
        services.draws.commit(ROBOT, DAY, "another")
    assert late.value.code == "ballot_drawn"
    assert client.get("/border/ballot/commitments").status_code == 401
    bad = client.get(
        "/border/ballot/commitments", params={"from": "2026-11-21", "to": "2026-11-01"}, headers=app
    )
    assert bad.status_code == 422 and bad.json()["field"] == "to"


def test_the_winners_are_the_documented_orders(services: Services) -> None:
    border, draws = _ballot(services, quota=9)
    people = register_people(services, 6, "P")
    entries: list[BallotEntry] = []
    for i in range(14):
        doc = f"D{i:04d}"
        entry = border.book(
            booking_request(people[i % 6], doc, f"e{i}", companions=companions_of(doc, i % 3))
        )
        assert isinstance(entry, BallotEntry)
        entries.append(entry)
    outcome = draws.draw(ROBOT, DAY)

    # Independently: rank = SHA-256(seed, 0x00, entry id) compared big-endian; in that order an entry
    # wins while all its travellers fit in the slot's 9 seats.
    ranked = sorted(
        entries, key=lambda e: hashlib.sha256(SEED.encode() + b"\0" + e.public_id.encode()).digest()
    )
    seats, expected = 9, []
    for e in ranked:
        if e.travellers <= seats:
            seats -= e.travellers
            expected.append(e.public_id)
    assert sorted(outcome.won) == sorted(expected) and 0 < len(expected) < 14
    assert sorted(outcome.lost) == sorted(set(e.public_id for e in entries) - set(expected))
    with services.store.read() as uow:
        booked = uow.border.slots(DAY)[(POINT, "morning")].booked
    assert booked == 9 - seats


def test_the_timer_commits_every_day_before_it_opens_for_entries(services: Services) -> None:
    _border, services.draws = _ballot(services)
    draw_due_ballots(services)
    with services.store.read() as uow:
        days = [c.day for c in uow.ballot.commitments(TODAY, TODAY + timedelta(days=30))]
    # Bookings open 7 days ahead: the day that opens at the next midnight is committed already.
    assert days == [TODAY + timedelta(days=n) for n in range(9)]
    assert services.draws.commit_ahead(ROBOT) == []  # nothing twice
    first_come = BallotDraws(
        services.store, services.policy.border, services.clock, services.settings.zone, lambda d: "x"
    )
    assert first_come.commit_ahead(ROBOT) == []


def test_a_day_with_entries_but_no_commitment_is_not_drawn_until_one_is_published(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    """Entries stored before commitments existed: the draw waits, and the late commitment says how many
    entries were already in."""
    _border, draws = _ballot(services)
    (person,) = register_people(services, 1, "P")
    with services.store.write() as uow:
        uow.ballot.add(
            {
                "public_id": "entry-before-1",
                "person_id": person,
                "day": DAY,
                "checkpoint": "man_kam_to",
                "slot": "night",
                "request_id": "e1",
                "created_at": 1_700_000_000,
            },
            [(services.hasher.hash("A1234563"), None)],
        )
    assert isinstance(services.clock, FixedClock)
    services.clock.set(datetime(2026, 11, 20, 12, 0, tzinfo=UTC))  # 20:00 local: the 21st is due
    with pytest.raises(BookingRefused) as caught:
        draws.draw(ROBOT, DAY)
    assert (caught.value.code, caught.value.field) == ("no_commitment", "day")
    assert draws.draw_due(ROBOT) == []
    assert "has no seed committed" in caplog.text
    late = draws.commit(ROBOT, DAY)
    assert late.entries_at_commitment == 1
    (drawn,) = draws.draw_due(ROBOT)
    assert drawn.won == ("entry-before-1",) and drawn.seed == SEED
    with services.store.read() as uow:
        sealed = uow.connection.execute(
            sa.text("SELECT seed_sealed FROM border_seed_commitments")
        ).scalar_one()
        entry = uow.ballot.by_request(person, "e1")
    assert SEED.encode() not in bytes(sealed)  # kept sealed until the draw
    assert entry is not None and entry.status is EntryStatus.WON
