"""``GET /analytics/epicurve``, ``/analytics/rt`` and ``/analytics/serial-interval``, both backends.

A small store seeded by hand (``CASES`` below): each route's answer is checked against
counts taken from that table in plain Python, R_t's posterior against a restatement with
``scipy.stats`` (Cori et al. 2013), the serial interval against ``statistics``; then against
the command line's ``--json`` on the same store (the one ``as_dict`` both print). Who may
read (epidemiologists and supervisors, with a purpose; not tracers), the audit entry each read
writes, and bad query parameters (422 naming the parameter) are checked as well.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from scipy import integrate, stats
from typer.testing import CliRunner

from chaincut.api import create_app
from chaincut.bootstrap import Services
from chaincut.cli import app as cli_app
from chaincut.domain import Case, CaseClassification, CaseStatus, PersonalDetails
from chaincut.domain.access import Principal, Role
from chaincut.domain.ids import new_public_id
from chaincut.settings import Settings
from chaincut.store import NewPersonRow
from support.auth import assign, staff_headers
from support.settings import cli_env

DAY0 = date(2026, 10, 20)  # a month before the fixed clock's day (2026-11-20)
PURPOSE = "weekly outbreak review"
LO, UN, LI, IM = (
    CaseClassification.LOCAL,
    CaseClassification.UNLINKED,
    CaseClassification.LINKED,
    CaseClassification.IMPORTED,
)
C, P, S = CaseStatus.CONFIRMED, CaseStatus.PROBABLE, CaseStatus.SUSPECTED
DISTRICTS = {"h-shatin": "Sha Tin", "h-kwuntong": "Kwun Tong", "h-nowhere": None}


def _row(
    ref: str,
    onset: int | None,
    report: int | None,
    cls: CaseClassification,
    status: CaseStatus = C,
    household: str | None = None,
    infector: str | None = None,
) -> tuple[str, int | None, int | None, CaseClassification, CaseStatus, str | None, str | None]:
    return ref, onset, report, cls, status, household, infector


# Local cases a day by onset (days after DAY0), enough for R_t's posterior CV to fall below 0.3,
# and the imported cases among them; every case is reported two days after its onset.
LOCAL = [2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9]
IMPORTED = [1, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0]
_HOUSEHOLDS = ("h-shatin", "h-kwuntong", "h-nowhere", None)
# (ref, onset day, report day, classification, status, household, infector's ref)
CASES = [
    _row(f"L{d}-{k}", d, d + 2, (LO, UN)[k % 2], P if k == 3 else C, _HOUSEHOLDS[(d + k) % 4])
    for d, n in enumerate(LOCAL)
    for k in range(n)
] + [_row(f"I{d}", d, d + 2, IM, C, "h-shatin") for d, n in enumerate(IMPORTED) for _ in range(n)]
# Confirmed links (a case's infector is its linked case): serial intervals 3, 5, -1 and 4 days;
# one infectee has no onset and one link's infector has none, so two links are left out.
CASES += [
    _row("X1", 1, 3, LO, C, "h-shatin"),
    _row("X2", 4, 6, LI, C, "h-shatin", infector="X1"),  # 3
    _row("X3", 6, 8, LI, C, "h-kwuntong", infector="X1"),  # 5
    _row("X4", 3, 5, LI, C, None, infector="X2"),  # -1: pre-symptomatic
    _row("X5", 10, 12, LI, C, None, infector="X3"),  # 4
    _row("X6", None, 9, LI, C, "h-kwuntong", infector="X3"),  # no onset: left out
    _row("X7", 12, 14, LI, C, None, infector="X6"),  # its infector has no onset: left out
    _row("S1", 5, 7, UN, S, "h-shatin"),  # suspected: never on the curve
    _row("N1", None, 4, UN, C, "h-nowhere"),  # no onset: counted apart
]
INTERVALS = [3, 5, -1, 4]


def _day(offset: int | None) -> date | None:
    return None if offset is None else DAY0 + timedelta(days=offset)


def _iso(offset: int) -> str:
    return (DAY0 + timedelta(days=offset)).isoformat()


@pytest.fixture
def stocked(services: Services) -> Services:
    """The store holding ``CASES``: infectors first, then the cases linked to them."""
    with services.store.write() as uow:
        households = uow.households.ensure(
            DISTRICTS, {ref: name for ref, name in DISTRICTS.items() if name is not None}
        )
        uow.people.add_many(
            [
                NewPersonRow(
                    f"p-{ref}", new_public_id(), PersonalDetails(), None, households.get(h) if h else None, 0
                )
                for ref, *_, h, _infector in CASES
            ]
        )
        ids = uow.people.ids_for_refs([f"p-{r[0]}" for r in CASES])
        pending = list(CASES)
        while pending:
            known = {r[0] for r in CASES} - {r[0] for r in pending}
            ready = [r for r in pending if r[6] is None or r[6] in known]
            links = {}
            for r in ready:
                if r[6] is not None:
                    infector = uow.cases.get_by_ref(r[6])
                    assert infector is not None
                    links[r[0]] = infector.id
            uow.cases.add_many(
                [
                    Case(
                        ref=ref,
                        person_id=ids[f"p-{ref}"],
                        status=status,
                        classification=cls,
                        reported_on=_day(report),
                        onset_on=_day(onset),
                        specimen_on=_day(report) if onset is None else None,
                        linked_case_id=links.get(ref),
                    )
                    for ref, onset, report, cls, status, _h, _i in ready
                ],
                0,
            )
            pending = [r for r in pending if r not in ready]
    return services


@pytest.fixture
def client(stocked: Services) -> Iterator[TestClient]:
    with TestClient(create_app(stocked, schedule_maintenance=False), raise_server_exceptions=False) as c:
        yield c


def epidemiologist(services: Services, *, purpose: str | None = PURPOSE) -> dict[str, str]:
    return staff_headers(services, Role.EPIDEMIOLOGIST, username="epi", purpose=purpose)


def strict(text: str) -> Any:
    """JSON that holds no NaN or infinity."""

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} in the JSON")

    return json.loads(text, parse_constant=refuse)


def cli_json(settings: Settings, *args: str) -> Any:
    result = CliRunner().invoke(cli_app, ["analytics", *args, "--json"], env=cli_env(settings, "epi-cli"))
    assert result.exit_code == 0, result.output
    return strict(result.stdout)


def analytics_reads(services: Services, actor: str) -> list[Any]:
    """The audit log's analytics reads by ``actor``, oldest first."""
    return [r.event for r in services.audit.by_actor(actor) if r.event.action == "analytics.read"]


