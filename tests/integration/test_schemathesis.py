"""Schemathesis against the API: no request, however odd, makes the server fail (5xx).

Every operation of the OpenAPI document is fuzzed, with data that fits the schema
and data that does not, three times over: as a supervisor (who may see personal
data, with a stated purpose), as an administrator (who may not), and without
credentials. A handful of records exist (people, a venue, a case, a staff account),
and each operation taking one of their refs is also fuzzed with its path pointing at
it, so that lookups and updates reach past "no such case". Bounded and derandomized:
a few examples per operation and mode, the same on every run.

Schemathesis' own pytest integration (``schemathesis.pytest.from_fixture``) does not
run under pytest 9 (it sets ``Function._nodeid``, which pytest 9 no longer has), so
each operation's strategy (``APIOperation.as_strategy``) drives Hypothesis here
directly, and every operation's failures are gathered and reported together.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.strategies import SearchStrategy
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from chaincut.api import create_app
from chaincut.bootstrap import Services
from chaincut.domain import Case, CaseClassification, CaseStatus
from chaincut.domain.access import Principal, Role
from chaincut.people import PersonDraft
from chaincut.venues.registry import VenueDraft
from support.auth import staff_headers

MAX_EXAMPLES = 15  # per operation and generation mode
PURPOSE = "schemathesis: fuzzing the API"
PUBLIC = frozenset(
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
FUZZ = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
)

Credentials = Callable[[], dict[str, str]]


def _seed(services: Services) -> None:
    for ref in ("P1", "P2"):
        services.people.register(PersonDraft(ref=ref, name=f"Person {ref}"))
    services.venues.register(VenueDraft("restaurant", "Tai Hing", "太興", ref="V1"))
    staff_headers(services, Role.TRACER, username="bystander")  # an account the staff routes act on
    services.code_keys.init(Principal.system("schemathesis"))  # code-signing keys to list, rotate, revoke
    with services.store.write() as uow:
        person_id = uow.people.id_for_ref("P1")
        assert person_id is not None
        uow.cases.add_many(
            [
                Case(
                    ref="C1",
                    person_id=person_id,
                    status=CaseStatus.CONFIRMED,
                    classification=CaseClassification.LOCAL,
                    onset_on=date(2026, 11, 17),
                )
            ],
            created_at=0,
        )


def _seeded_path(path: str) -> dict[str, str]:
    """Path parameters naming the seeded records, for the operations that take them."""
    given: dict[str, str] = {}
    for prefix, ref in (("/cases/", "C1"), ("/people/", "P1"), ("/venues/", "V1")):
        if path.startswith(prefix + "{ref}"):
            given["ref"] = ref
    if "{username}" in path:
        given["username"] = "bystander"
    return given


def _fuzz_one(
    strategy: SearchStrategy[schemathesis.Case],
    key: tuple[str, str],
    role: Role | None,
    shared: dict[str, str],
    credentials: Credentials,
) -> None:
    @FUZZ
    @given(case=strategy)
    def run(case: schemathesis.Case) -> None:
        # Signing out ends the token it carries: it gets one of its own.
        headers = credentials() if key == ("POST", "/auth/logout") else dict(shared)
        given_headers = {k.lower() for k in (case.headers or {})}
        if headers and "x-chaincut-purpose" not in given_headers:
            headers["X-Chaincut-Purpose"] = PURPOSE  # a generated purpose is fuzzed as it is
        response = case.call_and_validate(headers=headers, checks=[not_a_server_error])
        if role is None and key not in PUBLIC:
            # Anonymous: refused before anything is looked up (400/422 only for a malformed request;
            # 429 where a rate limit counts requests by address before it says 401).
            assert response.status_code in {400, 401, 422, 429}, (key, response.status_code, response.text)

    run()


def _fuzz(services: Services, role: Role | None) -> list[str]:
    """Every operation, positive and negative data, as ``role`` (None: no credentials)."""
    _seed(services)
    app = create_app(services, schedule_maintenance=False)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)

    def credentials() -> dict[str, str]:
        if role is None:
            return {}
        return staff_headers(services, role, username=role.value, purpose=None)

    shared = credentials()
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 40, "the OpenAPI document lost its operations"
    for operation in operations:
        key = (operation.method.upper(), operation.path)
        strategies = {mode.value: operation.as_strategy(generation_mode=mode) for mode in GenerationMode}
        seeded = _seeded_path(operation.path)
        if seeded:  # random refs find nothing: also ask about the records that exist
            strategies["positive, seeded records"] = operation.as_strategy(path_parameters=seeded)
        for name, strategy in strategies.items():
            try:
                _fuzz_one(strategy, key, role, shared, credentials)
            except Exception as exc:  # gather every operation's failure, then report them all
                failures.append(f"{key[0]} {key[1]} ({name}): {exc!s}"[:3000])
    return failures


@pytest.mark.slow
@pytest.mark.parametrize("role", [Role.SUPERVISOR, Role.ADMINISTRATOR, None], ids=str)
def test_no_operation_answers_with_a_server_error(embedded_services: Services, role: Role | None) -> None:
    failures = _fuzz(embedded_services, role)
    assert not failures, "\n\n".join(failures)


# Found by fuzzing: dates at the ends of the calendar overflowed in local-time arithmetic (500s), and
# a case with onset_on 0001-01-01 was stored before it failed, so every later GET /cases and
# GET /risky-venues answered 500 for everyone (residents' apps included).
CALENDAR_ENDS = [
    ("PATCH", "/cases/C1/isolation", {"isolated_at": "0001-01-01T00:00:00+14:00"}),
    ("PATCH", "/cases/C1/isolation", {"isolated_at": "9999-12-31T23:59:59-14:00"}),
    ("POST", "/cases", {"ref": "C2", "person": "P2", "classification": "local", "onset_on": "0001-01-01"}),
    ("POST", "/cases", {"ref": "C3", "person": "P2", "classification": "local", "specimen_on": "0001-01-03"}),
    (
        "POST",
        "/cases",
        {
            "ref": "C4",
            "person": "P2",
            "classification": "local",
            "onset_on": "2026-11-18",
            "isolated_at": "0001-01-01T00:00:00+14:00",
        },
    ),
    ("POST", "/orders", {"person": "P2", "tier": "close", "last_exposure_at": "0001-01-01T00:00:00+14:00"}),
]


@pytest.mark.parametrize(("method", "path", "body"), CALENDAR_ENDS, ids=lambda v: str(v)[:40])
def test_dates_at_the_ends_of_the_calendar_are_refused_not_stored(
    embedded_services: Services, method: str, path: str, body: dict[str, str]
) -> None:
    _seed(embedded_services)
    headers = staff_headers(embedded_services, Role.SUPERVISOR, username="supervisor", purpose=PURPOSE)
    app = create_app(embedded_services, schedule_maintenance=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.request(method, path, json=body, headers=headers)
        assert response.status_code == 422, response.text
        assert client.get("/cases", headers=headers).status_code == 200
        window = {"from": "2026-11-01T00:00:00Z", "to": "2026-11-20T00:00:00Z"}
        assert client.get("/risky-venues", params=window, headers=headers).status_code == 200
