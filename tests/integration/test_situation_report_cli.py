"""The situation report from a store: its counts against a count of the seeded cases, the
command line and the API writing it as HTML and PDF, who may read it, the audit, and that no
personal data of the people behind the cases gets in (on the embedded default and PostgreSQL).
"""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import matplotlib
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert
from typer.testing import CliRunner

from chaincut.api.app import create_app
from chaincut.bootstrap import Services
from chaincut.cli import app as cli_app
from chaincut.domain import Case, CaseClassification, CaseStatus, PersonalDetails
from chaincut.domain.access import Role
from chaincut.domain.ids import new_public_id
from chaincut.people.registry import PersonDraft
from chaincut.settings import Settings
from chaincut.store import NewPersonRow
from chaincut.store.tables import orders
from chaincut.store.tables_codes import code_case_traces, code_exposures
from support.auth import staff_headers
from support.canaries import ADDRESS, CHINESE_NAME, ID_DOCUMENT, NAME, PHONE, needles
from support.postgres import in_ci
from support.settings import cli_env

DAY = date(2022, 2, 24)
HK = ZoneInfo("Asia/Hong_Kong")
L, U, LI, IM, PL, UK = (
    CaseClassification.LOCAL,
    CaseClassification.UNLINKED,
    CaseClassification.LINKED,
    CaseClassification.IMPORTED,
    CaseClassification.POSSIBLY_LOCAL,
    CaseClassification.UNKNOWN,
)
C, P, S = CaseStatus.CONFIRMED, CaseStatus.PROBABLE, CaseStatus.SUSPECTED
# (onset, report) as days before DAY (None: missing), classification, status
CASES: list[tuple[int | None, int | None, CaseClassification, CaseStatus]] = [
    (3, 0, U, C),
    (2, 0, U, C),
    (1, 0, LI, P),
    (None, 0, L, C),  # no onset, reported on the day
    (4, 0, IM, C),
    (2, 0, U, S),  # suspected on the day: not a case
    (6, 1, L, C),
    (None, 1, U, C),
    (5, 2, PL, C),
    (9, 5, UK, C),
    (40, 35, LI, C),
    (200, 190, L, C),  # long before the days plotted: still cumulative
    (-1, -1, U, C),  # reported after the day: left out of everything
    (None, None, L, C),  # no date at all
]


def _day(offset: int | None) -> date | None:
    return None if offset is None else DAY - timedelta(days=offset)


def _at(day: date, hh: int, mm: int = 0) -> int:
    return int(datetime.combine(day, time(hh, mm), tzinfo=HK).timestamp())


@pytest.fixture
def stocked(services: Services) -> Services:
    # People with personal data that must never reach the report.
    services.people.register(
        PersonDraft(ref="canary-1", name=NAME, phone=PHONE, address=ADDRESS, id_document=ID_DOCUMENT)
    )
    services.people.register(PersonDraft(ref="canary-2", name=CHINESE_NAME, phone=PHONE))
    with services.store.write() as uow:
        refs = [f"p-{i}" for i in range(2, len(CASES))]
        uow.people.add_many(
            [NewPersonRow(ref, new_public_id(), PersonalDetails(name=NAME), None, None, 0) for ref in refs]
        )
        ids = uow.people.ids_for_refs(["canary-1", "canary-2", *refs])
        people = ["canary-1", "canary-2", *refs]
        uow.cases.add_many(
            [
                Case(
                    ref=f"C-{i}",
                    person_id=ids[people[i]],
                    status=status,
                    classification=cls,
                    reported_on=_day(report),
                    onset_on=_day(onset),
                    specimen_on=_day(report) or DAY if onset is None else None,
                )
                for i, (onset, report, cls, status) in enumerate(CASES)
            ],
            0,
        )
        case_ids = {c.ref: c.id for c in (uow.cases.get_by_ref(f"C-{i}") for i in range(3)) if c}
        conn = uow.connection
        # Traces: C-0 on the day (00:00 local), C-1 the day before (23:59 local), C-2 the day after.
        traced = {
            "C-0": _at(DAY, 0, 0),
            "C-1": _at(DAY - timedelta(days=1), 23, 59),
            "C-2": _at(DAY + timedelta(days=1), 0),
        }
        for ref, at in traced.items():
            conn.execute(
                insert(code_case_traces),
                [{"case_id": case_ids[ref], "traced_at": at, "exposures": 3, "policy_version": "t"}],
            )
        contacts = [  # (case, person, tier): canary-1 is close to C-0 and exposed to C-1
            ("C-0", "canary-1", "close"),
            ("C-0", "canary-1", "close"),  # a second venue: one person still
            ("C-0", "p-3", "exposed"),
            ("C-0", "p-4", "risky_visit"),
            ("C-1", "canary-1", "exposed"),
            ("C-1", "p-5", "close"),
            ("C-2", "p-6", "close"),
        ]
        conn.execute(
            insert(code_exposures),
            [
                {
                    "person_id": ids[person],
                    "case_id": case_ids[case],
                    "tier": tier,
                    "evidence": "venue",
                    "venue_ref": "V1",
                    "generation": 1,
                    "last_exposure_at": traced[case] - 3600,
                    "traced_at": traced[case],
                }
                for case, person, tier in contacts
            ],
        )
        issued = [  # (kind, issued at)
            ("quarantine", _at(DAY, 9)),
            ("quarantine", _at(DAY, 23, 59)),
            ("testing_notice", _at(DAY, 10)),
            ("quarantine", _at(DAY - timedelta(days=1), 12)),
            ("testing_notice", _at(DAY + timedelta(days=1), 0)),
        ]
        conn.execute(
            insert(orders),
            [
                {
                    "public_id": f"o{i:030d}",
                    "kind": kind,
                    "person_id": ids["canary-1"],
                    "case_id": case_ids["C-0"],
                    "tier": "close",
                    "starts_on": DAY,
                    "ends_on": DAY + timedelta(days=14),
                    "status": "issued",
                    "last_exposure_at": at,
                    "issued_at": at,
                    "issued_by": "staff:t",
                    "policy_version": "t",
                    "updated_at": at,
                }
                for i, (kind, at) in enumerate(issued)
            ],
        )
    return services