# --- the epidemic curve ------------------------------------------------------------------------------


def test_the_epicurve_counts_the_seeded_cases(
    client: TestClient, stocked: Services, settings: Settings
) -> None:
    first, last = DAY0, DAY0 + timedelta(days=13)
    params = {"axis": "onset", "from": first.isoformat(), "to": last.isoformat()}
    response = client.get("/analytics/epicurve", params=params, headers=epidemiologist(stocked))
    assert response.status_code == 200, response.text
    body = strict(response.text)
    counted = [r for r in CASES if r[4] is not S]
    on_day = Counter(r[1] for r in counted if r[1] is not None)
    assert body["days"] == [(first + timedelta(days=i)).isoformat() for i in range(14)]
    assert body["total"] == [on_day[d] for d in range(14)]
    for cls in (LO, UN, LI, IM):
        per_day = Counter(r[1] for r in counted if r[3] is cls and r[1] is not None)
        assert body["by_classification"][cls.value] == [per_day[d] for d in range(14)], cls
    districts = {d["district"]: d["counts"] for d in body["by_district"]}
    for name in ("Sha Tin", "Kwun Tong", None):
        per_day = Counter(
            r[1] for r in counted if r[1] is not None and (DISTRICTS.get(r[5]) if r[5] else None) == name
        )
        assert districts[name] == [per_day[d] for d in range(14)], name
    assert body["no_onset"]["total"] == 2  # X6 and N1
    assert body["suspected_not_counted"] == 1
    assert body["counted"] == len(counted)
    assert body["undated"] == 2 and body["before"] == body["after"] == 0
    # the trailing 7-day mean of the last day, by hand
    assert body["average"][-1] == pytest.approx(sum(on_day[d] for d in range(7, 14)) / 7, abs=1e-6)
    # the same object as the command line's --json on the same store
    assert body == cli_json(settings, "epicurve", "--from", first.isoformat(), "--to", last.isoformat())


