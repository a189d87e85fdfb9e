"""End to end in headless Chromium: the epidemiologists' district map, in English and Traditional
Chinese, checked with axe-core (no violations), under the CSP (no inline style or script), kept as
a screenshot (``screenshots`` fixture); and the period chosen with the form."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from chaincut.domain import Case, CaseClassification, CaseStatus, PersonalDetails
from chaincut.domain.access import Principal, Role
from chaincut.domain.ids import new_public_id
from chaincut.store import NewPersonRow
from support.auth import PASSWORD
from support.desk import checked, open_window, sign_in
from support.serving import browser_services, served

USER = "chan-tai-man"
# Cases in the last 28 days by household district: uneven, so the map shows every shade; a few
# with no district, and one the map does not know.
CASES_BY_DISTRICT = {
    "Central and Western": 9,
    "Wan Chai": 14,
    "Eastern": 6,
    "Southern": 2,
    "Yau Tsim Mong": 31,
    "Sham Shui Po": 22,
    "Kowloon City": 11,
    "Wong Tai Sin": 5,
    "Kwun Tong": 18,
    "Kwai Tsing": 8,
    "Tsuen Wan": 3,
    "Tuen Mun": 4,
    "Yuen Long": 12,
    "North": 1,
    "Tai Po": 0,
    "Sha Tin": 10,
    "Sai Kung": 7,
    "Islands": 1,
    "Mongkok": 2,
    "": 3,
}


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    services = browser_services(tmp_path_factory.mktemp("district-map") / "data")
    services.accounts.add(USER, PASSWORD, frozenset({Role.EPIDEMIOLOGIST}), Principal.system("test"))
    today = services.clock.now().astimezone(services.settings.zone).date()
    refs = [(district, i) for district, n in CASES_BY_DISTRICT.items() for i in range(n)]
    with services.store.write() as uow:
        households = uow.households.ensure(
            [f"h-{k}" for k in range(len(CASES_BY_DISTRICT))],
            {f"h-{k}": d for k, d in enumerate(CASES_BY_DISTRICT) if d},
        )
        home = {d: households[f"h-{k}"] for k, d in enumerate(CASES_BY_DISTRICT)}
        uow.people.add_many(
            [
                NewPersonRow(f"p-{n}", new_public_id(), PersonalDetails(), None, home[d], 0)
                for n, (d, _) in enumerate(refs)
            ]
        )
        person = uow.people.ids_for_refs([f"p-{n}" for n in range(len(refs))])
        uow.cases.add_many(
            [
                Case(
                    ref=f"C-{n}",
                    person_id=person[f"p-{n}"],
                    status=CaseStatus.CONFIRMED,
                    classification=CaseClassification.LOCAL,
                    reported_on=today - timedelta(days=(i * 5) % 28),
                )
                for n, (_, i) in enumerate(refs)
            ],
            0,
        )
    with served(services) as url:
        yield url


@pytest.mark.parametrize("lang", ["en", "zh-Hant"])
def test_the_district_map_in_the_browsers_language_passes_axe(
    browser: Browser, base_url: str, screenshots: Path, lang: str
) -> None:
    context, page = open_window(browser, lang)
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    try:
        sign_in(page, base_url, USER)
        assert page.url == f"{base_url}/console"
        page.goto(f"{base_url}/console/districts")
        assert page.get_attribute("html", "lang") == lang
        assert page.inner_text("h1") == ("District map" if lang == "en" else "地區地圖")
        assert page.locator("#map-whole path.district").count() == 18
        assert page.locator("#map-inset path.district").count() == 14  # those reaching into its box
        # The table: every district, then those not known (Mongkok's 2 and 3 with none).
        assert page.locator("table.districts tbody tr").count() == 19
        first = page.locator("table.districts tbody tr").first
        assert first.get_attribute("data-district") == "E"  # Yau Tsim Mong: 31 of 310,647
        assert first.locator("th").inner_text() == ("Yau Tsim Mong" if lang == "en" else "油尖旺")
        assert page.inner_text("tr[data-district='not-known'] td.number >> nth=0") == "5"

        # Shaded by the stylesheet: the highest rate the darkest red (ColorBrewer YlOrRd), none grey.
        def fill(code: str) -> str:
            return str(
                page.eval_on_selector(f"#map-whole [data-district={code}]", "p => getComputedStyle(p).fill")
            )

        assert fill("E") == "rgb(189, 0, 38)"
        assert fill("P") == "rgb(233, 236, 239)"  # Tai Po: no case
        box = page.locator("#map-whole svg").bounding_box()
        assert box is not None and abs(box["width"] / box["height"] - 808 / 553) < 0.01  # not stretched
        checked(page, screenshots, f"district-map-{lang}")

        page.select_option("#days", "7")
        with page.expect_navigation():
            page.click("form.span-choice button[type=submit]")
        assert page.url == f"{base_url}/console/districts?days=7"
        assert page.get_attribute("#days option[selected]", "value") == "7"
    finally:
        context.close()
    assert not violations, violations
