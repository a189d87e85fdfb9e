"""WHO's tracing indicators (both backends), each worked out by hand for a small outbreak, and the
supervisors' page that shows them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from chaincut.api import create_app
from chaincut.bootstrap import Services
from chaincut.clock import to_epoch
from chaincut.domain import Tier
from chaincut.store.tables import cases, orders
from support.outbreak import tracers_outbreak
from support.web_forms import signed_in

BROWSER = {"Accept": "text/html", "Accept-Language": "en-GB"}


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


@pytest.fixture
def outbreak(services: Services) -> Services:
    """Reported 30 h ago, case A's three contacts got their orders now, D's within 10 h of the report.
    Three earlier quarantines (no case) ended: D's (1-15 Nov) reached every day; C's (3-17 Nov)
    reached on the 16th only; B's (5-19 Nov) last reached on the 15th. B became a case 2 h ago,
    after their order; C and D were reported long before the period."""
    tracers_outbreak(services)
    now = to_epoch(services.clock.now())
    follow = services.follow_ups
    for person, exposed in (("p-D", 1), ("p-C", 3), ("p-B", 5)):
        services.orders.issue_by_ref(
            person,
            tier=Tier.CLOSE,
            kind=None,
            last_exposure_at=datetime(2026, 11, exposed, 4, tzinfo=UTC),
            case_ref=None,
            actor="tests",
        )
    for day in _days(date(2026, 11, 1), date(2026, 11, 15)):
        follow.record("p-D", day, [], None, None, "tests")
    follow.record("p-C", date(2026, 11, 16), [], None, None, "tests")
    for day in _days(date(2026, 11, 5), date(2026, 11, 15)):
        follow.record("p-B", day, [], None, None, "tests")
    follow.record("p-B", date(2026, 11, 16), [], None, None, "tests", reached=False)
    follow.record("p-B", date(2026, 11, 17), [], None, None, "tests", reached=False)
    trace = services.tracing.trace_case("A")
    services.orders.issue_for_contacts(trace.contacts, trace.case_id, "tests")
    with services.store.write() as uow:
        ids = uow.cases.ids_for(["A", "B"])
        conn = uow.connection
        conn.execute(update(cases).where(cases.c.id == ids["A"]).values(created_at=now - 30 * 3600))
        conn.execute(update(cases).where(cases.c.id == ids["B"]).values(created_at=now - 2 * 3600))
        d_id = uow.people.id_for_ref("p-D")
        conn.execute(
            update(orders)
            .where(orders.c.case_id == ids["A"], orders.c.person_id == d_id)
            .values(issued_at=now - 20 * 3600)
        )
        conn.execute(update(orders).where(orders.c.case_id.is_(None)).values(issued_at=now - 20 * 86400))
    return services


def test_each_indicator_counts_what_it_says(outbreak: Services) -> None:
    found = outbreak.tracing_indicators.compute()
    assert (found.first_day, found.today) == (date(2026, 10, 24), date(2026, 11, 20))
    assert (found.traced_in_time.part, found.traced_in_time.whole) == (1, 3)  # D's, 10 h after the report
    assert (found.followed_whole_period.part, found.followed_whole_period.whole) == (1, 3)  # D
    assert (found.lost_to_follow_up.part, found.lost_to_follow_up.whole) == (1, 3)  # B: 17-19 Nov unreached
    assert (found.known_contacts.part, found.known_contacts.whole) == (1, 2)  # B, not A
    assert found.lost_to_follow_up.value == pytest.approx(1 / 3)


def test_a_period_with_nothing_to_count_says_so(services: Services) -> None:
    found = services.tracing_indicators.compute()
    assert found.traced_in_time.whole == 0 and found.traced_in_time.value is None
    assert found.known_contacts.value is None


def test_supervisors_read_the_indicators_and_tracers_do_not(outbreak: Services) -> None:
    app = create_app(outbreak, schedule_maintenance=False)
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as client:
        signed_in(client, "sam")
        page = client.get("/console/indicators", headers=BROWSER)
        assert page.status_code == 200
        section = page.text[page.text.index('id="traced-in-time"') :].split("</section>")[0]
        assert "33%" in section and "1 of 3" in section
        zh = client.get("/console/indicators", headers={**BROWSER, "Accept-Language": "zh-HK"}).text
        assert "失去聯絡" in zh and "p-B" not in zh and "p-D" not in zh  # counts only
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as client:
        signed_in(client, "tess")
        assert client.get("/console/indicators", headers=BROWSER).status_code == 404
    with outbreak.store.read() as uow:
        events = [r.event for r in uow.audit.find()]
    assert {e.actor for e in events if e.resource == "tracing_indicators"} == {"staff:sam"}
    refused = [e for e in events if e.actor == "staff:tess" and e.resource == "/console/indicators"]
    assert refused and refused[-1].outcome == "denied"


def test_a_quarantine_is_followed_up_from_the_day_it_was_issued(outbreak: Services) -> None:
    # C's quarantine (exposed 3 Nov) was issued only on the 17th, its last day, when C was not
    # reached: C is lost to follow-up (the 16th's call came before there was an order to follow).
    with outbreak.store.write() as uow:
        c_id = uow.people.id_for_ref("p-C")
        uow.connection.execute(
            update(orders)
            .where(orders.c.person_id == c_id, orders.c.case_id.is_(None))
            .values(issued_at=to_epoch(datetime(2026, 11, 17, 2, tzinfo=UTC)))
        )
    found = outbreak.tracing_indicators.compute()
    assert (found.lost_to_follow_up.part, found.lost_to_follow_up.whole) == (2, 3)  # B and C
    assert (found.followed_whole_period.part, found.followed_whole_period.whole) == (1, 3)  # D