def test_the_epicurve_by_report_date_and_its_unlinked_share(client: TestClient, stocked: Services) -> None:
    response = client.get("/analytics/epicurve", params={"axis": "report"}, headers=epidemiologist(stocked))
    assert response.status_code == 200, response.text
    body = strict(response.text)
    counted = [r for r in CASES if r[4] is not S]
    first = min(r[2] for r in counted if r[2] is not None)
    last = max(r[2] for r in counted if r[2] is not None)
    assert (body["from"], body["to"]) == (_iso(first), _iso(last))
    local = Counter(r[2] for r in counted if r[3] in (LO, UN, LI))
    unlinked = Counter(r[2] for r in counted if r[3] is UN)
    days = range(first, last + 1)
    assert body["unlinked_share"]["local"] == [local[d] for d in days]
    assert body["unlinked_share"]["unlinked"] == [unlinked[d] for d in days]
    assert body["unlinked_share"]["share"] == [unlinked[d] / local[d] if local[d] else None for d in days]


# --- R_t -----------------------------------------------------------------------------------------------


def _weight(s: int, mean: float, sd: float) -> float:
    """EpiEstim's discretised serial interval: the offset gamma (mean - 1, sd) under a triangle kernel."""
    shape, scale = ((mean - 1) / sd) ** 2, sd**2 / (mean - 1)

    def f(u: float) -> float:
        return (1 - abs(u - s)) * float(stats.gamma.pdf(u - 1, shape, scale=scale))

    return integrate.quad(f, s - 1, s, epsabs=1e-13)[0] + integrate.quad(f, s, s + 1, epsabs=1e-13)[0]


def test_rt_gives_each_window_s_posterior_or_insufficient_data(
    client: TestClient, stocked: Services, settings: Settings
) -> None:
    response = client.get("/analytics/rt", headers=epidemiologist(stocked))
    assert response.status_code == 200, response.text
    body = strict(response.text)
    rules = stocked.policy.reproduction_number
    counted = [r for r in CASES if r[4] is not S and r[1] is not None]
    n = max(r[1] or 0 for r in counted) + 1
    local = [sum(1 for r in counted if r[1] == d and r[3] is not IM) for d in range(n)]
    imported = [sum(1 for r in counted if r[1] == d and r[3] is IM) for d in range(n)]
    assert body["cases"] == {"local": sum(local), "imported": sum(imported)}
    assert body["left_out"]["no_onset"] == 2 and body["left_out"]["suspected"] == 1
    # Cori et al.: Gamma(a + sum of local I, 1 / (1/b + sum of Lambda)) over the window
    w = [_weight(s, rules.serial_interval_mean_days, rules.serial_interval_sd_days) for s in range(n)]
    lam = [sum(w[s] * (local[t - s] + imported[t - s]) for s in range(1, t + 1)) for t in range(n)]
    a, b = (rules.prior_mean / rules.prior_sd) ** 2, rules.prior_sd**2 / rules.prior_mean
    by_end = {win["end"]: win for win in body["windows"]}
    estimated = 0
    for end in range(rules.window_days, n):
        days = range(end - rules.window_days + 1, end + 1)
        posterior = stats.gamma(
            a + sum(local[d] for d in days), scale=1 / (1 / b + sum(lam[d] for d in days))
        )
        got = by_end[_iso(end)]
        if posterior.std() / posterior.mean() < rules.max_posterior_cv:
            estimated += 1
            assert got["mean"] == pytest.approx(float(posterior.mean()), rel=1e-6)
            assert got["lo"] == pytest.approx(float(posterior.ppf(0.025)), rel=1e-6)
            assert got["hi"] == pytest.approx(float(posterior.ppf(0.975)), rel=1e-6)
        else:
            assert got["status"] == "insufficient data" and "mean" not in got
    assert estimated >= 5
    # the first days have too little history
    assert body["windows"][0]["status"] == "insufficient data"
    assert body == cli_json(settings, "rt")


def test_rt_from_and_to_choose_the_windows(client: TestClient, stocked: Services, settings: Settings) -> None:
    start, end = DAY0 + timedelta(days=8), DAY0 + timedelta(days=11)
    params = {"from": start.isoformat(), "to": end.isoformat()}
    response = client.get("/analytics/rt", params=params, headers=epidemiologist(stocked))
    assert response.status_code == 200, response.text
    body = strict(response.text)
    assert [w["end"] for w in body["windows"]] == [(start + timedelta(days=i)).isoformat() for i in range(4)]
    assert body == cli_json(settings, "rt", "--from", start.isoformat(), "--to", end.isoformat())


# --- the serial interval -------------------------------------------------------------------------------


