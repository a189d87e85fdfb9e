"""A tracer's case page (both backends): the purpose asked once per case and recorded with every
read, the window, the timeline, the contacts with their evidence (filtered, sorted, swapped in by
htmx), orders issued after a preview of their dates, and an export once a supervisor approved it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from chaincut.api import create_app
from chaincut.bootstrap import Services
from chaincut.domain.access import Principal, Role
from chaincut.domain.orders import OrderKind
from chaincut.web import case_page
from support.outbreak import DAY, tracers_outbreak
from support.web_forms import form_token, signed_in

ADMIN = Principal.system("tests")
BROWSER = {"Accept": "text/html", "Accept-Language": "en-GB"}
PURPOSE = "tracing the contacts of case A"


@pytest.fixture
def outbreak(services: Services) -> Services:
    tracers_outbreak(services)
    return services


@pytest.fixture
def client(outbreak: Services) -> Iterator[TestClient]:
    app = create_app(outbreak, schedule_maintenance=False)
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as c:
        yield c


def _state(client: TestClient, ref: str, purpose: str) -> tuple[int, str]:
    form = client.get(f"/console/cases/{ref}", headers=BROWSER)
    response = client.post(
        f"/console/cases/{ref}/purpose",
        data={"purpose": purpose, "next": f"/console/cases/{ref}", "csrf_token": form_token(form)},
        headers=BROWSER,
        follow_redirects=False,
    )
    return response.status_code, response.text


def _people(html: str) -> list[str]:
    return re.findall(r'data-person="([^"]+)"', html)


def test_the_purpose_is_asked_once_per_case_and_every_read_is_audited_with_it(
    outbreak: Services, client: TestClient
) -> None:
    signed_in(client, "tess")
    first = client.get("/console/cases/A", headers=BROWSER)
    assert first.status_code == 200
    assert 'action="/console/cases/A/purpose"' in first.text
    assert "p-B" not in first.text and "Golden Dragon" not in first.text  # nothing before a purpose

    assert _state(client, "A", "why") == (400, _state(client, "A", "why")[1])
    assert "Give a reason of 5 to 300 characters." in _state(client, "A", "why")[1]
    status, _ = _state(client, "A", f"  {PURPOSE}  ")
    assert status == 303

    shown = client.get("/console/cases/A", headers=BROWSER)
    assert shown.status_code == 200 and 'action="/console/cases/A/purpose"' not in shown.text
    assert PURPOSE in shown.text
    again = client.get("/console/cases/A?tier=close", headers=BROWSER)
    assert 'action="/console/cases/A/purpose"' not in again.text  # asked once

    with outbreak.store.read() as uow:
        reads = [
            r.event
            for r in uow.audit.find()
            if r.event.resource == "cases" and r.event.record == "A" and r.event.actor == "staff:tess"
        ]
    assert len(reads) >= 3  # stating it, and each page shown
    assert {e.purpose for e in reads} == {PURPOSE}


def test_the_case_page_shows_the_window_the_timeline_and_each_contacts_evidence(
    outbreak: Services, client: TestClient
) -> None:
    signed_in(client, "tess")
    _state(client, "A", PURPOSE)
    html = client.get("/console/cases/A", headers=BROWSER).text

    window = outbreak.cases.window_of(outbreak.cases.get("A"))
    zone = outbreak.settings.zone
    start = window.start.astimezone(zone)
    assert start.date() == DAY + timedelta(days=8 - outbreak.policy.infectious_window.days_before_onset)
    assert "From 16/11/2026, 00:00 to 20/11/2026, 12:00" in html and "Open: not isolated yet" in html

    # The timeline: one lane per venue, in the page's language, and its table.
    assert html.count('class="lane-label"') == 2
    assert "Golden Dragon" in html and "Iron Gym" in html

    trace = outbreak.tracing.trace_case("A")
    expected = {trace.refs([c.person_id])[c.person_id]: c.tier.value for c in trace.contacts}
    assert expected == {"p-B": "exposed", "p-C": "exposed", "p-D": "close"}  # an hour's lunch: exposed
    rows = re.findall(r'<tr class="tier-(\w+)" data-person="([^"]+)"', html)
    assert {person: tier for tier, person in rows} == expected
    # Each contact's evidence, expandable: the venue and both stays for B, the household for D.
    b_row = html[html.index('data-person="p-B"') :].split("</tr>")[0]
    assert "<details" in b_row and "same venue" in b_row and "Golden Dragon" in b_row
    assert "p-A there: 19/11/2026, 12:00 – 13:30" in b_row  # the rule's half hour after leaving
    assert "Contact there: 19/11/2026, 12:00 – 13:00" in b_row
    d_row = html[html.index('data-person="p-D"') :].split("</tr>")[0]
    assert "same household" in d_row

    zh = client.get("/console/cases/A", headers={**BROWSER, "Accept-Language": "zh-HK"}).text
    assert "金龍酒家" in zh and "傳染期" in zh and "同住" in zh


def test_contacts_are_filtered_by_tier_sorted_and_swapped_in_by_htmx(
    outbreak: Services, client: TestClient
) -> None:
    signed_in(client, "tess")
    _state(client, "A", PURPOSE)
    trace = outbreak.tracing.trace_case("A")
    refs = trace.refs(c.person_id for c in trace.contacts)
    close = sorted(refs[c.person_id] for c in trace.contacts if c.tier.value == "close")

    only_close = client.get("/console/cases/A?tier=close", headers=BROWSER).text
    assert sorted(_people(only_close)) == close

    longest = client.get("/console/cases/A?order=longest", headers=BROWSER).text
    by_minutes = sorted(trace.contacts, key=lambda c: -c.seconds)
    assert [p for p in _people(longest)][: len(by_minutes)] == [refs[c.person_id] for c in by_minutes]

    part = client.get("/console/cases/A?tier=close", headers={**BROWSER, "HX-Request": "true"})
    assert part.status_code == 200
    assert part.text.lstrip().startswith('<section aria-labelledby="contacts-heading" id="contacts">')
    assert "<html" not in part.text and sorted(_people(part.text)) == close

    # Going back to a page htmx did not keep restores the whole page, not the fragment.
    restore = {**BROWSER, "HX-Request": "true", "HX-History-Restore-Request": "true"}
    assert "<html" in client.get("/console/cases/A?tier=close", headers=restore).text
    assert client.get("/console/cases/A?tier=nobody", headers=BROWSER).status_code == 400


def test_a_case_one_may_not_see_answers_like_a_missing_one_and_keeps_no_purpose(
    outbreak: Services, client: TestClient
) -> None:
    signed_in(client, "ursula")
    missing = _state(client, "NO-SUCH", PURPOSE)
    others = _state(client, "A", PURPOSE)
    assert missing[0] == others[0] == 404
    assert (
        client.get("/console/cases/A", headers=BROWSER).text.count('action="/console/cases/A/purpose"') == 1
    )
    with outbreak.store.read() as uow:
        denied = [r.event for r in uow.audit.find() if r.event.actor == "staff:ursula"]
    assert any(e.record == "A" and e.outcome == "denied" and e.purpose == PURPOSE for e in denied)


def test_orders_are_previewed_with_their_dates_then_issued_once(
    outbreak: Services, client: TestClient
) -> None:
    signed_in(client, "tess")
    _state(client, "A", PURPOSE)
    preview = client.get("/console/cases/A/orders", headers=BROWSER)
    assert preview.status_code == 200
    rules = outbreak.policy.orders
    # D lives with A: exposed until now (20 Nov), so quarantined for `quarantine_days` from today;
    # B had lunch with A: a testing notice from today.
    today = DAY + timedelta(days=10)
    quarantine_ends = today + timedelta(days=rules.quarantine_days)
    notice_ends = today + timedelta(days=rules.testing_notice_days)
    rows = {
        p: preview.text[preview.text.index(f'data-person="{p}"') :].split("</tr>")[0] for p in ("p-B", "p-D")
    }
    assert "quarantine order" in rows["p-D"] and f"{quarantine_ends:%-d %b %Y}" in rows["p-D"]
    assert "testing notice" in rows["p-B"] and f"{notice_ends:%-d %b %Y}" in rows["p-B"]
    assert "Issue 3 orders" in preview.text
    assert outbreak.orders.list(case_ref="A")[1] == 0  # a preview issues nothing
    issued = client.post(
        "/console/cases/A/orders",
        data={"csrf_token": form_token(preview)},
        headers=BROWSER,
        follow_redirects=False,
    )
    assert issued.status_code == 303
    trace = outbreak.tracing.trace_case("A")
    assert issued.headers["location"] == f"/console/cases/A?issued={len(trace.contacts)}&already=0"
    entries, _ = outbreak.orders.list(case_ref="A")
    d_order = next(e for e in entries if e.person_ref == "p-D")
    assert d_order.order.kind is OrderKind.QUARANTINE and d_order.order.ends_on == quarantine_ends
    assert "orders issued." in client.get(issued.headers["location"], headers=BROWSER).text

    again = client.get("/console/cases/A/orders", headers=BROWSER).text
    assert "Nothing to issue: every contact already has an open order from this case." in again


def test_a_case_with_more_contacts_than_the_preview_shows_counts_and_issues_them_all(
    outbreak: Services, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(case_page, "PREVIEW_ROWS", 2)
    signed_in(client, "tess")
    _state(client, "A", PURPOSE)
    preview = client.get("/console/cases/A/orders", headers=BROWSER)
    assert preview.text.count("<tr data-person=") == 2
    assert "(the first 2 of 3: issuing issues them all)" in preview.text
    assert 'data-person="p-D"' in preview.text  # the quarantine order comes before the notices
    client.post("/console/cases/A/orders", data={"csrf_token": form_token(preview)}, headers=BROWSER)
    assert outbreak.orders.list(case_ref="A")[1] == 3


def test_an_export_is_requested_approved_by_a_supervisor_and_downloaded_once(
    outbreak: Services, client: TestClient
) -> None:
    signed_in(client, "tess")
    _state(client, "A", PURPOSE)
    page = client.get("/console/cases/A", headers=BROWSER)
    asked = client.post(
        "/console/cases/A/exports",
        data={"csrf_token": form_token(page)},
        headers=BROWSER,
        follow_redirects=False,
    )
    assert asked.status_code == 303
    (pending,) = outbreak.approvals.pending()
    assert pending.case_ref == "A" and pending.purpose == PURPOSE and pending.requested_by == "staff:tess"
    waiting = client.get("/console/cases/A", headers=BROWSER).text
    assert "awaiting a supervisor" in waiting and "contacts.csv" not in waiting

    sam = Principal(kind=ADMIN.kind, name="staff:sam", roles=frozenset({Role.SUPERVISOR}))
    outbreak.approvals.decide(sam, pending.public_id, approve=True, reason="the school needs the list")
    ready = client.get("/console/cases/A", headers=BROWSER).text
    link = f"/console/cases/A/contacts.csv?approval={pending.public_id}"
    assert link in ready.replace("&amp;", "&")
    download = client.get(link, headers=BROWSER)
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
    assert "p-B" in download.text and "p-D" in download.text
    second = client.get(link, headers=BROWSER, follow_redirects=False)
    assert second.status_code == 303 and "unusable=1" in second.headers["location"]


def test_the_person_page_shows_the_code_with_reasons_orders_with_history_and_follow_ups(
    outbreak: Services, client: TestClient
) -> None:
    signed_in(client, "tess")
    _state(client, "A", PURPOSE)
    token = form_token(client.get("/console/cases/A/orders", headers=BROWSER))
    client.post("/console/cases/A/orders", data={"csrf_token": token}, headers=BROWSER)
    outbreak.follow_ups.record(
        "p-D", DAY + timedelta(days=10), ["sore_throat"], None, "called at home", "staff:tess"
    )
    outbreak.follow_ups.record("p-D", DAY + timedelta(days=9), [], None, None, "staff:tess", reached=False)

    asked = client.get("/console/people/p-D", headers=BROWSER)
    assert 'action="/console/people/p-D/purpose"' in asked.text and "called at home" not in asked.text
    stated = client.post(
        "/console/people/p-D/purpose",
        data={"purpose": "following up a household contact", "csrf_token": form_token(asked)},
        headers=BROWSER,
        follow_redirects=False,
    )
    assert stated.status_code == 303
    html = client.get("/console/people/p-D", headers=BROWSER).text

    with outbreak.store.read() as uow:
        d_id = uow.people.id_for_ref("p-D")
    assert d_id is not None
    code = outbreak.codes.current_for(d_id)
    assert f"code-{code.colour}" in html
    (order,), _ = outbreak.orders.list(person_ref="p-D")
    # Every reason, in the page's words (the API's are "close contact (household of case A)", ...).
    shown = re.search(r'<ul class="reasons">(.*?)</ul>', html, re.DOTALL)
    assert shown is not None and shown.group(1).count("<li>") == len(code.reasons) >= 2
    assert "Case D, confirmed" in shown.group(1)  # D is a case too (tracers_outbreak)
    assert f"Quarantine order in force {order.order.public_id} (case A)" in shown.group(1)
    assert f'data-order="{order.order.public_id}"' in html and "quarantine order" in html
    assert "1 step" in html and "staff:tess" in html  # its history: issued, by whom
    assert "called at home" in html and "sore throat" in html  # symptoms in words, not codes
    assert "<strong>not reached</strong>" in html  # a missed call is not a healthy day

    with outbreak.store.read() as uow:
        reads = [r.event for r in uow.audit.find() if r.event.resource == "people"]
    assert reads[-1].record == "p-D" and reads[-1].purpose == "following up a household contact"
    assert reads[-1].details["sections"] == "code,orders,follow_ups"

    with TestClient(client.app, base_url="https://testserver") as second:
        signed_in(second, "ursula")  # not her case's contact: as if there were no such person
        other = second.get("/console/people/p-D", headers=BROWSER)
        refused = second.post(
            "/console/people/p-D/purpose",
            data={"purpose": "curious about a neighbour", "csrf_token": form_token(other)},
            headers=BROWSER,
        )
    assert refused.status_code == 404


def _person_purpose(client: TestClient, ref: str) -> str:
    """State a purpose for the person; the person page's CSRF token."""
    asked = client.get(f"/console/people/{ref}", headers=BROWSER)
    client.post(
        f"/console/people/{ref}/purpose",
        data={"purpose": "reviewing a contact's order", "csrf_token": form_token(asked)},
        headers=BROWSER,
    )
    return form_token(client.get(f"/console/people/{ref}", headers=BROWSER))


