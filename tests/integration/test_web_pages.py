"""The pages every visitor meets (both backends): the start, the landing page, and errors as pages.

A browser (``Accept: text/html``) gets pages in its language; an API client keeps its JSON.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from chaincut.api import create_app
from chaincut.api.headers import SECURITY_HEADERS
from chaincut.bootstrap import Services
from chaincut.domain.access import Principal, Role
from support.auth import PASSWORD
from support.web_forms import signed_in

BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
HK = {**BROWSER, "Accept-Language": "zh-HK,zh;q=0.9"}


@pytest.fixture
def app(services: Services) -> FastAPI:
    app = create_app(services, schedule_maintenance=False)

    def boom() -> None:
        raise RuntimeError("a bug, with a detail the page must not show")

    app.add_api_route("/boom", boom, methods=["GET"])  # a route that fails, as a bug would
    return app


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as c:
        yield c


def test_the_start_sends_visitors_to_the_landing_page_and_staff_to_the_console(
    client: TestClient, services: Services
) -> None:
    start = client.get("/", follow_redirects=False)
    assert (start.status_code, start.headers["location"]) == (303, "/welcome")
    landing = client.get("/welcome", headers=BROWSER)
    assert landing.status_code == 200
    assert 'href="/login"' in landing.text and "trust-list" in landing.text
    assert "衞生當局" in client.get("/welcome", headers=HK).text

    services.accounts.add("tess", PASSWORD, frozenset({Role.TRACER}), Principal.system("tests"))
    signed_in(client, "tess")
    start = client.get("/", follow_redirects=False)
    assert (start.status_code, start.headers["location"]) == (303, "/console")


def test_an_unknown_address_is_a_page_for_a_browser_and_json_for_a_client(client: TestClient) -> None:
    page = client.get("/nowhere", headers=HK)
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert '<html lang="zh-Hant">' in page.text and "找不到" in page.text
    assert client.get("/nowhere", headers=BROWSER).text.count("Not found") == 2  # title and heading
    api = client.get("/nowhere", headers={"Accept": "application/json"})
    assert api.status_code == 404 and api.json() == {"detail": "Not Found"}
    for planted in ("https://testserver//evil.example/login", "/%2F%2Fevil.example"):  # no link off-site
        page = client.get(planted, headers=BROWSER)
        assert page.status_code == 404
        links = re.findall(r'(?:href|action)="([^"]*)"', page.text)
        assert links and all(re.match(r"^(/(?!/)|\?|#)", link) for link in links), links


def test_a_failure_is_a_friendly_page_with_a_request_id_that_the_log_has_too(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="chaincut.web"):
        page = client.get("/boom", headers=BROWSER)
    assert page.status_code == 500
    request_id = page.headers["x-request-id"]
    assert f'<code id="request-id">{request_id}</code>' in page.text
    assert "Something went wrong" in page.text and "a bug" not in page.text
    assert any(request_id in r.getMessage() and r.exc_info for r in caplog.records)
    for name, value in SECURITY_HEADERS.items():  # answered outside the middleware that adds them
        assert page.headers[name] == value, name

    api = client.get("/boom", headers={"Accept": "application/json"})
    assert api.status_code == 500
    assert api.text == f"Internal Server Error (request {api.headers['x-request-id']})"


def test_a_page_one_may_not_see_answers_like_a_missing_one(client: TestClient, services: Services) -> None:
    services.accounts.add("tess", PASSWORD, frozenset({Role.TRACER}), Principal.system("tests"))
    signed_in(client, "tess")
    refused = client.get("/checkpoint", headers=BROWSER)  # border officers only
    missing = client.get("/no-such-page", headers=BROWSER)
    assert refused.status_code == missing.status_code == 404
    assert refused.text == missing.text.replace("/no-such-page", "/checkpoint")


def test_two_requests_at_once_in_different_languages_each_get_their_own(app: FastAPI) -> None:
    barrier = threading.Barrier(2)
    results: dict[str, list[bool]] = {}

    def browse(accept_language: str, mine: str, other: str) -> None:
        with TestClient(app, base_url="https://testserver") as c:
            barrier.wait()
            seen = []
            for _ in range(40):
                text = c.get("/welcome", headers={**BROWSER, "Accept-Language": accept_language}).text
                seen.append(mine in text and other not in text)
            results[accept_language] = seen

    threads = [
        threading.Thread(target=browse, args=("zh-TW", '<h2 id="for-staff">職員</h2>', "For staff")),
        threading.Thread(target=browse, args=("en-GB", "For staff", '<h2 id="for-staff">職員</h2>')),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(results["zh-TW"]) and all(results["en-GB"]) and len(results) == 2