def test_the_serial_interval_of_the_store_s_links(
    client: TestClient, stocked: Services, settings: Settings
) -> None:
    response = client.get("/analytics/serial-interval", params={"seed": "5"}, headers=epidemiologist(stocked))
    assert response.status_code == 200, response.text
    body = strict(response.text)
    (window,) = body["windows"]
    assert (window["from"], window["to"]) == (_iso(1), _iso(6))
    assert window["n"] == 4
    assert window["mean"] == pytest.approx(statistics.mean(INTERVALS))
    assert window["sd"] == pytest.approx(statistics.stdev(INTERVALS))
    lo, hi = window["ci95"]
    assert min(INTERVALS) <= lo <= window["mean"] <= hi <= max(INTERVALS)
    assert body["left_out"]["count"] == 2
    assert (body["pairs"], body["source"], body["seed"], body["outside_windows"]) == (4, "store", 5, 0)
    assert body == cli_json(settings, "serial-interval", "--seed", "5")


def test_the_serial_interval_by_windows(client: TestClient, stocked: Services, settings: Settings) -> None:
    windows = f"{_iso(0)}:{_iso(2)},{_iso(3)}:{_iso(5)},{_iso(20)}:{_iso(21)}"
    response = client.get(
        "/analytics/serial-interval", params={"windows": windows}, headers=epidemiologist(stocked)
    )
    assert response.status_code == 200, response.text
    body = strict(response.text)
    # infector onsets: X1 on day 1 (intervals 3 and 5), X2 on day 4 (-1), X3 on day 6 (4)
    first, second, empty = body["windows"]
    assert (first["n"], first["mean"]) == (2, pytest.approx(4.0))
    assert (second["n"], second["mean"], second["sd"]) == (1, -1.0, None)
    assert "note" in second
    assert (empty["n"], empty["mean"]) == (0, None)
    assert body["outside_windows"] == 1  # X3's pair: infector onset on day 6
    assert body == cli_json(settings, "serial-interval", "--windows", windows)


# --- who may read, the purpose, the audit log ------------------------------------------------------------


ROUTES = ("/analytics/epicurve", "/analytics/rt", "/analytics/serial-interval")


@pytest.mark.parametrize("path", ROUTES)
def test_a_tracer_is_refused_even_with_an_assigned_case(
    client: TestClient, stocked: Services, path: str
) -> None:
    headers = staff_headers(stocked, Role.TRACER, username="tracer-1", purpose=PURPOSE)
    assign(stocked, "X1", "tracer-1")
    response = client.get(path, headers=headers)
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert "analytics.read" in response.json()["message"]
    (denied,) = [r.event for r in stocked.audit.by_actor("staff:tracer-1") if r.event.outcome == "denied"]
    assert denied.action == "analytics.read"


@pytest.mark.parametrize("path", ROUTES)
def test_without_a_purpose_the_read_is_refused_as_other_purpose_bound_reads_are(
    client: TestClient, stocked: Services, path: str
) -> None:
    bare = epidemiologist(stocked, purpose=None)
    response = client.get(path, headers=bare)
    # the refusal a purpose-bound case read gives (GET /cases/{ref}/timeline for a supervisor)
    supervisor = staff_headers(stocked, Role.SUPERVISOR, username="sup", purpose=None)
    other = client.get("/cases/X1/timeline", headers=supervisor)
    assert (response.status_code, response.json()) == (other.status_code, other.json())
    assert response.status_code == 403 and response.json()["code"] == "purpose_required"
    assert response.json()["field"] == "X-Chaincut-Purpose"
    assert analytics_reads(stocked, "staff:epi") == []


@pytest.mark.parametrize("role", [Role.EPIDEMIOLOGIST, Role.SUPERVISOR])
def test_each_read_writes_one_audit_entry_with_its_parameters(
    client: TestClient, stocked: Services, role: Role
) -> None:
    headers = staff_headers(stocked, role, username=f"reader-{role.value}", purpose=PURPOSE)
    actor = f"staff:reader-{role.value}"
    first, last = DAY0 + timedelta(days=2), DAY0 + timedelta(days=9)
    span = {"from": first.isoformat(), "to": last.isoformat()}
    assert client.get("/analytics/epicurve", params={"axis": "report", **span}, headers=headers).is_success
    assert client.get("/analytics/rt", params=span, headers=headers).is_success
    windows = f"{_iso(0)}:{_iso(5)}"
    si = {"windows": windows, "seed": "3", "resamples": "500"}
    assert client.get("/analytics/serial-interval", params=si, headers=headers).is_success
    epicurve, rt, serial = analytics_reads(stocked, actor)
    for event in (epicurve, rt, serial):
        assert (event.purpose, event.outcome, event.roles) == (PURPOSE, "ok", role.value)
        assert event.subject_person_id is None  # aggregates: no one's record
    assert (epicurve.resource, epicurve.record) == ("analytics.epicurve", f"report:{first}..{last}")
    assert epicurve.details == {"axis": "report", "from": str(first), "to": str(last), "days": 8}
    assert (rt.resource, rt.record) == ("analytics.rt", f"{first}..{last}")
    assert rt.details == {
        "from": str(first),
        "to": str(last),
        "windows": 8,
        "policy_version": stocked.policy.version,
        "serial_interval": "policy",
    }
    assert (serial.resource, serial.record) == ("analytics.serial_interval", "linked cases")
    assert serial.details == {
        "windows": windows,
        "seed": 3,
        "resamples": 500,
        "pairs": 4,
        "left_out_no_onset": 2,
    }


