"""Decentralised check-in in the console (headless Chromium, both backends, both languages): a venue
operator registers a CrowdNotifier venue and sees its tracing code once; a phone checks in there and
sends nothing; a supervisor proposes a warning from the case's page with the owner's tracing code,
another publishes it, and the phone finds its exposure on its own."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import segno
import zxingcpp
from PIL import Image
from playwright.sync_api import Page, Playwright

from chaincut.bootstrap import Services
from chaincut.clock import FixedClock
from chaincut.domain.access import Principal, Role
from chaincut.people import PersonDraft
from chaincut.presence.client import PresenceClient
from chaincut.presence.protocol import b64encode
from chaincut.settings import Settings
from chaincut.tracing.case_checks import CaseDraft
from support.auth import PASSWORD
from support.camera import camera_flags, launch_chromium, write_y4m
from support.desk import LOCALES, checked, open_window, sign_in
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
    playwright: Playwright,
    site: tuple[str, Services, FixedClock],
    screenshots: Path,
    lang: str,
    tmp_path: Path,
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
            # sam's computer has a camera: the owner holds up their tracing sheet's QR code to it.
            sheet = segno.make(tracing_code, error="m").png_data_uri(scale=8)
            video = write_y4m(base64.b64decode(sheet.split(",", 1)[1]), tmp_path / "sheet.y4m")
            camera = launch_chromium(playwright, camera_flags(video))
            context, page = open_window(camera, lang)
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
            page.click("#code-scan")
            page.wait_for_selector("#code-scan:not([hidden])")  # back once the code was read
            assert page.input_value("#warn-code") == tracing_code
            with page.expect_navigation():
                page.click("main form button[type=submit]")
            assert page.is_visible("p.notice")
            assert page.locator("#warnings tr[data-state='proposed']").count() == 1
            checked(page, screenshots, f"case-warnings-{lang}")
            context.close()
            camera.close()
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


def _entry_code(display: Page) -> str:
    """The entry code (base64url) in the QR the door display shows, read off the screen."""
    png = display.locator("#display-poster").screenshot()
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)), formats=zxingcpp.BarcodeFormat.QRCode)
    return found[0].text.split("#", 1)[1].split(".")[1] if found else ""


@pytest.mark.parametrize("lang", ["en", "zh-Hant"])
def test_a_door_display_shows_the_code_of_the_day_and_the_next_after_midnight(
    playwright: Playwright, site: tuple[str, Services, FixedClock], screenshots: Path, lang: str
) -> None:
    base_url, services, clock = site
    browser = launch_chromium(playwright, [])
    try:
        context, page = open_window(browser, lang)
        sign_in(page, base_url, "olivia")
        page.goto(f"{base_url}/console/venues")
        page.select_option("#venue-type", "bar")
        page.fill("#name-en", "Night Owl Bar")
        page.fill("#name-zh", "夜貓酒吧")
        page.check("#mode-server_daily")
        with page.expect_navigation():
            page.click("main form button[type=submit]")
        assert page.get_attribute("#checkin-mode", "data-mode") == "server_daily"
        with page.expect_navigation():
            page.click("form[action$='/kiosks'] button")
        address = page.inner_text(".kiosk-address")
        assert "/kiosk#" in address
        checked(page, screenshots, f"venue-door-display-{lang}")
        ref = (page.get_attribute("a[href$='/poster.pdf']", "href") or "").split("/")[2]
        context.close()

        # The screen at the door opens its address: it shows the poster with the code of the day.
        screen = browser.new_context(locale=LOCALES[lang], viewport={"width": 800, "height": 1280})
        screen.set_default_timeout(15_000)
        display = screen.new_page()
        display.goto(base_url + "/kiosk#" + address.split("#", 1)[1])
        for _ in range(100):  # evaluate runs outside the page's CSP (wait_for_function would not)
            if display.evaluate("document.querySelector('#display-poster').naturalWidth > 0"):
                break
            display.wait_for_timeout(100)
        assert not display.is_visible("#kiosk-start"), "a door display scans nobody"
        venue = services.venues.get(ref)
        today = services.presence.entry_code(venue)
        assert today is not None and today.daily
        assert _entry_code(display) == b64encode(today.entry_payload)
        checked(display, screenshots, f"door-display-{lang}")

        # After midnight it shows the next day's code, by itself (it asks again when the code ends).
        clock.set(REGISTERED + timedelta(days=1))
        tomorrow = services.presence.entry_code(venue)
        assert tomorrow is not None and tomorrow.valid_from == today.valid_to
        for _ in range(100):
            if _entry_code(display) == b64encode(tomorrow.entry_payload):
                break
            display.wait_for_timeout(200)
        assert _entry_code(display) == b64encode(tomorrow.entry_payload)
        screen.close()
    finally:
        browser.close()
