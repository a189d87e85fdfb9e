"""The residents' pages on a phone (390 x 844) in headless Chromium, on both backends and in both
languages: enrolling with a one-time code, scanning the printed poster through the camera path
(Chromium's fake camera plays a video made from the poster's PNG), checking in and leaving, the
diary, a check-in made offline and sent once when back online, a taxi's plate, a forged poster.

Every request a page makes is recorded: none goes anywhere but chaincut's own origin.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import segno
import zxingcpp
from PIL import Image
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, Route

from chaincut.bootstrap import Services
from chaincut.domain.access import Principal, Role
from chaincut.people import PersonDraft
from chaincut.settings import Settings
from chaincut.tracing.case_checks import CaseDraft
from chaincut.venues.registry import VenueDraft
from chaincut.whereabouts.checkin import CheckInRequest
from support.auth import PASSWORD
from support.camera import camera_flags, launch_chromium, write_y4m
from support.desk import LOCALES, checked, sign_in
from support.serving import browser_services, served

PHONE = {"width": 390, "height": 844}
ADMIN = Principal.system("tests")
NAME_EN = "Tai Hing Roast Restaurant (Hennessy Road)"
NAME_ZH = "太興燒味餐廳（軒尼詩道）"


@dataclass
class Site:
    url: str
    services: Services
    token: str = ""
    poster_png: bytes = b""


@dataclass
class Phone:
    """A resident's phone: a browser window and every request its pages made."""

    context: BrowserContext
    page: Page
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@pytest.fixture
def site(settings: Settings, tmp_path: Path) -> Iterator[Site]:
    """P001 (to enrol), a restaurant and a taxi, on the real clock (the phone keeps real time)."""
    services = browser_services(tmp_path / "data", settings=settings)
    services.people.register(PersonDraft(ref="P001"))
    services.people.register(PersonDraft(ref="P002"))
    venue = services.venues.register(
        VenueDraft(
            ref="V-TAIHING", venue_type="restaurant", name_en=NAME_EN, name_zh=NAME_ZH, district="Wan Chai"
        )
    )
    services.venues.register(
        VenueDraft(venue_type="taxi", name_en="Urban taxi", name_zh="市區的士", plate="AB 1234")
    )
    site = Site("", services, services.venues.token(venue), services.venues.poster("V-TAIHING", "png"))
    with served(services, access_log=True) as url:
        site.url = url
        yield site


def _disconnected(route: Route) -> None:
    route.abort("internetdisconnected")


def offline(context: BrowserContext, *, now: bool) -> None:
    """The phone loses (or regains) its network: for its pages and for its service worker."""
    if now:
        context.set_offline(True)
        context.route("**/*", _disconnected)
    else:
        context.unroute("**/*", _disconnected)
        context.set_offline(False)


@pytest.fixture
def camera_browser(playwright: Playwright, site: Site, tmp_path: Path) -> Iterator[Browser]:
    """Chromium whose camera shows the venue's printed poster, held upright in front of it."""
    video = write_y4m(site.poster_png, tmp_path / "poster.y4m")
    browser = launch_chromium(playwright, camera_flags(video))
    yield browser
    browser.close()


@pytest.fixture
def plain_browser(playwright: Playwright) -> Iterator[Browser]:
    browser = launch_chromium(playwright)
    yield browser
    browser.close()


def open_phone(browser: Browser, site: Site, lang: str) -> Phone:
    context = browser.new_context(locale=LOCALES[lang], viewport=PHONE, is_mobile=True, has_touch=True)
    context.set_default_timeout(15_000)
    phone = Phone(context, context.new_page())
    phone.page.on("request", lambda r: phone.requests.append(r.url))
    phone.page.on("pageerror", lambda e: phone.errors.append(str(e)))
    phone.page.on("console", lambda m: phone.errors.append(m.text) if m.type == "error" else None)
    return phone


