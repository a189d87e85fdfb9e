"""Private check-in (CrowdNotifier) on a resident's phone, in headless Chromium (390 x 844, both
languages): a poster's address opens the check-in page, which checks the authority's signature,
keeps the check-in on the phone and sends nothing; leaving seals it (one IBE ciphertext per hour,
made in the browser with mcl's WebAssembly); once a supervisor publishes a warning, the phone's
exposure check finds it by itself and shows the authority's message. A forged poster is refused."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, Playwright, Response

from chaincut.bootstrap import Services
from chaincut.domain.access import Principal
from chaincut.people import PersonDraft
from chaincut.presence.protocol import b64encode, setup_server_location
from chaincut.tracing.case_checks import CaseDraft
from chaincut.venues.registry import VenueDraft
from support.camera import launch_chromium
from support.desk import LOCALES, checked
from support.serving import browser_services, served

TRACER = Principal.system("tracer")
REVIEWER = Principal.system("reviewer")
PHONE = {"width": 390, "height": 844}
# What the phone keeps, read from its IndexedDB (evaluate runs outside the page's CSP).
KEPT_VISITS = """async () => {
    const db = await new Promise((ok) => {
        const r = indexedDB.open("chaincut", 1);
        r.onsuccess = () => ok(r.result);
    });
    return await new Promise((ok) => {
        const r = db.transaction("visits").objectStore("visits").getAll();
        r.onsuccess = () => ok(r.result);
    });
}"""
MESSAGE = "A person with COVID-19 was at this place while you were there. Get tested today."


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[str, Services]]:
    services = browser_services(tmp_path / "data")
    services.people.register(PersonDraft(ref="P-CASE"))
    services.cases.register(
        CaseDraft(ref="C1", person="P-CASE", classification="local", onset_on=datetime.now(UTC).date()),
        "tests",
    )
    with served(services) as url:
        yield url, services


def ready(page: Page, url: str) -> None:
    page.goto("about:blank")  # another poster's address on /v would only change the fragment
    page.goto(url)
    for _ in range(300):  # evaluate runs outside the page's CSP (wait_for_function would not)
        if page.evaluate("document.body.dataset.ready === 'true'"):
            return
        time.sleep(0.05)
    raise AssertionError(f"{url} never got ready")


def local_path(address: str) -> str:
    """A poster's address on this test server (the poster names the public host)."""
    return "/v#" + address.split("#", 1)[1]


def warn(services: Services, venue_ref: str, arrived: datetime, tracing_code: bytes | None) -> None:
    proposed = services.presence.propose(
        TRACER,
        "C1",
        venue_ref,
        arrived - timedelta(minutes=10),
        datetime.now(UTC),
        MESSAGE,
        tracing_code=tracing_code,
    )
    services.presence.review(REVIEWER, proposed.public_id, publish=True, reason="the case confirmed it")


