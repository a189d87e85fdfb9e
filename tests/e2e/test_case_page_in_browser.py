"""A tracer's main task in headless Chromium, in English and Traditional Chinese: open an assigned
case from the queue, state the purpose, read the timeline, filter the contacts (htmx swaps the
table in place), expand a contact's evidence, issue orders after a preview of their dates, and
open a contact's own page; a supervisor's early release and a cluster's chain graph; on both store
backends.

Each page is checked with axe-core and kept as a screenshot (``screenshots`` fixture).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from chaincut.analytics.outbreak_refresh import refresh_clusters_and_chains
from chaincut.bootstrap import Services
from chaincut.clock import FixedClock
from chaincut.domain.access import Principal
from chaincut.settings import Settings
from support.desk import checked, open_window, sign_in
from support.outbreak import seed, tracers_outbreak
from support.serving import browser_services, served

USER = "tess"
NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)  # 12:00 in Hong Kong


@pytest.fixture
def site(settings: Settings, tmp_path: Path) -> Iterator[tuple[str, Services]]:
    """``tracers_outbreak``: case A, assigned to tess, lunched with B, went to the gym with C,
    lives with D; on the test's backend (embedded and PostgreSQL)."""
    services = browser_services(tmp_path / "data", FixedClock(NOW), settings=settings)
    tracers_outbreak(services)
    with served(services) as url:
        yield url, services


@pytest.fixture
def base_url(site: tuple[str, Services]) -> str:
    return site[0]


@pytest.mark.parametrize("lang", ["en", "zh-Hant"])
def test_a_tracer_opens_a_case_expands_evidence_and_issues_orders(
    browser: Browser, base_url: str, screenshots: Path, lang: str
) -> None:
    en = lang == "en"
    context, page = open_window(browser, lang)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("response", lambda r: errors.append(r.url) if r.status == 404 else None)
    try:
        sign_in(page, base_url, USER)
        page.goto(f"{base_url}/console/cases")
        with page.expect_navigation():
            page.click("tr[data-case='A'] a")
        assert page.url == f"{base_url}/console/cases/A"
        assert page.is_visible("#purpose")  # asked before anything personal is shown
        checked(page, screenshots, f"case-purpose-{lang}")

        page.fill("#purpose", "tracing the contacts of case A" if en else "追蹤個案 A 的接觸者")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert page.inner_text("h1") == ("Case A" if en else "個案 A")
        assert page.locator("svg.timeline rect.stay").count() == 2
        assert ("Golden Dragon" if en else "金龍酒家") in (page.text_content("svg.timeline") or "")
        assert page.locator("#contacts tbody tr").count() == 3
        checked(page, screenshots, f"case-{lang}")

        # htmx: the filter swaps the contacts in place and the address follows.
        page.click("#contacts nav.filters a[href*='tier=close']")
        page.wait_for_url("**/console/cases/A?tier=close")
        expect(page.locator("#contacts tbody tr")).to_have_count(1)
        assert page.get_attribute("#contacts tbody tr", "data-person") == "p-D"
        assert page.is_visible("#timeline")  # the rest of the page stayed

        page.click("#contacts nav.filters a[aria-current='page'] ~ a[href*='tier=exposed']")
        expect(page.locator("#contacts tbody tr")).to_have_count(2)
        row = page.locator("#contacts tr[data-person='p-B']")
        assert not row.locator("details.evidence ul").is_visible()
        row.locator("details.evidence summary").focus()
        page.keyboard.press("Enter")  # from the keyboard
        evidence = row.locator("details.evidence ul").inner_text()
        assert ("Golden Dragon" if en else "金龍酒家") in evidence and "19/11/2026" in evidence
        checked(page, screenshots, f"case-evidence-{lang}")

        with page.expect_navigation():
            page.click("#actions a.button")
        assert page.locator("table.orders-preview tbody tr").count() == 3
        checked(page, screenshots, f"case-orders-{lang}")
        with page.expect_navigation():
            page.click("main form button[type=submit]")
        status = page.inner_text("[role=status]")
        assert status == ("3 orders issued." if en else "已發出 3 張令。")

        # The contact's own page: their code, and the order just issued with its history.
        page.goto(f"{base_url}/console/cases/A")
        with page.expect_navigation():
            page.click("#contacts a[href='/console/people/p-D']")
        page.fill("#purpose", "following up a household contact" if en else "跟進同住的接觸者")
        with page.expect_navigation():
            page.click("main form button[type=submit]")
        assert page.inner_text("h1") == ("Person p-D" if en else "人士 p-D")
        assert page.locator("#orders tbody tr").count() == 1
        assert page.is_visible("#code .code-colour")
        checked(page, screenshots, f"person-{lang}")
        assert not errors, errors  # no script error, no CSP refusal
    finally:
        context.close()


