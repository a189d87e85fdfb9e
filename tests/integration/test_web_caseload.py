"""A tracer's queue of assigned cases (both backends): oldest report first, overdue ones marked,
only their own, page after page by keyset, and each read audited."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, update

from chaincut.api import create_app
from chaincut.bootstrap import Services
from chaincut.clock import to_epoch
from chaincut.domain.access import Principal, PrincipalKind, Role
from chaincut.errors import InvalidInput
from chaincut.store.tables import cases, code_case_traces
from support.auth import PASSWORD
from support.outbreak import seed
from support.web_forms import signed_in

ADMIN = Principal.system("tests")
BROWSER = {"Accept": "text/html", "Accept-Language": "en-GB"}


@pytest.fixture
def caseload(services: Services) -> Services:
    """Nine cases; A-E assigned to tess, F and G to ursula, H and I to no one. Reported 50, 40, 30,
    10 and 2 hours ago (A to E); B was traced."""
    seed(services, {ref: (0, [], None) for ref in "ABCDEFGHI"})
    now = to_epoch(services.clock.now())
    tess = services.accounts.add("tess", PASSWORD, frozenset({Role.TRACER}), ADMIN)
    ursula = services.accounts.add("ursula", PASSWORD, frozenset({Role.TRACER}), ADMIN)
    with services.store.write() as uow:
        ids = uow.cases.ids_for(list("ABCDEFGHI"))
        for ref, hours in zip("ABCDEFGHI", (50, 40, 30, 10, 2, 5, 6, 20, 15), strict=True):
            uow.connection.execute(
                update(cases).where(cases.c.id == ids[ref]).values(created_at=now - hours * 3600)
            )
            if ref in "ABCDEFG":
                owner = tess.id if ref in "ABCDE" else ursula.id
                uow.assignments.assign(ids[ref], owner, at=now, by="staff:sup")
        uow.connection.execute(
            insert(code_case_traces).values(
                case_id=ids["B"], traced_at=now - 39 * 3600, exposures=12, policy_version="v"
            )
        )
    return services


@pytest.fixture
def client(caseload: Services) -> Iterator[TestClient]:
    app = create_app(caseload, schedule_maintenance=False)
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as c:
        yield c


def _staff_id(services: Services, username: str) -> int:
    with services.store.read() as uow:
        record = uow.staff.get_by_username(username)
    assert record is not None
    return record.id


def test_the_queue_shows_my_cases_oldest_first_with_the_overdue_marked(
    caseload: Services, client: TestClient
) -> None:
    signed_in(client, "tess")
    page = client.get("/console/cases", headers=BROWSER)
    assert page.status_code == 200
    rows = [line for line in page.text.splitlines() if line.startswith("<tr") and "data-case" in line]
    assert [r.split('data-case="')[1][0] for r in rows] == ["A", "B", "C", "D", "E"]  # not F, G
    overdue = [r.split('data-case="')[1][0] for r in rows if 'class="overdue"' in r]
    assert overdue == ["A", "C"]  # untraced for more than the policy's 24 hours; B was traced
    assert "5 assigned to you, 4 not yet traced, 2 overdue." in page.text
    assert "within 24 hours" in page.text
    assert "(12 people)" in page.text

    untraced = client.get("/console/cases?untraced=1", headers=BROWSER)
    assert 'data-case="B"' not in untraced.text and 'data-case="E"' in untraced.text
    zh = client.get("/console/cases", headers={**BROWSER, "Accept-Language": "zh-HK"})
    assert "逾時" in zh.text and "確診" in zh.text

    with caseload.store.read() as uow:
        reads = [r.event for r in uow.audit.find(limit=20) if r.event.resource == "cases"]
    assert reads and reads[0].actor == "staff:tess"


def test_pages_follow_one_another_by_keyset_with_nothing_missed_or_repeated(caseload: Services) -> None:
    tess = _staff_id(caseload, "tess")
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        page = caseload.caseload.page(tess, after=cursor, limit=2)
        seen += [e.case.ref for e in page.entries]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == ["A", "B", "C", "D", "E"]
    assert cursor is None
    with pytest.raises(InvalidInput) as bad:
        caseload.caseload.page(tess, after="drop table")
    assert bad.value.field == "after"


def test_a_bad_cursor_is_a_page_saying_so_and_a_role_without_cases_sees_none(
    caseload: Services, client: TestClient
) -> None:
    signed_in(client, "tess")
    bad = client.get("/console/cases?after=nonsense", headers=BROWSER)
    assert bad.status_code == 400 and "Not understood" in bad.text
    caseload.accounts.add("officer", PASSWORD, frozenset({Role.BORDER_OFFICER}), ADMIN)
    client.cookies.clear()
    signed_in(client, "officer")
    assert client.get("/console/cases", headers=BROWSER).status_code == 404


def test_a_supervisor_sees_the_teams_load_and_assigns_cases_in_bulk(
    caseload: Services, client: TestClient
) -> None:
    caseload.accounts.add("sue", PASSWORD, frozenset({Role.SUPERVISOR}), ADMIN)
    token = signed_in(client, "sue")
    team = client.get("/console/team", headers=BROWSER)
    assert team.status_code == 200
    rows = [line for line in team.text.splitlines() if "data-tracer=" in line]
    assert [r.split('data-tracer="')[1].split('"')[0] for r in rows] == ["tess", "ursula"]  # most overdue
    assert 'value="H"' in team.text and 'value="I"' in team.text and 'value="A"' not in team.text

    done = client.post(
        "/console/team/assign", data={"cases": ["H", "I"], "staff": "ursula", "csrf_token": token}
    )
    assert done.status_code == 200 and "2 cases assigned to ursula." in done.text
    assert "Every case is assigned." in done.text
    ursula = _staff_id(caseload, "ursula")
    assert [e.case.ref for e in caseload.caseload.page(ursula).entries] == ["H", "I", "G", "F"]  # by report
    with caseload.store.read() as uow:
        given = [r.event for r in uow.audit.find(limit=50) if r.event.details.get("assign") == "ursula"]
    assert sorted(e.record for e in given) == ["H", "I"]
    assert all("permission_change" in e.flags for e in given)

    nothing = client.post("/console/team/assign", data={"staff": "ursula", "csrf_token": token})
    assert "Nothing was assigned: choose at least one case." in nothing.text
    nobody = client.post("/console/team/assign", data={"cases": ["A"], "staff": "sue", "csrf_token": token})
    assert "Nothing was assigned: choose an active tracer." in nobody.text  # sue is no tracer
    forged = client.post(
        "/console/team/assign", data={"cases": ["A"], "staff": "ursula"}, follow_redirects=False
    )
    assert forged.status_code == 403


def test_the_team_page_is_for_supervisors_only(caseload: Services, client: TestClient) -> None:
    signed_in(client, "tess")
    assert client.get("/console/team", headers=BROWSER).status_code == 404


def test_a_supervisor_approves_an_export_with_a_reason_and_never_their_own(
    caseload: Services, client: TestClient
) -> None:
    tess = Principal(
        PrincipalKind.STAFF,
        "staff:tess",
        staff_id=_staff_id(caseload, "tess"),
        roles=frozenset({Role.TRACER}),
    )
    asked = caseload.approvals.request(tess, "A", "the care home needs the list for its own notices")
    caseload.accounts.add("sue", PASSWORD, frozenset({Role.SUPERVISOR}), ADMIN)
    token = signed_in(client, "sue")

    listed = client.get("/console/approvals", headers=BROWSER)
    assert listed.status_code == 200
    assert f'id="request-{asked.public_id}"' in listed.text and "the care home needs the list" in listed.text
    short = client.post(
        f"/console/approvals/{asked.public_id}",
        data={"decision": "approve", "reason": "ok", "csrf_token": token},
    )
    assert "give a reason of 5 to 500 characters" in short.text
    assert caseload.approvals.get(asked.public_id).status == "pending"

    reason = "checked with the home's manager"
    done = client.post(
        f"/console/approvals/{asked.public_id}",
        data={"decision": "approve", "reason": reason, "csrf_token": token},
    )
    assert "Approved: the export may start." in done.text and "No request is waiting." in done.text
    decided = caseload.approvals.get(asked.public_id)
    assert (decided.status, decided.decided_by, decided.decision_reason) == ("approved", "staff:sue", reason)
    again = client.post(
        f"/console/approvals/{asked.public_id}",
        data={"decision": "reject", "reason": reason, "csrf_token": token},
    )
    assert "already decided, has expired or is no longer there" in again.text

    sue = Principal(
        PrincipalKind.STAFF,
        "staff:sue",
        staff_id=_staff_id(caseload, "sue"),
        roles=frozenset({Role.SUPERVISOR}),
    )
    caseload.accounts.add("tim", PASSWORD, frozenset({Role.SUPERVISOR}), ADMIN)
    own = caseload.approvals.request(sue, "B", "my own request, for the test of the page")
    mine = client.get("/console/approvals", headers=BROWSER)
    assert (
        "You asked for this one" in mine.text
        and f'action="/console/approvals/{own.public_id}"' not in mine.text
    )
    refused = client.post(
        f"/console/approvals/{own.public_id}",
        data={"decision": "approve", "reason": reason, "csrf_token": token},
    )
    assert "another supervisor must decide on your own request" in refused.text
    assert caseload.approvals.get(own.public_id).status == "pending"


def test_an_administrator_searches_the_audit_log_and_checks_its_chain(
    caseload: Services, client: TestClient
) -> None:
    caseload.accounts.add("ada", PASSWORD, frozenset({Role.ADMINISTRATOR}), ADMIN)
    caseload.accounts.add("sue", PASSWORD, frozenset({Role.SUPERVISOR}), ADMIN)
    signed_in(client, "sue")
    client.get("/console/team", headers=BROWSER)  # sue reads the unassigned cases: audited
    client.cookies.clear()
    signed_in(client, "ada")

    found = client.get("/console/audit", params={"by": "staff", "value": "sue"}, headers=BROWSER)
    assert found.status_code == 200
    assert "<td>staff:sue</td>" in found.text and "auth.sign_in" in found.text
    flagged = client.get(
        "/console/audit", params={"by": "flag", "value": "permission_change"}, headers=BROWSER
    )
    assert 'class="tag">permission_change<' in flagged.text  # the accounts the fixture added
    checked = client.get("/console/audit?verify=1", headers=BROWSER)
    assert 'id="chain"' in checked.text and "The chain is intact" in checked.text
    with caseload.store.read() as uow:
        reads = [r.event for r in uow.audit.find(limit=10) if r.event.action == "audit.read"]
    assert {e.record for e in reads} == {"permission_change", "sue"}
    assert (
        client.get("/console/audit", params={"by": "nothing", "value": "x"}, headers=BROWSER).status_code
        == 400
    )
    client.cookies.clear()
    signed_in(client, "tess")
    assert client.get("/console/audit", headers=BROWSER).status_code == 404  # tracers do not read it


def test_an_administrator_adds_an_account_sets_its_roles_and_disables_it(
    caseload: Services, client: TestClient
) -> None:
    caseload.accounts.add("ada", PASSWORD, frozenset({Role.ADMINISTRATOR}), ADMIN)
    token = signed_in(client, "ada")
    listed = client.get("/console/staff", headers=BROWSER)
    assert listed.status_code == 200 and 'data-username="tess"' in listed.text
    assert 'action="/console/staff/ada/disable"' not in listed.text  # not one's own account

    added = client.post(
        "/console/staff",
        data={"username": "vic", "password": PASSWORD, "roles": ["tracer"], "csrf_token": token},
    )
    assert "The account was added." in added.text
    short = client.post(
        "/console/staff",
        data={"username": "wan", "password": "short", "roles": ["tracer"], "csrf_token": token},
    )
    assert "the first password must be 12 to 1024 characters" in short.text
    taken = client.post(
        "/console/staff",
        data={"username": "vic", "password": PASSWORD, "roles": ["tracer"], "csrf_token": token},
    )
    assert "not one already taken" in taken.text
    none = client.post("/console/staff/roles", data={"username": "vic", "csrf_token": token})
    assert "choose at least one role" in none.text
    roles = client.post(
        "/console/staff/roles",
        data={"username": "vic", "roles": ["tracer", "supervisor"], "csrf_token": token},
    )
    assert "The roles were set." in roles.text
    with caseload.store.read() as uow:
        vic = uow.staff.get_by_username("vic")
    assert vic is not None and vic.roles == frozenset({Role.TRACER, Role.SUPERVISOR})

    other = TestClient(client.app, base_url="https://testserver")
    signed_in(other, "vic")
    off = client.post("/console/staff/vic/disable", data={"csrf_token": token})
    assert "The account was disabled" in off.text
    assert other.get("/console", follow_redirects=False).headers["location"] == "/login"  # ended at once
    on = client.post("/console/staff/vic/enable", data={"csrf_token": token})
    assert "The account was enabled." in on.text
    own = client.post("/console/staff/ada/disable", data={"csrf_token": token})
    assert "changed by another administrator" in own.text
    forged = client.post("/console/staff/vic/disable", follow_redirects=False)
    assert forged.status_code == 403
    with caseload.store.read() as uow:
        changes = [r.event.action for r in uow.audit.find(limit=50) if r.event.record == "vic"]
    assert {"users.add", "users.roles", "users.disable", "users.enable"} <= set(changes)
