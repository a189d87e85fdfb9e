"""The daily follow-up worklist (both backends): one row per person under an order, the last 8
days marked from what was recorded, only a tracer's own cases' contacts, a follow-up recorded in a
form (a positive test making a linked case), bad input refused with nothing stored."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from chaincut.api import create_app
from chaincut.bootstrap import Services
from chaincut.clock import to_epoch
from chaincut.domain import TestResult, Tier
from chaincut.store.tables import orders
from support.outbreak import tracers_outbreak
from support.web_forms import form_token, signed_in

BROWSER = {"Accept": "text/html", "Accept-Language": "en-GB"}
TODAY = date(2026, 11, 20)  # the tests' clock: 20 Nov 2026, 12:00 in Hong Kong
PURPOSE = "daily follow-up of case A's contacts"


@pytest.fixture
def worklist(services: Services) -> Services:
    """A's contacts got their orders; D's quarantine began on 14 Nov (exposed at home that day),
    and D was seen on the 15th, not reached on the 16th, coughing on the 17th."""
    tracers_outbreak(services)
    trace = services.tracing.trace_case("A")
    services.orders.issue_for_contacts(
        [c for c in trace.contacts if c.tier is Tier.EXPOSED], trace.case_id, "staff:tess"
    )
    services.orders.issue_by_ref(
        "p-D",
        tier=Tier.CLOSE,
        kind=None,
        last_exposure_at=datetime(2026, 11, 14, 2, tzinfo=UTC),
        case_ref="A",
        actor="staff:tess",
    )
    with services.store.write() as uow:  # D's order was issued on the 14th, the day of exposure
        d_id = uow.people.id_for_ref("p-D")
        uow.connection.execute(
            update(orders)
            .where(orders.c.person_id == d_id, orders.c.case_id.is_not(None))
            .values(issued_at=to_epoch(datetime(2026, 11, 14, 4, tzinfo=UTC)))
        )
    follow = services.follow_ups
    follow.record("p-D", date(2026, 11, 15), [], TestResult.NEGATIVE, None, "staff:tess")
    follow.record("p-D", date(2026, 11, 16), [], None, "no answer", "staff:tess", reached=False)
    follow.record("p-D", date(2026, 11, 17), ["cough"], None, None, "staff:tess")
    return services


@pytest.fixture
def client(worklist: Services) -> Iterator[TestClient]:
    app = create_app(worklist, schedule_maintenance=False)
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as c:
        yield c


def _open(client: TestClient, username: str) -> str:
    """Sign in, state the purpose, and return the worklist's HTML."""
    signed_in(client, username)
    asked = client.get("/console/follow-ups", headers=BROWSER)
    assert 'action="/console/follow-ups/purpose"' in asked.text
    stated = client.post(
        "/console/follow-ups/purpose",
        data={"purpose": PURPOSE, "csrf_token": form_token(asked)},
        headers=BROWSER,
        follow_redirects=False,
    )
    assert stated.status_code == 303
    return client.get("/console/follow-ups", headers=BROWSER).text


def _days(html: str, person: str) -> list[str]:
    row = html[html.index(f'<tr data-person="{person}"') :].split("</tr>")[0]
    return re.findall(r'data-status="(\w+)"', row)


def test_each_person_under_an_order_has_a_row_with_the_last_eight_days(
    worklist: Services, client: TestClient
) -> None:
    html = _open(client, "tess")
    assert sorted(re.findall(r'<tr data-person="([^"]+)"', html)) == ["p-B", "p-C", "p-D"]
    # 13 Nov: before D's order; 14th nothing done; 15th seen; 16th not reached; 17th coughing;
    # 18th to today: nothing recorded yet.
    assert _days(html, "p-D") == [
        "outside",
        "not_done",
        "seen",
        "not_reached",
        "symptomatic",
        "not_done",
        "not_done",
        "not_done",
    ]
    assert _days(html, "p-B") == ["outside"] * 7 + ["not_done"]  # the notice began today
    # Days before an order was issued were no one's to follow up (a quarantine starts at the
    # exposure): issued on the 17th, D's 14th is no longer "not done".
    with worklist.store.write() as uow:
        uow.connection.execute(
            update(orders)
            .where(orders.c.kind == "quarantine")
            .values(issued_at=to_epoch(datetime(2026, 11, 17, 4, tzinfo=UTC)))
        )
    later = client.get("/console/follow-ups", headers=BROWSER).text
    assert _days(later, "p-D")[:2] == ["outside", "outside"]
    # An order whose last day has passed leaves the worklist.
    with worklist.store.write() as uow:
        uow.connection.execute(
            update(orders).where(orders.c.kind == "testing_notice").values(ends_on=date(2026, 11, 19))
        )
    ended = client.get("/console/follow-ups", headers=BROWSER).text
    assert re.findall(r'<tr data-person="([^"]+)"', ended) == ["p-D"]
    assert "3 still to follow up today" in html
    zh = client.get("/console/follow-ups", headers={**BROWSER, "Accept-Language": "zh-HK"}).text
    assert "未能聯絡" in zh and "有病徵" in zh

    with worklist.store.read() as uow:
        reads = [r.event for r in uow.audit.find() if r.event.resource == "follow_ups"]
    assert reads and {e.purpose for e in reads} == {PURPOSE} and reads[-1].actor == "staff:tess"


