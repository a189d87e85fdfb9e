"""Web sessions over HTTP (TestClient, https://): sign-in form, console, sign-out, CSRF, ending sessions.

Runs on every storage backend. The client speaks https, so the cookies keep their
production attributes (Secure, and the ``__Host-`` prefix of the sign-in cookie).
The browser-level version of these rules is tests/e2e/test_web_sign_in.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from fastapi.testclient import TestClient

from chaincut.api import create_app
from chaincut.api.headers import SECURITY_HEADERS
from chaincut.bootstrap import Services
from chaincut.clock import FixedClock
from chaincut.domain.access import Principal, Role
from support.auth import PASSWORD
from support.web_forms import form_token, sign_in, signed_in

LOGIN_COOKIE = "__Host-chaincut_login"
SESSION = "chaincut_session"
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
FAILED_EN = "Sign-in failed: wrong username or password, or the account is locked or disabled."
_ADMIN = Principal.system("tests")


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    app = create_app(services, schedule_maintenance=False)
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def alice(services: Services) -> str:
    services.accounts.add("alice", PASSWORD, frozenset({Role.TRACER, Role.SUPERVISOR}), _ADMIN)
    return "alice"


def set_cookie_headers(response: httpx.Response) -> dict[str, str]:
    return {h.split("=", 1)[0]: h for h in response.headers.get_list("set-cookie")}


def test_sign_in_console_and_sign_out(client: TestClient, services: Services, alice: str) -> None:
    form = client.get("/login")
    assert form.status_code == 200
    assert form.headers["content-type"].startswith("text/html")
    login_cookie = set_cookie_headers(form)[LOGIN_COOKIE]
    for attribute in ("HttpOnly", "Secure", "SameSite=strict", "Path=/", "Max-Age=600"):
        assert attribute in login_cookie

    response = sign_in(client, alice)
    assert response.status_code == 303
    assert response.headers["location"] == "/console"
    cookie = set_cookie_headers(response)[SESSION]
    minutes = services.settings.session_minutes
    for attribute in ("HttpOnly", "Secure", "SameSite=strict", "Path=/", f"Max-Age={minutes * 60}"):
        assert attribute in cookie, cookie

    console = client.get("/console")
    assert console.status_code == 200
    assert "staff:alice" in console.text
    assert re.search(r'id="roles">Supervisor, Contact tracer<', console.text)
    assert 'id="role-tracer"' in console.text and 'id="role-supervisor"' in console.text
    assert 'href="/console/approvals"' in console.text  # a supervisor's
    assert 'href="/docs"' in console.text
    assert client.get("/auth/me").json()["name"] == "staff:alice"

    token = form_token(console)
    out = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert out.status_code == 303
    assert out.headers["location"] == "/login"
    assert 'chaincut_session=""' in set_cookie_headers(out)[SESSION]
    assert client.get("/console", follow_redirects=False).status_code == 303
    # The ended session's id is refused even when presented again.
    secret = re.search(r"chaincut_session=([^;]+)", cookie)
    assert secret is not None
    client.cookies.set(SESSION, secret.group(1), domain="testserver")
    assert client.get("/auth/me").status_code == 401


def test_the_pages_use_the_stylesheet_and_no_inline_code(client: TestClient, alice: str) -> None:
    form = client.get("/login")
    signed_in(client, alice)
    console = client.get("/console")
    for page in (form, console):
        assert '<link rel="stylesheet" href="/static/chaincut.css">' in page.text
        # Scripts only from our own files (htmx, vendored), never inline.
        scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page.text, flags=re.S)
        assert scripts == [(' src="/static/vendor/htmx.min.js" defer', "")]
        assert "style=" not in page.text and "<style" not in page.text
        # htmx keeps no copy of a page (personal data) in the browser's storage for "back".
        assert '"historyCacheSize":0' in page.text
        for name, value in SECURITY_HEADERS.items():
            assert page.headers[name] == value
    css = client.get("/static/chaincut.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert css.headers["x-content-type-options"] == "nosniff"
    icon = client.get("/static/favicon.svg")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"
    htmx = client.get("/static/vendor/htmx.min.js")
    assert htmx.status_code == 200 and htmx.headers["content-type"].startswith("text/javascript")
    assert htmx.content.startswith(b"var htmx=function()")
    for unlisted in ("/static/vendor/README.md", "/static/../pages.py", "/static/vendor/htmx.LICENSE"):
        assert client.get(unlisted).status_code == 404, unlisted


def test_the_language_is_the_members_choice_then_the_query_then_the_browsers(
    client: TestClient, services: Services, alice: str
) -> None:
    hk = {"Accept-Language": "zh-HK,zh;q=0.9,en;q=0.8"}
    assert "Password" in client.get("/login").text  # no preference at all: English
    by_browser = client.get("/login", headers=hk)
    assert '<html lang="zh-Hant">' in by_browser.text
    assert "密碼" in by_browser.text and "Password" not in by_browser.text
    simplified_first = client.get("/login", headers={"Accept-Language": "zh-CN,en;q=0.5"})
    assert "Password" in simplified_first.text  # no Simplified catalog: the next preference, English

    asked = client.get("/login?lang=zh-Hant")
    assert "密碼" in asked.text
    assert client.get("/login").text.count("密碼") == 1  # remembered (a cookie) with no query
    assert "Password" in client.get("/login?lang=en").text
    assert "Password" in client.get("/login", headers=hk).text  # the cookie before the browser

    token = signed_in(client, alice)
    chose = client.post(
        "/console/language", data={"language": "zh-Hant", "csrf_token": token, "next": "/console"}
    )
    assert chose.status_code == 200 and "控制台" in chose.text and "督導人員" in chose.text
    assert "控制台" in client.get("/console?lang=en").text  # the member's own choice wins
    with services.store.read() as uow:
        record = uow.staff.get_by_username(alice)
    assert record is not None and record.language == "zh-Hant"

    refused = client.post("/console/language", data={"language": "en"}, follow_redirects=False)
    assert refused.status_code == 403  # no CSRF token: nothing changed
    assert "控制台" in client.get("/console").text
    away = client.post(
        "/console/language",
        data={"language": "en", "csrf_token": token, "next": "https://evil.example/"},
        follow_redirects=False,
    )
    assert away.headers["location"] == "/console"  # only a path of ours
    klingon = client.post("/console/language", data={"language": "tlh", "csrf_token": token})
    assert klingon.status_code == 200 and "Console" in klingon.text  # a language we lack changes nothing
    assert "Console" in client.get("/console", headers=hk).text


def test_a_wrong_password_shows_only_the_generic_message(
    client: TestClient, services: Services, alice: str
) -> None:
    wrong = sign_in(client, alice, "not the password at all")
    unknown = sign_in(client, "nobody-here", PASSWORD)
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert FAILED_EN in response.text
        assert SESSION not in set_cookie_headers(response)

    # Apart from the fresh form token and the username typed back, the two pages are the same.
    def scrub(text: str) -> str:
        return _TOKEN.sub("", text).replace("nobody-here", "alice")

    assert scrub(wrong.text) == scrub(unknown.text)
    assert 'value="alice"' in wrong.text  # the username is kept, the password is not
    assert "not the password" not in wrong.text
    denied = [r for r in services.audit.by_actor("staff:alice") if r.event.action == "auth.sign_in"]
    assert [r.event.outcome for r in denied] == ["denied"]


def test_the_sign_in_form_refuses_a_forged_or_stale_token(client: TestClient, alice: str) -> None:
    client.get("/login")
    forged = client.post(
        "/login",
        data={"username": alice, "password": PASSWORD, "csrf_token": "made-up-elsewhere"},
        follow_redirects=False,
    )
    assert forged.status_code == 403
    assert SESSION not in set_cookie_headers(forged)
    # A cross-site form carries no pre-session cookie (SameSite=Strict): refused the same way.
    token = form_token(client.get("/login"))
    client.cookies.delete(LOGIN_COOKIE)
    cross_site = client.post(
        "/login", data={"username": alice, "password": PASSWORD, "csrf_token": token}, follow_redirects=False
    )
    assert cross_site.status_code == 403
    assert SESSION not in set_cookie_headers(cross_site)
    # The refusal shows a fresh form that works.
    retried = client.post(
        "/login",
        data={"username": alice, "password": PASSWORD, "csrf_token": form_token(cross_site)},
        follow_redirects=False,
    )
    assert retried.status_code == 303


def test_sign_out_without_the_csrf_token_is_refused(client: TestClient, alice: str) -> None:
    token = signed_in(client, alice)
    for data in ({}, {"csrf_token": "wrong"}, {"csrf_token": token[:-1]}):
        refused = client.post("/logout", data=data, follow_redirects=False)
        assert refused.status_code == 403
        assert refused.headers["content-type"].startswith("text/html")
        assert SESSION not in set_cookie_headers(refused)
    assert client.get("/console").status_code == 200  # the session is still valid
    out = client.post("/logout", headers={"X-CSRF-Token": token}, follow_redirects=False)
    assert out.status_code == 303


def test_api_writes_with_the_cookie_need_the_csrf_token(client: TestClient, alice: str) -> None:
    token = signed_in(client, alice)
    assert client.get("/auth/me").status_code == 200  # reads need no token
    refused = client.post("/people", json={"ref": "P-CSRF-1"})
    assert refused.status_code == 403
    assert refused.json()["code"] == "csrf_failed"
    wrong = client.post("/people", json={"ref": "P-CSRF-1"}, headers={"X-CSRF-Token": "nope"})
    assert wrong.status_code == 403
    made = client.post("/people", json={"ref": "P-CSRF-1"}, headers={"X-CSRF-Token": token})
    assert made.status_code == 201, made.text
    # The API's own sign-out of a bearer token is guarded the same way for cookies.
    assert client.post("/auth/logout").status_code == 403
    assert client.get("/auth/me").status_code == 200


def test_an_expired_session_goes_back_to_sign_in(
    client: TestClient, services: Services, clock: FixedClock, alice: str
) -> None:
    signed_in(client, alice)
    clock.advance(timedelta(minutes=services.settings.session_minutes, seconds=1))
    page = client.get("/console", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/login"
    assert 'chaincut_session=""' in set_cookie_headers(page)[SESSION]


def test_an_expired_session_is_refused_by_the_api(
    client: TestClient, services: Services, clock: FixedClock, alice: str
) -> None:
    signed_in(client, alice)
    clock.advance(timedelta(minutes=services.settings.session_minutes, seconds=1))
    response = client.get("/auth/me")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    # An ended session's cookie does not lock anyone out of signing in again.
    assert client.get("/login").status_code == 200
    assert sign_in(client, alice).status_code == 303
    assert client.get("/auth/me").status_code == 200


def test_disabling_an_account_ends_its_sessions(client: TestClient, services: Services, alice: str) -> None:
    token = signed_in(client, alice)
    services.accounts.disable(alice, _ADMIN)
    assert client.get("/console", follow_redirects=False).status_code == 303
    assert client.get("/auth/me").status_code == 401
    assert client.post("/logout", data={"csrf_token": token}, follow_redirects=False).status_code == 303
    # Enabling the account again does not bring the old session back.
    services.accounts.disable(alice, _ADMIN, disabled=False)
    assert client.get("/auth/me").status_code == 401
    assert sign_in(client, alice).status_code == 303


def test_signing_in_is_rate_limited(client: TestClient, services: Services, alice: str) -> None:
    limit = services.settings.rate_logins_per_minute
    token = form_token(client.get("/login"))
    for _ in range(limit):
        response = client.post("/login", data={"username": alice, "password": "wrong", "csrf_token": token})
        assert response.status_code == 401
        token = form_token(response)
    limited = client.post("/login", data={"username": alice, "password": PASSWORD, "csrf_token": token})
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1


def test_the_console_needs_a_session(client: TestClient) -> None:
    page = client.get("/console", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/login"
    assert client.post("/logout", follow_redirects=False).status_code == 303


def test_every_console_link_opens(client: TestClient, services: Services) -> None:
    services.accounts.add("everyone", PASSWORD, frozenset(Role), _ADMIN)
    signed_in(client, "everyone")
    console = client.get("/console").text
    links = set(re.findall(r'<a href="(/[^"?]*)">', console))
    assert {
        "/docs",
        "/console/cases",
        "/console/approvals",
        "/console/staff",
        "/console/audit",
        "/status",
    } <= links
    for href in sorted(links):
        assert client.get(href).status_code == 200, href
