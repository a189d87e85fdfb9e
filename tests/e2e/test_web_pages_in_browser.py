"""End to end in headless Chromium: the pages everyone meets, in English and Traditional Chinese.

The landing page, sign-in, the console, a page that does not exist and the checkpoint, each
checked with axe-core (no violations) and kept as a screenshot (``screenshots`` fixture), in the
language the browser asks for; and a member's choice of language, made with a click, kept
across sessions.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page
from sqlalchemy import update

from chaincut.clock import to_epoch
from chaincut.domain.access import Principal, Role
from chaincut.store.tables import cases
from support.auth import PASSWORD
from support.outbreak import seed
from support.serving import browser_services, served

USER = "lee-ka-yan"
LOCALES = {"en": "en-GB", "zh-Hant": "zh-HK"}


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("web-pages")
    services = browser_services(folder / "data")
    roles = frozenset({Role.TRACER, Role.SUPERVISOR, Role.BORDER_OFFICER, Role.ADMINISTRATOR})
    member = services.accounts.add(USER, PASSWORD, roles, Principal.system("test"))
    seed(services, {ref: (0, [], None) for ref in ("C-101", "C-102", "C-103", "C-201", "C-202")})
    now = to_epoch(services.clock.now())
    with services.store.write() as uow:  # reported 30, 12 and 2 hours ago: the first is overdue
        ids = uow.cases.ids_for(["C-101", "C-102", "C-103"])
        for ref, hours in (("C-101", 30), ("C-102", 12), ("C-103", 2)):
            uow.connection.execute(
                update(cases).where(cases.c.id == ids[ref]).values(created_at=now - hours * 3600)
            )
            uow.assignments.assign(ids[ref], member.id, at=now, by="staff:sup")
    services.approvals.request(
        Principal.system("tracer-wong"), "C-102", "the school asks for its pupils' list"
    )
    with served(services) as url:
        yield url


def _checked(page: Page, screenshots: Path, name: str) -> None:
    """No axe-core violation on the page; its screenshot kept."""
    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()
    page.set_viewport_size({"width": 1100, "height": 800})
    page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)


def _sign_in(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/login")
    page.fill("#username", USER)
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.click("main button[type=submit]")
    assert page.url == f"{base_url}/console"


@pytest.mark.parametrize("lang", ["en", "zh-Hant"])
def test_the_main_pages_in_the_browsers_language_pass_axe(
    browser: Browser, base_url: str, screenshots: Path, lang: str
) -> None:
    context = browser.new_context(locale=LOCALES[lang])
    page = context.new_page()
    try:
        page.goto(base_url)
        assert page.url == f"{base_url}/welcome"
        assert page.get_attribute("html", "lang") == lang
        assert page.inner_text("#for-staff") == ("For staff" if lang == "en" else "職員")
        _checked(page, screenshots, f"landing-{lang}")
        page.keyboard.press("Tab")  # from the keyboard, the first stop is the skip link
        assert page.evaluate("document.activeElement.className") == "skip"

        page.click("a.button")
        assert page.url == f"{base_url}/login"
        assert page.inner_text("h1") == ("Sign in" if lang == "en" else "登入")
        _checked(page, screenshots, f"login-{lang}")

        _sign_in(page, base_url)
        assert page.inner_text("#role-supervisor h2") == ("Supervisor" if lang == "en" else "督導人員")
        _checked(page, screenshots, f"console-{lang}")

        page.click("a[href='/console/cases']")
        assert page.inner_text("h1") == ("My cases" if lang == "en" else "我的個案")
        assert page.get_attribute("tr.overdue", "data-case") == "C-101"
        assert page.is_visible("tr.overdue .badge")
        _checked(page, screenshots, f"my-cases-{lang}")

        page.goto(f"{base_url}/console")
        page.click("a[href='/console/team']")
        assert page.get_attribute("#loads tbody tr", "data-tracer") == USER
        _checked(page, screenshots, f"team-{lang}")

        page.goto(f"{base_url}/console")
        page.click("a[href='/console/dashboard']")
        assert page.inner_text("h1") == ("Dashboard" if lang == "en" else "資訊板")
        assert page.locator("svg.day-chart").count() == 3
        _checked(page, screenshots, f"dashboard-{lang}")

        page.goto(f"{base_url}/console")
        page.click("a[href='/console/indicators']")
        assert page.inner_text("h1") == ("Tracing indicators" if lang == "en" else "追蹤指標")
        assert page.locator("section.indicator").count() == 4
        _checked(page, screenshots, f"indicators-{lang}")

        page.goto(f"{base_url}/console")
        page.click("a[href='/console/approvals']")
        assert "the school asks" in page.inner_text("section.request")
        _checked(page, screenshots, f"approvals-{lang}")

        page.goto(f"{base_url}/console")
        page.click("a[href='/console/audit']")
        page.fill("#value", USER)
        with page.expect_navigation():
            page.click("form.search button")
        assert page.locator("table.audit tbody tr").count() > 0
        with page.expect_navigation():
            page.click("button.secondary")
        assert page.get_attribute("#chain", "role") == "status"  # intact
        _checked(page, screenshots, f"audit-{lang}")

        page.goto(f"{base_url}/console")
        page.click("a[href='/console/keys']")
        assert page.inner_text("h1") == ("Code-signing keys" if lang == "en" else "簽碼密鑰")
        _checked(page, screenshots, f"keys-{lang}")

        page.goto(f"{base_url}/console")
        page.click("a[href='/console/purges']")
        page.check("#confirm-purge")
        with page.expect_navigation():
            page.click("main form button[type=submit]")
        assert page.is_visible("[role=status]") and page.locator("table.purges tbody tr").count() > 0
        _checked(page, screenshots, f"purges-{lang}")

        page.goto(f"{base_url}/console")
        page.click("a[href='/console/staff']")
        assert page.is_visible(f"#accounts tr[data-username='{USER}']")
        _checked(page, screenshots, f"staff-{lang}")

        response = page.goto(f"{base_url}/no-such-page")
        assert response is not None and response.status == 404
        assert page.inner_text("h1") == ("Not found" if lang == "en" else "找不到")
        _checked(page, screenshots, f"not-found-{lang}")

        page.goto(f"{base_url}/checkpoint")
        assert page.inner_text("h1") == ("Check a traveller" if lang == "en" else "查驗旅客")
        _checked(page, screenshots, f"checkpoint-{lang}")

    finally:
        context.close()


def test_a_members_language_is_chosen_with_a_click_and_kept_across_sessions(
    browser: Browser, base_url: str
) -> None:
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    try:
        _sign_in(page, base_url)
        assert page.inner_text("h1") == "Console"
        with page.expect_navigation():
            page.click("button[value='zh-Hant']")
        assert page.url == f"{base_url}/console"
        assert page.inner_text("h1") == "控制台"
        assert page.get_attribute("button[value='zh-Hant']", "aria-current") == "true"
        with page.expect_navigation():
            page.click("form.sign-out button")
        assert page.inner_text("h1") == "Sign in"  # signed out: the browser's language again
        _sign_in(page, base_url)
        assert page.inner_text("h1") == "控制台"  # signed in: their own choice
        with page.expect_navigation():
            page.click("button[value='en']")
        assert page.inner_text("h1") == "Console"
    finally:
        context.close()


def test_a_supervisor_assigns_cases_from_the_keyboard_and_the_tracer_has_them(
    browser: Browser, base_url: str
) -> None:
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    try:
        _sign_in(page, base_url)
        page.goto(f"{base_url}/console/team")
        page.focus("input[value='C-201']")
        page.keyboard.press("Space")
        page.select_option("#tracer", USER)
        with page.expect_navigation():
            page.focus("form.assign button[type=submit]")
            page.keyboard.press("Enter")
        assert page.inner_text("[role=status]") == f"1 case assigned to {USER}."
        assert page.is_visible("input[value='C-202']") and not page.is_visible("input[value='C-201']")
        page.goto(f"{base_url}/console/cases")
        assert page.is_visible("tr[data-case='C-201']")
    finally:
        context.close()


def test_a_supervisor_approves_an_export_in_the_browser(browser: Browser, base_url: str) -> None:
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    try:
        _sign_in(page, base_url)
        page.goto(f"{base_url}/console/approvals")
        with page.expect_navigation():
            page.click("button[value='zh-Hant']")  # the member's own choice, back on the same page
        assert page.url == f"{base_url}/console/approvals"
        page.fill("section.request textarea", "已致電校長核實")
        with page.expect_navigation():
            page.click("section.request button[value=approve]")
        assert page.inner_text("[role=status]") == "已批准：可以開始匯出。"
        assert page.inner_text("main p.card") == "沒有待決的申請。"
    finally:
        context.close()
