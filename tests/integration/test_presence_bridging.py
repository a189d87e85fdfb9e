"""Decentralised check-in joined to central tracing only by the resident's choice, on every backend:
a phone that matched a warning reports it and the health code's risky-visit rule applies; a case
shares its private check-ins at server-based venues and they join its whereabouts; dummy requests
are answered like real ones and change nothing.

The clock is fixed at 2026-11-20T04:00Z; case C1's infectious window opens on 2026-11-16.
"""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from chaincut.bootstrap import Services
from chaincut.clock import FixedClock
from chaincut.domain import VisitSource
from chaincut.presence.client import Found, entry_payload_in
from chaincut.presence.protocol import affected_hours, derive_nonces, pre_identity, time_key
from chaincut.presence.wire import FAKE_HEADER
from support.auth import resident_headers
from support.presence_api import VISIT_END, VISIT_START, client, phone, register, review, staff, warn

__all__ = ["client", "staff"]  # fixtures


def _token(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


def _person(client: TestClient, staff: dict[str, dict[str, str]], ref: str) -> dict[str, str]:
    assert client.post("/people", json={"ref": ref}, headers=staff["sam"]).status_code == 201
    return resident_headers(client.app.state.services, ref)  # type: ignore[attr-defined]


def _report_body(found: Found, person: str) -> dict[str, object]:
    """A report of ``found`` as the phone sends it: the trace, its own record's key, and the stay."""
    return {
        "person": person,
        "seq": found.seq,
        "notification_key": base64.b64encode(found.exposure.notification_key).decode(),
        "arrival": VISIT_START.isoformat(),
        "departure": VISIT_END.isoformat(),
    }


def _actions(services: Services) -> list[str]:
    with services.store.read() as uow:
        return [r.event.action for r in uow.audit.find(limit=10_000)]


def _reports(services: Services) -> int:
    with services.store.read() as uow:
        return int(uow.connection.exec_driver_sql("SELECT count(*) FROM presence_reports").scalar_one())


def test_a_reported_match_gives_the_risky_visit_rule_and_nothing_flows_without_it(
    client: TestClient, staff: dict[str, dict[str, str]], services: Services
) -> None:
    server = register(client, staff["owner"], "V-SERVER", "server")
    basic = register(client, staff["owner"], "V-BASIC", "basic")
    visitor = _person(client, staff, "p-visitor")
    _person(client, staff, "p-quiet")
    device, other = phone(client), phone(client)
    device.check_in(device.scan(server["entry_url"]), VISIT_START, VISIT_END)
    device.check_in(
        device.scan(basic["entry_url"]), VISIT_END + timedelta(minutes=5), VISIT_END + timedelta(hours=1)
    )
    other.check_in(other.scan(server["entry_url"]), VISIT_START, VISIT_END)
    for venue, extra in (("V-SERVER", {}), ("V-BASIC", {"tracing_code": basic["tracing_code"]})):
        changes = {"end": (VISIT_END + timedelta(hours=1)).isoformat(), **extra}
        proposed = warn(client, staff["sam"], venue, **changes)
        assert proposed.status_code == 201, proposed.text
        assert review(client, staff["sue"], proposed.json()["id"]).status_code == 200

    found = device.check(now=services.clock.now())
    assert len(found) == 2 and all(len(f.exposure.notification_key) == 32 for f in found)
    assert other.check(now=services.clock.now())
    # A match stays on the phone until its owner reports it: nobody's code changed.
    assert _reports(services) == 0
    assert services.codes.current("p-visitor").colour == "green"

    answers = [device.report(f, "p-visitor", _token(visitor)) for f in found]
    assert [a["recorded"] for a in answers] == [True, True]
    assert {a["venue_name_en"] for a in answers} == {"Harbour Noodles V-SERVER", "Harbour Noodles V-BASIC"}
    code = services.codes.current("p-visitor")
    assert code.colour == "amber"
    assert sorted((r.rule, r.venue_ref, r.case_ref) for r in code.reasons) == [
        ("risky_visit", "V-BASIC", "C1"),
        ("risky_visit", "V-SERVER", "C1"),
    ]
    assert services.codes.current("p-quiet").colour == "green", "the phone that did not report"

    # The person sees what they reported in their data-access report, with no case named.
    mine = client.get("/people/p-visitor/subject-access", headers=visitor).json()
    reports = mine["health_records"]["exposure_reports"]
    assert sorted(r["venue"] for r in reports) == ["V-BASIC", "V-SERVER"]
    assert "C1" not in str(reports)

    # Reported once; tracing the case again keeps it.
    assert device.report(found[0], "p-visitor", _token(visitor))["recorded"] is False
    assert _reports(services) == 2
    services.codes.case_changed("C1")
    assert services.codes.current("p-visitor").colour == "amber"
    assert _actions(services).count("presence.exposures.report") == 2


def test_a_report_needs_the_venues_key_a_published_trace_and_an_overlapping_stay(
    client: TestClient, staff: dict[str, dict[str, str]], services: Services
) -> None:
    server = register(client, staff["owner"], "V-SERVER", "server")
    visitor = _person(client, staff, "p-visitor")
    _person(client, staff, "p-neighbour")
    device = phone(client)
    device.check_in(device.scan(server["entry_url"]), VISIT_START, VISIT_END)
    proposed = warn(client, staff["sam"], "V-SERVER")
    assert review(client, staff["sue"], proposed.json()["id"]).status_code == 200
    (found,) = device.check(now=services.clock.now())
    good = _report_body(found, "p-visitor")

    def refused(status: int, field: str, **changes: object) -> None:
        response = client.post("/presence/reports", json={**good, **changes}, headers=visitor)
        assert response.status_code == status, response.text
        assert response.json()["field"] == field

    # Someone who only read the public list knows the trace, not the key from the poster.
    refused(422, "notification_key", notification_key=base64.b64encode(os.urandom(32)).decode())
    refused(404, "seq", seq=found.seq + 1000)
    refused(
        422,
        "arrival",
        arrival=(VISIT_END + timedelta(hours=3)).isoformat(),
        departure=(VISIT_END + timedelta(hours=4)).isoformat(),
    )
    refused(404, "person", person="p-neighbour")  # a phone reports for its own person only
    assert _reports(services) == 0
    assert client.post("/presence/reports", json=good, headers=visitor).json()["recorded"] is True


def _visits(services: Services, person: str) -> list[tuple[str, VisitSource, datetime, datetime | None]]:
    with services.store.read() as uow:
        person_id = uow.people.id_for_ref(person)
        assert person_id is not None
        visits = uow.visits.of_person(person_id, 0, 2**40)
        refs = {v: venue.ref for v, venue in uow.venues.get_many([v.venue_id for v in visits]).items()}
    return sorted((refs[v.venue_id], v.source, v.entered_at, v.left_at) for v in visits)


def test_a_case_shares_its_private_check_ins_and_those_in_its_window_join_its_whereabouts(
    client: TestClient, staff: dict[str, dict[str, str]], services: Services
) -> None:
    server = register(client, staff["owner"], "V-SERVER", "server")
    basic = register(client, staff["owner"], "V-BASIC", "basic")
    case = resident_headers(services, "p-case")
    device = phone(client)
    device.check_in(device.scan(server["entry_url"]), VISIT_START, VISIT_END)
    early = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)  # before the infectious window opens
    device.check_in(device.scan(server["entry_url"]), early, early + timedelta(hours=1))
    device.check_in(device.scan(basic["entry_url"]), VISIT_END, VISIT_END + timedelta(hours=1))
    assert _visits(services, "p-case") == []

    receipt = device.share("p-case", _token(case))
    # The basic venue's visit left nothing to send; the early one was sent, checked, and not kept.
    assert (receipt["stored"], receipt["already_stored"], receipt["outside_window"]) == (1, 0, 1)
    assert _visits(services, "p-case") == [("V-SERVER", VisitSource.CROWDNOTIFIER, VISIT_START, VISIT_END)]
    assert device.share("p-case", _token(case))["already_stored"] == 1
    assert len(_visits(services, "p-case")) == 1
    # The shared visit is the case's like any other: its trace covers the venue's time.
    trace = services.tracing.trace_case("C1")
    assert trace.window.start <= VISIT_START