def test_a_tracer_sees_only_her_cases_contacts_and_a_supervisor_everyone(client: TestClient) -> None:
    assert "No one is under follow-up" in _open(client, "ursula")
    # Another tracer's contact answers as a missing person, in the form as on the page.
    assert client.get("/console/follow-ups/p-D/record", headers=BROWSER).status_code == 404
    with TestClient(client.app, base_url="https://testserver") as supervisor:
        assert len(re.findall(r'<tr data-person="', _open(supervisor, "sam"))) == 3


def test_recording_a_positive_test_makes_a_case_linked_to_the_orders_case(
    worklist: Services, client: TestClient
) -> None:
    _open(client, "tess")
    form = client.get("/console/follow-ups/p-B/record", headers=BROWSER)
    assert form.status_code == 200 and f'value="{TODAY.isoformat()}"' in form.text
    done = client.post(
        "/console/follow-ups/p-B/record",
        data={
            "day": TODAY.isoformat(),
            "reached": "yes",
            "symptoms": ["fever", "cough"],
            "test": "positive",
            "note": "tested at the clinic",
            "csrf_token": form_token(form),
        },
        headers=BROWSER,
        follow_redirects=False,
    )
    assert done.status_code == 303
    new_case = re.search(r"case=([^&]+)", done.headers["location"])
    assert new_case is not None
    record = worklist.cases.describe([worklist.cases.get(new_case.group(1))])[0]
    assert record.person_ref == "p-B" and record.linked_case_ref == "A"
    page = client.get(done.headers["location"], headers=BROWSER).text
    assert "Follow-up recorded for p-B." in page and f'href="/console/cases/{new_case.group(1)}"' in page
    # A link cannot make up a notice: no follow-up of C was recorded, and case A is not B's.
    assert "Follow-up recorded" not in client.get("/console/follow-ups?done=p-C", headers=BROWSER).text
    forged = client.get("/console/follow-ups?done=p-B&case=A", headers=BROWSER).text
    notice = forged[forged.index('role="status"') :].split("</div>")[0]
    assert "Follow-up recorded for p-B." in notice and "/console/cases/A" not in notice
    (entry,), _ = worklist.follow_ups.list("p-B")
    assert entry.follow_up.symptoms == ("cough", "fever")
    assert entry.follow_up.test_result is TestResult.POSITIVE


def test_bad_follow_ups_are_refused_by_field_and_nothing_is_stored(
    worklist: Services, client: TestClient
) -> None:
    _open(client, "tess")
    token = form_token(client.get("/console/follow-ups/p-C/record", headers=BROWSER))

    def post(**fields: object) -> str:
        data = {"day": TODAY.isoformat(), "reached": "yes", "csrf_token": token} | fields
        response = client.post("/console/follow-ups/p-C/record", data=data, headers=BROWSER)
        assert response.status_code == 400
        return response.text

    assert "A person not reached has no symptoms" in post(reached="no", symptoms=["cough"])
    assert "today or earlier" in post(day=(TODAY + timedelta(days=1)).isoformat())
    assert "Choose symptoms from the list" in post(symptoms=["sneezing"])
    assert worklist.follow_ups.list("p-C")[1] == 0
    client.post("/console/follow-ups/p-C/record", data={"day": TODAY.isoformat(), "csrf_token": token})
    assert "already recorded" in post()
    assert worklist.follow_ups.list("p-C")[1] == 1