@pytest.mark.parametrize("lang", ["en", "zh-Hant"])
def test_a_tracer_records_todays_follow_ups_from_the_worklist(
    browser: Browser, site: tuple[str, Services], screenshots: Path, lang: str
) -> None:
    base_url, services = site
    trace = services.tracing.trace_case("A")
    services.orders.issue_for_contacts(trace.contacts, trace.case_id, "staff:tess")
    context, page = open_window(browser, lang)
    try:
        sign_in(page, base_url, USER)
        with page.expect_navigation():
            page.click("a[href='/console/follow-ups']")
        page.fill("#purpose", "daily follow-up of case A's contacts")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert page.locator("table.worklist tbody tr.due").count() == 3
        checked(page, screenshots, f"follow-ups-{lang}")

        with page.expect_navigation():
            page.click("tr[data-person='p-D'] a.button")
        page.check("#reached-no")
        checked(page, screenshots, f"follow-up-form-{lang}")
        with page.expect_navigation():
            page.click("main form button[type=submit]")
        statuses = page.locator("tr[data-person='p-D'] td.day").evaluate_all(
            "cells => cells.map(c => c.dataset.status)"
        )
        assert statuses[-1] == "not_reached" and page.locator("tbody tr.due").count() == 2
        assert "p-D" in page.inner_text("[role=status]")
    finally:
        context.close()


@pytest.mark.parametrize("lang", ["en", "zh-Hant"])
def test_a_supervisor_releases_a_contact_early_with_a_reason(
    browser: Browser, site: tuple[str, Services], screenshots: Path, lang: str
) -> None:
    base_url, services = site
    trace = services.tracing.trace_case("A")
    services.orders.issue_for_contacts(trace.contacts, trace.case_id, "staff:tess")
    context, page = open_window(browser, lang)
    try:
        sign_in(page, base_url, "sam")
        page.goto(f"{base_url}/console/people/p-D")
        page.fill("#purpose", "reviewing a contact's order")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        page.click("#code details.action summary")
        page.click("#orders details.action summary")
        checked(page, screenshots, f"person-supervisor-{lang}")
        page.fill("#orders details.action textarea", "tested negative twice")
        with page.expect_navigation():
            page.click("#orders details.action button")
        assert page.is_visible("[role=status]")
        assert page.locator("#orders details.action").count() == 0  # released: no longer open
    finally:
        context.close()


@pytest.mark.parametrize("lang", ["en", "zh-Hant"])
def test_a_supervisor_opens_a_cluster_and_a_case_from_its_chain_graph(
    browser: Browser, site: tuple[str, Services], screenshots: Path, lang: str
) -> None:
    base_url, services = site
    tests = Principal.system("tests")
    seed(services, {ref: (onset, [("v-gym", 1, 10)], None) for ref, onset in (("E", 3), ("F", 4), ("G", 5))})
    services.chains.confirm(tests, "F", "E")
    refresh_clusters_and_chains(services.clusters, services.chains, tests)
    context, page = open_window(browser, lang)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        sign_in(page, base_url, "sam")
        with page.expect_navigation():
            page.click("a[href='/console/clusters']")
        page.fill("#purpose", "reviewing today's clusters")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        checked(page, screenshots, f"clusters-{lang}")
        with page.expect_navigation():
            page.click("table.clusters tbody a")
        expect(page.locator("#chain-graph[data-ready='true'] canvas").first).to_be_visible()
        assert page.locator("table.members tbody tr").count() == 5
        checked(page, screenshots, f"cluster-{lang}")
        # Cytoscape keeps its instance on the container: click where it drew case E.
        graph = page.locator("#chain-graph")
        x, y = graph.evaluate(
            "box => { const p = box._cyreg.cy.$('#E').renderedPosition(); return [p.x, p.y]; }"
        )
        with page.expect_navigation():
            graph.click(position={"x": x, "y": y})
        assert page.url == f"{base_url}/console/cases/E"
        assert not errors, errors  # no script error, no CSP refusal (Cytoscape's own stylesheet)
    finally:
        context.close()