def test_the_headline_agrees_with_a_count_of_the_cases(stocked: Services) -> None:
    report = stocked.situation_reports.report(DAY)
    h = report.headline
    counted = [(o, r, c) for o, r, c, s in CASES if s is not S]
    for cls in CaseClassification:
        assert h.new_by_classification[cls] == sum(1 for _, r, c in counted if r == 0 and c is cls), cls
    assert h.new_total == sum(1 for _, r, _ in counted if r == 0) == 5
    assert h.cumulative == sum(1 for _, r, _ in counted if r is not None and r >= 0) == 11
    assert h.new_no_onset == sum(1 for o, r, _ in counted if r == 0 and o is None) == 1
    assert h.cumulative_no_onset == sum(1 for o, r, _ in counted if r is not None and r >= 0 and o is None)
    assert h.no_report_date == 1
    assert h.suspected == 1
    # the unlinked share on the day: unlinked among local cases (local, linked, unlinked, possibly local)
    local_today = [c for _, r, c in counted if r == 0 and c in (L, U, LI, PL)]
    assert int(report.unlinked.local[-1]) == len(local_today) == 4
    assert int(report.unlinked.unlinked[-1]) == sum(1 for c in local_today if c is U) == 2
    # the curve by onset ends on the day, and what it does not plot is counted
    assert report.curve.last == DAY
    assert report.curve.before == 1  # onset 200 days before: outside the 120 days shown
    assert report.rt.windows and report.rt.windows[-1].end == DAY
    assert report.clusters is None  # no provider wired: "not computed"


def test_tracing_counts_follow_the_local_day(stocked: Services) -> None:
    t = stocked.situation_reports.report(DAY).tracing
    assert t.cases_traced == 1  # C-0 at 00:00 on the day; C-1 at 23:59 the day before
    assert t.contacts == 3  # canary-1 (twice), p-3, p-4: C-0's
    assert dict(t.contacts_by_tier) == {"close": 1, "exposed": 1, "risky_visit": 1}
    assert dict(t.orders_by_kind) == {"quarantine": 2, "testing_notice": 1}
    assert t.cases_traced_to_date == 2
    assert t.contacts_to_date == 4  # canary-1, p-3, p-4, p-5 (C-2's contact was traced later)
    assert dict(t.contacts_to_date_by_tier) == {"close": 2, "exposed": 2, "risky_visit": 1}
    assert dict(t.orders_to_date_by_kind) == {"quarantine": 3, "testing_notice": 1}


def test_a_day_after_today_is_refused_naming_the_field(stocked: Services, settings: Settings) -> None:
    result = CliRunner().invoke(
        cli_app,
        ["report", "situation", "--day", "2999-01-01", "--out", "x.html"],
        env=cli_env(settings, "epi-1"),
    )
    assert result.exit_code == 1
    assert "after today" in result.output and "(day)" in result.output


def _pdf_text(pdf: Path) -> str:
    if shutil.which("pdftotext") is None:
        if in_ci():
            pytest.fail("pdftotext missing: apt-get install poppler-utils")
        pytest.skip("pdftotext missing: apt-get install poppler-utils")
    return subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True).stdout


def _leaks(text: str) -> list[str]:
    folded = text.casefold()
    return [label for label, form in needles() if form in folded]


def _decoded_images(html: str) -> str:
    """The SVG plots inlined as data URIs, decoded, so a name drawn in a plot would be found too."""
    return "\n".join(
        base64.b64decode(m).decode("utf-8")
        for m in re.findall(r"data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)", html)
    )


