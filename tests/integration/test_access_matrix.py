"""The authorization matrix: every operation of the API, against every kind of caller.

``MATRIX`` below is written out by hand from the access brief (issue 4), not derived
from ``ROLE_PERMISSIONS``: it is the independent oracle. The walk asks every
operation of the OpenAPI document as each staff role, a resident's app, a venue's
device and an anonymous caller, with path parameters pointing at fixture records the
caller may see (a case assigned to the tracer, a person with an order from it, ...)
and a minimal valid body, and checks:

- allowed callers get past authorization (and, with these fixtures, a 2xx answer);
- denied callers get 401 when anonymous and 403 when signed in;
- the matrix and the OpenAPI document list exactly the same operations.

Record-level rules (a tracer's unassigned case, a resident reading someone else)
have their own tests at the end. Embedded backend only: authorization does not
depend on the store.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

import pytest
import sqlalchemy as sa
from fastapi import APIRouter
from fastapi.testclient import TestClient

from chaincut.api import app as app_module
from chaincut.api import create_app
from chaincut.bootstrap import Services
from chaincut.border import BookingRequest, BookingService
from chaincut.domain import Case, CaseClassification, CaseStatus, Tier
from chaincut.domain.access import Permission, Principal, Role
from chaincut.guards import Caller, requires
from chaincut.people import PersonDraft
from chaincut.policy import BookingMode
from chaincut.presence.wire import FAKE_HEADER
from chaincut.venues.registry import VenueDraft
from support.auth import PASSWORD, assign, resident_headers, staff_headers, venue_headers

NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)  # the fixed clock of tests/conftest.py
DRAWN_DAY = date(2026, 11, 23)  # a day drawn by ballot in the fixture world
PURPOSE = "contact tracing for case C1"

# --- the callers -------------------------------------------------------------------------------

TRACER = "tracer"
SUPERVISOR = "supervisor"
EPIDEMIOLOGIST = "epidemiologist"
POLICY_EDITOR = "policy_editor"
BORDER_OFFICER = "border_officer"
VENUE_OPERATOR = "venue_operator"
ADMINISTRATOR = "administrator"
RESIDENT = "resident"
VENUE_DEVICE = "venue_device"
ANONYMOUS = "anonymous"

STAFF = frozenset(
    {TRACER, SUPERVISOR, EPIDEMIOLOGIST, POLICY_EDITOR, BORDER_OFFICER, VENUE_OPERATOR, ADMINISTRATOR}
)
SIGNED_IN = STAFF | {RESIDENT, VENUE_DEVICE}
EVERYONE = SIGNED_IN | {ANONYMOUS}
CALLERS = sorted(EVERYONE)
DESK = frozenset({TRACER, SUPERVISOR})  # the tracing desk: whereabouts, orders, follow-ups
ANALYSTS = frozenset({EPIDEMIOLOGIST, SUPERVISOR})  # outbreak analytics over every case
CLUSTER_READERS = frozenset({TRACER, SUPERVISOR, EPIDEMIOLOGIST})
VENUE_READERS = frozenset({TRACER, SUPERVISOR, EPIDEMIOLOGIST, VENUE_OPERATOR, ADMINISTRATOR, VENUE_DEVICE})

# --- the oracle: (METHOD, path template) -> who may, written by hand -------------------------

MATRIX: dict[tuple[str, str], frozenset[str]] = {
    # public
    ("GET", "/health"): EVERYONE,
    ("POST", "/auth/token"): EVERYONE,
    # any signed-in caller
    ("POST", "/auth/logout"): SIGNED_IN,
    ("GET", "/auth/me"): SIGNED_IN,
    # counts without personal data: every staff role
    ("GET", "/status"): STAFF,
    # retention: administrators
    ("GET", "/purges"): frozenset({ADMINISTRATOR}),
    ("POST", "/purges"): frozenset({ADMINISTRATOR}),
    # people
    ("POST", "/people"): DESK,
    ("GET", "/people/{ref}"): DESK,
    # an app token acts as its person (and reads their access report): supervisors only
    ("POST", "/people/{ref}/tokens"): frozenset({SUPERVISOR}),
    ("DELETE", "/people/{ref}/tokens"): frozenset({SUPERVISOR}),
    ("POST", "/people/{ref}/enrolments"): frozenset({SUPERVISOR}),
    # a phone trades a one-time enrolment code: nobody needs to be signed in
    ("POST", "/enrolments"): EVERYONE,
    ("POST", "/people/{ref}/visit-history"): frozenset({RESIDENT}),
    ("POST", "/people/{ref}/follow-ups"): DESK,
    ("GET", "/people/{ref}/follow-ups"): DESK,
    ("GET", "/people/{ref}/contacts"): DESK,
    ("PATCH", "/people/{ref}"): DESK,
    ("GET", "/people/{ref}/corrections"): DESK,
    # a person's own data-access report (PDPO): a supervisor for anyone, a resident for themselves
    ("GET", "/people/{ref}/subject-access"): frozenset({SUPERVISOR, RESIDENT}),
    # venues
    ("POST", "/venues"): frozenset({VENUE_OPERATOR}),
    ("GET", "/venues"): VENUE_READERS,
    ("POST", "/venues/{ref}/device-tokens"): frozenset({VENUE_OPERATOR}),
    ("DELETE", "/venues/{ref}/device-tokens"): frozenset({VENUE_OPERATOR}),
    ("GET", "/venues/{ref}"): VENUE_READERS,
    ("GET", "/venues/{ref}/token"): VENUE_READERS,
    # what a phone checks posters with and ends stays by: public
    ("GET", "/venues/signing-key"): EVERYONE,
    ("GET", "/venues/types"): EVERYONE,
    ("GET", "/venues/{ref}/poster.png"): VENUE_READERS,
    ("GET", "/venues/{ref}/poster.pdf"): VENUE_READERS,
    # a basic decentralised venue's tracing sheet: its operator, who holds the code
    ("POST", "/venues/{ref}/tracing-sheet.pdf"): frozenset({VENUE_OPERATOR}),
    # decentralised check-in: what phones download is public; the desk warns, a supervisor publishes
    ("GET", "/presence/config"): EVERYONE,
    ("GET", "/presence/warnings"): EVERYONE,
    ("POST", "/presence/warnings"): DESK,
    ("GET", "/presence/warnings/{public_id}"): DESK,
    ("GET", "/presence/proposals"): frozenset({SUPERVISOR}),
    ("POST", "/presence/warnings/{public_id}/review"): frozenset({SUPERVISOR}),
    ("POST", "/presence/shared-visits"): frozenset({RESIDENT}),
    ("POST", "/presence/reports"): frozenset({RESIDENT}),
    ("GET", "/risky-venues"): frozenset({TRACER, SUPERVISOR, EPIDEMIOLOGIST, RESIDENT}),
    # check-ins: residents' apps and venues' devices
    ("POST", "/checkins"): frozenset({RESIDENT, VENUE_DEVICE}),
    ("POST", "/checkins/{client_id}/checkout"): frozenset({RESIDENT, VENUE_DEVICE}),
    # cases
    ("POST", "/cases"): DESK,
    ("GET", "/cases"): frozenset({TRACER, SUPERVISOR, EPIDEMIOLOGIST}),
    # the situation report: aggregates only, read as cases are (cases.read) until analytics.read lands
    ("GET", "/reports/situation"): ANALYSTS,
    ("GET", "/cases/{ref}"): frozenset({TRACER, SUPERVISOR, EPIDEMIOLOGIST}),
    ("PATCH", "/cases/{ref}/isolation"): DESK,
    ("PATCH", "/cases/{ref}/status"): frozenset({SUPERVISOR}),
    ("GET", "/cases/{ref}/timeline"): DESK,
    ("GET", "/cases/{ref}/contacts"): DESK,
    ("POST", "/cases/{ref}/orders"): DESK,
    ("GET", "/cases/{ref}/contacts.{fmt}"): DESK,
    ("POST", "/cases/{ref}/assignments"): frozenset({SUPERVISOR}),
    ("GET", "/cases/{ref}/assignments"): frozenset({SUPERVISOR}),
    ("DELETE", "/cases/{ref}/assignments/{username}"): frozenset({SUPERVISOR}),
    ("POST", "/cases/{ref}/exports"): DESK,
    # orders
    ("POST", "/orders"): DESK,
    ("GET", "/orders"): DESK,
    ("GET", "/orders/{public_id}"): DESK,
    ("POST", "/orders/{public_id}/status"): DESK,
    # export approvals: supervisors
    ("GET", "/approvals"): frozenset({SUPERVISOR}),
    ("POST", "/approvals/{public_id}/decision"): frozenset({SUPERVISOR}),
    # administration: staff accounts and the audit log
    ("GET", "/staff"): frozenset({ADMINISTRATOR}),
    ("POST", "/staff"): frozenset({ADMINISTRATOR}),
    ("PUT", "/staff/{username}/roles"): frozenset({ADMINISTRATOR}),
    ("POST", "/staff/{username}/disable"): frozenset({ADMINISTRATOR}),
    ("POST", "/staff/{username}/enable"): frozenset({ADMINISTRATOR}),
    ("GET", "/audit"): frozenset({ADMINISTRATOR}),
    ("GET", "/audit/verify"): frozenset({ADMINISTRATOR}),
    # border crossings: residents book and cancel their own, border officers list them
    ("POST", "/border/bookings"): frozenset({RESIDENT}),
    ("DELETE", "/border/bookings/{public_id}"): frozenset({RESIDENT}),
    ("GET", "/border/my-bookings"): frozenset({RESIDENT}),
    ("GET", "/border/bookings"): frozenset({BORDER_OFFICER}),
    ("GET", "/border/slots"): SIGNED_IN,
    # the ballot's seed commitments and draw records: only hashes and revealed seeds, for anyone to check
    ("GET", "/border/ballot/commitments"): EVERYONE,
    ("GET", "/border/ballot/draws/{day}"): EVERYONE,
    # clearance at the checkpoint: border officers decide, sync for offline use, upload offline decisions
    ("GET", "/border/sync"): frozenset({BORDER_OFFICER}),
    ("POST", "/border/clearances"): frozenset({BORDER_OFFICER}),
    ("POST", "/border/clearances/offline"): frozenset({BORDER_OFFICER}),
    # signed health codes: the trust list holds only certificates (anyone); keys and partners: admins
    ("GET", "/codes/trust-list"): EVERYONE,
    ("GET", "/codes/revocations"): EVERYONE,
    ("GET", "/codes/keys"): frozenset({ADMINISTRATOR}),
    ("POST", "/codes/keys/rotate"): frozenset({ADMINISTRATOR}),
    ("POST", "/codes/keys/{kid}/revoke"): frozenset({ADMINISTRATOR}),
    ("GET", "/codes/partners"): frozenset({ADMINISTRATOR}),
    ("POST", "/codes/partners/sync"): frozenset({ADMINISTRATOR}),
    # health codes: the tracing desk reads them (purpose-bound) and records tests, vaccinations and
    # arrivals; overrides are a supervisor's; a resident reads their own
    ("GET", "/people/{ref}/code"): DESK,
    ("GET", "/people/{ref}/code/history"): DESK,
    ("POST", "/people/{ref}/code/override"): frozenset({SUPERVISOR}),
    ("DELETE", "/people/{ref}/code/override"): frozenset({SUPERVISOR}),
    ("GET", "/me/code"): frozenset({RESIDENT}),
    ("GET", "/me/code/signed"): frozenset({RESIDENT}),
    ("GET", "/me/code/signed.png"): frozenset({RESIDENT}),
    ("POST", "/people/{ref}/tests"): DESK,
    ("POST", "/people/{ref}/vaccinations"): DESK,
    ("POST", "/people/{ref}/arrivals"): DESK,
    ("POST", "/cases/{ref}/discharge"): DESK,
    # outbreak analytics over every case: epidemiologists and supervisors, never tracers
    ("GET", "/analytics/epicurve"): ANALYSTS,
    ("GET", "/analytics/rt"): ANALYSTS,
    ("GET", "/analytics/serial-interval"): ANALYSTS,
    ("POST", "/analytics/clusters/refresh"): ANALYSTS,
    # clusters and chains: a tracer's through their assigned cases (C1 here)
    ("GET", "/analytics/clusters"): CLUSTER_READERS,
    ("GET", "/analytics/clusters/{cluster_id}"): CLUSTER_READERS,
    ("PUT", "/analytics/clusters/{cluster_id}/name"): CLUSTER_READERS,
    ("POST", "/analytics/clusters/{cluster_id}/decisions"): CLUSTER_READERS,
    ("GET", "/analytics/chains/{case_ref}"): CLUSTER_READERS,
    ("PUT", "/analytics/chains/{case_ref}/infector"): CLUSTER_READERS,
}

PUBLIC_OPERATIONS = frozenset(
    {
        ("GET", "/health"),
        ("POST", "/auth/token"),
        ("GET", "/codes/trust-list"),
        ("GET", "/codes/revocations"),
        ("GET", "/border/ballot/commitments"),
        ("GET", "/border/ballot/draws/{day}"),
        ("GET", "/venues/signing-key"),
        ("GET", "/venues/types"),
        ("POST", "/enrolments"),
        ("GET", "/presence/config"),
        ("GET", "/presence/warnings"),
    }
)

# --- the fixture world -------------------------------------------------------------------------

_SYSTEM = Principal.system("tests")


@dataclass
class World:
    """Records every request points at, and each caller's credentials."""

    services: Services
    client: TestClient
    venue_qr: str
    orders: dict[str, str] = field(default_factory=dict)  # name -> public id
    approvals: dict[str, str] = field(default_factory=dict)  # name -> public id
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    border_booking: str = ""  # the resident's own booking, to cancel
    retired_kid: str = ""  # a retired code-signing key, to revoke
    tracing_code: str = ""  # the basic decentralised venue V3's, as its operator holds it
    warning: str = ""  # a proposed warning for the server-based venue V4

    def propose_warning(self) -> str:
        """A warning for V4 proposed by someone other than the callers: theirs to review."""
        start = datetime(2026, 11, 18, 2, 0, tzinfo=UTC)
        proposed = self.services.presence.propose(
            _SYSTEM, "C1", "V4", start, start + timedelta(hours=1), "Get tested today."
        )
        return proposed.public_id

    def fresh_headers(self, caller: str) -> dict[str, str]:
        """New credentials for ``caller`` (for signing out without ending the shared ones)."""
        if caller == ANONYMOUS:
            return {}
        if caller == RESIDENT:
            return resident_headers(self.services, "RES1")
        if caller == VENUE_DEVICE:
            return venue_headers(self.services, "V1")
        return staff_headers(self.services, Role(caller), username=caller, purpose=PURPOSE)


