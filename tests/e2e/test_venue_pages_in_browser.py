"""A venue operator in the console (headless Chromium, both backends, both languages): registers a
restaurant and a taxi, sees and downloads the poster, sets up an entrance kiosk; the kiosk (a tablet
whose fake camera shows a resident's health code) checks the resident in."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import Playwright

from chaincut.bootstrap import Services
from chaincut.codes.issuance import code_qr_png
from chaincut.domain.access import Principal, Role
from chaincut.people import PersonDraft
from chaincut.settings import Settings
from support.auth import PASSWORD
from support.camera import camera_flags, launch_chromium, write_y4m
from support.desk import checked, open_window, sign_in
from support.serving import browser_services, served

ADMIN = Principal.system("tests")


@pytest.fixture
def site(settings: Settings, tmp_path: Path) -> Iterator[tuple[str, Services]]:
    services = browser_services(tmp_path / "data", settings=settings)
    services.accounts.add("olivia", PASSWORD, frozenset({Role.VENUE_OPERATOR}), ADMIN)
    services.people.register(PersonDraft(ref="P001"))
    services.code_keys.init(ADMIN)
    with served(services) as url:
        yield url, services


def visits_at(services: Services, venue_ref: str) -> list[str]:
    with services.store.read() as uow:
        rows = uow.connection.exec_driver_sql(
            "SELECT p.ref FROM visits v JOIN people p ON p.id = v.person_id "
            f"JOIN venues t ON t.id = v.venue_id WHERE t.ref = '{venue_ref}'"
        ).all()
    return [str(r[0]) for r in rows]


@pytest.mark.parametrize("lang", ["en", "zh-Hant"])
def test_an_operator_registers_venues_prints_the_poster_and_sets_up_a_kiosk(
    playwright: Playwright, site: tuple[str, Services], screenshots: Path, tmp_path: Path, lang: str
) -> None:
    base_url, services = site
    en = lang == "en"
    browser = launch_chromium(playwright, [])
    context, page = open_window(browser, lang)
    try:
        sign_in(page, base_url, "olivia")
        with page.expect_navigation():
            page.click("a[href='/console/venues']")
        assert page.inner_text("h1") == ("Venues" if en else "場所")

        # A taxi without its plate is refused, naming the field, and the form keeps what was typed.
        page.select_option("#venue-type", "taxi")
        page.fill("#name-en", "Urban taxi")
        page.fill("#name-zh", "市區的士")
        with page.expect_navigation():
            page.click("main form button[type=submit]")
        assert "plate" in page.inner_text("p.alert")
        assert page.input_value("#name-en") == "Urban taxi"
        page.fill("#plate", "AB 1234")
        with page.expect_navigation():
            page.click("main form button[type=submit]")
        assert page.is_visible("p.notice")

        with page.expect_navigation():
            page.click("a[href='/console/venues']")
        page.select_option("#venue-type", "restaurant")
        page.fill("#name-en", "Tai Hing Roast Restaurant")
        page.fill("#name-zh", "太興燒味餐廳")
        page.fill("#district", "Wan Chai")
        with page.expect_navigation():
            page.click("main form button[type=submit]")
        ref = page.url.split("/console/venues/")[1].split("?")[0]
        page.wait_for_function("document.querySelector('img.poster-preview').naturalWidth > 0")
        checked(page, screenshots, f"venue-{lang}")

        # The poster the page offers is the one the printer gets: its QR opens the check-in page.
        poster = page.request.get(f"{base_url}/venues/{ref}/poster.png")
        assert poster.status == 200
        read = zxingcpp.read_barcodes(
            Image.open(io.BytesIO(poster.body())), formats=zxingcpp.BarcodeFormat.QRCode
        )
        assert read[0].text.startswith("https://chaincut.example.org/v#CHAINCUT:1:")
        assert page.request.get(f"{base_url}/venues/{ref}/poster.pdf").body().startswith(b"%PDF-")

        with page.expect_navigation():
            page.click("form[action$='/kiosks'] button")
        address = page.inner_text(".kiosk-address")
        assert address.startswith("https://chaincut.example.org/kiosk#")
        checked(page, screenshots, f"venue-kiosk-{lang}")
        with page.expect_navigation():
            page.goto(f"{base_url}/console/venues")
        listed = page.locator("#venues tbody tr").all_inner_texts()
        assert len(listed) == 2 and any("AB1234" in row for row in listed)
    finally:
        context.close()
        browser.close()

    # The tablet at the door: its camera shows P001's health code from the phone.
    person_id = services.people.get("P001").id
    assert person_id is not None
    code_text = services.signed_codes.issue_for(person_id).issued.text
    video = write_y4m(code_qr_png(code_text, scale=8), tmp_path / "code.y4m", width=720, height=720)
    tablet = launch_chromium(playwright, camera_flags(video))
    try:
        kiosk_context = tablet.new_context(
            locale="en-GB" if en else "zh-HK", viewport={"width": 800, "height": 1280}
        )
        kiosk = kiosk_context.new_page()
        kiosk.goto(f"{base_url}/kiosk#{address.split('#', 1)[1]}")
        kiosk.wait_for_selector("#kiosk:not([hidden])")
        assert kiosk.inner_text("#kiosk-name-en") == "Tai Hing Roast Restaurant"
        assert "#" not in kiosk.url
        kiosk.click("#kiosk-start")
        kiosk.wait_for_selector("#kiosk-result[data-outcome=ok]")
        deadline = time.monotonic() + 10
        while visits_at(services, ref) != ["P001"]:
            assert time.monotonic() < deadline, visits_at(services, ref)
            time.sleep(0.05)
        checked(kiosk, screenshots, f"kiosk-{lang}")
        kiosk.wait_for_timeout(1000)  # the code is still in front of the camera: one visit, not two
        assert visits_at(services, ref) == ["P001"]
    finally:
        tablet.close()
