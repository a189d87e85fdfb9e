"""A slot's quota is the policy's in force, on both backends: a changed quota holds for slots booked under
the old one, a lowered one below the seats booked bumps nobody, fills the slot and shows the excess, and
every change is audited."""

from __future__ import annotations

import json
from datetime import date

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from pydantic import SecretStr
from typer.testing import CliRunner

from chaincut.api import create_app
from chaincut.bootstrap import Services, bootstrap
from chaincut.border import BookingService
from chaincut.cli.app import app as chaincut_cli
from chaincut.domain.audit import AuditFlag
from chaincut.domain.border import Booking, BookingStatus
from chaincut.errors import BookingRefused
from chaincut.people import PersonDraft
from chaincut.settings import Settings
from support.auth import resident_headers
from support.border import DAY, POINT, booking_request, companions_of, register_people, small_checkpoint_rules

LATER = date(2099, 1, 4)


def _service(services: Services, quota: int) -> BookingService:
    """One server process under a policy whose test checkpoint takes ``quota`` per slot."""
    rules = small_checkpoint_rules(services, quota)
    return BookingService(services.store, rules, services.clock, services.settings.zone, services.hasher)


def _slot(service: BookingService) -> tuple[int, int, int, int]:
    (slot,) = [s for s in service.availability(DAY) if s.checkpoint == POINT and s.slot == "morning"]
    return slot.quota, slot.booked, slot.remaining, slot.excess


def _quota_audits(services: Services) -> list[dict[str, object]]:
    with services.store.read() as uow:
        found = uow.audit.find(limit=100)
    return [
        dict(r.event.details) | {"flags": r.event.flags}
        for r in found
        if r.event.action == "border.slot.quota"
    ]


@pytest.mark.parametrize("path", ["alone", "batched"])
def test_a_raised_quota_holds_for_a_slot_made_under_the_old_one(services: Services, path: str) -> None:
    people = register_people(services, 3, "P")
    old = _service(services, quota=4)
    old.book(booking_request(people[0], "A0000001", "r1", companions=companions_of("A0000001", 3)))
    new = _service(services, quota=10)  # the experts raised the quota; the slot's row says 4
    request = booking_request(people[1], "A0000002", "r1", companions=companions_of("A0000002", 2))
    made = new.book(request) if path == "alone" else new.submit(request).result(timeout=30)
    assert isinstance(made, Booking)
    assert _slot(new) == (10, 7, 3, 0)
    assert [(a["quota_before"], a["quota"], a["booked"], a["excess"]) for a in _quota_audits(services)] == [
        (4, 10, 4, 0)
    ]


@pytest.mark.parametrize("path", ["alone", "batched"])
def test_a_quota_lowered_below_the_seats_booked_fills_the_slot_bumps_nobody_and_says_so(
    services: Services, path: str
) -> None:
    people = register_people(services, 4, "P")
    old = _service(services, quota=10)
    first = old.book(booking_request(people[0], "A0000001", "r1", companions=companions_of("A0000001", 3)))
    old.book(booking_request(people[1], "A0000002", "r1", companions=companions_of("A0000002", 1)))
    new = _service(services, quota=4)  # lowered below the 6 booked
    request = booking_request(people[2], "A0000003", "r1")
    with pytest.raises(BookingRefused) as caught:
        new.book(request) if path == "alone" else new.submit(request).result(timeout=30)
    assert (caught.value.code, caught.value.field) == ("slot_full", "slot")
    assert _slot(new) == (4, 6, 0, 2)
    assert all(b.status is BookingStatus.BOOKED for b in new.bookings(DAY, POINT))  # nobody bumped
    (audit,) = _quota_audits(services)
    assert (audit["quota_before"], audit["quota"], audit["booked"], audit["excess"]) == (10, 4, 6, 2)
    assert audit["flags"] == (AuditFlag.POLICY_CHANGE,)
    # Seats given back stay taken until the slot is below its quota again.
    new.cancel(first.public_id, person_id=people[0])
    assert _slot(new) == (4, 2, 2, 0)
    assert isinstance(
        new.book(booking_request(people[3], "A0000004", "r1", companions=("A0000005",))), Booking
    )
    assert len(_quota_audits(services)) == 1  # the change is audited once


def test_the_policy_in_force_is_applied_at_start_up_and_shown_by_the_cli_and_the_api(
    services: Services, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slot booked under an earlier policy (6,000 seats at Shenzhen Bay on an afternoon, 4,500 taken)
    is brought to the policy's 4,000 when a command or server starts, audited once, and shown 500 over.
    The command line runs on the real clock: the slot is on a day after both clocks' today."""
    with services.store.write() as uow:
        uow.connection.execute(
            sa.text(
                "INSERT INTO border_slots (checkpoint, day, slot, quota, booked) "
                "VALUES ('shenzhen_bay', :day, 'afternoon', 6000, 4500)"
            ),
            {"day": LATER},
        )
    for name, value in {
        "CHAINCUT_ENV": settings.env,
        "CHAINCUT_DATA_DIR": str(settings.data_dir),
        "CHAINCUT_DATABASE_URL": settings.resolved_database_url(),
        "CHAINCUT_IDENTITY_HASH_KEY": _secret(settings.identity_hash_key),
        "CHAINCUT_DATA_KEYS": _secret(settings.data_keys),
        "CHAINCUT_AUDIT_KEY": _secret(settings.audit_key),
        "CHAINCUT_VENUE_SIGNING_KEY_FILE": str(settings.venue_signing_key_file),
    }.items():
        monkeypatch.setenv(name, value)
    shown = CliRunner().invoke(chaincut_cli, ["border", "slots", "--day", LATER.isoformat(), "--json"])
    assert shown.exit_code == 0, shown.output
    (row,) = [
        s for s in json.loads(shown.output) if (s["checkpoint"], s["slot"]) == ("shenzhen_bay", "afternoon")
    ]
    assert (row["quota"], row["booked"], row["remaining"], row["excess"]) == (4000, 4500, 0, 500)
    (audit,) = _quota_audits(services)
    assert (audit["quota_before"], audit["quota"], audit["excess"]) == (6000, 4000, 500)
    assert audit["flags"] == (AuditFlag.POLICY_CHANGE,)

    restarted = bootstrap(settings, clock=services.clock)  # another server starting: nothing more
    try:
        assert len(_quota_audits(restarted)) == 1
        restarted.people.register(PersonDraft(ref="R1"))
        with TestClient(create_app(restarted, schedule_maintenance=False)) as client:
            answer = client.get(
                "/border/slots", params={"day": LATER.isoformat()}, headers=resident_headers(restarted, "R1")
            )
        (slot,) = [
            s for s in answer.json()["data"] if (s["checkpoint"], s["slot"]) == ("shenzhen_bay", "afternoon")
        ]
        assert (slot["quota"], slot["booked"], slot["remaining"], slot["excess"]) == (4000, 4500, 0, 500)
    finally:
        restarted.close()


def _secret(value: SecretStr | None) -> str:
    assert value is not None
    return value.get_secret_value()
