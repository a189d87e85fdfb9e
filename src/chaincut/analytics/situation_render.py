"""Rendering a situation report as HTML or PDF, in a font that draws every character it prints."""

from __future__ import annotations

from chaincut.analytics.situation import ReportFormat, SituationReport
from chaincut.analytics.situation_html import render_html
from chaincut.analytics.situation_labels import CLASSIFICATION_LABELS, LABELS, ORDER_KIND_LABELS, TIER_LABELS
from chaincut.analytics.situation_pdf import render_pdf
from chaincut.venues.fonts import PosterFont, poster_font_for

__all__ = ["ReportFormat", "render_situation_report", "report_font"]


def report_font(report: SituationReport) -> PosterFont:
    """The installed CJK font covering every label and every name in ``report``.

    Raises ``PosterFontMissing`` (saying which package to install) when none does, so a
    report is never printed with empty boxes where its Chinese should be.
    """
    pairs = [*LABELS.values(), *CLASSIFICATION_LABELS.values(), *TIER_LABELS.values()]
    pairs += list(ORDER_KIND_LABELS.values())
    texts = [text for pair in pairs for text in pair]
    if report.clusters is not None:
        for cluster in report.clusters.clusters:
            texts += [cluster.id, cluster.name or "", cluster.status]
            texts += [name for setting in cluster.settings for name in setting]
        for graph in report.clusters.chains:
            texts += [graph.cluster_id, *(node.case_ref for node in graph.nodes)]
    return poster_font_for("".join(texts) + "0123456789–·%/()")


def render_situation_report(
    report: SituationReport, fmt: ReportFormat, font: PosterFont | None = None
) -> bytes:
    """The report as ``fmt``; ``font`` None picks one with :func:`report_font` (a given one is used as is)."""
    chosen = font or report_font(report)
    if fmt is ReportFormat.PDF:
        return render_pdf(report, chosen)
    return render_html(report, chosen).encode("utf-8")
