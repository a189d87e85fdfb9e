"""No personal data in logs or errors: a canary person driven through every path that takes it.

A person is registered with the canary details of ``support.canaries`` (a name in
English and Chinese, a phone, an address, an identity card number, an e-mail in the
address line of a second person) and sent through the API, the services, bulk
imports, cases, tracing, orders and exports, including invalid input that carries
those values. Each test logs at DEBUG and checks its own records and every error
message it met; the session's log scan (``support.log_scan``) checks the whole run's
logs again at the end, so a leak anywhere here fails the run.

The API is called without credentials; if it answers 401 (sign-in, issue #4), the
same step goes through the service layer instead.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from typer.testing import CliRunner

from chaincut.api import create_app
from chaincut.bootstrap import Services
from chaincut.cli import app as cli_app
from chaincut.errors import ChaincutError, ImportRejected
from chaincut.people import PersonDraft
from chaincut.tracing.cases import CaseDraft
from chaincut.tracing.exports import contact_rows, write_contacts_csv, write_contacts_xlsx
from chaincut.venues.registry import VenueDraft
from chaincut.whereabouts.checkin import CheckInRequest
from chaincut.whereabouts.importing import ImportOptions, import_people
from chaincut.whereabouts.uploads import UploadedVisit, upload_history
from support import canaries
from support.log_scan import find_leaks

REF = "P-CANARY-1"
CONTACT = "P-CANARY-2"
STAFF = {"X-Chaincut-Staff": "tracer-7"}
CANARY_PERSON = {
    "ref": REF,
    "id_document": canaries.ID_DOCUMENT,
    "name": canaries.NAME,
    "phone": canaries.PHONE,
    "address": canaries.ADDRESS,
    "household": "HH-CANARY",
}
CONTACT_PERSON = {
    "ref": CONTACT,
    "name": canaries.CHINESE_NAME,
    "phone": "+852 5000 0002",
    "address": f"c/o {canaries.EMAIL}",
}


def leaked(text: str) -> list[str]:
    """The canary labels found in ``text``."""
    folded = text.casefold()
    return sorted({label for label, needle in canaries.needles() if needle in folded})


class Errors:
    """Collects every error message a test met, to check that none carries personal data."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def expect(self, kind: type[ChaincutError], call: Callable[[], object]) -> ChaincutError:
        with pytest.raises(kind) as caught:
            call()
        exc = caught.value
        self.messages += [str(exc), exc.message, repr(exc)]
        for listed in ("errors", "problems"):
            self.messages += [str(e) for e in getattr(exc, listed, [])]
        return exc

    def response(self, response: Response, status: int) -> dict[str, Any]:
        assert response.status_code == status, response.text
        self.messages.append(response.text)
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
def errors(caplog: pytest.LogCaptureFixture) -> Iterator[Errors]:
    caplog.set_level(logging.DEBUG)
    found = Errors()
    yield found
    assert leaked(caplog.text) == [], "personal data in this test's logs"
    for message in found.messages:
        assert leaked(message) == [], f"personal data in an error: {message}"


@pytest.fixture
def client(embedded_services: Services) -> Iterator[TestClient]:
    api = create_app(embedded_services, schedule_maintenance=False)
    with TestClient(api, raise_server_exceptions=False) as c:
        yield c


def post(client: TestClient, url: str, body: Any, fallback: Callable[[], object]) -> Response | None:
    """POST to the API; None after running ``fallback`` when the API wants credentials."""
    response = client.post(url, json=body, headers=STAFF)
    if response.status_code == 401:
        fallback()
        return None
    return response


def register(client: TestClient, services: Services, person: dict[str, str]) -> None:
    response = post(client, "/people", person, lambda: services.people.register(PersonDraft(**person)))
    assert response is None or response.status_code == 201, response.text


def test_registration_and_refused_registrations(
    client: TestClient, embedded_services: Services, errors: Errors
) -> None:
    services = embedded_services
    register(client, services, CANARY_PERSON)

    duplicate = post(client, "/people", CANARY_PERSON, lambda: None)
    if duplicate is not None:
        assert errors.response(duplicate, 409)["field"] == "ref"
    errors.expect(ChaincutError, lambda: services.people.register(PersonDraft(**CANARY_PERSON)))

    bad: list[tuple[str, dict[str, str]]] = [
        ("phone", {"phone": f"{canaries.PHONE} ext"}),  # past the API's checks, refused by the rules
        ("phone", {"phone": canaries.NAME}),
        ("id_document", {"id_document": canaries.CHINESE_NAME}),
        ("id_document", {"id_document": f"{canaries.ID_DOCUMENT}!"}),
        ("name", {"name": canaries.NAME * 11}),  # too long for the API
        ("address", {"address": canaries.ADDRESS * 9}),
        ("ref", {"ref": canaries.NAME}),
        ("household", {"household": canaries.ADDRESS}),
    ]
    for n, (field, change) in enumerate(bad):
        body = {**CANARY_PERSON, "ref": f"P-BAD-{n}", **change}
        response = post(client, "/people", body, lambda: None)
        if response is not None:
            refused = errors.response(response, 422)
            assert refused["field"] == field, refused
        errors.expect(ChaincutError, lambda body=body: services.people.register(PersonDraft(**body)))

    person = services.people.get(REF)
    assert person.details.name == canaries.NAME
    assert [p.ref for p in services.people.find_by_id_document("z683371 (4)")] == [REF]
    assert leaked(repr(person)) == []
    assert leaked(repr(PersonDraft(**CANARY_PERSON))) == []
    shown = client.get(f"/people/{REF}")
    if shown.status_code != 401:
        assert shown.status_code == 200, shown.text
        assert shown.json()["name"] == canaries.NAME


