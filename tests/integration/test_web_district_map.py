"""The epidemiologists' district map (both backends): each district's cases and rate per 100,000
over the last 7, 28 or 90 days by report date, counted from cases placed by hand, with the cases
whose district is not known counted apart; the period asked for checked; a tracer refused."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient

from chaincut.api import create_app
from chaincut.bootstrap import Services
from chaincut.domain import Case, CaseClassification, CaseStatus, PersonalDetails
from chaincut.domain.access import Principal, Role
from chaincut.domain.ids import new_public_id
from chaincut.store import NewPersonRow
from support.auth import PASSWORD
from support.web_forms import signed_in

BROWSER = {"Accept": "text/html", "Accept-Language": "en-GB"}
TODAY = date(2026, 11, 20)  # the tests' clock: 2026-11-20 12:00 in Hong Kong
# The 2021 Population Census's residents (C&SD), as the map's data file holds them.
SHA_TIN, CENTRAL_AND_WESTERN, WAN_CHAI, ALL_18 = 692_806, 235_953, 166_695, 7_411_945

# Households and the district each was registered with: the names as imports write them.
HOUSEHOLDS = {
    "h-st": "Sha Tin",
    "h-st2": "SHA TIN",
    "h-cw": "Central & Western",
    "h-cw2": "中西區",
    "h-wc": "灣仔",
    "h-mk": "Mongkok",  # a neighbourhood, not a district: the map does not know it
    "h-none": None,
}
# ref -> (status, days before today it was reported (None: no report date), household)
CASES: dict[str, tuple[CaseStatus, int | None, str | None]] = {
    "ST-1": (CaseStatus.CONFIRMED, 0, "h-st"),
    "ST-2": (CaseStatus.PROBABLE, 10, "h-st2"),
    "ST-3": (CaseStatus.SUSPECTED, 1, "h-st"),  # suspected: never counted
    "CW-1": (CaseStatus.CONFIRMED, 2, "h-cw"),
    "CW-2": (CaseStatus.CONFIRMED, 27, "h-cw2"),  # the 28 days' first day
    "CW-3": (CaseStatus.CONFIRMED, 28, "h-cw"),  # the day before it
    "WC-1": (CaseStatus.CONFIRMED, 5, "h-wc"),
    "MK-1": (CaseStatus.CONFIRMED, 4, "h-mk"),
    "NH-1": (CaseStatus.CONFIRMED, 3, None),  # no household
    "ND-1": (CaseStatus.CONFIRMED, 8, "h-none"),  # a household with no district
    "UD-1": (CaseStatus.CONFIRMED, None, "h-st"),  # no report date: in no period
}


def _seed(services: Services) -> None:
    with services.store.write() as uow:
        households = uow.households.ensure(
            HOUSEHOLDS, {ref: district for ref, district in HOUSEHOLDS.items() if district}
        )
        uow.people.add_many(
            [
                NewPersonRow(f"p-{ref}", new_public_id(), PersonalDetails(), None, households.get(h or ""), 0)
                for ref, (_, _, h) in CASES.items()
            ]
        )
        person = uow.people.ids_for_refs([f"p-{ref}" for ref in CASES])
        uow.cases.add_many(
            [
                Case(
                    ref=ref,
                    person_id=person[f"p-{ref}"],
                    status=status,
                    classification=CaseClassification.LOCAL,
                    reported_on=None if ago is None else TODAY - timedelta(days=ago),
                )
                for ref, (status, ago, _) in CASES.items()
            ],
            0,
        )
    admin = Principal.system("tests")
    services.accounts.add("eve", PASSWORD, frozenset({Role.EPIDEMIOLOGIST}), admin)
    services.accounts.add("tess", PASSWORD, frozenset({Role.TRACER}), admin)


def _rows(html: str) -> dict[str, tuple[str, ...]]:
    """The table's rows: district code (or not-known, all) -> its cells' text."""
    rows = {}
    for code, body in re.findall(r'<tr data-district="([^"]+)">(.*?)</tr>', html, re.S):
        cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", body, re.S)
        rows[code] = tuple(re.sub(r"<[^>]+>", "", c).strip() for c in cells)
    return rows


def _per_100k(cases: int, residents: int) -> float:
    return cases / residents * 100_000


def test_the_map_counts_each_districts_cases_and_rate_over_the_last_28_days(services: Services) -> None:
    _seed(services)
    app = create_app(services, schedule_maintenance=False)
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as client:
        signed_in(client, "eve")
        response = client.get("/console/districts", headers=BROWSER)
        assert response.status_code == 200
        html = response.text
    # 24 Oct to 20 Nov: Sha Tin ST-1 and ST-2 (probable counts; ST-3 is suspected); Central and
    # Western CW-1 and CW-2 (written "Central & Western" and "中西區"; CW-3 a day too early); Wan
    # Chai WC-1 ("灣仔"); not known: MK-1 (Mongkok), NH-1 and ND-1 (no district). UD-1: no date.
    assert "from 24 Oct 2026 to today, 20 Nov 2026" in html
    rows = _rows(html)
    assert rows["R"] == ("Sha Tin", "2", "692,806", f"{_per_100k(2, SHA_TIN):.2f}")  # 0.29
    assert rows["A"] == ("Central and Western", "2", "235,953", f"{_per_100k(2, CENTRAL_AND_WESTERN):.2f}")
    assert rows["B"] == ("Wan Chai", "1", "166,695", "0.6")  # 0.59990...
    assert rows["not-known"] == ("District not known", "3", "–", "–")
    assert rows["all"] == ("All of Hong Kong", "8", "7,411,945", f"{_per_100k(8, ALL_18):.2f}")  # 0.11
    others = [code for code in rows if code not in ("A", "B", "R", "not-known", "all")]
    assert len(others) == 15 and all(rows[c][1] == "0" and rows[c][3] == "0" for c in others)
    # Highest rate first (0.85, 0.60, 0.29), then the districts with none by name.
    assert list(rows)[:3] == ["A", "B", "R"]
    assert [rows[c][0] for c in others] == sorted(rows[c][0] for c in others)

    # Shaded in five bands of 0.2 (the highest rate, 0.85, over five, rounded up): Central and
    # Western in the top band, Wan Chai (0.60) the third, Sha Tin (0.29) the second.
    found = re.findall(r'<path class="district shade-(\d)" data-district="([A-Z])"', html)
    shade_of = {code: int(shade) for shade, code in found}
    assert len(shade_of) == 18
    assert (shade_of["A"], shade_of["B"], shade_of["R"]) == (5, 3, 2)
    assert {shade_of[c] for c in others} == {0}
    assert "<title>Sha Tin: 2 cases, 0.29 per 100,000</title>" in html
    assert "<title>Islands: 0 cases, 0 per 100,000</title>" in html
    legend = re.findall(r'<span class="swatch shade-(\d)" aria-hidden="true"></span>([^<]+)</li>', html)
    assert legend == [
        ("0", "No cases"),
        ("1", "Up to 0.2"),
        ("2", "Over 0.2, up to 0.4"),
        ("3", "Over 0.4, up to 0.6"),
        ("4", "Over 0.6, up to 0.8"),
        ("5", "Over 0.8, up to 1"),
    ]
    # The cases not placed, said how and why.
    assert "<q>Mongkok</q>: 1" in html
    assert "2 cases have no district" in html
    assert "1 confirmed or probable case has no report date" in html
    assert "Source: Home Affairs Department, Government of the HKSAR, DATA.GOV.HK" in html
    for ref in ("ST-1", "p-ST-1", "CW-2"):  # counts only: no case or person is named
        assert ref not in html

    with services.store.read() as uow:
        reads = [r.event for r in uow.audit.find() if r.event.resource == "analytics.districts"]
    assert [(e.actor, e.record) for e in reads] == [("staff:eve", "2026-11-20")]


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        # 14 to 20 Nov: ST-1, CW-1, WC-1; not known MK-1 and NH-1 (ND-1 was 8 days ago).
        ("7", {"R": "1", "A": "1", "B": "1", "not-known": "2", "all": "5"}),
        # 23 Aug to 20 Nov: the 28 days' and CW-3.
        ("90", {"R": "2", "A": "3", "B": "1", "not-known": "3", "all": "9"}),
    ],
)
def test_the_period_is_chosen_from_the_form(services: Services, days: str, expected: dict[str, str]) -> None:
    _seed(services)
    app = create_app(services, schedule_maintenance=False)
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as client:
        signed_in(client, "eve")
        html = client.get(f"/console/districts?days={days}", headers=BROWSER).text
    rows = _rows(html)
    assert {code: rows[code][1] for code in expected} == expected
    assert f'<option value="{days}" selected>' in html
    assert f"reported in the last {days} days" in html


def test_a_period_the_page_does_not_offer_is_refused_with_a_page(services: Services) -> None:
    _seed(services)
    app = create_app(services, schedule_maintenance=False)
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as client:
        signed_in(client, "eve")
        for days in ("14", "0", "-7", "28.0", "07", "٧", "abc", "9" * 40, "7&days=28"):
            response = client.get("/console/districts", params={"days": days}, headers=BROWSER)
            assert response.status_code == 400, days
            assert "Not understood" in response.text and response.headers["content-type"].startswith(
                "text/html"
            )
        assert client.get("/console/districts?days=", headers=BROWSER).status_code == 200  # the default
    with services.store.read() as uow:
        reads = [r for r in uow.audit.find() if r.event.resource == "analytics.districts"]
    assert len(reads) == 1  # a refused period reads nothing


def test_the_map_in_chinese_names_the_districts_in_chinese(services: Services) -> None:
    _seed(services)
    app = create_app(services, schedule_maintenance=False)
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as client:
        signed_in(client, "eve")
        html = client.get("/console/districts", headers={**BROWSER, "Accept-Language": "zh-HK"}).text
    assert '<html lang="zh-Hant">' in html
    rows = _rows(html)
    assert (rows["R"][0], rows["A"][0], rows["B"][0]) == ("沙田", "中西區", "灣仔")
    assert rows["R"][2] == "692,806"


def test_a_tracer_may_not_see_the_map_and_a_stranger_must_sign_in(services: Services) -> None:
    _seed(services)
    app = create_app(services, schedule_maintenance=False)
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as client:
        assert (
            client.get("/console/districts", headers=BROWSER, follow_redirects=False).headers["location"]
            == "/login"
        )
        signed_in(client, "tess")  # a tracer reads no epidemic-wide analytics
        assert client.get("/console/districts", headers=BROWSER).status_code == 404
    with services.store.read() as uow:
        assert not [r for r in uow.audit.find() if r.event.resource == "analytics.districts"]
