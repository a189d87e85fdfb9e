"""End to end: an epidemiologist opens the situation report in a real browser.

``chaincut serve`` runs as a subprocess on a store filled through the command line (people
with personal data, and their cases); headless Chromium signs in and opens
``/reports/situation``. The page must load under its Content-Security-Policy (any violation
fails the test, see conftest), show its plots, and pass axe-core's accessibility rules
(axe-core as bundled by axe-playwright-python). A screenshot of the page is kept in the
test's folder.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

from support.auth import PASSWORD
from support.canaries import ADDRESS, NAME, PHONE, needles
from support.serving import chaincut_command, chaincut_serve

USERNAME = "epi"
DAY = date(2022, 2, 24)
CLASSES = ("local", "linked", "unlinked", "unlinked", "imported", "possibly_local")


def _files(folder: Path) -> tuple[Path, Path]:
    people = folder / "people.csv"
    cases = folder / "cases.csv"
    people_lines = ["ref,name,phone,address"]
    case_lines = ["ref,person,classification,onset_on,specimen_on,reported_on,linked_case"]
    n = 0
    for back in range(45, -1, -1):
        day = DAY - timedelta(days=back)
        for k in range(1 + (45 - back) // 4):
            ref = f"p{n}"
            people_lines.append(f'{ref},"{NAME}","{PHONE}","{ADDRESS}"')
            onset = "" if k % 5 == 4 else (day - timedelta(days=k % 3)).isoformat()
            specimen = day.isoformat() if not onset else ""
            # a "linked" case was infected by the case before it: chains, hence clusters, to draw
            linked = f"C{n - 1}" if CLASSES[n % len(CLASSES)] == "linked" and n else ""
            case_lines.append(
                f"C{n},{ref},{CLASSES[n % len(CLASSES)]},{onset},{specimen},{day.isoformat()},{linked}"
            )
            n += 1
    people.write_text("\n".join(people_lines) + "\n", encoding="utf-8")
    cases.write_text("\n".join(case_lines) + "\n", encoding="utf-8")
    return people, cases


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory, log_dir: Path) -> Iterator[str]:
    """A running ``chaincut serve`` with cases and one epidemiologist."""
    command = chaincut_command()
    home = tmp_path_factory.mktemp("situation-report")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "CHAINCUT_DATA_DIR": str(home / "data"),
        "CHAINCUT_ENV": "development",
        "CHAINCUT_SECURE_COOKIES": "false",
    }
    people, cases = _files(home)
    steps = (
        ["db", "upgrade"],
        ["users", "add", USERNAME, "--role", "epidemiologist"],
        ["import", "people", str(people)],
        ["import", "cases", str(cases)],
        ["analytics", "clusters", "--purpose", "the situation report's clusters"],
    )
    for i, step in enumerate(steps):
        done = subprocess.run(
            [command, *step],
            env={**env, "CHAINCUT_NEW_PASSWORD": PASSWORD},
            capture_output=True,
            text=True,
            timeout=120,
        )
        (log_dir / f"situation-report-{i}-{step[0]}.log").write_text(
            done.stdout + done.stderr, encoding="utf-8"
        )
        assert done.returncode == 0, done.stderr
    with chaincut_serve(command, env, log_dir, "report") as base:
        yield base


def _sign_in(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/login")
    page.fill("#username", USERNAME)
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert page.url == f"{base_url}/console"


def test_the_report_page_loads_under_its_csp_and_passes_axe(
    page: Page, base_url: str, tmp_path: Path
) -> None:
    _sign_in(page, base_url)
    # the console links today's report for those who may read it
    assert page.is_visible("#role-epidemiologist a[href='/reports/situation']")
    response = page.goto(f"{base_url}/reports/situation?day={DAY.isoformat()}")
    assert response is not None and response.status == 200
    assert page.title().startswith("Situation report 疫情狀況報告")
    assert page.inner_text("h1") == f"Situation report 疫情狀況報告: {DAY.isoformat()}"
    # every plot decoded and drew (an image blocked by the CSP or broken has no natural width)
    widths = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
    assert len(widths) >= 4 and all(w > 0 for w in widths)  # curve, R_t, unlinked share, chains
    # the clusters of the setup's run, seen on the day: listed, not "not computed"
    assert page.locator("td", has_text="active").count() >= 10
    assert "not computed" not in page.inner_text("body").casefold()
    # the inline stylesheet applies (admitted by its hash)
    assert page.eval_on_selector("h2", "h => getComputedStyle(h).borderBottomStyle") == "solid"
    text = page.inner_text("body").casefold()
    assert not [label for label, form in needles() if form in text]
    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()
    page.set_viewport_size({"width": 1100, "height": 900})
    page.screenshot(path=str(tmp_path / "situation-report.png"), full_page=True)
    page.emulate_media(media="print")
    page.screenshot(path=str(tmp_path / "situation-report-print.png"), full_page=True)
