"""Decentralised check-in in the console (headless Chromium, both backends, both languages): a venue
operator registers a CrowdNotifier venue and sees its tracing code once; a phone checks in there and
sends nothing; a supervisor proposes a warning from the case's page with the owner's tracing code,
another publishes it, and the phone finds its exposure on its own."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import Playwright

from chaincut.bootstrap import Services
from chaincut.clock import FixedClock
from chaincut.domain.access import Principal, Role
from chaincut.people import PersonDraft
from chaincut.presence.client import PresenceClient
from chaincut.settings import Settings
from chaincut.tracing.case_checks import CaseDraft
from support.auth import PASSWORD
from support.camera import launch_chromium
from support.desk import checked, open_window, sign_in
from support.serving import browser_services, served

ADMIN = Principal.system("tests")
REGISTERED = datetime(2026, 11, 10, 2, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)  # 12:00 in Hong Kong
# The case's lunch at the noodle shop, 18 November 12:15-13:40 Hong Kong time; the phone's owner
# was there from 13:00 to 14:00.
CASE_ARRIVED, CASE_LEFT = "2026-11-18T12:15", "2026-11-18T13:40"
PHONE_STAY = (datetime(2026, 11, 18, 5, 0, tzinfo=UTC), datetime(2026, 11, 18, 6, 0, tzinfo=UTC))


@pytest.fixture
def site(settings: Settings, tmp_path: Path) -> Iterator[tuple[str, Services, FixedClock]]:
    clock = FixedClock(REGISTERED)
    services = browser_services(tmp_path / "data", clock, settings=settings)
    services.accounts.add("olivia", PASSWORD, frozenset({Role.VENUE_OPERATOR}), ADMIN)
    services.accounts.add("sam", PASSWORD, frozenset({Role.SUPERVISOR}), ADMIN)
    services.accounts.add("sue", PASSWORD, frozenset({Role.SUPERVISOR}), ADMIN)
    services.people.register(PersonDraft(ref="P-CASE"))
    with served(services) as url:
        yield url, services, clock


@pytest.mark.parametrize("lang", ["en", "zh-Hant"])
def test_a_decentralised_venue_is_warned_through_the_console_and_its_visitor_finds_out(
    playwright: Playwright, site: tuple[str, Services, FixedClock], screenshots: Path, lang: str
) -> None:
    base_url, services, clock = site
    en = lang == "en"
    browser = launch_chromium(playwright, [])
    try:
        # 10 November: the owner registers the noodle shop; its tracing code is shown this once.
        context, page = open_window(browser, lang)
        sign_in(page, base_url, "olivia")
        page.goto(f"{base_url}/console/venues")
        page.select_option("#venue-type", "restaurant")
        page.fill("#name-en", "Harbour Noodles")
        page.fill("#name-zh", "海港麵家")
        page.fill("#district", "Wan Chai")
        page.check("#mode-basic")
        with page.expect_navigation():
            page.click("main form button[type=submit]")
        assert page.get_attribute("#checkin-mode", "data-mode") == "basic"
        tracing_code = page.inner_text(".tracing-code")
        assert tracing_code.startswith("CROWDNOTIFIER-TRACE:3:")
        assert page.locator("svg.tracing-qr").count() == 1
        assert not page.is_visible("form[action$='/kiosks']"), "a decentralised venue has no kiosks"
        checked(page, screenshots, f"venue-tracing-code-{lang}")
        with page.expect_download() as download:
            page.click("form[action$='/tracing-sheet'] button")
        sheet = Path(download.value.path()).read_bytes()
        assert sheet.startswith(b"%PDF-") and b"Tracing code" in sheet
        ref = (page.get_attribute("a[href$='/poster.pdf']", "href") or "").split("/")[2]
        page.goto(f"{base_url}/console/venues/{ref}")
        assert page.locator(".tracing-code").count() == 0, "the tracing code is never shown again"

        # The poster's QR opens the check-in page with the signed entry code in its fragment.
        poster = page.request.get(f"{base_url}/venues/{ref}/poster.png")
        scanned = zxingcpp.read_barcodes(
            Image.open(io.BytesIO(poster.body())), formats=zxingcpp.BarcodeFormat.QRCode
        )[0].text
        assert scanned.startswith("https://chaincut.example.org/v#CROWDNOTIFIER:3:")
        context.close()

        # 18 November: a phone checks in there, and keeps it to itself.
        with httpx.Client(base_url=base_url) as http:
            phone = PresenceClient(http)
            phone.check_in(phone.scan(scanned), *PHONE_STAY)
            assert phone.visits and phone.visits[0].records

            # 20 November: the case is confirmed; sam proposes the warning from its page.
            clock.set(NOW)
            services.cases.register(
                CaseDraft(
                    ref="C1", person="P-CASE", classification="local", onset_on=NOW.date() - timedelta(days=2)
                ),
                "tests",
            )
            context, page = open_window(browser, lang)
            sign_in(page, base_url, "sam")
            page.goto(f"{base_url}/console/cases/C1")
            page.fill("#purpose", "tracing case C1's venues" if en else "追蹤個案 C1 到過的場所")
            with page.expect_navigation():
                page.keyboard.press("Enter")
            with page.expect_navigation():
                page.click("a[href='/console/cases/C1/warnings']")
            page.select_option("#warn-venue", ref)
            page.fill("#warn-start", CASE_ARRIVED)
            page.fill("#warn-end", CASE_LEFT)
            message = page.input_value("#warn-message")
            assert ("Get tested today" if en else "請於今天接受檢測") in message
            with page.expect_navigation():
                page.click("main form button[type=submit]")
            assert "tracing_code" in page.inner_text("p.alert"), "a basic venue needs its owner's code"
            page.fill("#warn-code", tracing_code)
            with page.expect_navigation():
                page.click("main form button[type=submit]")
            assert page.is_visible("p.notice")
            assert page.locator("#warnings tr[data-state='proposed']").count() == 1
            checked(page, screenshots, f"case-warnings-{lang}")
            context.close()
            assert phone.check(now=NOW) == [], "nothing reaches phones before a second supervisor"

            # Another supervisor publishes it; sam could not have.
            context, page = open_window(browser, lang)
            sign_in(page, base_url, "sue")
            page.goto(f"{base_url}/console/warnings")
            assert page.locator("section.request").count() == 1
            checked(page, screenshots, f"warnings-review-{lang}")
            page.fill("section.request textarea[name=reason]", "the case confirmed the lunch by phone")
            with page.expect_navigation():
                page.click("section.request button[value=publish]")
            assert page.is_visible("p.notice") and page.locator("#decided tbody tr").count() == 1
            context.close()

            found = phone.check(now=NOW)
        assert [f.exposure.message for f in found] == [message]
    finally:
        browser.close()
