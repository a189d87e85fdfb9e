"""Ballot draws cannot be ground, on both backends: each day's seed is committed (its SHA-256 published)
before the day's entries open, the draw uses that seed and no other and reveals it; entries are ranked
on tickets made from the day and the named traveller's subject id, never on ids the server makes up
(which it could make up again until chosen people win); and the published draw record lets anyone,
signed in or not, repeat the draw from the tickets and the seed alone, recomputed here independently."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from chaincut.api import create_app
from chaincut.api.app import draw_due_ballots
from chaincut.bootstrap import Services, bootstrap
from chaincut.border import BallotDraws, BookingService
from chaincut.border import bookings as bookings_module
from chaincut.clock import FixedClock
from chaincut.domain.access import Principal
from chaincut.domain.border import BallotEntry, EntryStatus
from chaincut.errors import BookingRefused, InvalidInput
from chaincut.people import PersonDraft
from chaincut.policy import BookingMode
from chaincut.settings import Settings
from chaincut.store import Database, upgrade
from chaincut.store import tables as t
from support.auth import resident_headers
from support.border import DAY, POINT, booking_request, companions_of, register_people, small_checkpoint_rules

DRAW_RECORD = f"/border/ballot/draws/{DAY}"

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
    draws = BallotDraws(
        services.store,
        rules,
        services.clock,
        zone,
        lambda d: seeds(d) or f"seed {d}",
        services.subjects.subject_of,
    )
    return border, draws


def _ticket(day: date, subject: str) -> str:
    """The documented ticket, restated: SHA-256 of the tag, 0x00, the day, 0x00, the subject id; hex."""
    return hashlib.sha256(
        b"\0".join([b"chaincut-ballot-ticket/1", str(day).encode(), subject.encode()])
    ).hexdigest()


def _rank(seed: str, ticket: str) -> bytes:
    """The documented rank, restated: SHA-256 of the seed, 0x00, the ticket's hex (compared big-endian)."""
    return hashlib.sha256(seed.encode() + b"\0" + ticket.encode()).digest()


def _clear_entries(services: Services) -> None:
    """Forget the day's entries, bookings and draw, keeping its seed commitment."""
    with services.store.write() as uow:
        for table in reversed(t.metadata.sorted_tables):
            if table.name.startswith("border_") and table.name != "border_seed_commitments":
                uow.connection.execute(table.delete())


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
    anyone = client.get("/border/ballot/commitments", params={"from": "2026-11-21", "to": "2026-11-21"})
    assert anyone.status_code == 200 and anyone.json()["data"] == [revealed]  # no credentials needed
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

    # Independently: ticket = SHA-256("chaincut-ballot-ticket/1", 0x00, day, 0x00, named traveller's
    # subject id), rank = SHA-256(seed, 0x00, ticket in hex) compared big-endian; in that order an entry
    # wins while all its travellers fit in the slot's 9 seats.
    ranked = sorted(entries, key=lambda e: _rank(SEED, _ticket(DAY, str(e.subject))))
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