def _people_file(path: Path) -> Path:
    rows = [
        "ref,name,phone,address,id_document,household",
        f'{REF},{canaries.NAME},{canaries.PHONE},"{canaries.ADDRESS}",{canaries.ID_DOCUMENT},HH-CANARY',
        f"P-C2,{canaries.CHINESE_NAME},{canaries.PHONE} x,,,",  # bad phone
        f"P-C3,{canaries.NAME},,,{canaries.CHINESE_NAME},",  # bad id document
        f"{REF},{canaries.NAME},,,,",  # twice in the file
        f'P-C4,"{canaries.NAME},{canaries.PHONE}',  # unbalanced quotes
        f"P-C5,{canaries.NAME},{canaries.PHONE},{canaries.EMAIL},{canaries.ID_DOCUMENT}",  # a field short
        f"{canaries.NAME},{canaries.NAME},,,,",  # a name where the ref belongs
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_people_imports_with_bad_rows(tmp_path: Path, embedded_services: Services, errors: Errors) -> None:
    services = embedded_services
    people = _people_file(tmp_path / "people.csv")

    def run(options: ImportOptions) -> object:
        return import_people(services.store, services.hasher, services.clock, people, options)

    refused = errors.expect(ImportRejected, lambda: run(ImportOptions()))
    assert isinstance(refused, ImportRejected)
    assert refused.total_errors == 6
    assert services.store.counts().people == 0

    rejects = tmp_path / "rejects.csv"
    report = run(ImportOptions(on_error="skip", rejects=rejects))
    assert services.store.counts().people == 1
    # The rejects file gives the data owner their rows back, as written; it is not a log.
    assert "name" in leaked(rejects.read_text(encoding="utf-8"))
    errors.messages.append(repr(report))

    jsonl = tmp_path / "people.jsonl"
    good = {"ref": "P-J1", "name": canaries.NAME, "phone": canaries.NAME, "id_document": canaries.ID_DOCUMENT}
    jsonl.write_text(json.dumps(good) + "\n" + f"{{not json: {canaries.ADDRESS}}}\n", encoding="utf-8")
    errors.expect(
        ImportRejected,
        lambda: import_people(services.store, services.hasher, services.clock, jsonl, ImportOptions()),
    )


def test_the_import_command_says_nothing_personal(tmp_path: Path, log_dir: Path, errors: Errors) -> None:
    people = _people_file(tmp_path / "people.csv")
    env = {"CHAINCUT_DATA_DIR": str(tmp_path / "data"), "CHAINCUT_ENV": "development"}
    runner = CliRunner()
    outputs = []
    for args in (["db", "upgrade"], ["import", "people", str(people)]):
        result = runner.invoke(cli_app, args, env=env)
        outputs.append(f"$ chaincut {' '.join(args)}\n{result.output}")
    # What an operator's terminal (or a CI log) shows is a log too: the session scans it.
    (log_dir / "cli-import-people.log").write_text("\n".join(outputs), encoding="utf-8")
    assert "line 3" in outputs[-1]
    errors.messages += outputs


def _outbreak(client: TestClient, services: Services) -> str:
    """The canary person and a contact at one restaurant; the venue's QR token."""
    register(client, services, CANARY_PERSON)
    register(client, services, CONTACT_PERSON)
    venue = {"ref": "V-CANARY", "venue_type": "restaurant", "name_en": "Canary Cafe", "name_zh": "金絲雀"}
    created = post(
        client,
        "/venues",
        venue,
        lambda: services.venues.register(VenueDraft(**venue)),
    )
    assert created is None or created.status_code == 201, created.text
    return services.venues.token(services.venues.get("V-CANARY"))


def test_cases_tracing_orders_and_exports(
    client: TestClient, embedded_services: Services, errors: Errors, tmp_path: Path
) -> None:
    services = embedded_services
    token = _outbreak(client, services)
    now = services.clock.now()
    at = now - timedelta(days=1)
    for person, client_id in ((REF, "c-1"), (CONTACT, "c-2")):
        request = CheckInRequest(person, client_id, token=token, at=at)
        response = post(
            client,
            "/checkins",
            {"client_id": client_id, "person": person, "token": token, "at": at.isoformat()},
            lambda request=request: services.checkins.check_in(request),
        )
        assert response is None or response.status_code == 201, response.text

    # A visit-history upload with bad records that carry the canary values.
    records = [
        UploadedVisit(entered_at=at, token=canaries.NAME),
        UploadedVisit(entered_at=at, plate=canaries.PHONE),
        UploadedVisit(entered_at=at + timedelta(days=9), token=token, client_id=canaries.EMAIL),
    ]
    errors.expect(
        ChaincutError,
        lambda: upload_history(
            services.store, services.policy, services.clock, services.verifier, REF, records
        ),
    )
    upload = client.post(
        f"/people/{REF}/visit-history",
        json={"visits": [{"token": canaries.ADDRESS, "entered_at": at.isoformat()}]},
        headers=STAFF,
    )
    if upload.status_code != 401:
        errors.response(upload, 422)
    errors.expect(
        ChaincutError,
        lambda: services.checkins.check_in(CheckInRequest(REF, "c-3", plate=canaries.ID_DOCUMENT)),
    )

    onset = (now - timedelta(days=2)).date()
    case = {"ref": "C-CANARY", "person": REF, "classification": "local", "onset_on": onset.isoformat()}
    draft = CaseDraft(ref="C-CANARY", person=REF, classification="local", onset_on=onset)
    registered = post(client, "/cases", case, lambda: services.cases.register(draft, "tracer-7"))
    assert registered is None or registered.status_code == 201, registered.text
    for bad in ({"person": canaries.NAME}, {"classification": canaries.ADDRESS}, {"ref": canaries.PHONE}):
        refused = post(client, "/cases", {**case, **bad}, lambda: None)
        if refused is not None:
            errors.response(refused, refused.status_code)
            assert refused.status_code in (404, 409, 422), refused.text
    errors.expect(
        ChaincutError,
        lambda: services.cases.register(
            CaseDraft(ref="C-2", person=canaries.NAME, classification="local", onset_on=onset), "tracer-7"
        ),
    )
    errors.expect(
        ChaincutError,
        lambda: services.cases.register(
            CaseDraft(ref="C-3", person=REF, classification="local", onset_on=date(2099, 1, 1)),
            canaries.NAME,
        ),
    )

    trace = services.tracing.trace_case("C-CANARY")
    assert len(trace.contacts) == 1
    names = {c.person_id: canaries.CHINESE_NAME for c in trace.contacts}
    for write, suffix in ((write_contacts_csv, "csv"), (write_contacts_xlsx, "xlsx")):
        rows = contact_rows(
            trace.contacts,
            case_ref="C-CANARY",
            policy_version=trace.policy_version,
            person_ref=trace.refs(c.person_id for c in trace.contacts),
            names=names,
        )
        # The tracer's list names the contact; it is a file for the tracer, not a log.
        assert write(rows, tmp_path / f"contacts.{suffix}", services.settings.zone) == 1
    assert "chinese_name" in leaked((tmp_path / "contacts.csv").read_text(encoding="utf-8-sig"))
    for url in (
        "/cases/C-CANARY",
        "/cases/C-CANARY/contacts",
        "/cases/C-CANARY/timeline",
        "/cases/C-CANARY/contacts.csv",
        "/cases/C-CANARY/contacts.xlsx",
        f"/people/{CONTACT}/contacts?from={(at - timedelta(hours=1)).isoformat()}&to={now.isoformat()}",
    ):
        shown = client.get(url.replace("+", "%2B"), headers=STAFF)
        assert shown.status_code in (200, 401), (url, shown.text)
    orders = client.post("/cases/C-CANARY/orders", headers=STAFF)
    if orders.status_code == 401:
        services.orders.issue_for_contacts(trace.contacts, trace.case_id, "tracer-7")
    else:
        assert orders.status_code == 201, orders.text
    note = {"on_date": onset.isoformat(), "symptoms": ["fever"], "note": f"called {canaries.PHONE}"}
    followed = client.post(f"/people/{CONTACT}/follow-ups", json=note, headers=STAFF)
    assert followed.status_code in (201, 401, 422), followed.text


def test_the_whole_run_log_so_far_is_clean(log_dir: Path) -> None:
    """The session scan runs at the end; this says early which file and line leaked."""
    for handler in logging.getLogger().handlers:
        handler.flush()
    leaks = find_leaks(sorted(p for p in log_dir.rglob("*") if p.is_file()))
    assert leaks == [], "\n".join(leak.render() for leak in leaks)