def test_a_supervisor_releases_early_and_sets_a_colour_by_hand_with_reasons(
    outbreak: Services, client: TestClient
) -> None:
    trace = outbreak.tracing.trace_case("A")
    outbreak.orders.issue_for_contacts(trace.contacts, trace.case_id, "staff:tess")
    (order,), _ = outbreak.orders.list(person_ref="p-D")
    release = f"/console/people/p-D/orders/{order.order.public_id}/release"

    with TestClient(client.app, base_url="https://testserver", raise_server_exceptions=False) as tracer:
        signed_in(tracer, "tess")
        token = _person_purpose(tracer, "p-D")
        assert "Release early" not in tracer.get("/console/people/p-D", headers=BROWSER).text
        refused = tracer.post(release, data={"reason": "tested negative twice", "csrf_token": token})
        assert refused.status_code == 404  # a tracer may not: as if there were no such form

    signed_in(client, "sam")
    token = _person_purpose(client, "p-D")
    assert "Release early" in client.get("/console/people/p-D", headers=BROWSER).text
    short = client.post(release, data={"reason": "ok", "csrf_token": token}, headers=BROWSER)
    assert "give a reason of 5 to 500 characters" in short.text
    assert outbreak.orders.get(order.order.public_id).order.status.value == "issued"
    done = client.post(
        release, data={"reason": "tested negative twice", "csrf_token": token}, headers=BROWSER
    )
    assert "Released early" in done.text
    released = outbreak.orders.get(order.order.public_id)
    assert released.order.status.value == "released" and released.history[-1].note == "tested negative twice"

    set_red = client.post(
        "/console/people/p-D/code/override",
        data={"colour": "red", "until": "", "reason": "refused to be tested", "csrf_token": token},
        headers=BROWSER,
    )
    assert "The colour is now set by hand." in set_red.text
    with outbreak.store.read() as uow:
        d_id = uow.people.id_for_ref("p-D")
    assert d_id is not None
    assert outbreak.codes.current_for(d_id).overridden
    past = client.post(
        "/console/people/p-D/code/override",
        data={"colour": "red", "until": "2026-11-19T10:00", "reason": "refused again", "csrf_token": token},
        headers=BROWSER,
    )
    assert "the end must be a time in the future" in past.text
    ended = client.post(
        "/console/people/p-D/code/override/end",
        data={"reason": "tested at last", "csrf_token": token},
        headers=BROWSER,
    )
    assert "The colour set by hand has ended" in ended.text
    assert not outbreak.codes.current_for(d_id).overridden

    with outbreak.store.read() as uow:
        flagged = [r.event for r in uow.audit.find() if "manual_status_change" in r.event.flags]
    assert [e.actor for e in flagged] == ["staff:sam"] * 3
    assert {e.purpose for e in flagged} == {"reviewing a contact's order"}
