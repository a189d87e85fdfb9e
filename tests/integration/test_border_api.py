"""The /border routes over HTTP: a resident books and cancels their own, officers list, on both backends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from chaincut.api import create_app
from chaincut.bootstrap import Services
from chaincut.domain.access import Role
from chaincut.people import PersonDraft
from support.auth import resident_headers, staff_headers

DOC = "K987654(3)"


def _body(**changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "request_id": "app-1",
        "id_document": DOC,
        "day": "2026-11-23",
        "checkpoint": "shenzhen_bay",
        "slot": "afternoon",
        "companions": ["K9876540", "K9876541"],
    }
    return body | changes


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    for ref in ("RES1", "RES2"):
        services.people.register(PersonDraft(ref=ref))
    with TestClient(create_app(services, schedule_maintenance=False), raise_server_exceptions=False) as c:
        yield c


def _remaining(client: TestClient, headers: dict[str, str]) -> int:
    response = client.get("/border/slots", params={"day": "2026-11-23"}, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == 9  # three checkpoints, three slots each
    (slot,) = [s for s in body["data"] if s["checkpoint"] == "shenzhen_bay" and s["slot"] == "afternoon"]
    assert slot["name_zh"] == "深圳灣管制站"
    return int(slot["remaining"])


def test_a_resident_books_retries_and_cancels(services: Services, client: TestClient) -> None:
    resident = resident_headers(services, "RES1")
    quota = _remaining(client, resident)
    created = client.post("/border/bookings", json=_body(), headers=resident)
    assert created.status_code == 201, created.text
    booking = created.json()
    assert booking["kind"] == "booking" and booking["status"] == "booked" and booking["travellers"] == 3
    subject_of = services.subjects.subject_of
    assert booking["subject"] == subject_of(services.hasher.hash(DOC))
    assert booking["companions"] == [
        {"subject": subject_of(services.hasher.hash(doc))} for doc in ("K9876540", "K9876541")
    ]
    assert _remaining(client, resident) == quota - 3

    retried = client.post("/border/bookings", json=_body(), headers=resident)
    assert retried.status_code == 200 and retried.json()["id"] == booking["id"]

    second = client.post("/border/bookings", json=_body(request_id="app-2", slot="night"), headers=resident)
    assert second.status_code == 409
    assert (second.json()["code"], second.json()["field"]) == ("already_booked", "id_document")

    # Someone else's booking answers like a missing one.
    other = resident_headers(services, "RES2")
    assert client.delete(f"/border/bookings/{booking['id']}", headers=other).status_code == 404

    for _ in range(2):
        cancelled = client.delete(f"/border/bookings/{booking['id']}", headers=resident)
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert _remaining(client, resident) == quota


@pytest.mark.parametrize(
    ("changes", "status", "code", "field"),
    [
        ({"day": "2026-11-19"}, 422, "day_in_past", "day"),
        ({"day": "2026-11-28"}, 422, "day_too_far", "day"),
        ({"checkpoint": "airport"}, 422, "unknown_checkpoint", "checkpoint"),
        ({"slot": "midnight"}, 422, "unknown_slot", "slot"),
        ({"companions": ["C1", "C2", "C3", "C4"]}, 422, "too_many_companions", "companions"),
        ({"companions": ["C1", "c-1"]}, 422, "traveller_listed_twice", "companions[1]"),
        ({"companions": ["C1", DOC]}, 422, "traveller_listed_twice", "companions[1]"),
        ({"companions": ["C1", "??"]}, 422, "invalid_id_document", "companions[1]"),
    ],
)
def test_refusals_say_which_field(
    services: Services, client: TestClient, changes: dict[str, object], status: int, code: str, field: str
) -> None:
    response = client.post(
        "/border/bookings", json=_body(**changes), headers=resident_headers(services, "RES1")
    )
    assert response.status_code == status, response.text
    assert (response.json()["code"], response.json()["field"]) == (code, field)


def test_a_border_officer_lists_the_days_bookings_and_the_store_keeps_no_document_number(
    services: Services, client: TestClient
) -> None:
    resident = resident_headers(services, "RES1")
    booking = client.post("/border/bookings", json=_body(), headers=resident).json()
    officer = staff_headers(services, Role.BORDER_OFFICER)
    listed = client.get(
        "/border/bookings", params={"day": "2026-11-23", "checkpoint": "shenzhen_bay"}, headers=officer
    )
    assert listed.status_code == 200, listed.text
    assert [b["id"] for b in listed.json()["data"]] == [booking["id"]]
    elsewhere = client.get(
        "/border/bookings", params={"day": "2026-11-23", "checkpoint": "man_kam_to"}, headers=officer
    )
    assert elsewhere.json()["count"] == 0
    assert client.get("/border/bookings", params={"day": "2026-11-23"}, headers=resident).status_code == 403
    tracer = staff_headers(services, Role.TRACER)
    assert client.get("/border/bookings", params={"day": "2026-11-23"}, headers=tracer).status_code == 403

    with services.store.read() as uow:
        row = uow.connection.execute(sa.text("SELECT * FROM border_bookings")).one()
        audit = uow.connection.execute(sa.text("SELECT resource, record, details FROM audit_log")).all()
    assert bytes(row.traveller_hash) == services.hasher.hash(DOC)
    assert all("987654" not in str(value) for value in row)
    assert ("border/bookings", booking["id"]) in {(a.resource, a.record) for a in audit}
    assert all("987654" not in a.details for a in audit)


def test_a_full_slot_is_refused_with_its_reason_and_the_booking_audited_once(
    services: Services, client: TestClient
) -> None:
    resident = resident_headers(services, "RES1")
    booking = client.post("/border/bookings", json=_body(), headers=resident).json()
    assert client.post("/border/bookings", json=_body(), headers=resident).status_code == 200  # a retry
    with services.store.write() as uow:  # everyone else booked the rest
        uow.connection.execute(sa.text("UPDATE border_slots SET booked = quota"))
    refused = client.post(
        "/border/bookings",
        json=_body(request_id="x", id_document="Z1234567", companions=[]),
        headers=resident,
    )
    assert refused.status_code == 409
    assert (refused.json()["code"], refused.json()["field"]) == ("slot_full", "slot")
    assert "afternoon" in refused.json()["message"]
    assert refused.headers["x-content-type-options"] == "nosniff"  # still through the security headers
    with services.store.read() as uow:
        entries = uow.connection.execute(
            sa.text("SELECT actor, action, record FROM audit_log WHERE resource = 'border/bookings'")
        ).all()
    assert [(e.action, e.record) for e in entries] == [("border.book", booking["id"])]
    assert entries[0].actor.startswith("resident:")
