"""A staff member at a desk in headless Chromium: a window in their language, signing in, and
each page checked with axe-core and kept as a screenshot."""

from __future__ import annotations

from pathlib import Path

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page

from support.auth import PASSWORD

__all__ = ["LOCALES", "checked", "open_window", "sign_in"]

LOCALES = {"en": "en-GB", "zh-Hant": "zh-HK"}


def open_window(browser: Browser, lang: str) -> tuple[BrowserContext, Page]:
    """A browser window in ``lang`` (a desk's screen), and its page."""
    context = browser.new_context(locale=LOCALES[lang], viewport={"width": 1200, "height": 900})
    context.set_default_timeout(15_000)
    return context, context.new_page()


def sign_in(page: Page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.click("main button[type=submit]")


def checked(page: Page, screenshots: Path, name: str) -> None:
    """No axe-core violation on the page; a full-page screenshot named ``name``."""
    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()
    page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)