def _case(services: Services, ref: str, person_ref: str) -> None:
    with services.store.write() as uow:
        person_id = uow.people.id_for_ref(person_ref)
        assert person_id is not None
        uow.cases.add_many(
            [
                Case(
                    ref=ref,
                    person_id=person_id,
                    status=CaseStatus.PROBABLE,
                    classification=CaseClassification.LOCAL,
                    onset_on=date(2026, 11, 17),
                )
            ],
            created_at=0,
        )


def _order(services: Services, person_ref: str, case_ref: str) -> str:
    issued = services.orders.issue_by_ref(
        person_ref,
        tier=Tier.CLOSE,
        kind=None,
        last_exposure_at=NOW - timedelta(days=1),
        case_ref=case_ref,
        actor="tests",
    )
    return issued.entry.order.public_id


def _ok(response: Any) -> Any:
    assert response.status_code < 300, response.text
    return response.json()


@pytest.fixture
def world(embedded_services: Services) -> Iterator[World]:
    services = embedded_services
    for ref in ("P1", "P2", "P3", "P5", "P9", "RES1", "NCP-tracer", "NCP-supervisor"):
        services.people.register(PersonDraft(ref=ref, name=f"Person {ref}"))
    venue = services.venues.register(VenueDraft("restaurant", "Tai Hing", "太興", ref="V1"))
    services.venues.register(VenueDraft("restaurant", "Other Place", "別處", ref="V2"))
    _case(services, "C1", "P1")  # assigned to the tracer
    _case(services, "C9", "P9")  # assigned to nobody
    headers = {ANONYMOUS: {}}
    for role in Role:
        headers[role.value] = staff_headers(services, role, username=role.value, purpose=PURPOSE)
    # Accounts other operations act on (never the callers themselves).
    for name in ("supervisor2",):
        staff_headers(services, Role.SUPERVISOR, username=name)
    for name in ("tracer2", "tracer3", "victim2", "victim3", "victim4", "victim5"):
        staff_headers(services, Role.TRACER, username=name)
    assign(services, "C1", TRACER)
    assign(services, "C1", "tracer3")
    # A cluster (id 1) of C1 and C9, linked by a tracer: the tracer sees it through C1.
    with services.store.write() as uow:
        ids = uow.cases.ids_for(["C1", "C9"])
        uow.cases.set_links([(ids["C9"], ids["C1"])])
    services.clusters.refresh(_SYSTEM)
    # Two decentralised venues, registered before the case's window (their codes valid from then).
    clock = services.clock
    clock.set(NOW - timedelta(days=10))  # type: ignore[attr-defined]
    basic = services.presence.register_venue(
        VenueDraft("restaurant", "Quiet Cafe", "靜咖啡", ref="V3"), "basic"
    )
    services.presence.register_venue(VenueDraft("restaurant", "Open Bar", "開放酒吧", ref="V4"), "server")
    clock.set(NOW)  # type: ignore[attr-defined]
    assert basic.tracing_code is not None
    # The venue operator registered the venues: their posters and devices are theirs.
    with services.store.write() as uow:
        uow.connection.execute(
            sa.text("UPDATE venues SET operator_id = (SELECT id FROM staff WHERE username = :u)"),
            {"u": VENUE_OPERATOR},
        )
    headers[RESIDENT] = resident_headers(services, "RES1")
    headers[VENUE_DEVICE] = venue_headers(services, "V1")

    app = create_app(services, schedule_maintenance=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        w = World(services, client, services.venues.token(venue), headers=headers)
        w.tracing_code = base64.b64encode(basic.tracing_code).decode()
        w.warning = w.propose_warning()
        # Orders from C1: people linked to the tracer's case.
        w.orders["tracer"] = _order(services, "P2", "C1")
        w.orders["supervisor"] = _order(services, "P5", "C1")
        services.codes.set_override("P5", "red", "held for review by the outbreak team", None, "tests")
        # Export approvals: one approved for each of tracer and supervisor, one pending.
        sup, sup2 = headers[SUPERVISOR], staff_headers(services, Role.SUPERVISOR, username="supervisor2")
        for requester, decider in ((TRACER, sup), (SUPERVISOR, sup2), ("pending", None)):
            by = headers[TRACER if requester == "pending" else requester]
            body = _ok(client.post("/cases/C1/exports", json={"purpose": "send to the district"}, headers=by))
            w.approvals[requester] = body["id"]
            if decider is not None:
                decision = {"approve": True, "reason": "needed by the district office"}
                _ok(client.post(f"/approvals/{body['id']}/decision", json=decision, headers=decider))
        # Visits to check out of: the resident's own, and one the venue's device made.
        _ok(
            client.post(
                "/checkins", json={"client_id": "co-res", "token": w.venue_qr}, headers=headers[RESIDENT]
            )
        )
        device_checkin = {"client_id": "co-dev", "token": w.venue_qr, "person": "P3"}
        _ok(client.post("/checkins", json=device_checkin, headers=headers[VENUE_DEVICE]))
        # The resident's booking of a border crossing, to cancel.
        booking = {
            "request_id": "matrix-0",
            "id_document": "A1234563",
            "day": "2026-11-21",
            "checkpoint": "man_kam_to",
            "slot": "night",
            "companions": ["A7654321"],
        }
        w.border_booking = _ok(client.post("/border/bookings", json=booking, headers=headers[RESIDENT]))["id"]
        # A day drawn by ballot, whose record anyone may read.
        ballot = BookingService(
            services.store,
            replace(services.policy.border, mode=BookingMode.BALLOT),
            services.clock,
            services.settings.zone,
            services.hasher,
        )
        with services.store.read() as uow:
            person_id = uow.people.id_for_ref("P9")
        assert person_id is not None
        ballot.book(BookingRequest(person_id, "B7654321", DRAWN_DAY, "man_kam_to", "night", (), "matrix-e"))
        ballot.draw(DRAWN_DAY, actor="tests")
        # Code-signing keys, and a retired signer to revoke.
        first = services.code_keys.init(_SYSTEM)[1]
        services.code_keys.rotate(_SYSTEM)
        w.retired_kid = first.kid.replace("+", "-").replace("/", "_").rstrip("=")
        yield w


# --- one request per (operation, caller) --------------------------------------------------------


@dataclass(frozen=True)
class Call:
    path: str
    params: dict[str, str] = field(default_factory=dict)
    body: Any = None
    fresh_credentials: bool = False  # sign-out ends the token it carries
    headers: dict[str, str] = field(default_factory=dict)


Build = Callable[[World, str], Call]

WINDOW = {"from": (NOW - timedelta(days=7)).isoformat(), "to": NOW.isoformat()}


def _static(path: str, params: dict[str, str] | None = None, body: Any = None) -> Build:
    return lambda _w, _c: Call(path, params or {}, body)


CALLS: dict[tuple[str, str], Build] = {
    ("GET", "/health"): _static("/health"),
    ("POST", "/auth/token"): _static("/auth/token", body={"username": "victim5", "password": PASSWORD}),
    ("POST", "/auth/logout"): lambda _w, _c: Call("/auth/logout", fresh_credentials=True),
    ("GET", "/auth/me"): _static("/auth/me"),
    ("GET", "/status"): _static("/status"),
    ("GET", "/purges"): _static("/purges"),
    ("POST", "/purges"): _static("/purges"),
    ("POST", "/people"): lambda _w, c: Call("/people", body={"ref": f"NEW-{c}", "name": "New Person"}),
    ("GET", "/people/{ref}"): _static("/people/P2"),
    ("POST", "/people/{ref}/tokens"): _static("/people/P2/tokens"),
    ("DELETE", "/people/{ref}/tokens"): _static("/people/P2/tokens"),
    ("POST", "/people/{ref}/enrolments"): _static("/people/P2/enrolments"),
    ("POST", "/enrolments"): lambda w, _c: Call(
        "/enrolments", body={"code": w.services.accounts.issue_enrolment_code("P2", _SYSTEM).secret}
    ),
    ("POST", "/people/{ref}/visit-history"): lambda w, _c: Call(
        "/people/RES1/visit-history",
        body={
            "visits": [
                {
                    "token": w.venue_qr,
                    "entered_at": (NOW - timedelta(days=2)).isoformat(),
                    "left_at": (NOW - timedelta(days=2) + timedelta(hours=1)).isoformat(),
                    "client_id": "upload-1",
                }
            ]
        },
    ),
    ("POST", "/people/{ref}/follow-ups"): lambda _w, c: Call(
        "/people/P2/follow-ups",
        body={"on_date": "2026-11-19" if c == TRACER else "2026-11-18", "symptoms": []},
    ),
    ("GET", "/people/{ref}/follow-ups"): _static("/people/P2/follow-ups"),
    ("GET", "/people/{ref}/contacts"): _static("/people/P2/contacts", WINDOW),
    ("PATCH", "/people/{ref}"): lambda _w, c: Call(
        "/people/P2", body={"phone": f"9123456{len(c) % 10}", "reason": "the person called to correct it"}
    ),
    ("GET", "/people/{ref}/corrections"): _static("/people/P2/corrections"),
    ("GET", "/people/{ref}/subject-access"): lambda _w, c: Call(
        "/people/RES1/subject-access" if c == RESIDENT else "/people/P2/subject-access"
    ),
    ("POST", "/venues"): _static(
        "/venues", body={"venue_type": "restaurant", "name_en": "New Place", "name_zh": "新地方"}
    ),
    ("GET", "/venues"): _static("/venues"),
    ("POST", "/venues/{ref}/device-tokens"): _static("/venues/V1/device-tokens"),
    # V2, so that the device of V1, one of the callers, keeps its token
    ("DELETE", "/venues/{ref}/device-tokens"): _static("/venues/V2/device-tokens"),
    ("GET", "/venues/{ref}"): _static("/venues/V1"),
    ("GET", "/venues/{ref}/token"): _static("/venues/V1/token"),
    ("GET", "/venues/signing-key"): _static("/venues/signing-key"),
    ("GET", "/venues/types"): _static("/venues/types"),
    ("GET", "/venues/{ref}/poster.png"): _static("/venues/V1/poster.png"),
    ("GET", "/venues/{ref}/poster.pdf"): _static("/venues/V1/poster.pdf"),
    ("POST", "/venues/{ref}/tracing-sheet.pdf"): lambda w, _c: Call(
        "/venues/V3/tracing-sheet.pdf", body={"tracing_code": w.tracing_code}
    ),
    ("GET", "/presence/config"): _static("/presence/config"),
    ("GET", "/presence/warnings"): _static("/presence/warnings", {"since": "0"}),
    ("POST", "/presence/warnings"): _static(
        "/presence/warnings",
        body={
            "case": "C1",
            "venue": "V4",
            "start": "2026-11-18T05:00:00+00:00",
            "end": "2026-11-18T06:00:00+00:00",
            "message": "Get tested today.",
        },
    ),
    ("GET", "/presence/warnings/{public_id}"): lambda w, _c: Call(f"/presence/warnings/{w.warning}"),
    ("GET", "/presence/proposals"): _static("/presence/proposals"),
    ("POST", "/presence/warnings/{public_id}/review"): lambda w, _c: Call(
        f"/presence/warnings/{w.propose_warning()}/review",
        body={"decision": "publish", "reason": "the case confirmed the visit"},
    ),
    # Dummies (as phones send them): authorization runs before a dummy is recognised.
    ("POST", "/presence/shared-visits"): lambda _w, _c: Call(
        "/presence/shared-visits", body={"person": "RES1", "visits": []}, headers={FAKE_HEADER: "1"}
    ),
    ("POST", "/presence/reports"): lambda _w, _c: Call(
        "/presence/reports",
        body={
            "person": "RES1",
            "seq": 1,
            "notification_key": "AA",
            "arrival": NOW.isoformat(),
            "departure": NOW.isoformat(),
        },
        headers={FAKE_HEADER: "1"},
    ),
    ("GET", "/risky-venues"): _static("/risky-venues", WINDOW),
    ("POST", "/checkins"): lambda w, c: Call(
        "/checkins",
        body={"client_id": f"in-{c}", "token": w.venue_qr} | ({"person": "P3"} if c == VENUE_DEVICE else {}),
    ),
    ("POST", "/checkins/{client_id}/checkout"): lambda _w, c: (
        Call("/checkins/co-dev/checkout", body={"person": "P3"})
        if c == VENUE_DEVICE
        else Call("/checkins/co-res/checkout", body={})
    ),
    ("POST", "/cases"): lambda _w, c: Call(
        "/cases",
        body={"ref": f"NC-{c}", "person": f"NCP-{c}", "classification": "local", "onset_on": "2026-11-18"},
    ),
    ("GET", "/cases"): _static("/cases"),
    ("GET", "/reports/situation"): _static("/reports/situation", {"day": "2026-11-19"}),
    ("GET", "/cases/{ref}"): _static("/cases/C1"),
    ("PATCH", "/cases/{ref}/isolation"): _static(
        "/cases/C1/isolation", body={"isolated_at": (NOW - timedelta(hours=2)).isoformat()}
    ),
    ("PATCH", "/cases/{ref}/status"): _static(
        "/cases/C1/status", body={"status": "confirmed", "reason": "the laboratory confirmed it"}
    ),
    ("GET", "/cases/{ref}/timeline"): _static("/cases/C1/timeline"),
    ("GET", "/cases/{ref}/contacts"): _static("/cases/C1/contacts"),
    ("POST", "/cases/{ref}/orders"): _static("/cases/C1/orders"),
    ("GET", "/cases/{ref}/contacts.{fmt}"): lambda w, c: Call(
        "/cases/C1/contacts.csv", {"approval": w.approvals.get(c, w.approvals[TRACER])}
    ),
    ("POST", "/cases/{ref}/assignments"): _static("/cases/C1/assignments", body={"staff": "tracer2"}),
    ("GET", "/cases/{ref}/assignments"): _static("/cases/C1/assignments"),
    ("DELETE", "/cases/{ref}/assignments/{username}"): _static("/cases/C1/assignments/tracer3"),
    ("POST", "/cases/{ref}/exports"): _static("/cases/C1/exports", body={"purpose": "send to the district"}),
    ("POST", "/orders"): _static("/orders", body={"person": "P2", "case": "C1", "tier": "exposed"}),
    ("GET", "/orders"): _static("/orders", {"case": "C1"}),
    ("GET", "/orders/{public_id}"): lambda w, _c: Call(f"/orders/{w.orders[TRACER]}"),
    ("POST", "/orders/{public_id}/status"): lambda w, c: (
        Call(
            f"/orders/{w.orders[SUPERVISOR]}/status",
            body={"status": "released", "note": "tested negative twice"},
        )
        if c == SUPERVISOR
        else Call(f"/orders/{w.orders[TRACER]}/status", body={"status": "delivered"})
    ),
    ("GET", "/approvals"): _static("/approvals"),
    ("POST", "/approvals/{public_id}/decision"): lambda w, _c: Call(
        f"/approvals/{w.approvals['pending']}/decision",
        body={"approve": False, "reason": "not needed any more"},
    ),
    ("GET", "/staff"): _static("/staff"),
    ("POST", "/staff"): _static(
        "/staff", body={"username": "newbie", "password": PASSWORD, "roles": ["tracer"]}
    ),
    ("PUT", "/staff/{username}/roles"): _static("/staff/victim2/roles", body={"roles": ["epidemiologist"]}),
    ("POST", "/staff/{username}/disable"): _static("/staff/victim3/disable"),
    ("POST", "/staff/{username}/enable"): _static("/staff/victim4/enable"),
    ("GET", "/audit"): _static("/audit", {"flag": "manual_status_change"}),
    ("GET", "/audit/verify"): _static("/audit/verify"),
    ("POST", "/border/bookings"): _static(
        "/border/bookings",
        body={
            "request_id": "matrix-1",
            "id_document": "A1234563",
            "day": "2026-11-22",
            "checkpoint": "shenzhen_bay",
            "slot": "morning",
        },
    ),
    ("DELETE", "/border/bookings/{public_id}"): lambda w, _c: Call(f"/border/bookings/{w.border_booking}"),
    ("GET", "/border/bookings"): _static("/border/bookings", {"day": "2026-11-21"}),
    ("GET", "/border/my-bookings"): _static("/border/my-bookings"),
    ("GET", "/border/slots"): _static("/border/slots", {"day": "2026-11-21"}),
    ("GET", "/border/ballot/commitments"): _static("/border/ballot/commitments", {"from": "2026-11-21"}),
    ("GET", "/border/ballot/draws/{day}"): _static(f"/border/ballot/draws/{DRAWN_DAY}"),
    ("GET", "/border/sync"): _static("/border/sync", {"checkpoint": "man_kam_to", "day": "2026-11-21"}),
    ("POST", "/border/clearances"): _static(
        "/border/clearances", body={"qr": "HC1:NOT-A-CODE", "checkpoint": "man_kam_to"}
    ),
    ("POST", "/border/clearances/offline"): _static(
        "/border/clearances/offline",
        body={
            "decisions": [
                {
                    "decision_id": "matrix-offline-1",
                    "checkpoint": "man_kam_to",
                    "day": "2026-11-20",
                    "slot": "morning",
                    "decided_at": NOW.isoformat(),
                    "cleared": False,
                    "reasons": [{"code": "invalid_code", "text": "the code is not valid: unknown key"}],
                }
            ]
        },
    ),
    ("GET", "/codes/trust-list"): _static("/codes/trust-list"),
    ("GET", "/codes/revocations"): _static("/codes/revocations"),
    ("GET", "/codes/keys"): _static("/codes/keys"),
    ("POST", "/codes/keys/rotate"): _static("/codes/keys/rotate"),
    ("POST", "/codes/keys/{kid}/revoke"): lambda w, _c: Call(
        f"/codes/keys/{w.retired_kid}/revoke", body={"reason": "matrix walk"}
    ),
    ("GET", "/analytics/epicurve"): _static("/analytics/epicurve", {"axis": "report"}),
    ("GET", "/analytics/rt"): _static("/analytics/rt"),
    ("GET", "/analytics/serial-interval"): _static("/analytics/serial-interval", {"resamples": "100"}),
    ("POST", "/analytics/clusters/refresh"): _static("/analytics/clusters/refresh"),
    ("GET", "/analytics/clusters"): _static("/analytics/clusters"),
    ("GET", "/analytics/clusters/{cluster_id}"): _static("/analytics/clusters/1"),
    ("PUT", "/analytics/clusters/{cluster_id}/name"): _static(
        "/analytics/clusters/1/name", body={"name": "C1's"}
    ),
    ("POST", "/analytics/clusters/{cluster_id}/decisions"): _static(
        "/analytics/clusters/1/decisions", body={"case": "C9", "decision": "confirmed"}
    ),
    ("GET", "/analytics/chains/{case_ref}"): _static("/analytics/chains/C1"),
    ("PUT", "/analytics/chains/{case_ref}/infector"): _static(
        "/analytics/chains/C1/infector", body={"infector": None}
    ),
    ("GET", "/codes/partners"): _static("/codes/partners"),
    ("POST", "/codes/partners/sync"): _static("/codes/partners/sync"),
    ("GET", "/people/{ref}/code"): _static("/people/P2/code"),
    ("GET", "/people/{ref}/code/history"): _static("/people/P2/code/history"),
    ("POST", "/people/{ref}/code/override"): _static(
        "/people/P2/code/override", body={"colour": "amber", "reason": "refused a compulsory test"}
    ),
    # P5's override is set up by the world; clearing runs before the POST (sorted order).
    ("DELETE", "/people/{ref}/code/override"): _static(
        "/people/P5/code/override", {"reason": "the outbreak team reviewed it"}
    ),
    ("GET", "/me/code"): _static("/me/code"),
    ("GET", "/me/code/signed"): _static("/me/code/signed"),
    ("GET", "/me/code/signed.png"): _static("/me/code/signed.png"),
    ("POST", "/people/{ref}/tests"): _static(
        "/people/P2/tests",
        body={"taken_at": (NOW - timedelta(hours=1)).isoformat(), "kind": "pcr", "result": "negative"},
    ),
    ("POST", "/people/{ref}/vaccinations"): _static(
        "/people/P2/vaccinations", body={"dose_on": "2026-06-01", "product": "Comirnaty"}
    ),
    ("POST", "/people/{ref}/arrivals"): _static(
        "/people/P2/arrivals", body={"arrived_at": (NOW - timedelta(days=1)).isoformat(), "origin": "GB"}
    ),
    ("POST", "/cases/{ref}/discharge"): _static(
        "/cases/C1/discharge", body={"discharged_at": (NOW - timedelta(hours=1)).isoformat()}
    ),
}


def _operations(app_doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in app_doc["paths"].items()
        for method in item
        if method in {"get", "put", "post", "delete", "patch", "head", "options"}
    }


def _send(world: World, operation: tuple[str, str], caller: str) -> Any:
    method, _template = operation
    call = CALLS[operation](world, caller)
    headers = world.fresh_headers(caller) if call.fresh_credentials else dict(world.headers[caller])
    if caller != ANONYMOUS:
        headers["X-Chaincut-Purpose"] = PURPOSE
    headers.update(call.headers)
    return world.client.request(
        method, call.path, params=call.params or None, json=call.body, headers=headers
    )


# --- the tests ---------------------------------------------------------------------------------


def test_the_matrix_lists_exactly_the_operations_of_the_openapi_document(world: World) -> None:
    documented = _operations(world.client.app.openapi())  # type: ignore[attr-defined]
    assert documented - MATRIX.keys() == set(), "operations missing from the hand-written matrix"
    assert MATRIX.keys() - documented == set(), "operations in the matrix that the API no longer has"
    assert CALLS.keys() == MATRIX.keys(), "every operation needs a hand-written request"


def test_every_operation_declares_its_permission_in_the_openapi_document(world: World) -> None:
    doc = world.client.app.openapi()  # type: ignore[attr-defined]
    known = {p.value for p in Permission}
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            declared = operation.get("x-chaincut-permission")
            assert declared in known, f"{method.upper()} {path} declares no x-chaincut-permission"
            if operation.get("x-chaincut-purpose"):
                assert declared not in {Permission.PUBLIC, Permission.SIGNED_IN}


def test_every_caller_gets_what_the_matrix_says(world: World) -> None:
    """Each (operation, caller): allowed -> past authorization with a 2xx; denied -> 401/403."""
    wrong: list[str] = []
    # Signing out and the account changes go last, so the callers' own credentials stay valid.
    for operation in sorted(MATRIX):
        for caller in CALLERS:
            response = _send(world, operation, caller)
            status = response.status_code
            where = f"{operation[0]} {operation[1]} as {caller}: {status} {response.text[:200]}"
            if caller in MATRIX[operation]:
                if not 200 <= status < 300:
                    wrong.append(f"expected 2xx: {where}")
            elif caller == ANONYMOUS:
                if status != 401:
                    wrong.append(f"expected 401: {where}")
            elif status != 403 or response.json().get("code") != "forbidden":
                wrong.append(f"expected 403 forbidden: {where}")
    assert not wrong, "\n".join(wrong)


def test_anonymous_callers_reach_nothing_but_health_and_sign_in(world: World) -> None:
    for operation in sorted(MATRIX):
        response = _send(world, operation, ANONYMOUS)
        if operation in PUBLIC_OPERATIONS:
            assert response.status_code < 300, (operation, response.text)
        else:
            assert response.status_code == 401, (operation, response.text)
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert response.json()["code"] != "not_found"


def test_a_route_without_requires_stops_the_app_from_starting(
    embedded_services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    unguarded = APIRouter()

    @unguarded.get("/leak")
    def leak() -> dict[str, str]:
        return {"everyone": "sees this"}

    monkeypatch.setattr(app_module.staff, "router", _with(app_module.staff.router, unguarded))
    with pytest.raises(RuntimeError, match=r"GET /leak must declare exactly one permission"):
        create_app(embedded_services, schedule_maintenance=False)


def test_a_route_with_two_permissions_stops_the_app_from_starting(
    embedded_services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    doubled = APIRouter(prefix="/nested")

    @doubled.get("/twice", dependencies=[requires(Permission.AUDIT_READ)])
    def twice(_caller: Annotated[Caller, requires(Permission.STATUS_READ)]) -> dict[str, str]:
        return {}

    outer = APIRouter()
    outer.include_router(doubled)  # nested includes are checked too
    monkeypatch.setattr(app_module.staff, "router", _with(app_module.staff.router, outer))
    with pytest.raises(RuntimeError, match=r"GET /nested/twice must declare exactly one permission"):
        create_app(embedded_services, schedule_maintenance=False)


def _with(original: APIRouter, extra: APIRouter) -> APIRouter:
    combined = APIRouter()
    combined.include_router(original)
    combined.include_router(extra)
    return combined


# --- record-level rules ----------------------------------------------------------------------


def test_a_tracer_on_an_unassigned_case_gets_the_same_404_as_a_missing_case(world: World) -> None:
    tracer = world.headers[TRACER]
    for suffix in ("", "/timeline", "/contacts"):
        unassigned = world.client.get(f"/cases/C9{suffix}", headers=tracer)
        missing = world.client.get(f"/cases/NO-SUCH{suffix}", headers=tracer)
        assert unassigned.status_code == missing.status_code == 404, (suffix, unassigned.text)
        assert unassigned.json() == missing.json()
    # ...and the supervisor sees it.
    assert world.client.get("/cases/C9", headers=world.headers[SUPERVISOR]).status_code == 200
    # A person linked to no assigned case is as missing as one never registered.
    unlinked = world.client.get("/people/P9", headers=tracer)
    nobody = world.client.get("/people/NOBODY", headers=tracer)
    assert unlinked.status_code == nobody.status_code == 404
    assert unlinked.json() == nobody.json()
    # The refusal is audited as denied.
    assert world.services.audit.verify().intact


def test_a_tracer_lists_only_assigned_cases(world: World) -> None:
    listed = _ok(world.client.get("/cases", headers=world.headers[TRACER]))
    assert [c["ref"] for c in listed["data"]] == ["C1"]
    everything = _ok(world.client.get("/cases", headers=world.headers[SUPERVISOR]))
    assert {c["ref"] for c in everything["data"]} == {"C1", "C9"}


def test_an_epidemiologist_reads_cases_but_no_whereabouts(world: World) -> None:
    epi = world.headers[EPIDEMIOLOGIST]
    assert world.client.get("/cases/C9", headers=epi).status_code == 200
    assert world.client.get("/cases/C9/timeline", headers=epi).status_code == 403


def test_a_resident_sees_only_themselves(world: World) -> None:
    resident = world.headers[RESIDENT]
    visits = {"visits": [{"token": world.venue_qr, "entered_at": (NOW - timedelta(days=1)).isoformat()}]}
    own = world.client.post("/people/RES1/visit-history", json=visits, headers=resident)
    assert own.status_code == 200, own.text
    other = world.client.post("/people/P2/visit-history", json=visits, headers=resident)
    missing = world.client.post("/people/NOBODY/visit-history", json=visits, headers=resident)
    assert other.status_code == missing.status_code == 404
    assert other.json() == missing.json()
    # Checking someone else in is refused as if they did not exist.
    in_other = world.client.post(
        "/checkins", json={"client_id": "x1", "token": world.venue_qr, "person": "P2"}, headers=resident
    )
    assert in_other.status_code == 404, in_other.text


def test_a_venue_device_sees_only_its_own_venue(world: World) -> None:
    device = world.headers[VENUE_DEVICE]
    assert world.client.get("/venues/V1", headers=device).status_code == 200
    other = world.client.get("/venues/V2", headers=device)
    missing = world.client.get("/venues/NO-SUCH", headers=device)
    assert other.status_code == missing.status_code == 404
    assert other.json() == missing.json()
    listed = _ok(world.client.get("/venues", headers=device))
    assert [v["ref"] for v in listed["data"]] == ["V1"]


def test_staff_purpose_is_required_on_purpose_bound_routes(world: World) -> None:
    no_purpose = {"Authorization": world.headers[TRACER]["Authorization"]}
    response = world.client.get("/cases/C1/timeline", headers=no_purpose)
    assert response.status_code == 403
    assert response.json()["code"] == "purpose_required"
    short = world.client.get("/cases/C1/timeline", headers=no_purpose | {"X-Chaincut-Purpose": " a  b "})
    assert short.json()["code"] == "purpose_required"


def test_exports_need_an_approval_of_ones_own(world: World) -> None:
    tracer = world.headers[TRACER]
    none = world.client.get("/cases/C1/contacts.csv", headers=tracer)
    assert (none.status_code, none.json()["code"]) == (403, "approval_required")
    someone_elses = world.client.get(
        "/cases/C1/contacts.csv", params={"approval": world.approvals[SUPERVISOR]}, headers=tracer
    )
    assert (someone_elses.status_code, someone_elses.json()["code"]) == (403, "approval_required")


def test_only_a_supervisor_releases_early(world: World) -> None:
    release = {"status": "released", "note": "tested negative twice"}
    tracer = world.client.post(
        f"/orders/{world.orders[TRACER]}/status", json=release, headers=world.headers[TRACER]
    )
    assert (tracer.status_code, tracer.json()["code"]) == (403, "supervisor_required")