def test_the_entry_ids_the_server_makes_up_do_not_change_who_wins(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server makes each entry's public id (and row id) once the seed is committed, while it holds
    the seed: were entries ranked on those ids, it could make them up again, or store the entries again
    in another order, after seeing them, until chosen people won. The same entrants drawn with the same
    seed under other entry ids, stored in other orders, win and lose alike."""
    border, draws = _ballot(services, quota=7)
    people = register_people(services, 4, "P")

    def entered_and_drawn(prefix: str, order: list[int]) -> dict[str, EntryStatus]:
        ids = iter(f"{prefix}-{i:04d}" for i in range(1000))
        monkeypatch.setattr(bookings_module, "new_public_id", lambda: next(ids))
        for i in order:
            doc = f"D{i:04d}"
            request = booking_request(people[i % 4], doc, f"e{i}", companions=companions_of(doc, i % 2))
            entry = border.book(request)
            assert isinstance(entry, BallotEntry) and entry.public_id.startswith(prefix)
        draws.draw(ROBOT, DAY)
        found = {}
        with services.store.read() as uow:
            for i in range(16):
                entry = uow.ballot.by_request(people[i % 4], f"e{i}")
                assert entry is not None
                found[f"D{i:04d}"] = entry.status
        _clear_entries(services)
        return found

    forward = list(range(16))
    first = entered_and_drawn("grind-a", forward)
    assert 0 < list(first.values()).count(EntryStatus.WON) < 16
    shuffled = list(forward)
    random.Random(7).shuffle(shuffled)
    for attempt, order in (("grind-b", forward), ("grind-c", forward[::-1]), ("grind-d", shuffled)):
        assert entered_and_drawn(attempt, order) == first, f"entry ids {attempt}-* changed who won"


def test_anyone_repeats_the_draw_from_its_published_record(services: Services) -> None:
    """A third party, signed in or not, checks the seed against the commitment it read before the entries,
    and recomputes every slot's winners from the tickets, the seats and the seed alone; a resident finds
    their own entry by the ticket made from the subject their entry answer shows."""
    border, draws = _ballot(services, quota=5)
    services.border, services.draws = border, draws
    people = register_people(services, 5, "P")
    # A traveller booked first come before the ballot opened: their entry is excluded, and the morning
    # slot has 4 seats free when drawn.
    first_come = BookingService(
        services.store,
        small_checkpoint_rules(services, 5),
        services.clock,
        services.settings.zone,
        services.hasher,
    )
    first_come.book(booking_request(people[0], "D0003", "fc"))
    with TestClient(create_app(services, schedule_maintenance=False)) as anyone:
        draws.commit(ROBOT, DAY)
        (before,) = anyone.get(
            "/border/ballot/commitments", params={"from": str(DAY), "to": str(DAY)}
        ).json()["data"]
        assert anyone.get(DRAW_RECORD).json()["code"] == "not_found"  # nothing until the draw
        entries: list[BallotEntry] = []
        for i in range(18):
            doc = f"D{i:04d}"
            request = booking_request(
                people[i % 5],
                doc,
                f"e{i}",
                slot="night" if i % 3 == 0 else "morning",
                companions=companions_of(doc, i % 3),
            )
            entry = border.book(request)
            assert isinstance(entry, BallotEntry)
            entries.append(entry)
        draws.draw(ROBOT, DAY)
        answer = anyone.get(DRAW_RECORD)
    assert answer.status_code == 200, answer.text
    record = answer.json()

    # The third party's check, from the published JSON alone.
    seed = record["seed"]
    assert hashlib.sha256(seed.encode()).hexdigest() == before["commitment"] == record["commitment"]
    assert (record["order"], record["hash"], record["day"]) == (2, "sha256", str(DAY))
    outcomes: dict[str, str] = {}
    for slot in record["slots"]:
        tickets = [e["ticket"] for e in slot["entries"]]
        assert tickets == sorted(tickets)  # listed by ticket, which says nothing of who came first
        left = slot["seats"]
        ranked = [e for e in slot["entries"] if e["outcome"] != "excluded"]
        for e in sorted(ranked, key=lambda e: (_rank(seed, e["ticket"]), e["ticket"])):
            fits = e["travellers"] <= left
            left -= e["travellers"] if fits else 0
            assert e["outcome"] == ("won" if fits else "lost"), (slot["slot"], e)
        outcomes.update({e["ticket"]: e["outcome"] for e in slot["entries"]})
    assert [(s["checkpoint"], s["slot"], s["seats"]) for s in record["slots"]] == [
        (POINT, "morning", 4),
        (POINT, "night", 5),
    ]
    assert record["entries"] == len(outcomes) == 18
    assert record["won"] == list(outcomes.values()).count("won")
    assert 0 < record["won"] < 17 and list(outcomes.values()).count("excluded") == 1

    # Each resident: their ticket, from the subject their entry answer showed, has their outcome.
    with services.store.read() as uow:
        for entry in entries:
            ticket = _ticket(DAY, str(entry.subject))
            stored = uow.ballot.by_request(entry.person_id, entry.request_id)
            assert stored is not None
            expected = "excluded" if entry.request_id == "e3" else stored.status.value
            assert outcomes[ticket] == expected, entry.request_id
    # No entry id, booking id or subject id is published.
    for entry in entries:
        assert entry.public_id not in answer.text and str(entry.subject) not in answer.text


def test_the_timer_commits_every_day_before_it_opens_for_entries(services: Services) -> None:
    _border, services.draws = _ballot(services)
    draw_due_ballots(services)
    with services.store.read() as uow:
        days = [c.day for c in uow.ballot.commitments(TODAY, TODAY + timedelta(days=30))]
    # Bookings open 7 days ahead: the day that opens at the next midnight is committed already.
    assert days == [TODAY + timedelta(days=n) for n in range(9)]
    assert services.draws.commit_ahead(ROBOT) == []  # nothing twice
    first_come = BallotDraws(
        services.store,
        services.policy.border,
        services.clock,
        services.settings.zone,
        lambda d: "x",
        services.subjects.subject_of,
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


def test_a_day_drawn_before_tickets_is_published_as_ballot_order_1(
    settings: Settings, clock: FixedClock
) -> None:
    """A draw recorded before revision 0014 ranked entry ids: its record says so and lists no tickets,
    and the entries it decided keep their outcomes."""
    db = Database(settings.resolved_database_url())
    upgrade(db, "0013")
    with db.engine.begin() as conn:
        run = conn.execute
        run(sa.text("INSERT INTO people (id, ref, public_id, created_at) VALUES (1, 'P1', 'p1', 0)"))
        run(
            sa.text(
                "INSERT INTO border_ballot_entries (id, public_id, person_id, traveller_hash, day, "
                "checkpoint, slot, companions, status, request_id, created_at) VALUES "
                "(1, 'e1', 1, :h, :day, 'man_kam_to', 'night', 0, 'lost', 'e1', 0)"
            ),
            {"h": b"\x01" * 32, "day": DAY},
        )
        run(
            sa.text(
                "INSERT INTO border_draws (day, seed, drawn_at, drawn_by, entries, won) "
                "VALUES (:day, 'an old seed', 1700000000, 'tests', 1, 0)"
            ),
            {"day": DAY},
        )
    upgrade(db)
    db.dispose()
    services = bootstrap(settings, clock=clock)
    try:
        record = services.draws.published(DAY)
        with services.store.read() as uow:
            entry = uow.ballot.by_request(1, "e1")
    finally:
        services.close()
    assert (record.order, record.seed, record.commitment, record.slots) == (1, "an old seed", None, ())
    assert (record.entries, record.won) == (1, 0)
    assert entry is not None and entry.status is EntryStatus.LOST


def test_a_residents_own_list_shows_the_entry_and_after_the_draw_its_result(
    services: Services, client: TestClient
) -> None:
    app = resident_headers(services, "RES1")
    body = {"request_id": "mine", "id_document": "A1234563", "day": str(DAY), "checkpoint": "man_kam_to"}
    entered = client.post("/border/bookings", json={**body, "slot": "night"}, headers=app)
    assert entered.status_code == 202, entered.text
    (mine,) = client.get("/border/my-bookings", headers=app).json()["data"]
    assert (mine["kind"], mine["status"], mine["day"]) == ("ballot_entry", "entered", str(DAY))

    services.draws.draw(ROBOT, DAY)
    listed = client.get("/border/my-bookings", headers=app).json()["data"]
    # Won: the entry says so, and the booking it became is listed beside it, to cancel.
    assert {(item["kind"], item["status"]) for item in listed} == {
        ("ballot_entry", "won"),
        ("booking", "booked"),
    }
    services.people.register(PersonDraft(ref="RES2"))
    assert client.get("/border/my-bookings", headers=resident_headers(services, "RES2")).json()["data"] == []
    assert client.get("/border/my-bookings").status_code == 401