@contextmanager
def phone_in(browser: Browser, site: Site, lang: str) -> Iterator[Phone]:
    """A resident's phone for the block: closed (its storage gone) however the block ends."""
    phone = open_phone(browser, site, lang)
    try:
        yield phone
    finally:
        phone.context.close()


def visit(page: Page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("body[data-ready=true]")


def enrol(phone: Phone, site: Site) -> None:
    code = site.services.accounts.issue_enrolment_code("P001", ADMIN).secret
    visit(phone.page, f"{site.url}/app/enrol#{code}")  # the enrolment QR's address
    assert phone.page.input_value("#code") == code
    phone.page.click("#enrol-form button[type=submit]")
    wait_for(lambda: enrolled(phone.page), "the phone's app token")


def enrolled(page: Page) -> bool:
    # evaluate() runs outside the page's CSP, which (rightly) forbids wait_for_function's eval.
    return bool(page.evaluate("localStorage.getItem('chaincut.app') !== null"))


def visits_of_p001(services: Services) -> list[tuple[str, bool]]:
    with services.store.read() as uow:
        rows = uow.connection.exec_driver_sql(
            "SELECT v.client_id, v.left_at IS NOT NULL FROM visits v JOIN people p ON p.id = v.person_id "
            "WHERE p.ref = 'P001'"
        ).all()
    return [(str(r[0]), bool(r[1])) for r in rows]


def wait_for(condition: object, what: str, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def fits_the_phone(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "scrolls sideways"


def only_chaincut(phone: Phone, site: Site) -> None:
    strays = [u for u in phone.requests if not (u.startswith(site.url + "/") or u.startswith("blob:"))]
    assert not strays, strays


@pytest.mark.parametrize("lang", ["en", "zh-Hant"])
def test_scan_the_poster_with_the_camera_check_in_leave_and_see_it_in_the_diary(
    camera_browser: Browser, site: Site, screenshots: Path, lang: str
) -> None:
    en = lang == "en"
    with phone_in(camera_browser, site, lang) as phone:
        page = phone.page
        enrol(phone, site)
        assert page.inner_text("#enrolment-note") == (
            "This phone is enrolled. Check-ins are sent to the health authority."
            if en
            else "此手機已登記。登記的行程會傳送至衞生當局。"
        )
        checked(page, screenshots, f"resident-enrol-{lang}")

        visit(page, f"{site.url}/app")
        fits_the_phone(page)
        checked(page, screenshots, f"resident-home-{lang}")
        with page.expect_navigation(url=lambda u: u.startswith(f"{site.url}/v#CHAINCUT:1:")):
            page.click("#scan-start")  # the camera shows the poster; the page reads its QR code
        page.wait_for_selector("#venue:not([hidden])")
        assert page.inner_text("#venue-name-en") == NAME_EN
        assert page.inner_text("#venue-name-zh") == NAME_ZH
        assert page.inner_text("#venue-kind") == ("Restaurant" if en else "食肆")
        button = page.locator("#check-in").bounding_box()
        assert button is not None and button["height"] >= 48 and button["width"] >= 48
        fits_the_phone(page)
        checked(page, screenshots, f"resident-checkin-{lang}")

        page.click("#check-in")
        page.wait_for_selector("#visit-sync[data-status=sent]")
        assert "#" not in page.url  # the token leaves the address bar once used
        assert page.inner_text("#visit-heading") == ("Checked in" if en else "已登記進入")
        wait_for(lambda: len(visits_of_p001(site.services)) == 1, "the visit in the store")
        checked(page, screenshots, f"resident-visit-{lang}")

        page.click("#leave")
        wait_for(lambda: visits_of_p001(site.services)[0][1], "the check-out in the store")
        assert page.inner_text("#visit-heading") == ("You have left" if en else "你已離開")

        visit(page, f"{site.url}/app/visits")
        entries = page.locator("#diary li")
        assert entries.count() == 1
        assert NAME_EN in entries.first.inner_text() and NAME_ZH in entries.first.inner_text()
        assert entries.first.locator(".diary-status").get_attribute("data-status") == "sent"
        fits_the_phone(page)
        checked(page, screenshots, f"resident-visits-{lang}")

        only_chaincut(phone, site)
        assert not phone.errors, phone.errors


def test_a_check_in_made_offline_is_kept_and_sent_once_when_back_online(
    plain_browser: Browser, site: Site
) -> None:
    with phone_in(plain_browser, site, "en") as phone:
        page = phone.page
        enrol(phone, site)
        visit(page, f"{site.url}/v#{site.token}")
        page.wait_for_selector("#venue:not([hidden])")
        page.evaluate("navigator.serviceWorker.ready.then(() => true)")  # the shell is kept for offline use

        offline(phone.context, now=True)
        for _ in range(100):  # the page knows it is offline before the check-in (evaluate: outside CSP)
            if page.evaluate("navigator.onLine === false"):
                break
            page.wait_for_timeout(50)
        page.click("#check-in")
        page.wait_for_selector("#visit-sync[data-status=waiting]")
        assert page.is_visible("#offline-note")
        # The phone still opens its diary with no network: the page from the service worker's
        # copy, the visit from IndexedDB.
        visit(page, f"{site.url}/app/visits")
        assert page.locator("#diary li .diary-status").get_attribute("data-status") == "waiting"
        assert visits_of_p001(site.services) == []

        offline(phone.context, now=False)  # the page's "online" event sends the queue
        wait_for(lambda: len(visits_of_p001(site.services)) == 1, "the queued check-in in the store")
        visit(page, f"{site.url}/app/visits")
        assert page.locator("#diary li .diary-status").get_attribute("data-status") == "sent"
        visit(page, f"{site.url}/app")  # another flush: nothing left to send
        page.wait_for_timeout(300)
        assert len(visits_of_p001(site.services)) == 1
        only_chaincut(phone, site)


def test_a_forged_poster_is_refused_on_the_phone_and_nothing_is_sent(
    plain_browser: Browser, site: Site, screenshots: Path
) -> None:
    head, claims, signature = site.token.split(".")
    forged = f"{head}.{claims[:-4]}{'AAAA' if not claims.endswith('AAAA') else 'BBBB'}.{signature}"
    with phone_in(plain_browser, site, "en") as phone:
        enrol(phone, site)
        visit(phone.page, f"{site.url}/v#{forged}")
        phone.page.wait_for_selector("#poster-status.problem")
        assert "not a genuine chaincut poster" in phone.page.inner_text("#poster-status")
        assert phone.page.is_hidden("#venue")
        checked(phone.page, screenshots, "resident-forged-poster-en")
        assert not any(u.endswith("/checkins") for u in phone.requests)


def test_a_taxi_by_its_plate_and_a_phone_not_enrolled_keeps_its_visits_to_itself(
    plain_browser: Browser, site: Site
) -> None:
    with phone_in(plain_browser, site, "en") as phone:
        page = phone.page
        visit(page, f"{site.url}/app")
        assert "not enrolled" in page.inner_text("#enrolment-note")
        page.fill("#plate", "ab1234")
        page.click("#taxi-form button[type=submit]")
        page.wait_for_selector("#visit-sync[data-status=phone_only]")
        assert "AB1234" in page.inner_text("#visit-name-en")
        assert not any(u.endswith("/checkins") for u in phone.requests)  # nothing left the phone

        enrol(phone, site)
        visit(page, f"{site.url}/app")
        page.click("#leave")
        page.fill("#plate", "AB 1234")
        page.click("#taxi-form button[type=submit]")
        page.wait_for_selector("#visit-sync[data-status=sent]")
        with site.services.store.read() as uow:
            taxi = uow.connection.exec_driver_sql(
                "SELECT count(*) FROM visits v JOIN venues t ON t.id = v.venue_id WHERE t.plate = 'AB1234'"
            ).scalar_one()
        assert taxi == 1


def test_a_used_enrolment_code_is_refused_on_the_second_phone(plain_browser: Browser, site: Site) -> None:
    code = site.services.accounts.issue_enrolment_code("P001", ADMIN).secret
    first, second = open_phone(plain_browser, site, "en"), open_phone(plain_browser, site, "zh-Hant")
    try:
        for phone in (first, second):
            visit(phone.page, f"{site.url}/app/enrol#{code}")
            phone.page.click("#enrol-form button[type=submit]")
        wait_for(lambda: enrolled(first.page), "the first phone's app token")
        second.page.wait_for_selector("#enrol-status:not(:empty)")
        assert second.page.inner_text("#enrol-status") == "代碼無效：可能已被使用或已過期。請索取新的代碼。"
        assert second.page.evaluate("localStorage.getItem('chaincut.app')") is None
    finally:
        first.context.close()
        second.context.close()


def test_the_posters_token_never_reaches_the_server(
    plain_browser: Browser, site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="uvicorn.access")
    with phone_in(plain_browser, site, "en") as phone:
        visit(phone.page, f"{site.url}/v#{site.token}")
        phone.page.wait_for_selector("#venue:not([hidden])")
    lines = [r.getMessage() for r in caplog.records if r.name == "uvicorn.access"]
    assert any('"GET /v HTTP/1.1" 200' in line for line in lines), lines
    signature = site.token.rsplit(".", 1)[1]
    assert not any("CHAINCUT" in line or signature in line for line in lines)
    assert all(site.token not in u and signature not in u for u in phone.requests)


# --- the code, the exposure check, the data report, a border booking ----------------------------


def seed_exposure(site: Site, page: Page) -> None:
    """Two days ago P001 lunched at the restaurant from 12:00 to 13:00 (the phone's diary holds it, and
    the check-in reached the server then); P002, there from 12:30, fell ill yesterday and is a case."""
    services = site.services
    zone = services.settings.zone
    day = (services.clock.now().astimezone(zone) - timedelta(days=2)).date()
    noon = datetime.combine(day, datetime.min.time(), tzinfo=zone) + timedelta(hours=12)
    for ref, start in (("P001", noon), ("P002", noon + timedelta(minutes=30))):
        request = CheckInRequest(
            person_ref=ref,
            client_id=f"lunch-{ref}",
            token=site.token,
            plate=None,
            at=start,
            actor="t",
            venue_only=None,
        )
        services.checkins.check_in(request)
        services.checkins.check_out(ref, f"lunch-{ref}", start + timedelta(hours=1))
    services.cases.register(
        CaseDraft(ref="C-1", person="P002", classification="local", onset_on=day + timedelta(days=1)), "tests"
    )
    venue = services.venues.get("V-TAIHING")
    diary = {
        "client_id": "lunch-P001",
        "venue_id": venue.public_id,
        "venue_type": "restaurant",
        "name_en": NAME_EN,
        "name_zh": NAME_ZH,
        "plate": None,
        "token": site.token,
        "entered_at": noon.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "left_at": (noon + timedelta(hours=1)).astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "left_inferred": False,
        "default_stay_minutes": 90,
        "status": "sent",
    }
    page.evaluate(
        """visit => new Promise((resolve, reject) => {
            const open = indexedDB.open("chaincut", 1);
            open.onsuccess = () => {
                const t = open.result.transaction("visits", "readwrite");
                t.objectStore("visits").put(visit);
                t.oncomplete = () => resolve(true);
                t.onerror = () => reject(t.error);
            };
            open.onerror = () => reject(open.error);
        })""",
        diary,
    )


@pytest.mark.parametrize("lang", ["en", "zh-Hant"])
def test_the_exposure_check_the_code_my_data_and_a_booking(
    plain_browser: Browser, site: Site, screenshots: Path, tmp_path: Path, lang: str
) -> None:
    en = lang == "en"
    site.services.code_keys.init(ADMIN)
    with phone_in(plain_browser, site, lang) as phone:
        page = phone.page
        enrol(phone, site)
        seed_exposure(site, page)

        # The exposure check: the phone fetches the list and matches it; the server is never told.
        visit(page, f"{site.url}/app/visits")
        page.wait_for_selector("#exposure.alert")
        matches = page.locator("#exposure-matches li").all_inner_texts()
        assert len(matches) == 1 and (NAME_EN if en else NAME_ZH) in matches[0]
        advice = page.inner_text("#exposure-test")
        assert ("within 2 days" if en else "2 日內") in advice
        assert page.get_attribute("#exposure-advice a", "href") == site.services.settings.test_booking_url
        risky = [u for u in phone.requests if "/risky-venues?" in u]
        assert len(risky) == 1 and "lunch" not in risky[0] and site.token not in risky[0]
        fits_the_phone(page)
        checked(page, screenshots, f"resident-exposure-{lang}")

        # My code: amber for a close contact, the reason and its end, and a QR a scanner reads.
        visit(page, f"{site.url}/app/code")
        page.wait_for_selector("#code-card .code-card")
        assert page.get_attribute("#code-card .code-card", "class") == "code-card code-amber"
        reasons = page.locator(".code-reasons li").all_inner_texts()
        assert len(reasons) == 1 and (NAME_EN if en else NAME_ZH) in reasons[0]
        qr = page.locator("svg.code-qr")
        box = qr.bounding_box()
        assert box is not None and box["width"] >= 300  # most of a phone's width
        qr.screenshot(path=str(tmp_path / "code.png"))
        read = zxingcpp.read_barcodes(
            Image.open(tmp_path / "code.png"), formats=zxingcpp.BarcodeFormat.QRCode
        )
        assert len(read) == 1 and read[0].text.startswith("CC1:")
        with site.services.store.read() as uow:
            issued = uow.connection.exec_driver_sql("SELECT count(*) FROM issued_codes").scalar_one()
        assert issued == 1
        fits_the_phone(page)
        checked(page, screenshots, f"resident-code-{lang}")

        # My data: the access report, with the lunch in it.
        visit(page, f"{site.url}/app/data")
        page.wait_for_selector("#data-report h2")
        report = page.inner_text("#data-report")
        assert "P001" in report and NAME_EN in report
        fits_the_phone(page)  # its wide tables scroll in their own boxes
        checked(page, screenshots, f"resident-data-{lang}")

        # A crossing with a companion, then cancelled.
        visit(page, f"{site.url}/app/border")
        page.wait_for_selector("input[name=slot]")
        page.check("input[name=slot]:not([disabled]) >> nth=0")
        page.fill("#book-document", "A1234567")
        page.click("#add-companion")
        page.fill("#companions input", "B7654321")
        fits_the_phone(page)
        checked(page, screenshots, f"resident-border-{lang}")
        page.click("#book-form button[type=submit]")
        page.wait_for_selector("#my-bookings li[data-status=booked]")
        assert page.inner_text("#book-result") == ("Booked." if en else "已預約。")
        assert ("2 travellers" if en else "2 名旅客") in page.inner_text("#my-bookings li")
        page.click("#my-bookings li[data-status=booked] button")
        page.wait_for_selector("#my-bookings li[data-status=cancelled]")
        only_chaincut(phone, site)
        assert not phone.errors, phone.errors


def test_a_supervisor_issues_a_code_on_the_person_page_and_the_phone_enrols_and_sends_its_diary(
    plain_browser: Browser, site: Site, screenshots: Path
) -> None:
    site.services.accounts.add("sam", PASSWORD, frozenset({Role.SUPERVISOR}), ADMIN)
    desk = plain_browser.new_context(locale="en-GB", viewport={"width": 1200, "height": 900})
    desk_page = desk.new_page()
    with phone_in(plain_browser, site, "en") as phone:
        page = phone.page
        # Before enrolling, a taxi ride the phone keeps to itself.
        visit(page, f"{site.url}/app")
        page.fill("#plate", "AB 1234")
        page.click("#taxi-form button[type=submit]")
        page.wait_for_selector("#visit-sync[data-status=phone_only]")

        sign_in(desk_page, site.url, "sam")
        desk_page.goto(f"{site.url}/console/people/P001")
        desk_page.fill("#purpose", "enrolling the resident's phone at the counter")
        with desk_page.expect_navigation():
            desk_page.keyboard.press("Enter")
        with desk_page.expect_navigation():
            desk_page.click("form[action='/console/people/P001/enrolment'] button")
        code = desk_page.inner_text(".enrolment-code code")
        assert desk_page.locator("svg.kiosk-qr").count() == 1
        checked(desk_page, screenshots, "person-enrolment-en")

        visit(page, f"{site.url}/app/enrol")
        page.fill("#code", code.lower().replace("-", " "))  # typed by hand, as people do
        page.click("#enrol-form button[type=submit]")
        wait_for(lambda: enrolled(page), "the phone's app token")

        # Asked by a tracer, the resident sends the diary: the ride the phone kept reaches the store.
        visit(page, f"{site.url}/app/visits")
        page.click("#upload")
        page.wait_for_selector("#upload-status:not(:empty)")
        assert page.inner_text("#upload-status") == "Your visits were sent to the health authority."
        with site.services.store.read() as uow:
            rides = uow.connection.exec_driver_sql(
                "SELECT count(*) FROM visits v JOIN venues t ON t.id = v.venue_id JOIN people p "
                "ON p.id = v.person_id WHERE t.plate = 'AB1234' AND p.ref = 'P001'"
            ).scalar_one()
        assert rides == 1
        with site.services.store.read() as uow:
            actions = [r.event.action for r in uow.audit.find() if r.event.action.startswith("enrolments.")]
        assert actions == ["enrolments.issue", "enrolments.redeem"]
        desk.close()


def test_the_app_installs_its_manifest_names_icons_that_exist(site: Site) -> None:
    import json
    import urllib.request

    with urllib.request.urlopen(f"{site.url}/manifest.webmanifest?lang=zh-Hant") as answer:  # noqa: S310 - loopback
        manifest = json.loads(answer.read())
    assert (
        manifest["start_url"] == "/app"
        and manifest["lang"] == "zh-Hant"
        and manifest["display"] == "standalone"
    )
    for icon in manifest["icons"]:
        with urllib.request.urlopen(site.url + icon["src"]) as answer:  # noqa: S310 - loopback
            image = Image.open(io.BytesIO(answer.read()))
        assert f"{image.width}x{image.height}" == icon["sizes"]
    with urllib.request.urlopen(f"{site.url}/sw.js") as answer:  # noqa: S310 - loopback
        worker = answer.read().decode()
    for path in ("/v", "/app", "/app/visits", "/static/resident.js"):
        assert f'"{path}"' in worker  # the shell it keeps for offline use


def test_a_phone_handed_to_another_person_never_sends_the_first_ones_check_ins_as_theirs(
    plain_browser: Browser, site: Site
) -> None:
    site.services.people.register(PersonDraft(ref="P003"))
    with phone_in(plain_browser, site, "en") as phone:
        page = phone.page
        enrol(phone, site)
        visit(page, f"{site.url}/v#{site.token}")
        page.wait_for_selector("#venue:not([hidden])")
        page.evaluate("navigator.serviceWorker.ready.then(() => true)")
        offline(phone.context, now=True)
        page.click("#check-in")  # P001's check-in, queued
        page.wait_for_selector("#visit-sync[data-status=waiting]")
        visit(page, f"{site.url}/app/enrol")
        page.click("#forget")
        page.wait_for_selector("#enrolment-note:has-text('no longer holds')")
        offline(phone.context, now=False)
        code = site.services.accounts.issue_enrolment_code("P003", ADMIN).secret
        page.fill("#code", code)
        page.click("#enrol-form button[type=submit]")
        wait_for(lambda: enrolled(page), "the phone's new app token")
        visit(page, f"{site.url}/app/visits")
        page.wait_for_timeout(500)
        with site.services.store.read() as uow:
            stored = uow.connection.exec_driver_sql("SELECT count(*) FROM visits").scalar_one()
        assert stored == 0  # neither as P003 nor, late, as P001
        assert page.get_attribute("#diary li .diary-status", "data-status") == "phone_only"


def test_a_revoked_phone_is_told_so_on_its_code_page(plain_browser: Browser, site: Site) -> None:
    site.services.code_keys.init(ADMIN)
    with phone_in(plain_browser, site, "en") as phone:
        enrol(phone, site)
        site.services.accounts.revoke_device_tokens(ADMIN, person_ref="P001")
        site.services.principals.forget_all()
        visit(phone.page, f"{site.url}/app/code")
        phone.page.wait_for_selector("#code-status:has-text('enrolment has ended')")
        assert phone.page.inner_html("#code-card") == ""  # no sign-in page put into the card


def test_a_stay_nobody_ends_ends_after_the_venue_types_usual_stay(plain_browser: Browser, site: Site) -> None:
    with phone_in(plain_browser, site, "en") as phone:
        page = phone.page
        page.clock.install()  # the phone's own clock, moved on below: the server keeps real time
        enrol(phone, site)
        visit(page, f"{site.url}/v#{site.token}")
        page.wait_for_selector("#venue:not([hidden])")
        page.click("#check-in")
        page.wait_for_selector("#visit-sync[data-status=sent]")
        stay = site.services.policy.venue_rule("restaurant").default_stay_minutes
        assert "If you have not left by" in page.inner_text("#visit-auto")
        page.clock.fast_forward(f"{stay // 60:02d}:{stay % 60:02d}:01")
        page.wait_for_selector("#visit-heading:has-text('Left automatically')")
        assert page.is_hidden("#leave")
        stored = page.evaluate(
            """() => new Promise((resolve) => {
                const open = indexedDB.open("chaincut", 1);
                open.onsuccess = () => {
                    const get = open.result.transaction("visits").objectStore("visits").getAll();
                    get.onsuccess = () => resolve(get.result);
                };
            })"""
        )
        (entry,) = stored
        minutes = (
            datetime.fromisoformat(entry["left_at"]) - datetime.fromisoformat(entry["entered_at"])
        ).seconds // 60
        assert entry["left_inferred"] is True and minutes == stay


def test_an_old_poster_holding_a_bare_token_is_scanned_in_the_app(
    site: Site, tmp_path: Path, playwright: Playwright
) -> None:
    # Posters printed before held "CHAINCUT:1:..." alone: a phone's camera app shows it as text, but the
    # app's own scanner reads it and checks in.
    bare = segno.make(site.token, error="q", mode="byte")
    picture = io.BytesIO()
    bare.save(picture, kind="png", scale=6, border=4)
    browser = launch_chromium(playwright, camera_flags(write_y4m(picture.getvalue(), tmp_path / "old.y4m")))
    try:
        phone = open_phone(browser, site, "en")
        enrol(phone, site)
        visit(phone.page, f"{site.url}/app")
        with phone.page.expect_navigation(url=lambda u: u.startswith(f"{site.url}/v#CHAINCUT:1:")):
            phone.page.click("#scan-start")
        phone.page.wait_for_selector("#venue:not([hidden])")
        phone.page.click("#check-in")
        phone.page.wait_for_selector("#visit-sync[data-status=sent]")
        assert len(visits_of_p001(site.services)) == 1
    finally:
        browser.close()
