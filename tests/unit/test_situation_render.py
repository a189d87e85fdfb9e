"""The situation report's rendering from hand-built inputs: clusters and chain graphs, the
"not computed" section, both languages, a self-contained page, plots that share nothing
between threads, and Chinese drawn as real glyphs (not empty boxes) on the PDF's pages.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import re
import shutil
import warnings
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from matplotlib.collections import PathCollection
from matplotlib.patches import Rectangle

from chaincut.analytics import estimate_rt
from chaincut.analytics.epicurve import (
    Axis,
    CaseColumns,
    CaseTally,
    UnlinkedShare,
    epidemic_curve,
)
from chaincut.analytics.reproduction_service import RtReport
from chaincut.analytics.situation import (
    ChainEdge,
    ChainGraph,
    ChainNode,
    ClusterSection,
    ClusterSummary,
    Headline,
    LinkEvidence,
    ReportFormat,
    SituationReport,
    TracingCounts,
)
from chaincut.analytics.situation_html import REPORT_CSS, content_security_policy
from chaincut.analytics.situation_plots import (
    MAX_CHAIN_NODES,
    chain_figure,
    epicurve_figure,
    png_bytes,
    rt_figure,
)
from chaincut.analytics.situation_render import render_situation_report, report_font
from chaincut.analytics.situation_tables import growth_text, latest_rt
from chaincut.domain import CaseClassification, CaseStatus
from chaincut.policy import load_policy
from chaincut.venues.fonts import PosterFont, find_cjk_font
from support.postgres import in_ci
from support.tofu import figure_cjk_cells, glyph_problems, pdf_cjk_cells

DAY = date(2022, 3, 10)
FIRST = DAY - timedelta(days=59)
# No CJK glyph at all: matplotlib's own DejaVu Sans, always installed with it.
NO_CJK = PosterFont(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf")


def _font() -> PosterFont:
    path = find_cjk_font()
    if path is None:
        reason = "no CJK font: apt-get install fonts-wqy-microhei"
        if in_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    return PosterFont(path)


def _poppler() -> None:
    for tool in ("pdftoppm", "pdftotext"):
        if shutil.which(tool) is None:
            reason = f"{tool} missing: apt-get install poppler-utils"
            if in_ci():
                pytest.fail(reason)
            pytest.skip(reason)


def _report(clusters: ClusterSection | None) -> SituationReport:
    """A report over 60 days of a growing outbreak, built from the pure functions alone."""
    rng = np.random.default_rng(7)
    tallies = []
    local = np.zeros(60, dtype=np.int64)
    imported = np.zeros(60, dtype=np.int64)
    classes = list(CaseClassification)
    for i in range(60):
        day = FIRST + timedelta(days=i)
        for cls in classes:
            n = int(rng.poisson(1 + 0.08 * i * (3 if cls is CaseClassification.UNLINKED else 1)))
            if n:
                tallies.append(CaseTally(day, day + timedelta(days=1), cls, CaseStatus.CONFIRMED, None, n))
                (imported if cls is CaseClassification.IMPORTED else local)[i] += n
    columns = CaseColumns.from_tallies(tallies)
    curve = epidemic_curve(columns, axis=Axis.ONSET, first=FIRST, last=DAY, average_days=7, growth_days=14)
    by_report = epidemic_curve(
        columns, axis=Axis.REPORT, first=FIRST, last=DAY, average_days=7, growth_days=14
    )
    rules = load_policy(None).reproduction_number
    return SituationReport(
        day=DAY,
        generated_at=datetime(2022, 3, 11, 2, 0, tzinfo=UTC),
        policy_version="test",
        headline=Headline(
            day=DAY,
            new_by_classification={c: int(v[-1]) for c, v in by_report.by_classification.items()},
            new_no_onset=0,
            cumulative=int(by_report.total.sum()),
            cumulative_no_onset=0,
            no_report_date=0,
            suspected=0,
        ),
        curve=curve,
        unlinked_days=tuple(by_report.days),
        unlinked=UnlinkedShare(by_report.unlinked.local, by_report.unlinked.unlinked),
        rt=RtReport(
            rules=rules,
            policy_version="test",
            from_day=None,
            to_day=DAY,
            windows=estimate_rt(FIRST, local, imported, rules),
            local_cases=int(local.sum()),
            imported_cases=int(imported.sum()),
            no_onset=0,
            suspected=0,
        ),
        tracing=TracingCounts(
            cases_traced=12,
            contacts=345,
            contacts_by_tier={"close": 100, "exposed": 245},
            orders_by_kind={"quarantine": 98, "testing_notice": 240},
            cases_traced_to_date=400,
            contacts_to_date=9_876,
            contacts_to_date_by_tier={"close": 3_000, "exposed": 6_876},
            orders_to_date_by_kind={"quarantine": 2_900, "testing_notice": 6_500},
        ),
        clusters=clusters,
    )


def _chain(cluster_id: str, size: int) -> ChainGraph:
    """A tree: case 0 infects 1-3 (confirmed), each later case is infected by (i - 1) // 3 (inferred)."""
    nodes = [ChainNode(f"{cluster_id}-c0", 0)]
    edges = []
    generation = {0: 0}
    for i in range(1, size):
        parent = (i - 1) // 3
        generation[i] = generation[parent] + 1
        nodes.append(ChainNode(f"{cluster_id}-c{i}", generation[i]))
        evidence = LinkEvidence.CONFIRMED if parent == 0 else LinkEvidence.INFERRED
        edges.append(ChainEdge(f"{cluster_id}-c{parent}", f"{cluster_id}-c{i}", evidence))
    return ChainGraph(cluster_id, tuple(nodes), tuple(edges))