def test_a_shared_visit_must_be_a_scanned_venues_with_every_hours_key(
    client: TestClient, staff: dict[str, dict[str, str]], services: Services
) -> None:
    server = register(client, staff["owner"], "V-SERVER", "server")
    case = resident_headers(services, "p-case")
    device = phone(client)
    device.check_in(device.scan(server["entry_url"]), VISIT_START, VISIT_END)
    visit = device.visits[0]
    assert visit.pre_id is not None and visit.time_keys is not None
    hours = [
        {"start": h, "time_key": base64.b64encode(k).decode()} for h, k in sorted(visit.time_keys.items())
    ]
    good = {
        "pre_id": base64.b64encode(visit.pre_id).decode(),
        "arrival": VISIT_START.isoformat(),
        "departure": VISIT_END.isoformat(),
        "hours": hours,
    }
    forged = [
        *hours[:-1],
        {"start": hours[-1]["start"], "time_key": base64.b64encode(os.urandom(32)).decode()},
    ]
    batch = [
        good,
        {**good, "hours": forged},
        {**good, "hours": hours[:1]},
        {**good, "pre_id": base64.b64encode(os.urandom(32)).decode()},
        {**good, "departure": (VISIT_START - timedelta(minutes=1)).isoformat()},
        {**good, "arrival": (VISIT_START + timedelta(minutes=30)).isoformat()},  # overlaps the first
    ]
    response = client.post(
        "/presence/shared-visits", json={"person": "p-case", "visits": batch}, headers=case
    )
    assert response.status_code == 422, response.text
    errors = {(e["index"], e["field"]) for e in response.json()["errors"]}
    assert errors == {(1, "time_keys"), (2, "time_keys"), (3, "pre_id"), (4, "departure"), (5, "arrival")}
    assert _visits(services, "p-case") == [], "a batch with one bad visit stores none"

    bystander = _person(client, staff, "p-bystander")
    response = client.post(
        "/presence/shared-visits", json={"person": "p-bystander", "visits": [good]}, headers=bystander
    )
    assert response.status_code == 409 and response.json()["field"] == "person"