def test_the_command_writes_html_and_pdf_with_no_personal_data(
    stocked: Services, settings: Settings, tmp_path: Path
) -> None:
    outputs: dict[str, Any] = {}
    for name in ("report.html", "report.pdf"):
        out = tmp_path / name
        result = CliRunner().invoke(
            cli_app,
            ["report", "situation", "--day", DAY.isoformat(), "--out", str(out)],
            env=cli_env(settings, "epi-1"),
        )
        assert result.exit_code == 0, result.output
        outputs[name] = out
    html = outputs["report.html"].read_text(encoding="utf-8")
    pdf_text = _pdf_text(outputs["report.pdf"])
    assert outputs["report.pdf"].read_bytes().startswith(b"%PDF")
    for text in (html, _decoded_images(html), pdf_text):
        assert not _leaks(text)
    # both languages, the day, and its numbers are there
    for text in (html, pdf_text):
        assert "Situation report" in text and "疫情狀況報告" in text and DAY.isoformat() in text
        assert "Not computed" in text and "未有計算" in text  # clusters: no provider wired
        assert "源頭不明" in text
    # every read is audited, naming the operator, the day and the format
    with stocked.store.read() as uow:
        entries = [
            r.event for r in uow.audit.find(actor="cli:epi-1") if r.event.resource == "reports.situation"
        ]
    assert sorted((e.record, e.details["format"]) for e in entries) == [
        (DAY.isoformat(), "html"),
        (DAY.isoformat(), "pdf"),
    ]


@pytest.fixture
def client(stocked: Services) -> Any:
    with TestClient(create_app(stocked, schedule_maintenance=False), raise_server_exceptions=False) as c:
        yield c


def test_epidemiologists_and_supervisors_read_it_over_http_as_html_or_pdf(
    stocked: Services, client: TestClient
) -> None:
    epi = staff_headers(stocked, Role.EPIDEMIOLOGIST, username="epi", purpose=None)
    page = client.get("/reports/situation", params={"day": DAY.isoformat()}, headers=epi)
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "img-src data:" in csp and "'unsafe-inline'" not in csp
    assert "疫情狀況報告" in page.text and not _leaks(page.text)
    supervisor = staff_headers(stocked, Role.SUPERVISOR, username="sup", purpose=None)
    by_accept = client.get(
        "/reports/situation",
        params={"day": DAY.isoformat()},
        headers={**supervisor, "Accept": "application/pdf"},
    )
    assert by_accept.status_code == 200
    assert by_accept.headers["content-type"] == "application/pdf" and by_accept.content.startswith(b"%PDF")
    by_query = client.get("/reports/situation", params={"day": DAY.isoformat(), "format": "pdf"}, headers=epi)
    assert by_query.status_code == 200 and by_query.content.startswith(b"%PDF")
    with stocked.store.read() as uow:
        entries = [r.event for r in uow.audit.find() if r.event.resource == "reports.situation"]
    assert sorted((e.actor, e.details["format"]) for e in entries) == [
        ("staff:epi", "html"),
        ("staff:epi", "pdf"),
        ("staff:sup", "pdf"),
    ]


def test_others_are_refused_and_a_bad_day_names_the_field(stocked: Services, client: TestClient) -> None:
    for role in (Role.BORDER_OFFICER, Role.VENUE_OPERATOR, Role.ADMINISTRATOR, Role.POLICY_EDITOR):
        headers = staff_headers(stocked, role, purpose=None)
        refused = client.get("/reports/situation", params={"day": DAY.isoformat()}, headers=headers)
        assert refused.status_code == 403, role
    assert client.get("/reports/situation", params={"day": DAY.isoformat()}).status_code == 401
    epi = staff_headers(stocked, Role.EPIDEMIOLOGIST, username="epi", purpose=None)
    future = client.get("/reports/situation", params={"day": "2999-01-01"}, headers=epi)
    assert future.status_code in (400, 422) and future.json()["field"] == "day"
    ancient = client.get("/reports/situation", params={"day": "0021-02-24"}, headers=epi)
    assert ancient.status_code == 422 and ancient.json()["field"] == "day"
    garbled = client.get("/reports/situation", params={"day": "24/02/2022"}, headers=epi)
    assert garbled.status_code == 422


def test_the_clock_decides_today(stocked: Services) -> None:
    now = stocked.clock.now()
    assert now.tzinfo is not None
    today = now.astimezone(HK).date()
    report = stocked.situation_reports.report(today)
    assert report.day == today and report.generated_at.astimezone(UTC) == now


def test_without_a_font_for_the_chinese_the_report_is_refused_not_printed_as_boxes(
    stocked: Services, settings: Settings, tmp_path: Path
) -> None:
    no_cjk = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    out = tmp_path / "report.pdf"
    result = CliRunner().invoke(
        cli_app,
        ["report", "situation", "--day", DAY.isoformat(), "--out", str(out)],
        env=cli_env(settings, "epi-1") | {"CHAINCUT_POSTER_FONT": str(no_cjk)},
    )
    assert result.exit_code == 1
    assert "no usable font has glyphs" in result.output and "CHAINCUT_POSTER_FONT" in result.output
    assert not out.exists()
