"""End to end in a browser: a border officer signs in, scans travellers' codes and reads the verdict.

The app is served by uvicorn on a loopback port with the test's services (embedded
store, a fixed clock in the afternoon slot); headless Chromium fills in the forms. The
codes are real: signed for residents who booked and tested, and verified by the server.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page

from chaincut.api import create_app
from chaincut.bootstrap import Services
from chaincut.clock import FixedClock
from chaincut.domain.access import Principal, Role
from chaincut.people import PersonDraft
from support.auth import PASSWORD, resident_headers, staff_headers
from support.serving import ThreadedServer, browser_services, free_port

NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)  # 12:00 in Hong Kong: the afternoon slot
TODAY = date(2026, 11, 20)


@pytest.fixture
def checkpoint(tmp_path: Path) -> Iterator[tuple[str, Services, TestClient]]:
    services = browser_services(tmp_path / "data", FixedClock(NOW))
    services.code_keys.init(Principal.system("test"))
    services.accounts.add(
        "officer-wong", PASSWORD, frozenset({Role.BORDER_OFFICER}), Principal.system("test")
    )
    app = create_app(services, schedule_maintenance=False)
    port = free_port()
    try:
        with ThreadedServer(app, port), TestClient(app) as api:
            yield f"http://127.0.0.1:{port}", services, api
    finally:
        services.close()


def _signed_code(
    services: Services,
    api: TestClient,
    ref: str,
    doc: str,
    *,
    tested: bool,
    book: tuple[str, ...] | None = (),
) -> str:
    """A resident's signed code; with ``book`` they booked this afternoon (with those companions),
    with None they did not (someone else's booking lists them)."""
    services.people.register(PersonDraft(ref=ref, id_document=doc, name=f"Traveller {ref}"))
    app = resident_headers(services, ref)
    if book is not None:
        booking = {"request_id": f"r-{ref}", "id_document": doc, "day": TODAY.isoformat(), "companions": book}
        booked = api.post(
            "/border/bookings", headers=app, json={**booking, "checkpoint": "man_kam_to", "slot": "afternoon"}
        )
        assert booked.status_code == 201, booked.text
    if tested:
        desk = staff_headers(
            services, Role.SUPERVISOR, username="lab-desk", purpose="recording a test result"
        )
        taken = (NOW - timedelta(hours=6)).isoformat()
        recorded = api.post(
            f"/people/{ref}/tests",
            headers=desk,
            json={"taken_at": taken, "kind": "pcr", "result": "negative"},
        )
        assert recorded.status_code == 201, recorded.text
    signed = api.get("/me/code/signed", headers=app)
    assert signed.status_code == 200, signed.text
    qr: str = signed.json()["qr"]
    return qr


def _scan(page: Page, qr: str) -> None:
    page.select_option("#checkpoint", "man_kam_to")
    page.fill("#qr", qr)
    page.click("form[enctype] button[type=submit]")


def test_an_officer_clears_one_traveller_and_refuses_another_with_reasons(
    checkpoint: tuple[str, Services, TestClient], page: Page
) -> None:
    base, services, api = checkpoint
    good = _signed_code(services, api, "T1", "M123456(7)", tested=True)
    untested = _signed_code(services, api, "T2", "N7654321", tested=False)

    page.goto(f"{base}/checkpoint?lang=en")
    assert "/login" in page.url  # not signed in yet
    page.fill("#username", "officer-wong")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/console**")
    page.click("a[href='/checkpoint']")

    _scan(page, good)
    assert page.inner_text("#verdict").split() == ["CLEARED", "准許通關"]  # both languages
    _scan(page, good)  # the same code again: a replay
    assert page.inner_text("#verdict").split()[0] == "REFUSED"
    assert page.locator("li[data-code=code_replayed]").count() == 1

    _scan(page, untested)
    assert page.inner_text("#verdict").split()[0] == "REFUSED"
    assert page.locator("li[data-code=no_negative_test]").count() == 1
    assert page.locator("li[data-code=code_replayed]").count() == 0

    # The one crossing is recorded: the code and its booking are spent.
    with services.store.read() as uow:
        codes, bookings = uow.clearances.crossed_on(TODAY)
    assert len(codes) == 1 and len(bookings) == 1


def test_a_photo_of_the_code_is_read_and_decided(
    checkpoint: tuple[str, Services, TestClient], page: Page, tmp_path: Path
) -> None:
    base, services, api = checkpoint
    qr = _signed_code(services, api, "T3", "P1111111", tested=True)
    from chaincut.codes.issuance import code_qr_png

    photo = tmp_path / "code.png"
    photo.write_bytes(code_qr_png(qr))
    page.goto(f"{base}/login?lang=zh-Hant")
    page.fill("#username", "officer-wong")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/console**")
    page.goto(f"{base}/checkpoint?lang=zh-Hant")
    page.select_option("#checkpoint", "man_kam_to")
    page.set_input_files("#image", str(photo))
    page.click("form[enctype] button[type=submit]")
    assert page.inner_text("#verdict").split() == ["准許通關", "CLEARED"]  # the page's language first
    assert "下午時段" in page.inner_text("#party")  # the slot in the page's language, not the policy's key


def test_a_companion_is_cleared_on_their_own_code_and_the_page_says_who_they_are(
    checkpoint: tuple[str, Services, TestClient], page: Page
) -> None:
    base, services, api = checkpoint
    lead = _signed_code(services, api, "T4", "Q4444444", tested=False, book=("R5555555",))
    companion = _signed_code(services, api, "T5", "R5555555", tested=True, book=None)
    page.goto(f"{base}/login?lang=en")
    page.fill("#username", "officer-wong")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/console**")
    page.goto(f"{base}/checkpoint?lang=en")

    _scan(page, companion)
    assert page.inner_text("#verdict").split()[0] == "CLEARED"
    party = page.locator("#party")
    assert (party.get_attribute("data-place"), party.get_attribute("data-travellers")) == ("1", "2")
    assert "companion 1" in party.inner_text() and "their own code" in party.inner_text()
    # The lead, untested, is refused on their own code: the companion's clearance carried nobody.
    _scan(page, lead)
    assert page.inner_text("#verdict").split()[0] == "REFUSED"
    assert page.locator("li[data-code=no_negative_test]").count() == 1
    assert page.locator("#party").get_attribute("data-place") == "0"
    _scan(page, companion)  # the same companion again
    assert page.locator("li[data-code=code_replayed]").count() == 1
    assert page.locator("li[data-code=booking_used]").count() == 1
