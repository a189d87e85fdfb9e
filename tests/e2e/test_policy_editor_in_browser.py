"""A policy editor's main task in headless Chromium, in English and Traditional Chinese, on both
store backends: read the policy in force with its sources, upload a bad policy and see every
problem at its key path, upload a good one as a file, read its diff and what it changes for a case,
ask for its activation; then a supervisor approves it from the approvals queue and it is in force.

Each page is checked with axe-core and kept as a screenshot (``screenshots`` fixture).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from chaincut.bootstrap import Services
from chaincut.clock import FixedClock
from chaincut.domain.access import Principal, Role
from chaincut.policy import default_policy_text
from chaincut.settings import Settings
from support.auth import PASSWORD
from support.desk import checked, open_window, sign_in
from support.outbreak import tracers_outbreak
from support.serving import browser_services, served

NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)  # 12:00 in Hong Kong
DRAFT = (
    default_policy_text()
    .replace('version = "2026.11-default"', 'version = "2026.12-diners"', 1)
    .replace("quarantine_days = 14", "quarantine_days = 7", 1)
    .replace('after_leave_minutes = 30\ntier = "exposed"', 'after_leave_minutes = 30\ntier = "close"', 1)
)


@pytest.fixture
def site(settings: Settings, tmp_path: Path) -> Iterator[tuple[str, Services]]:
    """Case A with three contacts (``tracers_outbreak``); pat edits the policy, sam supervises."""
    services = browser_services(tmp_path / "data", FixedClock(NOW), settings=settings)
    tracers_outbreak(services)
    services.accounts.add("pat", PASSWORD, frozenset({Role.POLICY_EDITOR}), Principal.system("tests"))
    with served(services) as url:
        yield url, services


@pytest.mark.parametrize("lang", ["en", "zh-Hant"])
def test_a_policy_editor_uploads_a_version_and_a_supervisor_activates_it(
    browser: Browser, site: tuple[str, Services], screenshots: Path, tmp_path: Path, lang: str
) -> None:
    base_url, _ = site
    en = lang == "en"
    context, page = open_window(browser, lang)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        sign_in(page, base_url, "pat")
        with page.expect_navigation():
            page.click("a[href='/console/policy']")
        assert page.inner_text("h1") == ("The policy" if en else "政策")
        source = page.locator("#section-retention tbody tr").first.inner_text()
        assert "visits_days" in source and "LeaveHomeSafe erased visit records after 31 days" in source
        checked(page, screenshots, f"policy-{lang}")

        with page.expect_navigation():
            page.click("a[href='/console/policy/upload']")
        bad = default_policy_text().replace("quarantine_days = 14", "quarantine_days = 0", 1)
        page.fill("#policy-text", bad.replace('tier = "close"', 'tier = "closest"', 1))
        with page.expect_navigation():
            page.click("main form button[type=submit]")
        problems = page.locator("ul.problems li").all_inner_texts()
        assert "orders.quarantine_days: expected at least 1, got 0" in problems
        assert any(p.startswith("household.tier: ") for p in problems)
        assert page.input_value("#policy-text").startswith("# chaincut policy")  # kept to fix
        checked(page, screenshots, f"policy-upload-problems-{lang}")

        draft = tmp_path / "draft.toml"
        draft.write_text(DRAFT, encoding="utf-8")
        page.fill("#policy-text", "")
        page.set_input_files("#policy-file", str(draft))
        with page.expect_navigation():
            page.click("main form button[type=submit]")
        assert "/console/policy/versions/" in page.url
        diff = page.locator("table.diff tbody tr").all_inner_texts()
        assert len(diff) == 3 and any(
            "orders.quarantine_days" in row and "14" in row and "7" in row for row in diff
        )

        # The four cases registered last (D, C, B, A), numbered: a policy editor reads no cases.
        assert page.locator("#impact-cases").count() == 0
        page.fill("#impact-latest", "4")
        with page.expect_navigation():
            page.click("#impact-trace")
        rows = page.locator("table.impact tbody tr > th").all_inner_texts()
        assert rows == ["#1", "#2", "#3", "#4"]
        changed = page.locator("table.impact tbody tr > td:last-child").all_inner_texts()
        assert sum(int(c.split()[0]) for c in changed) >= 1  # diners now close contacts
        checked(page, screenshots, f"policy-version-{lang}")

        page.fill(
            "#request-reason", "diners at other tables are close contacts" if en else "同場食客列為密切接觸者"
        )
        with page.expect_navigation():
            page.click("#request-reason ~ button")
        assert page.locator("[role=status]").count() == 1
        version_url = page.url.split("?")[0]
    finally:
        context.close()

    context, page = open_window(browser, lang)
    try:
        sign_in(page, base_url, "sam")
        page.goto(f"{base_url}/console/approvals")
        with page.expect_navigation():
            page.click(f"#policies-h ~ ul a[href='{version_url.removeprefix(base_url)}']")
        checked(page, screenshots, f"policy-decision-{lang}")
        page.fill("#decision-reason", "agreed with the expert panel" if en else "專家小組同意")
        with page.expect_navigation():
            page.click("button[name=decision][value=approve]")
        status = page.inner_text("[role=status]")
        assert status.startswith("Activated" if en else "已啟用")
        page.goto(f"{base_url}/console/policy")
        assert "2026.12-diners" in page.inner_text("#in-force-h")
        quarantine = page.locator("#section-orders tbody tr").first.locator("td").first.inner_text()
        assert quarantine == "7"
        checked(page, screenshots, f"policy-activated-{lang}")
    finally:
        context.close()
    # The bad upload is answered 400 (its page lists the problems), which Chromium logs; nothing else.
    assert errors == ["Failed to load resource: the server responded with a status of 400 (Bad Request)"]
