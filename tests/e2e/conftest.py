"""Headless Chromium for the browser tests, driven by Playwright.

Debian's chromium (/usr/bin/chromium, installed by scripts/install-system-deps) is used
when present, else Playwright's own build; without either the tests skip, except in CI.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from support.camera import launch_chromium


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    """One Playwright for the whole run (a second one cannot start in the same thread).

    Its offline switch misses requests that pass through a service worker (Playwright's issue
    2311): with service-worker network events on, a test can route those to a failure too.
    """
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PW_EXPERIMENTAL_SERVICE_WORKER_NETWORK_EVENTS", "1")
        with sync_playwright() as running:
            yield running


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = launch_chromium(playwright)
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