def test_dummy_requests_look_like_real_ones_and_change_nothing(
    client: TestClient, staff: dict[str, dict[str, str]], services: Services
) -> None:
    server = register(client, staff["owner"], "V-SERVER", "server")
    visitor = _person(client, staff, "p-visitor")
    case = resident_headers(services, "p-case")
    device = phone(client)
    device.check_in(device.scan(server["entry_url"]), VISIT_START, VISIT_END)
    proposed = warn(client, staff["sam"], "V-SERVER")
    assert review(client, staff["sue"], proposed.json()["id"]).status_code == 200
    (found,) = device.check(now=services.clock.now())
    audited = len(_actions(services))

    fake = {**visitor, FAKE_HEADER: "1"}
    dummy_report = client.post(
        "/presence/reports",
        json={
            "person": "p-visitor",
            "seq": 1,
            "notification_key": "AA",
            "arrival": VISIT_START.isoformat(),
            "departure": VISIT_END.isoformat(),
            "padding": "x" * 900,
        },
        headers=fake,
    )
    dummy_share = client.post(
        "/presence/shared-visits",
        json={"person": "p-case", "visits": [], "padding": "x" * 4000},
        headers={**case, FAKE_HEADER: "1"},
    )
    assert dummy_report.status_code == dummy_share.status_code == 200
    assert _reports(services) == 0 and _visits(services, "p-case") == []
    assert len(_actions(services)) == audited, "a dummy is not an access to anyone's record"

    real_report = client.post(
        "/presence/reports",
        json=_report_body(found, "p-visitor"),
        headers=visitor,
    )
    real_share = client.post(
        "/presence/shared-visits",
        json={"person": "p-case", "visits": [_shared(device)]},
        headers=case,
    )
    assert real_report.status_code == real_share.status_code == 200
    assert _reports(services) == 1 and len(_visits(services, "p-case")) == 1
    lengths = {len(r.content) for r in (dummy_report, dummy_share, real_report, real_share)}
    assert lengths == {2048}, "on the wire, an answer's size does not tell a dummy from a real one"