SECTION = ClusterSection(
    clusters=(
        ClusterSummary(
            "K-17",
            "Dance studios",
            "active",
            57,
            date(2022, 2, 1),
            date(2022, 3, 8),
            (("Mambo Dance Studio, Wan Chai", "灣仔曼波舞蹈室"), ("Star Ballroom", "星光舞廳")),
        ),
        ClusterSummary(
            "K-23", None, "active", 12, date(2022, 3, 2), None, (("Kwai Chung Estate", "葵涌邨"),)
        ),
    ),
    chains=(_chain("K-17", 13), _chain("K-23", 5)),
)


class _Page(HTMLParser):
    """The table rows (cell texts) and images (src, alt) of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.images: list[dict[str, str | None]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "img":
            self.images.append(dict(attrs))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self.rows:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _html(report: SituationReport) -> str:
    return render_situation_report(report, ReportFormat.HTML, _font()).decode("utf-8")


def test_active_clusters_are_listed_with_settings_in_both_languages_and_their_size() -> None:
    page = _Page()
    page.feed(_html(_report(SECTION)))
    rows = {r[0]: r for r in page.rows if r and r[0].startswith("K-")}
    assert rows["K-17"][:6] == ["K-17", "Dance studios", "active 活躍", "57", "2022-02-01", "2022-03-08"]
    assert rows["K-17"][6] == "Mambo Dance Studio, Wan Chai 灣仔曼波舞蹈室; Star Ballroom 星光舞廳"
    assert rows["K-23"][1:6] == ["(unnamed) （未命名）", "active 活躍", "12", "2022-03-02", "–"]
    assert rows["K-23"][6] == "Kwai Chung Estate 葵涌邨"
    chains = [i for i in page.images if "K-17" in (i.get("alt") or "") or "K-23" in (i.get("alt") or "")]
    assert len(chains) == 2


def test_a_chain_graph_draws_each_case_at_its_generation_and_each_edge_by_its_evidence() -> None:
    graph = _chain("K-17", 13)
    figure = chain_figure(graph, _font())
    (ax,) = figure.axes
    points = next(c for c in ax.collections if isinstance(c, PathCollection))
    drawn_y = sorted(int(y) for _, y in points.get_offsets())
    assert drawn_y == sorted(n.generation for n in graph.nodes)
    styles = [line.get_linestyle() for line in ax.get_lines()]
    confirmed = sum(1 for e in graph.edges if e.evidence is LinkEvidence.CONFIRMED)
    assert styles.count("-") == confirmed == 3
    assert styles.count("--") == len(graph.edges) - confirmed == 9
    labels = {t.get_text() for t in ax.texts}
    assert labels == {n.case_ref for n in graph.nodes}


def test_a_large_chain_graph_draws_at_most_its_limit_and_counts_the_rest() -> None:
    graph = _chain("K-9", MAX_CHAIN_NODES + 80)
    figure = chain_figure(graph, _font())
    (ax,) = figure.axes
    points = next(c for c in ax.collections if isinstance(c, PathCollection))
    assert len(points.get_offsets()) == MAX_CHAIN_NODES
    assert ax.get_title(loc="left").startswith("80 cases not drawn")


def test_clusters_not_computed_are_said_so_never_shown_as_none() -> None:
    html = _html(_report(None))
    assert "Not computed: cluster inference has not run for this report." in html
    assert "Not computed: transmission chains have not been built for this report." in html
    assert "No active cluster" not in html
    empty = _html(_report(ClusterSection(clusters=(), chains=())))
    assert "No active cluster on this day." in empty and "Not computed" not in empty


def test_the_page_is_self_contained_and_its_stylesheet_is_admitted_by_hash() -> None:
    html = _html(_report(SECTION))
    assert not re.search(r"(src|href)=\"(https?:)?//", html)
    page = _Page()
    page.feed(html)
    assert page.images and all(
        (i.get("src") or "").startswith("data:image/svg+xml;base64,") for i in page.images
    )
    assert all(i.get("alt") for i in page.images)
    (style,) = re.findall(r"<style>(.*?)</style>", html, flags=re.S)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert style == REPORT_CSS and f"'sha256-{digest}'" in content_security_policy()
    assert "<script" not in html


def test_values_are_escaped() -> None:
    hostile = ClusterSection(
        clusters=(
            ClusterSummary(
                "K-1", "<script>alert(1)</script>", "active", 2, None, None, (("<b>x</b>", "丙"),)
            ),
        ),
        chains=(),
    )
    html = _html(_report(hostile))
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>x</b>" not in html


def test_insufficient_r_t_windows_are_shaded_apart() -> None:
    report = _report(None)
    figure = rt_figure(report.rt, _font())
    (ax,) = figure.axes
    hatched = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_hatch()]
    insufficient = sum(1 for w in report.rt.windows if w.posterior is None)
    assert insufficient > 0 and len(hatched) == insufficient


def test_the_latest_r_t_says_why_it_is_missing_in_both_languages() -> None:
    report = _report(SECTION)
    last = report.rt.windows[-1]
    missing = dataclasses.replace(last, posterior=None, reason="3 local case(s)", reason_code="too_few_cases")
    short = dataclasses.replace(
        report,
        rt=dataclasses.replace(
            report.rt,
            windows=(
                *report.rt.windows[:-1],
                missing,
            ),
        ),
    )

    span, text = latest_rt(short)

    assert span.endswith(last.end.isoformat())
    assert text == "insufficient data 數據不足: 3 local case(s)（時段內本地個案太少，未能得出穩定的估算）"


def test_the_trend_reads_the_same_numbers_in_both_languages() -> None:
    growth = _report(None).curve.growth
    en, zh = growth_text(growth)
    assert growth.rate_per_day is not None and growth.rate_ci95 is not None
    for number in (
        f"{growth.rate_per_day:+.3f}",
        f"{growth.rate_ci95[0]:+.3f}",
        f"{growth.rate_ci95[1]:+.3f}",
    ):
        assert number in en and number in zh


def test_plots_drawn_in_threads_at_once_equal_those_drawn_one_by_one() -> None:
    report, font = _report(SECTION), _font()
    jobs = [
        lambda: png_bytes(epicurve_figure(report.curve, font), dpi=100),
        lambda: png_bytes(rt_figure(report.rt, font), dpi=100),
        lambda: png_bytes(chain_figure(SECTION.chains[0], font), dpi=100),
    ] * 4
    alone = [job() for job in jobs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(lambda job: job(), jobs))
    assert together == alone


def test_the_pdf_holds_both_languages_and_the_clusters(tmp_path: Path) -> None:
    _poppler()
    import subprocess

    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(render_situation_report(_report(SECTION), ReportFormat.PDF, _font()))
    text = subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    for expected in (
        "Situation report",
        "疫情狀況報告",
        "K-17",
        "灣仔曼波舞蹈室",
        "星光舞廳",
        "Active clusters",
        "活躍群組",
    ):
        assert expected in text
    assert "9,876" in text  # contacts to date


def test_the_pdf_pages_draw_the_chinese_as_glyphs_not_boxes(tmp_path: Path) -> None:
    _poppler()
    report = _report(SECTION)
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(render_situation_report(report, ReportFormat.PDF, report_font(report)))
    assert glyph_problems(pdf_cjk_cells(pdf, tmp_path), min_chars=60) == []
    # and the plots the pages carry, drawn in the same font
    font = report_font(report)
    for figure in (epicurve_figure(report.curve, font), rt_figure(report.rt, font)):
        assert glyph_problems(figure_cjk_cells(figure), min_chars=8) == []


def test_the_glyph_check_fails_when_the_font_has_no_chinese(tmp_path: Path) -> None:
    """The same checks, on the same report drawn in a font without CJK glyphs, find the tofu."""
    _poppler()
    report = _report(SECTION)
    pdf = tmp_path / "tofu.pdf"
    with warnings.catch_warnings():
        # fpdf2 and matplotlib both warn of the missing glyphs; this test wants them missing.
        warnings.simplefilter("ignore")
        pdf.write_bytes(render_situation_report(report, ReportFormat.PDF, NO_CJK))
        figure = epicurve_figure(report.curve, NO_CJK)
        cells = figure_cjk_cells(figure)
    assert glyph_problems(pdf_cjk_cells(pdf, tmp_path), min_chars=60)
    problems = glyph_problems(cells, min_chars=8)
    assert any("draw the same image (tofu)" in p for p in problems), problems


def test_chain_graphs_refuse_edges_they_cannot_draw() -> None:
    with pytest.raises(ValueError, match="not a node"):
        ChainGraph("K-1", (ChainNode("a", 0),), (ChainEdge("a", "b", LinkEvidence.INFERRED),))
    with pytest.raises(ValueError, match="two infectors"):
        ChainGraph(
            "K-1",
            (ChainNode("a", 0), ChainNode("b", 0), ChainNode("c", 1)),
            (ChainEdge("a", "c", LinkEvidence.INFERRED), ChainEdge("b", "c", LinkEvidence.CONFIRMED)),
        )
    with pytest.raises(ValueError, match="appears twice"):
        ChainGraph("K-1", (ChainNode("a", 0), ChainNode("a", 1)), ())
