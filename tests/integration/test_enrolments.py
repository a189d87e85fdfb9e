"""Enrolling a resident's phone: a supervisor's one-time code, valid 15 minutes, traded once for the
phone's app token; every step audited, and the token ends like any other when the phone is lost."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from chaincut.access.accounts import normalise_enrolment_code
from chaincut.api import create_app
from chaincut.bootstrap import Services
from chaincut.clock import FixedClock
from chaincut.domain.access import Role
from support.auth import staff_headers


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    app = create_app(services, schedule_maintenance=False)
    with TestClient(app, raise_server_exceptions=False) as c:
        desk = staff_headers(services, Role.TRACER, username="desk")
        assert c.post("/people", json={"ref": "P001"}, headers=desk).status_code == 201
        yield c


@pytest.fixture
def supervisor(services: Services) -> dict[str, str]:
    return staff_headers(
        services, Role.SUPERVISOR, username="sam", purpose="enrolling a phone at the counter"
    )


def issue(client: TestClient, supervisor: dict[str, str]) -> dict[str, str]:
    response = client.post("/people/P001/enrolments", headers=supervisor)
    assert response.status_code == 201, response.text
    issued: dict[str, str] = response.json()
    return issued


def test_a_code_enrols_one_phone_once(
    client: TestClient, supervisor: dict[str, str], services: Services
) -> None:
    issued = issue(client, supervisor)
    assert issued["url"] == f"https://chaincut.example.org/app/enrol#{issued['code']}"
    assert len(issued["code"]) == 11 and issued["code"][5] == "-"

    enrolled = client.post("/enrolments", json={"code": issued["code"]})
    assert enrolled.status_code == 201, enrolled.text
    phone = {"Authorization": f"Bearer {enrolled.json()['token']}"}
    assert enrolled.json()["person"] == "P001"
    assert client.get("/auth/me", headers=phone).json()["kind"] == "resident"

    again = client.post("/enrolments", json={"code": issued["code"]})
    assert again.status_code == 422
    assert again.json()["field"] == "code"
    assert "used already or expired" in again.json()["message"]

    # The codes are kept hashed: the store holds no code as it was printed.
    with services.store.read() as uow:
        rows = uow.connection.exec_driver_sql("SELECT code_hash, redeemed_at FROM enrolment_codes").all()
    assert len(rows) == 1 and issued["code"].encode() not in bytes(rows[0][0]) and rows[0][1] is not None


def test_a_code_works_for_fifteen_minutes(
    client: TestClient, supervisor: dict[str, str], clock: FixedClock
) -> None:
    late = issue(client, supervisor)
    in_time = issue(client, supervisor)
    clock.advance(timedelta(minutes=14, seconds=59))
    assert client.post("/enrolments", json={"code": in_time["code"]}).status_code == 201
    clock.advance(timedelta(seconds=1))
    refused = client.post("/enrolments", json={"code": late["code"]})
    assert refused.status_code == 422 and refused.json()["field"] == "code"


def test_a_typed_code_forgives_case_spaces_and_look_alike_letters(
    client: TestClient, supervisor: dict[str, str]
) -> None:
    code = issue(client, supervisor)["code"]
    typed = " ".join(code.replace("-", "").lower()).replace("0", "o").replace("1", "l")
    assert normalise_enrolment_code(typed) == code
    assert client.post("/enrolments", json={"code": typed}).status_code == 201


@pytest.mark.parametrize("typed", ["", "ABCDE", "ABCDE-FGHJK-M", "UUUUU-UUUUU", "ABCDE_FGHJK"])
def test_what_is_not_a_code_is_refused_without_a_lookup(typed: str, client: TestClient) -> None:
    assert normalise_enrolment_code(typed) == ""
    response = client.post("/enrolments", json={"code": typed or " "})
    assert response.status_code == 422


def test_only_a_supervisor_issues_codes_stating_why(client: TestClient, services: Services) -> None:
    tracer = staff_headers(services, Role.TRACER, username="tina")
    assert client.post("/people/P001/enrolments", headers=tracer).status_code == 403
    no_purpose = staff_headers(services, Role.SUPERVISOR, username="sue", purpose=None)
    assert client.post("/people/P001/enrolments", headers=no_purpose).status_code == 403  # no purpose stated
    unknown = client.post(
        "/people/NOBODY/enrolments", headers=staff_headers(services, Role.SUPERVISOR, username="sid")
    )
    assert unknown.status_code == 404


def test_issuing_and_enrolling_are_audited(
    client: TestClient, supervisor: dict[str, str], services: Services
) -> None:
    code = issue(client, supervisor)["code"]
    assert client.post("/enrolments", json={"code": code}).status_code == 201
    with services.store.read() as uow:
        events = [r.event for r in uow.audit.find() if r.event.action.startswith("enrolments.")]
    assert [(e.action, e.record) for e in events] == [
        ("enrolments.issue", "P001"),
        ("enrolments.redeem", "P001"),
    ]
    assert events[0].actor == "staff:sam" and events[0].purpose == "enrolling a phone at the counter"
    assert events[1].actor.startswith("resident:")
    assert code not in repr(events)  # the code itself is never written to the log


def test_a_lost_phone_is_cut_off_by_revoking_its_token(
    client: TestClient, supervisor: dict[str, str], services: Services
) -> None:
    enrolled = client.post("/enrolments", json={"code": issue(client, supervisor)["code"]}).json()
    phone = {"Authorization": f"Bearer {enrolled['token']}"}
    assert client.get("/auth/me", headers=phone).status_code == 200
    assert client.request("DELETE", "/people/P001/tokens", headers=supervisor).json()["revoked"] == 1
    assert client.get("/auth/me", headers=phone).status_code == 401


def test_many_wrong_codes_are_slowed_down(client: TestClient, services: Services) -> None:
    limit = services.settings.rate_logins_per_minute
    answers = [client.post("/enrolments", json={"code": "ABCDE-FGHJK"}).status_code for _ in range(limit + 1)]
    assert answers[:limit] == [422] * limit
    assert answers[limit] == 429
