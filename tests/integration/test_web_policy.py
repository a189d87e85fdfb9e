"""The policy editor's pages (both backends): the policy in force with its sources, an upload checked
whole, the diff, what a version changes for chosen cases, and activation by a second person."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from chaincut.api import create_app
from chaincut.bootstrap import Services
from chaincut.domain import Case, CaseClassification, CaseStatus
from chaincut.domain.access import Principal, PrincipalKind, Role
from chaincut.policy import default_policy_text
from support.auth import PASSWORD
from support.outbreak import DAY, tracers_outbreak
from support.policy_edits import edited_policy
from support.web_forms import signed_in

BROWSER = {"Accept": "text/html", "Accept-Language": "en-GB"}
ADMIN = Principal.system("tests")


# Diners at other tables become close contacts; a week of quarantine.
DRAFT = edited_policy(
    ('version = "2026.11-default"', 'version = "2026.12-diners"'),
    ("quarantine_days = 14", "quarantine_days = 7"),
    (
        'min_overlap_minutes = 15\nafter_leave_minutes = 30\ntier = "exposed"',
        'min_overlap_minutes = 15\nafter_leave_minutes = 30\ntier = "close"',
    ),
)


@pytest.fixture
def app_services(services: Services) -> Services:
    services.policy_changes.settle(default_policy_text(), services.policy, source="the shipped default")
    tracers_outbreak(services)  # case A with contacts B (restaurant), C (gym) and D (household)
    services.accounts.add("pat", PASSWORD, frozenset({Role.POLICY_EDITOR}), ADMIN)
    services.accounts.add("sue", PASSWORD, frozenset({Role.SUPERVISOR}), ADMIN)
    return services


@pytest.fixture
def client(app_services: Services) -> Iterator[TestClient]:
    app = create_app(app_services, schedule_maintenance=False)
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as c:
        yield c


def _version_id(location: str) -> int:
    found = re.fullmatch(r"/console/policy/versions/(\d+)\?done=uploaded", location)
    assert found is not None, location
    return int(found.group(1))


def test_the_policy_in_force_shows_each_value_with_its_source(client: TestClient) -> None:
    signed_in(client, "pat")
    page = client.get("/console/policy", headers=BROWSER)
    assert page.status_code == 200
    row = re.search(r"<code>visits_days</code></th><td><code>31</code></td><td>([^<]+)</td>", page.text)
    assert row is not None and row.group(1).startswith("LeaveHomeSafe erased visit records after 31 days")
    assert "In force: version 2026.11-default" in page.text and "policy file" in page.text
    assert 'href="/console/policy/upload"' in page.text


def test_a_bad_upload_shows_every_problem_at_its_key_path(client: TestClient, app_services: Services) -> None:
    token = signed_in(client, "pat")
    bad = edited_policy(
        ("quarantine_days = 14", "quarantine_days = 0"), ("[tracing_targets]", "[tracing_target]")
    )
    shown = client.post("/console/policy/upload", data={"csrf_token": token, "text": bad}, headers=BROWSER)
    assert shown.status_code == 400
    assert "<code>orders.quarantine_days</code>: expected at least 1, got 0" in shown.text
    assert "<code>tracing_targets</code>: expected a table, missing" in shown.text
    assert "<code>tracing_target</code>: unknown section" in shown.text
    assert "problems to fix" in shown.text and "quarantine_days = 0" in shown.text  # the text is kept
    as_file = client.post(
        "/console/policy/upload",
        data={"csrf_token": token},
        files={"policy_file": ("p.toml", b"\xff\xfe not text", "text/plain")},
        headers=BROWSER,
    )
    assert as_file.status_code == 400 and "not UTF-8 text at byte 0" in as_file.text
    assert [v.source for v in app_services.policy_changes.versions()] == ["file"]


def test_a_version_is_uploaded_compared_traced_and_activated_by_a_supervisor(
    client: TestClient, app_services: Services
) -> None:
    token = signed_in(client, "pat")
    uploaded = client.post(
        "/console/policy/upload",
        data={"csrf_token": token},
        files={"policy_file": ("draft.toml", DRAFT.encode(), "text/plain")},
        headers=BROWSER,
        follow_redirects=False,
    )
    assert uploaded.status_code == 303
    version = _version_id(uploaded.headers["location"])
    path = f"/console/policy/versions/{version}"
    page = client.get(path, params={"done": "uploaded"}, headers=BROWSER)
    assert "kept as a draft" in page.text and "3 values differ" in page.text
    assert (
        "<code>orders.quarantine_days</code></th><td>changed</td><td><code>14</code></td><td><code>7</code>"
        in page.text
    )
    assert "<code>venue_types.restaurant.contact.tier</code>" in page.text

    with app_services.store.write() as uow:  # a case with no onset or specimen date: no window
        person = uow.people.ids_for_refs(["p-B"])["p-B"]
        uow.cases.add_many(
            [
                Case(
                    ref="E",
                    person_id=person,
                    status=CaseStatus.PROBABLE,
                    classification=CaseClassification.LOCAL,
                    reported_on=DAY,
                )
            ],
            0,
        )
    # A policy editor reads no cases: the sample's cases are numbered, and none can be named.
    latest = client.get(path, params={"impact": "show", "latest": "3"}, headers=BROWSER)  # E, D, C
    assert "2 cases traced" in latest.text
    assert "<li>#1: a case needs a symptom onset date or a specimen date</li>" in latest.text
    assert '<th scope="row">#2</th>' in latest.text and '<th scope="row">D</th>' not in latest.text
    assert 'id="impact-cases"' not in latest.text
    typed = client.get(path, params={"impact": "show", "cases": "A"}, headers=BROWSER)
    assert typed.status_code == 400 and "standing changes" not in typed.text
    with app_services.store.read() as uow:
        traced = [r.event for r in uow.audit.find(actor="staff:pat") if r.event.resource == "policy.impact"][
            -1
        ]
    assert traced.details["refs"] == "E D C" and traced.actor == "staff:pat"

    client.post(f"{path}/request", data={"csrf_token": token, "reason": "diners are close"}, headers=BROWSER)
    refused = client.post(
        f"{path}/decision",
        data={"csrf_token": token, "decision": "approve", "reason": "mine"},
        headers=BROWSER,
    )
    assert refused.status_code == 404  # a policy editor approves nothing
    assert client.app.state.services.policy.orders.quarantine_days == 14  # type: ignore[attr-defined]

    client.post("/logout", data={"csrf_token": token}, headers=BROWSER)
    token = signed_in(client, "sue")
    queue = client.get("/console/approvals", headers=BROWSER)
    assert f'href="{path}"' in queue.text and "asked by staff:pat: diners are close" in queue.text
    # A supervisor may name the cases to trace, and sees them named; contacts never are.
    impact = client.get(path, params={"impact": "show", "cases": "A, nobody, E"}, headers=BROWSER)
    assert "<li>E: a case needs a symptom onset date or a specimen date</li>" in impact.text
    assert (
        "1 contact's standing changes (1 case traced)" in impact.text
        and "No such case: nobody" in impact.text
    )
    moves = re.search(
        r"<tbody>\s*<tr><td>([^<]+)</td><td>([^<]+)</td><td class=\"number\">1</td>", impact.text
    )
    assert moves is not None and moves.groups() == ("exposed", "close contact")
    assert "exposed (60 min) to close contact (60 min)" in impact.text
    assert "p-B" not in impact.text  # no contact is named
    short = client.post(
        f"{path}/decision", data={"csrf_token": token, "decision": "approve", "reason": "ok"}, headers=BROWSER
    )
    assert "give a reason of 5 to 500 characters" in short.text
    done = client.post(
        f"{path}/decision",
        data={"csrf_token": token, "decision": "approve", "reason": "agreed with the panel"},
        headers=BROWSER,
    )
    assert "Activated: this version is in force now" in done.text
    served = client.app.state.services  # type: ignore[attr-defined]
    assert served.policy.version == "2026.12-diners" and served.policy.orders.quarantine_days == 7
    assert served.tracing.policy is served.policy
    shown = client.get("/console/policy", headers=BROWSER)
    assert "In force: version 2026.12-diners" in shown.text and "staff:sue" in shown.text


def test_the_policy_pages_are_missing_pages_to_other_roles(client: TestClient) -> None:
    token = signed_in(client, "tess")
    for path in ("/console/policy", "/console/policy/upload", "/console/policy/versions/1"):
        assert client.get(path, headers=BROWSER).status_code == 404
    posted = client.post("/console/policy/upload", data={"csrf_token": token, "text": "x"}, headers=BROWSER)
    assert posted.status_code == 404
    assert client.get("/console/policy/versions/99", headers=BROWSER).status_code == 404


def test_a_worker_follows_a_version_another_worker_activated(
    client: TestClient, app_services: Services
) -> None:
    signed_in(client, "pat")
    served = client.app.state.services  # type: ignore[attr-defined]
    assert client.get("/console/policy", headers=BROWSER).status_code == 200  # polled: nothing new
    pat, sue = (
        Principal(PrincipalKind.STAFF, f"staff:{n}", roles=frozenset({r}))
        for n, r in (("pat", Role.POLICY_EDITOR), ("sue", Role.SUPERVISOR))
    )
    draft = app_services.policy_changes.upload(pat, DRAFT)  # as in another worker
    app_services.policy_changes.request(pat, draft.id, "diners are close")
    app_services.policy_changes.decide(sue, draft.id, approve=True, reason="agreed with the panel")
    client.get("/console/policy", headers=BROWSER)
    assert client.app.state.services is served  # type: ignore[attr-defined]  # within POLICY_POLL_SECONDS
    served.policy_follower._next_poll = float("-inf")  # POLICY_POLL_SECONDS later
    client.get("/console/policy", headers=BROWSER)
    followed = client.app.state.services  # type: ignore[attr-defined]
    assert followed is not served and followed.policy.version == "2026.12-diners"
    assert followed.policy.orders.quarantine_days == 7 and followed.tracing.policy is followed.policy


def test_every_form_needs_its_token_and_a_file_too_large_is_refused_at_once(
    client: TestClient, app_services: Services
) -> None:
    token = signed_in(client, "pat")
    big = client.post(
        "/console/policy/upload",
        data={"csrf_token": token},
        files={"policy_file": ("big.toml", b"# padding\n" * 30_000, "text/plain")},
        headers=BROWSER,
    )
    assert big.status_code == 400 and "expected a policy of at most 256 KiB" in big.text
    draft = app_services.policy_changes.upload(
        Principal(PrincipalKind.STAFF, "staff:pat", roles=frozenset({Role.POLICY_EDITOR})), DRAFT
    )
    path = f"/console/policy/versions/{draft.id}"
    for action, data in (
        ("/console/policy/upload", {"text": DRAFT}),
        (f"{path}/request", {"reason": "diners are close"}),
        (f"{path}/withdraw", {}),
    ):
        assert client.post(action, data=data, headers=BROWSER).status_code == 403, action
    assert app_services.policy_changes.get(draft.id).status == "draft"
    withdrawn = client.post(f"{path}/withdraw", data={"csrf_token": token}, headers=BROWSER)
    assert "The version is withdrawn" in withdrawn.text
    assert app_services.policy_changes.get(draft.id).status == "withdrawn"
    again = client.post(
        f"{path}/request", data={"csrf_token": token, "reason": "diners are close"}, headers=BROWSER
    )
    assert "no longer in that state" in again.text