def _shared(device: object) -> dict[str, object]:
    visit = device.visits[0]  # type: ignore[attr-defined]
    return {
        "pre_id": base64.b64encode(visit.pre_id).decode(),
        "arrival": datetime.fromtimestamp(visit.arrival, UTC).isoformat(),
        "departure": datetime.fromtimestamp(visit.departure, UTC).isoformat(),
        "hours": [
            {"start": h, "time_key": base64.b64encode(k).decode()} for h, k in sorted(visit.time_keys.items())
        ],
    }


def test_reported_exposures_are_purged_like_whereabouts(
    client: TestClient, staff: dict[str, dict[str, str]], services: Services
) -> None:
    server = register(client, staff["owner"], "V-SERVER", "server")
    visitor = _person(client, staff, "p-visitor")
    device = phone(client)
    device.check_in(device.scan(server["entry_url"]), VISIT_START, VISIT_END)
    proposed = warn(client, staff["sam"], "V-SERVER")
    assert review(client, staff["sue"], proposed.json()["id"]).status_code == 200
    (found,) = device.check(now=services.clock.now())
    assert device.report(found, "p-visitor", _token(visitor))["recorded"] is True
    clock: FixedClock = services.clock  # type: ignore[assignment]
    kept = timedelta(days=services.policy.retention.visits_days)
    clock.set(VISIT_END + kept - timedelta(hours=1))
    assert {r.kind: r.deleted for r in services.purge_expired()}["exposure_reports"] == 0
    clock.set(VISIT_END + kept + timedelta(hours=1))
    assert {r.kind: r.deleted for r in services.purge_expired()}["exposure_reports"] == 1
    assert _reports(services) == 0


def test_a_report_on_the_longest_names_is_as_long_as_a_dummys_answer(
    client: TestClient, staff: dict[str, dict[str, str]], services: Services
) -> None:
    body = {
        "ref": "V-LONG",
        "venue_type": "restaurant",
        "name_en": "N" * 200,
        "name_zh": "麵" * 200,  # 3 bytes each in UTF-8
        "checkin_mode": "crowdnotifier",
        "crowdnotifier_variant": "server",
    }
    clock: FixedClock = services.clock  # type: ignore[assignment]
    now = clock.now()
    clock.set(VISIT_START - timedelta(days=1))
    assert client.post("/venues", json=body, headers=staff["owner"]).status_code == 201
    clock.set(now)
    visitor = _person(client, staff, "p-visitor")
    device = phone(client)
    url = client.get("/venues/V-LONG", headers=staff["owner"]).json()["entry_url"]
    device.check_in(device.scan(url, VISIT_START), VISIT_START, VISIT_END)
    proposed = warn(client, staff["sam"], "V-LONG")
    assert review(client, staff["sue"], proposed.json()["id"]).status_code == 200
    (found,) = device.check(now=now)
    report = _report_body(found, "p-visitor")
    real = client.post("/presence/reports", json=report, headers={**visitor, FAKE_HEADER: "0"})
    dummy = client.post("/presence/reports", json=report, headers={**visitor, FAKE_HEADER: "1"})
    assert real.json()["recorded"] is True and real.json()["venue_name_zh"] == "麵" * 200
    assert len(real.content) == len(dummy.content) == 2048


def test_a_basic_venues_pre_identity_is_not_shared(
    client: TestClient, staff: dict[str, dict[str, str]], services: Services
) -> None:
    basic = register(client, staff["owner"], "V-BASIC", "basic")
    case = resident_headers(services, "p-case")
    payload = entry_payload_in(basic["entry_url"], phone(client).signing_keys)
    nonces = derive_nonces(payload)
    hours = [h * 3600 for h in affected_hours(int(VISIT_START.timestamp()), int(VISIT_END.timestamp()))]
    visit = {
        "pre_id": base64.b64encode(pre_identity(payload)).decode(),  # made from the poster, not kept
        "arrival": VISIT_START.isoformat(),
        "departure": VISIT_END.isoformat(),
        "hours": [{"start": h, "time_key": base64.b64encode(time_key(h, nonces)).decode()} for h in hours],
    }
    answer = client.post(
        "/presence/shared-visits", json={"person": "p-case", "visits": [visit]}, headers=case
    )
    assert answer.status_code == 422
    assert [(e["index"], e["field"]) for e in answer.json()["errors"]] == [(0, "pre_id")]
