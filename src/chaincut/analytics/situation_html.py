"""The situation report as one self-contained HTML page: Jinja2, autoescaped, plots inlined.

The page needs nothing but itself: its stylesheet is inline (one ``<style>`` element, which
the server's Content-Security-Policy admits by its SHA-256, :func:`content_security_policy`),
and each plot is an SVG in a ``data:`` URI with a text alternative, so it can be saved, mailed
and printed as it is. No external file, font or CDN. Every heading and label shows English
and Traditional Chinese together (the Chinese marked ``lang="zh-Hant"``).
"""

from __future__ import annotations

import base64
import functools
import hashlib

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from chaincut.analytics.situation import LinkEvidence, SituationReport
from chaincut.analytics.situation_labels import LABELS, both, label
from chaincut.analytics.situation_plots import (
    chain_figure,
    epicurve_figure,
    rt_figure,
    svg_bytes,
    unlinked_figure,
)
from chaincut.analytics.situation_tables import (
    cluster_cells,
    growth_text,
    headline_rows,
    latest_rt,
    tracing_rows,
    unlinked_today,
)
from chaincut.venues.fonts import PosterFont

__all__ = ["REPORT_CSS", "content_security_policy", "render_html"]

REPORT_CSS = """
:root { color: #1a1a1a; background: #ffffff; }
body { margin: 0; font: 15px/1.5 "Noto Sans", "DejaVu Sans", "WenQuanYi Micro Hei", "Noto Sans CJK TC",
  sans-serif; }
main { max-width: 60rem; margin: 0 auto; padding: 1rem 1.25rem 3rem; }
h1 { font-size: 1.6rem; margin: 0.5rem 0; }
h2 { font-size: 1.2rem; margin: 2rem 0 0.5rem; border-bottom: 2px solid #0b4f8a; padding-bottom: 0.2rem; }
.meta { color: #444444; margin: 0.2rem 0; font-size: 0.9rem; }
.columns { display: flex; flex-wrap: wrap; gap: 1.5rem; align-items: flex-start; }
table { border-collapse: collapse; margin: 0.5rem 0; }
table.wide { width: 100%; }
caption { text-align: left; font-weight: 600; padding-bottom: 0.3rem; }
th, td { border-bottom: 1px solid #c8c8c8; padding: 0.25rem 0.6rem; text-align: left; vertical-align: top; }
thead th { border-bottom: 2px solid #555555; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.total th, tr.total td { font-weight: 700; border-top: 2px solid #555555; }
figure { margin: 0.5rem 0; }
figure img { width: 100%; height: auto; display: block; }
figcaption { font-size: 0.9rem; color: #333333; }
.notice { border-left: 4px solid #8a5a00; background: #fff7e6; padding: 0.5rem 0.75rem; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0);
  white-space: nowrap; }
@media print {
  body { font-size: 10.5pt; }
  main { max-width: none; padding: 0; }
  h2 { break-after: avoid; }
  figure, table, .notice { break-inside: avoid; }
  .notice { background: none; }
}
"""
"""The page's only stylesheet; printed pages keep figures and tables whole."""


def content_security_policy() -> str:
    """The CSP the page is served under: nothing loads, its one stylesheet by hash, plots as data URIs."""
    digest = base64.b64encode(hashlib.sha256(REPORT_CSS.encode("utf-8")).digest()).decode("ascii")
    return (
        f"default-src 'none'; style-src 'sha256-{digest}'; img-src data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


@functools.cache
def _environment() -> Environment:
    # Built on first use, never at import; a Jinja2 Environment is safe to share between threads.
    return Environment(
        loader=PackageLoader("chaincut.analytics", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=False,
        lstrip_blocks=False,
    )


def _svg_uri(svg: bytes) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")


def render_html(report: SituationReport, font: PosterFont) -> str:
    """The report as one HTML page; plots drawn in ``font`` (the Chinese labels need a CJK face)."""
    new_rows, other_rows = headline_rows(report)
    rt_span, rt_value = latest_rt(report)
    insufficient = sum(1 for w in report.rt.windows if w.posterior is None)
    section = report.clusters
    chains = None
    if section is not None:
        chains = [
            {
                "cluster_id": graph.cluster_id,
                "src": _svg_uri(svg_bytes(chain_figure(graph, font))),
                "alt": f"{both(label('chains'))}: {both(label('cluster'))} {graph.cluster_id}, "
                f"{len(graph.nodes):,} {both(label('cases'))}",
                "nodes": f"{len(graph.nodes):,}",
                "confirmed": sum(1 for e in graph.edges if e.evidence is LinkEvidence.CONFIRMED),
                "inferred": sum(1 for e in graph.edges if e.evidence is LinkEvidence.INFERRED),
            }
            for graph in section.chains
        ]
    curve = report.curve
    template = _environment().get_template("situation.html.j2")
    return template.render(
        L=_Labels(),
        css=REPORT_CSS,
        day=report.day.isoformat(),
        generated=report.generated_at.isoformat(timespec="seconds"),
        policy_version=report.policy_version,
        new_rows=new_rows,
        other_rows=other_rows,
        unlinked_today=unlinked_today(report),
        rt_span=rt_span,
        rt_value=rt_value,
        rt_insufficient=f"{insufficient:,} / {len(report.rt.windows):,}",
        growth=growth_text(curve.growth),
        epicurve_src=_svg_uri(svg_bytes(epicurve_figure(curve, font))),
        epicurve_alt=f"{both(label('epicurve'))}: {curve.first.isoformat()} – {curve.last.isoformat()}, "
        f"{int(curve.total.sum()):,} {both(label('cases'))}",
        rt_src=_svg_uri(svg_bytes(rt_figure(report.rt, font))),
        rt_alt=f"{both(label('rt'))}. {both(label('rt_latest'))}: {rt_value or '–'}",
        unlinked_src=_svg_uri(svg_bytes(unlinked_figure(report.unlinked_days, report.unlinked, font))),
        unlinked_alt=f"{both(label('unlinked_share'))}, {both(label('report_date'))}. "
        f"{both(label('unlinked_today'))}: {unlinked_today(report)}",
        clusters=None
        if section is None
        else [{"cells": cluster_cells(c), "settings": c.settings} for c in section.clusters],
        chains=chains,
        tracing_rows=tracing_rows(report),
    )


class _Labels:
    """The label table as attributes for the template (``L.title``); a missing key fails the render."""

    def __getattr__(self, key: str) -> tuple[str, str]:
        try:
            return LABELS[key]
        except KeyError:
            raise AttributeError(key) from None