@pytest.mark.parametrize("lang", ["en", "zh-Hant"])
def test_a_phone_checks_in_privately_and_finds_its_exposure_by_itself(
    playwright: Playwright, site: tuple[str, Services], screenshots: Path, lang: str
) -> None:
    url, services = site
    en = lang == "en"
    basic = services.presence.register_venue(
        VenueDraft("restaurant", "Harbour Noodles", "海港麵家", ref="V-B"), "basic"
    )
    server = services.presence.register_venue(VenueDraft("bar", "Open Bar", "開放酒吧", ref="V-S"), "server")
    services.presence.register_venue(VenueDraft("gym", "Far Gym", "遠健身室", ref="V-X"), "server")
    opened = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)  # its entry code's validity
    browser = launch_chromium(playwright, [])
    context = browser.new_context(locale=LOCALES[lang], viewport=PHONE, is_mobile=True, has_touch=True)
    context.set_default_timeout(20_000)
    page = context.new_page()
    sent: list[str] = []
    page.on("request", lambda r: sent.append(f"{r.method} {r.url}"))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
    try:
        # A forged poster (a valid CrowdNotifier code the authority never signed) is refused.
        forged = setup_server_location(
            services.presence.keys().master_public,
            "Fake Cafe",
            "Nowhere",
            datetime.now(UTC) - timedelta(days=1),
            datetime.now(UTC) + timedelta(days=1),
        )
        header, _, signature = local_path(basic.entry_url).split(":3:", 1)[1].split(".")
        ready(page, f"{url}/v#CROWDNOTIFIER:3:{header}.{b64encode(forged)}.{signature}")
        assert page.is_visible("#poster-status.problem") and not page.is_visible("#venue")

        # The basic venue: check in, nothing sent; leave: sealed, its name gone from the phone.
        arrived = datetime.now(UTC)
        ready(page, url + local_path(basic.entry_url))
        page.wait_for_selector("#venue:not([hidden])")
        assert page.inner_text("#venue-name-en") == "Harbour Noodles 海港麵家"
        checked(page, screenshots, f"private-checkin-{lang}")
        before = len(sent)
        page.click("#check-in")
        page.wait_for_selector("#visit:not([hidden])")
        assert page.get_attribute("#visit-sync", "data-status") == "private"
        page.click("#leave")
        page.wait_for_selector("#leave[hidden]", state="attached")
        assert not [r for r in sent[before:] if r.startswith("POST")], "a private check-in sends nothing"

        # The server-based venue: its hours' identities are kept, to find a warning by them.
        ready(page, url + local_path(server.entry_url))
        page.click("#check-in")
        page.wait_for_selector("#visit:not([hidden])")
        page.click("#leave")
        page.wait_for_selector("#leave[hidden]", state="attached")
        kept = page.evaluate(KEPT_VISITS)
        assert len(kept) == 2 and all(v["records"] and "payload" not in v for v in kept)
        by_name = {bool(v["name_en"]): v for v in kept}
        assert by_name[False]["identities"] is None, "nothing on the phone names the basic venue"
        assert by_name[True]["name_en"].startswith("Open Bar") and by_name[True]["identities"]
        assert not [r for r in sent if r.startswith("POST")]

        # Back at the bar, still there when the warnings come: not sealed yet, so not matched yet.
        ready(page, url + local_path(server.entry_url))
        page.click("#check-in")
        page.wait_for_selector("#visit:not([hidden])")

        ready(page, f"{url}/app/visits")
        assert len(page.locator("#diary li").all_inner_texts()) == 3
        page.wait_for_selector(
            "#exposure-status:has-text('Checked at')" if en else "#exposure-status:has-text('檢查時間')"
        )
        checked(page, screenshots, f"private-diary-{lang}")

        # A supervisor publishes warnings for both venues; the phone's check finds both, here. The
        # case's window ends now (a whole second after the phone left: times are whole seconds).
        time.sleep(1.1)
        # Elsewhere, many others' warnings first: a page of 150 KB and more (read in slices: a
        # spread of that many bytes overflows the call stack).
        for _ in range(600):
            far = services.presence.propose(TRACER, "C1", "V-X", opened, datetime.now(UTC), MESSAGE)
            services.presence.review(REVIEWER, far.public_id, publish=True, reason="many cases went there")
        warn(services, "V-B", arrived, basic.tracing_code)
        warn(services, "V-S", arrived, None)
        page.click("#exposure-check")
        page.wait_for_selector("#exposure.alert")
        matches = page.locator("#exposure-matches li").all_inner_texts()
        assert len(matches) == 2 and all(MESSAGE in m for m in matches), matches
        assert any(("A private check-in" if en else "私人登記") in m for m in matches)
        checked(page, screenshots, f"private-exposure-{lang}")

        # Leaving seals the stay; the next check reads the same pages again and finds it too.
        ready(page, f"{url}/app")
        page.click("#leave")
        page.wait_for_selector("#leave[hidden]", state="attached")
        ready(page, f"{url}/app/visits")
        page.click("#exposure-check")
        for _ in range(200):
            if len(page.locator("#exposure-matches li").all_inner_texts()) == 3:
                break
            time.sleep(0.1)
        assert len(page.locator("#exposure-matches li").all_inner_texts()) == 3
        assert not errors, errors
    finally:
        context.close()
        browser.close()


def often(services: Services) -> dict[str, object]:
    """``/presence/config`` as the server answers it, but asking for a dummy a second."""
    config = services.presence.config()
    return {
        "authority_public_key": b64encode(config.authority_public_key),
        "master_public_key": b64encode(config.master_public_key),
        "records_days": config.records_days,
        "max_checkins_per_day": config.max_checkins_per_day,
        "max_warning_hours": config.max_warning_hours,
        "dummy_requests_per_hour": 3600,
        "interval_seconds": 3600,
    }


def enrol(page: Page, url: str, services: Services, person: str) -> None:
    """The phone enrolled as ``person`` (its app token in localStorage, as the enrolment page keeps it)."""
    ready(page, f"{url}/app")
    token = services.accounts.issue_resident_token(person, Principal.system("counter")).secret
    page.evaluate(
        "([token, person]) => localStorage.setItem('chaincut.app', JSON.stringify({ token, person }))",
        [token, person],
    )


def stay(page: Page, url: str, entry_url: str) -> None:
    ready(page, url + local_path(entry_url))
    page.click("#check-in")
    page.wait_for_selector("#visit:not([hidden])")
    page.click("#leave")
    page.wait_for_selector("#leave[hidden]", state="attached")