# --- bad query parameters --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "field", "expected"),
    [
        ("/analytics/epicurve", {"axis": "symptoms"}, "query.axis", "'onset' or 'report'"),
        ("/analytics/epicurve", {"from": "20/10/2026"}, "query.from", "date"),
        ("/analytics/epicurve", {"from": "2026-11-05", "to": "2026-11-01"}, "to", "before it begins"),
        ("/analytics/epicurve", {"from": "1990-01-01", "to": "2026-11-01"}, "from", "at most 3660"),
        ("/analytics/epicurve", {"from": "0001-01-01"}, "from", "before 1900-01-01"),
        ("/analytics/rt", {"to": "2026-02-30"}, "query.to", "date"),
        (
            "/analytics/rt",
            {"from": "2026-11-05", "to": "2026-11-01"},
            "from",
            "expected from on or before to",
        ),
        ("/analytics/rt", {"to": "2099-01-01"}, "to", "at most 3660"),
        ("/analytics/serial-interval", {"windows": "2026-10-20"}, "windows", "FROM:TO ranges"),
        (
            "/analytics/serial-interval",
            {"windows": "2026-10-25:2026-10-20"},
            "windows",
            "FROM on or before TO",
        ),
        (
            "/analytics/serial-interval",
            {"windows": "2026-02-30:2026-03-01"},
            "windows",
            "real calendar dates",
        ),
        ("/analytics/serial-interval", {"resamples": "10"}, "query.resamples", "100"),
        ("/analytics/serial-interval", {"seed": "-1"}, "query.seed", "0"),
    ],
)
def test_bad_parameters_are_refused_naming_the_parameter(
    client: TestClient, stocked: Services, path: str, params: dict[str, str], field: str, expected: str
) -> None:
    response = client.get(path, params=params, headers=epidemiologist(stocked))
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["field"] == field
    assert body["code"] in {"invalid_request", "invalid_input", "invalid_range"}
    assert expected in body["message"]
    assert analytics_reads(stocked, "staff:epi") == []  # a refused read read nothing


# --- the access layer's check for tracers (clusters, chains) ----------------------------------------------


def _principal(services: Services, headers: dict[str, str]) -> Principal:
    principal = services.principals.from_bearer(headers["Authorization"].removeprefix("Bearer "))
    assert principal is not None
    return principal


def test_a_tracer_reads_analytics_only_through_assigned_cases(stocked: Services) -> None:
    tracer = _principal(stocked, staff_headers(stocked, Role.TRACER, username="tracer-2"))
    epi = _principal(stocked, staff_headers(stocked, Role.EPIDEMIOLOGIST, username="epi-2"))
    assign(stocked, "X1", "tracer-2")
    records = stocked.records
    assert records.assigned_among(tracer, {"X1", "X2", "NO-SUCH"}) == {"X1"}
    assert records.may_read_analytics_of(tracer, {"X1", "X2"})  # a cluster holding their case
    assert not records.may_read_analytics_of(tracer, {"X2", "X3"})
    assert not records.may_read_analytics_of(tracer, set())
    assert records.may_see_through_assignment(tracer, {"X1"})
    assert not records.may_see_through_assignment(tracer, {"X1", "X2"})
    assert records.may_read_analytics_of(epi, {"X2"})  # every cluster
    assert records.assigned_among(epi, {"X1"}) == frozenset()
    assert tracer.staff_id is not None
    assert records.analytics_staff_bound(tracer) == tracer.staff_id
    assert records.analytics_staff_bound(epi) is None
    assert records.analytics_staff_bound(Principal.system("ops")) is None
