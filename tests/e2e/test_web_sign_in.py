"""End to end: a staff member signs in and out in a real browser, against the real server.

``chaincut serve`` runs as a subprocess (embedded store, development secrets, plain
http on 127.0.0.1, so CHAINCUT_SECURE_COOKIES=false); headless Chromium, driven by
Playwright, fills in the forms. Debian's chromium (/usr/bin/chromium, installed by
scripts/install-system-deps) is used when present, else Playwright's own build.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page

from support.auth import PASSWORD
from support.serving import chaincut_command, chaincut_serve

USERNAME = "alice"
SYSTEM_CHROMIUM = Path("/usr/bin/chromium")
FAILED_EN = "Sign-in failed: wrong username or password, or the account is locked or disabled."


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory, log_dir: Path) -> Iterator[str]:
    """A running ``chaincut serve`` with one staff account (tracer and supervisor)."""
    command = chaincut_command()
    home = tmp_path_factory.mktemp("web-sign-in")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "CHAINCUT_DATA_DIR": str(home / "data"),
        "CHAINCUT_ENV": "development",
        "CHAINCUT_SECURE_COOKIES": "false",
    }
    for step in (["db", "upgrade"], ["users", "add", USERNAME, "--role", "tracer", "--role", "supervisor"]):
        done = subprocess.run(
            [command, *step],
            env={**env, "CHAINCUT_NEW_PASSWORD": PASSWORD},
            capture_output=True,
            text=True,
            timeout=120,
        )
        (log_dir / f"web-sign-in-{step[0]}.log").write_text(done.stdout + done.stderr, encoding="utf-8")
        assert done.returncode == 0, done.stderr
    with chaincut_serve(command, env, log_dir, "web") as base:
        yield base


def sign_in(page: Page, base_url: str, password: str = PASSWORD) -> int:
    """Fill in and send the sign-in form; the status of the page it lands on."""
    page.goto(f"{base_url}/login")
    page.fill("#username", USERNAME)
    page.fill("#password", password)
    with page.expect_navigation() as landed:
        page.click("button[type=submit]")
    response = landed.value
    assert response is not None
    return response.status


def session_cookie(context: BrowserContext) -> dict[str, object] | None:
    for cookie in context.cookies():
        if cookie.get("name") == "chaincut_session":
            return dict(cookie)
    return None


def test_sign_in_see_the_console_and_sign_out(page: Page, context: BrowserContext, base_url: str) -> None:
    assert sign_in(page, base_url) == 200
    assert page.url == f"{base_url}/console"
    assert page.inner_text("#principal") == f"staff:{USERNAME}"
    assert page.inner_text("#roles") == "Supervisor, Contact tracer"
    assert page.is_visible("#role-supervisor a[href='/console/approvals']")
    # The stylesheet loaded and applies (the CSP allows only it).
    assert (
        page.eval_on_selector("header.bar", "b => getComputedStyle(b).backgroundColor") != "rgba(0, 0, 0, 0)"
    )

    with page.expect_navigation():
        page.click("form.sign-out button")
    assert page.url == f"{base_url}/login"
    assert session_cookie(context) is None
    page.goto(f"{base_url}/console")
    assert page.url == f"{base_url}/login"


def test_a_wrong_password_shows_the_generic_error(page: Page, context: BrowserContext, base_url: str) -> None:
    assert sign_in(page, base_url, "not the right password") == 401
    assert page.inner_text("[role=alert]").startswith(FAILED_EN)
    assert session_cookie(context) is None
    assert page.input_value("#password") == ""


def test_the_session_cookie_is_http_only(page: Page, context: BrowserContext, base_url: str) -> None:
    assert sign_in(page, base_url) == 200
    cookie = session_cookie(context)
    assert cookie is not None
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/"
    assert "chaincut_session" not in page.evaluate("document.cookie")
    assert "chaincut_login" not in page.evaluate("document.cookie")


def test_a_post_without_the_csrf_token_is_refused(page: Page, context: BrowserContext, base_url: str) -> None:
    assert sign_in(page, base_url) == 200
    # The browser's own cookie, but no token: as a forged request would be.
    refused = page.request.post(f"{base_url}/logout", form={"note": "no token"}, max_redirects=0)
    assert refused.status == 403
    forged = page.request.post(f"{base_url}/logout", form={"csrf_token": "guessed"}, max_redirects=0)
    assert forged.status == 403
    page.goto(f"{base_url}/console")
    assert page.url == f"{base_url}/console"  # still signed in
    assert page.inner_text("#principal") == f"staff:{USERNAME}"


def test_a_form_on_another_site_cannot_sign_you_out(
    page: Page, context: BrowserContext, base_url: str
) -> None:
    assert sign_in(page, base_url) == 200
    evil = "http://evil.example/"
    context.route(
        f"{evil}**",
        lambda route: route.fulfill(
            content_type="text/html",
            body=f'<form method="post" action="{base_url}/logout"><button id="go">win</button></form>',
        ),
    )
    page.goto(evil)
    with page.expect_navigation():
        page.click("#go")
    # SameSite=Strict: the cross-site post carried no session, so nothing was ended.
    page.goto(f"{base_url}/console")
    assert page.url == f"{base_url}/console"
    assert page.inner_text("#principal") == f"staff:{USERNAME}"


def test_the_pages_in_traditional_chinese(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/login?lang=zh-Hant")
    assert page.inner_text("h1") == "登入"
    page.fill("#username", USERNAME)
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert page.url == f"{base_url}/console"  # the language asked for on the way in is remembered
    assert page.inner_text("h1") == "控制台"
    assert "督導人員" in page.inner_text("#role-supervisor h2")
