"""Quarantine orders, testing notices and daily follow-up, on every storage backend.

The service tests and the HTTP tests run on the ``services`` fixture, once on the
embedded default and once on PostgreSQL. Times come from the fixed clock
(2026-11-20T04:00Z, noon in Hong Kong); durations from the shipped policy.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from chaincut.api import create_app
from chaincut.bootstrap import Services, bootstrap
from chaincut.cli import app as cli_app
from chaincut.domain import (
    ALLOWED_STATUS_CHANGES,
    Case,
    CaseClassification,
    CaseStatus,
    Contact,
    Evidence,
    EvidenceKind,
    Interval,
    OrderKind,
    OrderStatus,
    TestResult,
    Tier,
)
from chaincut.domain.access import Role
from chaincut.errors import Conflict, InvalidInput, NotFound
from chaincut.people import PersonDraft
from chaincut.settings import Settings
from chaincut.tracing.followups import FollowUpService
from chaincut.tracing.orders import OrderService
from support.auth import staff_headers

QUARANTINE_DAYS = 14  # orders.quarantine_days in default.toml
TESTING_NOTICE_DAYS = 2  # orders.testing_notice_days
TODAY = date(2026, 11, 20)  # the fixed clock's local date in Hong Kong

# A path from issued to each status, to test every change from there.
PATH_TO: dict[OrderStatus, list[OrderStatus]] = {
    OrderStatus.ISSUED: [],
    OrderStatus.DELIVERED: [OrderStatus.DELIVERED],
    OrderStatus.IN_FORCE: [OrderStatus.IN_FORCE],
    OrderStatus.COMPLETED: [OrderStatus.IN_FORCE, OrderStatus.COMPLETED],
    OrderStatus.BREACHED: [OrderStatus.BREACHED],
    OrderStatus.RELEASED: [OrderStatus.RELEASED],
}


# The client's signed-in staff member: a supervisor, who sees every person's orders.
DESK = "duty-officer"


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    headers = staff_headers(services, Role.SUPERVISOR, username=DESK)
    app = create_app(services, schedule_maintenance=False)
    with TestClient(app, raise_server_exceptions=False, headers=headers) as c:
        yield c


def signed_in(services: Services, username: str) -> dict[str, str]:
    """The headers of another supervisor, so that records name who did what."""
    return staff_headers(services, Role.SUPERVISOR, username=username)


def person(services: Services, ref: str, name: str | None = None) -> int:
    registered = services.people.register(PersonDraft(ref=ref, name=name))
    assert registered.id is not None
    return registered.id


def case(services: Services, ref: str, person_id: int) -> int:
    with services.store.write() as uow:
        uow.cases.add_many(
            [
                Case(
                    ref=ref,
                    person_id=person_id,
                    status=CaseStatus.CONFIRMED,
                    classification=CaseClassification.LOCAL,
                )
            ],
            created_at=0,
        )
        found = uow.cases.get_by_ref(ref)
    assert found is not None and found.id is not None
    return found.id


def order_count(services: Services) -> int:
    with services.store.read() as uow:
        return uow.orders.count()


def assert_refused(response: Any, status: int, code: str, field: str | None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert (body["code"], body["field"]) == (code, field), body
    return body


# --- dates from the policy ----------------------------------------------------------------------


def test_quarantine_runs_from_the_local_date_of_last_exposure(services: Services) -> None:
    contact = person(services, "P1")
    # 23:30 in Hong Kong on 18 November: the exposure day is the 18th, not the UTC 18th by chance.
    late = datetime(2026, 11, 18, 15, 30, tzinfo=UTC)
    order = services.orders.issue(contact, Tier.CLOSE, late, None, "tracer-1")
    assert order.kind is OrderKind.QUARANTINE
    assert (order.starts_on, order.ends_on) == (
        date(2026, 11, 18),
        date(2026, 11, 18) + timedelta(QUARANTINE_DAYS),
    )
    assert order.status is OrderStatus.ISSUED
    assert order.issued_by == "tracer-1"
    assert order.policy_version == services.policy.version
    assert order.last_exposure_at == late
    # 01:00 in Hong Kong on the 19th is still the 18th in UTC.
    after_midnight = datetime(2026, 11, 18, 17, 0, tzinfo=UTC)
    other = services.orders.issue(person(services, "P2"), Tier.CLOSE, after_midnight, None, "tracer-1")
    assert other.starts_on == date(2026, 11, 19)


def test_testing_notice_is_due_days_after_issue(services: Services) -> None:
    order = services.orders.issue(person(services, "P1"), Tier.EXPOSED, None, None, "tracer-1")
    assert order.kind is OrderKind.TESTING_NOTICE
    assert (order.starts_on, order.ends_on) == (TODAY, TODAY + timedelta(TESTING_NOTICE_DAYS))
    assert len(order.public_id) == 26 and order.public_id.isalnum()


# --- idempotent issue -------------------------------------------------------------------------


def test_issue_returns_the_open_order_rather_than_a_second(services: Services) -> None:
    contact = person(services, "P1")
    index = person(services, "P0")
    c1, c2 = case(services, "C1", index), case(services, "C2", index)
    exposure = datetime(2026, 11, 18, 4, 0, tzinfo=UTC)
    first = services.orders.issue(contact, Tier.CLOSE, exposure, c1, "tracer-1")
    again = services.orders.issue(contact, Tier.CLOSE, exposure + timedelta(hours=1), c1, "tracer-2")
    assert again.public_id == first.public_id
    notice = services.orders.issue(contact, Tier.EXPOSED, None, c1, "tracer-1")
    from_other_case = services.orders.issue(contact, Tier.CLOSE, exposure, c2, "tracer-1")
    assert len({first.public_id, notice.public_id, from_other_case.public_id}) == 3
    services.orders.change_status(first.public_id, OrderStatus.RELEASED, "tracer-1", "negative PCR")
    reissued = services.orders.issue(contact, Tier.CLOSE, exposure, c1, "tracer-1")
    assert reissued.public_id != first.public_id
    assert order_count(services) == 4


def test_issue_for_contacts_counts_new_and_open(services: Services) -> None:
    index = person(services, "P0")
    c1 = case(services, "C1", index)
    close, exposed, household = (person(services, r) for r in ("P1", "P2", "P3"))
    stay = Interval(datetime(2026, 11, 18, 10, tzinfo=UTC), datetime(2026, 11, 18, 11, tzinfo=UTC))
    their_stay = Interval(datetime(2026, 11, 18, 10, 30, tzinfo=UTC), datetime(2026, 11, 18, 12, tzinfo=UTC))
    venue = Evidence(EvidenceKind.VENUE, "restaurant", Tier.CLOSE, 1800, index, 1, stay, their_stay)
    contacts = [
        Contact(close, Tier.CLOSE, 1, 1800, (venue,)),
        Contact(exposed, Tier.EXPOSED, 1, 600, ()),
        Contact(
            household,
            Tier.CLOSE,
            1,
            0,
            (Evidence(EvidenceKind.HOUSEHOLD, "household", Tier.CLOSE, 0, index),),
        ),
    ]
    summary = services.orders.issue_for_contacts(contacts, c1, "tracing")
    assert (summary.issued, summary.already_open) == (3, 0)
    again = services.orders.issue_for_contacts(contacts, c1, "tracing")
    assert (again.issued, again.already_open) == (0, 3)
    entries, count = services.orders.list(case_ref="C1", kind=OrderKind.QUARANTINE)
    assert count == 2
    by_person = {e.person_ref: e.order for e in entries}
    # the overlap ends when the index case's stay ends (11:00Z, 19:00 in Hong Kong on the 18th)
    assert by_person["P1"].last_exposure_at == stay.end
    assert by_person["P1"].starts_on == date(2026, 11, 18)
    # at home the exposure lasts until the orders are issued
    assert by_person["P3"].starts_on == TODAY
    assert all(e.order.issued_by == "tracing" and e.case_ref == "C1" for e in entries)


# --- status changes ---------------------------------------------------------------------------


def test_every_allowed_change_is_made_and_every_other_refused(services: Services) -> None:
    contact = person(services, "P1")
    for start, path in PATH_TO.items():
        for target in OrderStatus:
            order = services.orders.issue(contact, Tier.EXPOSED, None, None, "tracer-1")
            for step in path:
                services.orders.change_status(order.public_id, step, "tracer-1")
            if target in ALLOWED_STATUS_CHANGES[start]:
                entry = services.orders.change_status(order.public_id, target, "tracer-2", "checked")
                assert entry.order.status is target
                assert entry.history[-1].status is target
            else:
                with pytest.raises(InvalidInput) as refused:
                    services.orders.change_status(order.public_id, target, "tracer-2")
                assert refused.value.code == "invalid_transition"
                assert refused.value.field == "status"
                assert f"from {start.value} to {target.value}" in refused.value.message
                assert services.orders.get(order.public_id).order.status is start
            if not services.orders.get(order.public_id).order.status.final:
                services.orders.change_status(order.public_id, OrderStatus.RELEASED, "tracer-1")


def test_status_history_names_who_did_what(services: Services, client: TestClient) -> None:
    person(services, "P1")
    exposure = "2026-11-18T12:00:00+08:00"
    created = client.post(
        "/orders",
        json={"person": "P1", "tier": "close", "last_exposure_at": exposure},
        headers=signed_in(services, "tracer-7"),
    )
    assert created.status_code == 201, created.text
    public_id = created.json()["public_id"]
    steps = [
        ("delivered", "by phone", "tracer-8"),
        ("in_force", None, "tracer-9"),
        ("completed", "day 14", None),
    ]
    for status, note, staff in steps:
        headers = signed_in(services, staff) if staff else {}
        changed = client.post(
            f"/orders/{public_id}/status", json={"status": status, "note": note}, headers=headers
        )
        assert changed.status_code == 200, changed.text
    body = client.get(f"/orders/{public_id}").json()
    assert body["status"] == "completed"
    assert body["issued_by"] == "staff:tracer-7"
    assert [(h["status"], h["changed_by"], h["note"]) for h in body["history"]] == [
        ("issued", "staff:tracer-7", None),
        ("delivered", "staff:tracer-8", "by phone"),
        ("in_force", "staff:tracer-9", None),
        ("completed", f"staff:{DESK}", "day 14"),
    ]
    # A supervisor, with a reason (releasing early needs both): still no way back from completed.
    release = {"status": "released", "note": "negative PCR on day 12"}
    refused = client.post(f"/orders/{public_id}/status", json=release)
    assert_refused(refused, 422, "invalid_transition", "status")
    assert len(client.get(f"/orders/{public_id}").json()["history"]) == 4


# --- follow-up --------------------------------------------------------------------------------


def test_one_follow_up_per_person_per_day(services: Services, client: TestClient) -> None:
    person(services, "P1")
    first = client.post(
        "/people/P1/follow-ups",
        json={"on_date": "2026-11-20", "symptoms": ["Cough", "fever", "cough"], "note": "feels tired"},
        headers=signed_in(services, "nurse-1"),
    )
    assert first.status_code == 201, first.text
    assert first.json()["symptoms"] == ["cough", "fever"]
    assert first.json()["recorded_by"] == "staff:nurse-1"
    again = client.post("/people/P1/follow-ups", json={"on_date": "2026-11-20", "test_result": "negative"})
    body = assert_refused(again, 409, "conflict", "on_date")
    assert "2026-11-20" in body["message"]
    assert client.post("/people/P1/follow-ups", json={"on_date": "2026-11-19"}).status_code == 201
    listed = client.get("/people/P1/follow-ups").json()
    assert listed["count"] == 2
    assert [f["on_date"] for f in listed["data"]] == ["2026-11-20", "2026-11-19"]
    assert listed["data"][0]["test_result"] is None
    assert [f["reached"] for f in listed["data"]] == [True, True]
    missed = client.post("/people/P1/follow-ups", json={"on_date": "2026-11-18", "reached": False})
    assert missed.status_code == 201 and missed.json()["reached"] is False


def test_positive_result_hands_the_contact_to_case_registration(services: Services) -> None:
    index = person(services, "P0")
    c1 = case(services, "C1", index)
    contact = person(services, "P1")
    order = services.orders.issue(contact, Tier.CLOSE, datetime(2026, 11, 18, 4, tzinfo=UTC), c1, "tracer-1")
    calls: list[tuple[int, date, int | None, str]] = []

    def on_positive(person_id: int, on_date: date, linked_case_id: int | None, actor: str) -> Case:
        calls.append((person_id, on_date, linked_case_id, actor))
        return Case(
            ref="C2",
            person_id=person_id,
            status=CaseStatus.CONFIRMED,
            classification=CaseClassification.LINKED,
        )

    follow = FollowUpService(services.store, services.clock, services.settings.zone, on_positive=on_positive)
    negative = follow.record("P1", date(2026, 11, 19), [], TestResult.NEGATIVE, None, "nurse-1")
    assert (negative.case_created, calls) == (False, [])
    assert negative.order_public_id == order.public_id
    assert negative.follow_up.order_id == order.id
    positive = follow.record("P1", TODAY, ["fever"], TestResult.POSITIVE, None, "nurse-1")
    assert calls == [(contact, TODAY, c1, "nurse-1")]
    assert positive.case_created and positive.case is not None and positive.case.ref == "C2"
    # Someone without an open order becomes an unlinked case.
    stranger = person(services, "P9")
    follow.record("P9", TODAY, [], TestResult.POSITIVE, None, "nurse-1")
    assert calls[-1] == (stranger, TODAY, None, "nurse-1")


def test_follow_up_refuses_bad_input_and_stores_nothing(services: Services, client: TestClient) -> None:
    person(services, "P1")
    cases_ = [
        ({"on_date": "2026-11-21"}, 422, "in_future", "on_date"),
        ({"on_date": "2026-11-20", "symptoms": ["sneezing"]}, 422, "unknown_symptom", "symptoms"),
        ({"on_date": "2026-11-20", "test_result": "maybe"}, 422, "invalid_request", "test_result"),
        ({"on_date": "yesterday"}, 422, "invalid_request", "on_date"),
        # Not reached: nothing said, so no symptom or result can be recorded.
        ({"on_date": "2026-11-20", "reached": False, "symptoms": ["cough"]}, 422, "not_reached", "reached"),
    ]
    for payload, status, code, field in cases_:
        assert_refused(client.post("/people/P1/follow-ups", json=payload), status, code, field)
    assert_refused(
        client.post("/people/NOBODY/follow-ups", json={"on_date": "2026-11-20"}), 404, "not_found", "person"
    )
    with TestClient(client.app, raise_server_exceptions=False) as anonymous:
        unsigned = anonymous.post("/people/P1/follow-ups", json={"on_date": "2026-11-20"})
    assert_refused(unsigned, 401, "not_authenticated", None)
    no_purpose = client.post(
        "/people/P1/follow-ups", json={"on_date": "2026-11-20"}, headers={"X-Chaincut-Purpose": ""}
    )
    assert_refused(no_purpose, 403, "purpose_required", "X-Chaincut-Purpose")
    assert client.get("/people/P1/follow-ups").json() == {"data": [], "count": 0}


# --- listing ----------------------------------------------------------------------------------


def test_orders_are_paginated_and_filtered(services: Services, client: TestClient) -> None:
    index = person(services, "P0")
    c1, c2 = case(services, "C1", index), case(services, "C2", index)
    for i in range(7):
        pid = person(services, f"P{i + 1}")
        exposure = datetime(2026, 11, 10 + i, 4, tzinfo=UTC)
        services.orders.issue(pid, Tier.CLOSE, exposure, c1 if i < 5 else c2, "tracer-1")
    services.orders.issue(index, Tier.EXPOSED, None, c2, "tracer-1")
    page1 = client.get("/orders", params={"limit": 3}).json()
    page2 = client.get("/orders", params={"limit": 3, "offset": 3}).json()
    assert page1["count"] == page2["count"] == 8
    ends = [o["ends_on"] for o in page1["data"] + page2["data"]]
    assert ends == sorted(ends)
    assert len({o["public_id"] for o in page1["data"] + page2["data"]}) == 6
    assert client.get("/orders", params={"case": "C1"}).json()["count"] == 5
    assert client.get("/orders", params={"case": "C2", "kind": "testing_notice"}).json()["count"] == 1
    assert client.get("/orders", params={"person": "P3"}).json()["data"][0]["person"] == "P3"
    # quarantines end on 24 Nov .. 30 Nov; the notice on 22 Nov
    window = client.get(
        "/orders", params={"ending_after": "2026-11-24", "ending_before": "2026-11-28"}
    ).json()
    assert sorted(o["ends_on"] for o in window["data"]) == ["2026-11-25", "2026-11-26", "2026-11-27"]
    one = page1["data"][0]["public_id"]
    client.post(f"/orders/{one}/status", json={"status": "delivered"})
    delivered = client.get("/orders", params={"status": "delivered"}).json()
    assert [o["public_id"] for o in delivered["data"]] == [one]
    assert "history" not in delivered["data"][0] or delivered["data"][0]["history"] is None
    assert_refused(client.get("/orders", params={"case": "C404"}), 404, "not_found", "case")
    assert_refused(client.get("/orders", params={"limit": 501}), 422, "invalid_request", "query.limit")


def test_issuing_refuses_bad_input_and_stores_nothing(services: Services, client: TestClient) -> None:
    person(services, "P1")
    future = (services.clock.now() + timedelta(hours=1)).isoformat()
    refused = [
        ({"person": "P1", "tier": "close"}, 422, "required", "last_exposure_at"),
        ({"person": "P1"}, 422, "required", "kind"),
        ({"person": "P1", "tier": "exposed", "kind": "quarantine"}, 422, "kind_tier_mismatch", "kind"),
        ({"person": "P1", "tier": "close", "last_exposure_at": future}, 422, "in_future", "last_exposure_at"),
        (
            {"person": "P1", "tier": "close", "last_exposure_at": "2026-11-18T10:00:00"},
            422,
            "invalid_request",
            "last_exposure_at",
        ),
        ({"person": "P1", "tier": "closest"}, 422, "invalid_request", "tier"),
        ({"person": "NOBODY", "tier": "exposed"}, 404, "not_found", "person"),
        ({"person": "P1", "tier": "exposed", "case": "C404"}, 404, "not_found", "case"),
    ]
    for payload, status, code, field in refused:
        assert_refused(client.post("/orders", json=payload), status, code, field)
    with TestClient(client.app, raise_server_exceptions=False) as anonymous:
        unsigned = anonymous.post("/orders", json={"person": "P1", "tier": "exposed"})
    assert_refused(unsigned, 401, "not_authenticated", None)
    assert order_count(services) == 0
    assert_refused(client.get("/orders/nosuchorder"), 404, "not_found", "public_id")
    assert_refused(
        client.post("/orders/nosuchorder/status", json={"status": "delivered"}), 404, "not_found", "public_id"
    )
    with pytest.raises(NotFound):
        services.orders.issue(999_999, Tier.EXPOSED, None, None, "tracer-1")
    with pytest.raises(InvalidInput):
        services.orders.issue(1, Tier.EXPOSED, None, None, "")
    assert order_count(services) == 0


def test_same_issue_twice_over_http_answers_200_with_the_first(
    services: Services, client: TestClient
) -> None:
    person(services, "P1")
    payload = {"person": "P1", "kind": "testing_notice"}
    first = client.post("/orders", json=payload)
    second = client.post("/orders", json=payload)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["public_id"] == second.json()["public_id"]
    assert first.json()["tier"] == "exposed"


def test_follow_up_conflict_from_the_store_is_clear(services: Services) -> None:
    person(services, "P1")
    services.follow_ups.record("P1", TODAY, [], None, None, "nurse-1")
    with pytest.raises(Conflict) as clash:
        services.follow_ups.record("P1", TODAY, ["fever"], None, None, "nurse-2")
    assert clash.value.field == "on_date"


# --- the command line -------------------------------------------------------------------------


def test_cli_lists_orders_and_changes_status(tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"CHAINCUT_DATA_DIR": str(tmp_path / "data"), "CHAINCUT_ENV": "development"}
    assert runner.invoke(cli_app, ["db", "upgrade"], env=env).exit_code == 0
    wired = bootstrap(Settings(data_dir=tmp_path / "data", env="development"))
    try:
        pid = person(wired, "P1")
        order = OrderService(wired.store, wired.policy, wired.clock, wired.settings.zone).issue(
            pid, Tier.EXPOSED, None, None, "tracer-1"
        )
    finally:
        wired.close()
    listed = runner.invoke(cli_app, ["orders", "list", "--status", "issued", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    body = json.loads(listed.stdout)
    assert body["count"] == 1 and body["data"][0]["public_id"] == order.public_id
    changed = runner.invoke(
        cli_app,
        [
            "orders",
            "set-status",
            order.public_id,
            "delivered",
            "--note",
            "by SMS",
            "--json",
        ],
        env={**env, "CHAINCUT_STAFF": "tracer-3"},  # the operator, recorded as cli:<name>
    )
    assert changed.exit_code == 0, changed.output
    history = json.loads(changed.stdout)["history"]
    assert history[-1] == {
        **history[-1],
        "status": "delivered",
        "changed_by": "cli:tracer-3",
        "note": "by SMS",
    }
    refused = runner.invoke(cli_app, ["orders", "set-status", order.public_id, "issued"], env=env)
    assert refused.exit_code == 1
    assert "cannot go from delivered to issued" in refused.stderr
