"""Headless Chromium for the browser tests, driven by Playwright.

Debian's chromium (/usr/bin/chromium, installed by scripts/install-system-deps) is used
when present, else Playwright's own build; without either the tests skip, except in CI.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from support.postgres import in_ci

SYSTEM_CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    executable = str(SYSTEM_CHROMIUM) if SYSTEM_CHROMIUM.exists() else None
    with sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(executable_path=executable, headless=True)
        except PlaywrightError as exc:
            reason = f"no Chromium for Playwright (apt-get install chromium): {str(exc)[:200]}"
            if in_ci():
                pytest.fail(reason, pytrace=False)
            pytest.skip(reason)
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context()
    ctx.set_default_timeout(15_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    opened = context.new_page()
    # The pages must work under the CSP (no inline scripts or styles): any violation is a failure.
    violations: list[str] = []
    opened.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    yield opened
    assert not violations, violations


SCREENSHOTS = Path(
    os.environ.get("CHAINCUT_SCREENSHOTS", Path(__file__).parents[2] / "test-artifacts" / "screenshots")
)


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """Where the tests keep screenshots of the main pages (CHAINCUT_SCREENSHOTS, else
    test-artifacts/screenshots in the checkout): CI keeps the folder as an artefact."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