@pytest.mark.parametrize("lang", ["en", "zh-Hant"])
def test_by_choice_a_phone_reports_its_match_and_a_case_shares_its_private_check_ins(
    playwright: Playwright, site: tuple[str, Services], screenshots: Path, lang: str
) -> None:
    url, services = site
    services.people.register(PersonDraft(ref="P-VISITOR"))
    server = services.presence.register_venue(VenueDraft("bar", "Open Bar", "開放酒吧", ref="V-S"), "server")
    browser = launch_chromium(playwright, [])
    context = browser.new_context(locale=LOCALES[lang], viewport=PHONE, is_mobile=True, has_touch=True)
    context.set_default_timeout(20_000)
    page = context.new_page()
    posted: list[tuple[str, str | None, int]] = []
    page.on(
        "request",
        lambda r: (
            posted.append((r.url, r.headers.get("chaincut-fake"), len(r.post_data_buffer or b"")))
            if r.method == "POST"
            else None
        ),
    )
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        enrol(page, url, services, "P-VISITOR")
        arrived = datetime.now(UTC)
        stay(page, url, server.entry_url)
        time.sleep(1.1)
        warn(services, "V-S", arrived, None)
        ready(page, f"{url}/app/visits")
        page.click("#exposure-check")
        page.wait_for_selector("#exposure.alert")
        assert services.codes.current("P-VISITOR").colour == "green", "a match stays on the phone"
        assert not [p for p in posted if "/presence/reports" in p[0] and p[1] == "0"]
        page.wait_for_selector(".exposure-report button")
        checked(page, screenshots, f"private-report-{lang}")
        page.click(".exposure-report button")
        page.wait_for_selector(
            ".exposure-report p:has-text('%s')" % ("You told" if lang == "en" else "你已向")
        )
        code = services.codes.current("P-VISITOR")
        assert code.colour == "amber" and [r.rule for r in code.reasons] == ["risky_visit"]
        report = next(p for p in posted if p[0].endswith("/presence/reports") and p[1] == "0")
        assert report[2] % 4096 == 0, "a real report, padded to 4 KiB"
        ready(page, f"{url}/app/visits")  # the report is remembered: no button again
        page.wait_for_selector(".exposure-report p")
        assert not page.locator(".exposure-report button").count()

        # The case's own phone shares its private check-in: it joins the case's whereabouts.
        case_phone = browser.new_context(locale=LOCALES[lang], viewport=PHONE, is_mobile=True, has_touch=True)
        case_phone.set_default_timeout(20_000)
        case_page = case_phone.new_page()
        enrol(case_page, url, services, "P-CASE")
        stay(case_page, url, server.entry_url)
        ready(case_page, f"{url}/app/visits")
        case_page.click("#share")
        case_page.wait_for_selector("#share-status:has-text('1')")
        checked(case_page, screenshots, f"private-share-{lang}")
        with services.store.read() as uow:
            person_id = uow.people.id_for_ref("P-CASE")
            assert person_id is not None
            visits = uow.visits.of_person(person_id, 0, 2**40)
        assert [v.source.value for v in visits] == ["crowdnotifier"]
        assert not errors, errors
    finally:
        context.close()
        browser.close()


def test_an_enrolled_phone_sends_dummies_the_server_answers_alike_and_forgets(
    playwright: Playwright, site: tuple[str, Services]
) -> None:
    url, services = site
    services.people.register(PersonDraft(ref="P-VISITOR"))
    browser = launch_chromium(playwright, [])
    # Without the service worker, which would fetch the config past the route.
    context = browser.new_context(viewport=PHONE, is_mobile=True, service_workers="block")
    page = context.new_page()

    config = often(services)
    page.route("**/presence/config", lambda route: route.fulfill(json=config))
    responses: list[Response] = []
    page.on("response", lambda r: responses.append(r) if r.request.method == "POST" else None)
    try:
        enrol(page, url, services, "P-VISITOR")
        ready(page, f"{url}/app/visits")
        for _ in range(200):
            if len(responses) >= 4:
                break
            page.wait_for_timeout(100)  # lets Playwright deliver the page's events
        # Dummies count against the upload rate limit as real ones do: take those answered before it.
        answered = [r for r in responses if r.status == 200]
        assert len(answered) >= 3, [(r.url, r.status) for r in responses]
        for r in answered:
            assert r.request.headers.get("chaincut-fake") == "1"
            assert r.url.rsplit("/", 1)[1] in {"reports", "shared-visits"}
            assert (
                len(r.request.post_data_buffer or b"") % 4096 == 0 and r.headers["content-length"] == "2048"
            )
        with services.store.read() as uow:
            assert uow.connection.exec_driver_sql("SELECT count(*) FROM presence_reports").scalar_one() == 0
    finally:
        context.close()
        browser.close()
