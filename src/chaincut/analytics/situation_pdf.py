"""The situation report as an A4 PDF: fpdf2 with the CJK font embedded, plots as PNG images.

fpdf2 (pure Python, maintained, already what the venue posters are printed with) lays out
the text and tables; it needs no network and no browser. Text is real PDF text in the
embedded font subset, so ``pdftotext`` reads it back and a reader can search it. The plots
are matplotlib figures rendered by Agg at 200 dpi. Every heading and label carries English
and Traditional Chinese, as in the HTML.

The font is the poster font (:func:`chaincut.venues.fonts.poster_font_for`), chosen to
cover every character the report prints: without such a font the report is refused
(``poster_font_missing``), never printed as empty boxes.
"""

from __future__ import annotations

import io

from fpdf import FPDF
from fpdf.enums import TableCellFillMode
from fpdf.fonts import FontFace

from chaincut.analytics.situation import LinkEvidence, SituationReport
from chaincut.analytics.situation_labels import LABELS, both, label
from chaincut.analytics.situation_plots import (
    chain_figure,
    epicurve_figure,
    png_bytes,
    rt_figure,
    unlinked_figure,
)
from chaincut.analytics.situation_tables import (
    Row,
    cluster_cells,
    growth_text,
    headline_rows,
    latest_rt,
    tracing_rows,
    unlinked_today,
)
from chaincut.venues.fonts import PosterFont

__all__ = ["render_pdf"]

_FAMILY = "report"
_BLUE = (11, 79, 138)
_GREY = (68, 68, 68)
_BLACK = (26, 26, 26)
_HEAD_FILL = (230, 238, 246)


class _Report(FPDF):
    """A4 pages with the report's day and the page number in the footer."""

    def __init__(self, footer_text: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self._footer_text = footer_text

    def footer(self) -> None:
        self.set_y(-12)
        with self.local_context(font_family=_FAMILY, font_size_pt=7, text_color=_GREY):
            self.cell(0, 5, f"{self._footer_text} · {self.page_no()}/{{nb}}", align="C")


def _heading(pdf: FPDF, pair: tuple[str, str], keep_mm: float = 40.0) -> None:
    """A section heading, on a new page unless ``keep_mm`` of what follows fits below it."""
    if pdf.get_y() + 14 + keep_mm > pdf.h - pdf.b_margin:
        pdf.add_page()
    pdf.ln(3)
    with pdf.local_context(font_size_pt=13, text_color=_BLUE):
        pdf.multi_cell(0, 7, both(pair), new_x="LMARGIN", new_y="NEXT", align="L")
    with pdf.local_context(draw_color=_BLUE, line_width=0.5):
        pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
    pdf.ln(2)


def _paragraph(pdf: FPDF, text: str, size: float = 8.5, colour: tuple[int, int, int] = _GREY) -> None:
    with pdf.local_context(font_size_pt=size, text_color=colour):
        pdf.multi_cell(0, size * 0.5, text, new_x="LMARGIN", new_y="NEXT", align="L")
    pdf.ln(1)


def _image(pdf: FPDF, png: bytes, width_mm: float, height_mm: float) -> None:
    if pdf.get_y() + height_mm > pdf.h - pdf.b_margin:
        pdf.add_page()
    pdf.image(io.BytesIO(png), x=pdf.l_margin, w=width_mm, h=height_mm)
    pdf.ln(1)


def _table(
    pdf: FPDF,
    headings: tuple[str, ...],
    rows: list[tuple[str, ...]],
    widths: tuple[float, ...],
    align: tuple[str, ...],
) -> None:
    with (
        pdf.local_context(font_size_pt=8),
        pdf.table(
            col_widths=widths,
            text_align=align,
            headings_style=FontFace(emphasis="NONE", fill_color=_HEAD_FILL, color=_BLACK),
            cell_fill_mode=TableCellFillMode.NONE,
            line_height=4.2,
            borders_layout="HORIZONTAL_LINES",
            width=sum(widths),
            align="LEFT",
        ) as table,
    ):
        for cells in [headings, *rows]:
            row = table.row()
            for cell in cells:
                row.cell(cell)
    pdf.ln(2)


def _rows(rows: tuple[Row, ...]) -> list[tuple[str, ...]]:
    return [(both(r.label), *r.cells) for r in rows]


def render_pdf(report: SituationReport, font: PosterFont) -> bytes:
    """The report as a PDF: text in ``font`` (embedded), plots drawn in the same font."""
    title = both(label("title"))
    pdf = _Report(f"{title} {report.day.isoformat()}")
    pdf.set_title(f"{title} {report.day.isoformat()}")
    pdf.set_creator("chaincut")
    pdf.set_lang("en")
    pdf.add_font(_FAMILY, fname=str(font.path), collection_font_number=font.face_index)
    pdf.set_font(_FAMILY, size=9)
    pdf.set_text_color(*_BLACK)
    pdf.set_margins(15, 15, 15)
    pdf.set_auto_page_break(auto=True, margin=16)
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin

    with pdf.local_context(font_size_pt=18, text_color=_BLACK):
        pdf.multi_cell(0, 9, f"{title}: {report.day.isoformat()}", new_x="LMARGIN", new_y="NEXT")
    _paragraph(
        pdf,
        f"{both(label('generated'))}: {report.generated_at.isoformat(timespec='seconds')} · "
        f"{both(label('policy'))}: {report.policy_version}",
    )
    _paragraph(pdf, both(label("aggregates_only")))

    _heading(pdf, label("headline"))
    new_rows, other_rows = headline_rows(report)
    _table(
        pdf,
        (f"{both(label('new_cases'))} {report.day.isoformat()}", both(label("cases"))),
        _rows(new_rows),
        (120.0, 40.0),
        ("LEFT", "RIGHT"),
    )
    rt_span, rt_value = latest_rt(report)
    _table(
        pdf,
        (both(label("confirmed_probable")), ""),
        [
            *_rows(other_rows),
            (f"{both(label('unlinked'))}: {both(label('unlinked_today'))}", unlinked_today(report)),
            (f"{both(label('rt_latest'))} R_t {rt_span}", rt_value or "–"),
        ],
        (120.0, 60.0),
        ("LEFT", "RIGHT"),
    )
    _paragraph(pdf, f"{both(label('trend'))}: {' / '.join(growth_text(report.curve.growth))}")

    _heading(pdf, label("epicurve"), keep_mm=width * 3.6 / 8.0)
    _image(pdf, png_bytes(epicurve_figure(report.curve, font)), width, width * 3.6 / 8.0)
    _paragraph(pdf, both(label("epicurve_note")))

    _heading(pdf, label("rt"), keep_mm=width * 3.2 / 8.0)
    _image(pdf, png_bytes(rt_figure(report.rt, font)), width, width * 3.2 / 8.0)
    insufficient = sum(1 for w in report.rt.windows if w.posterior is None)
    _paragraph(
        pdf,
        f"{both(label('rt_note'))} {both(label('insufficient_windows'))}: "
        f"{insufficient:,} / {len(report.rt.windows):,}.",
    )

    _heading(pdf, label("unlinked"), keep_mm=width * 2.8 / 8.0)
    _image(
        pdf,
        png_bytes(unlinked_figure(report.unlinked_days, report.unlinked, font)),
        width,
        width * 2.8 / 8.0,
    )
    _paragraph(pdf, both(label("unlinked_note")))

    _heading(pdf, label("clusters"))
    section = report.clusters
    if section is None:
        _paragraph(pdf, both(label("not_computed")), size=9, colour=_BLACK)
    elif not section.clusters:
        _paragraph(pdf, both(label("no_active_clusters")), size=9, colour=_BLACK)
    else:
        keys = ("cluster", "name", "status", "size", "first_onset", "last_onset", "settings")
        _table(
            pdf,
            tuple(both(LABELS[k]) for k in keys),
            [(*cluster_cells(c), "; ".join(f"{en} {zh}" for en, zh in c.settings)) for c in section.clusters],
            (16.0, 26.0, 16.0, 14.0, 20.0, 20.0, 68.0),
            ("LEFT", "LEFT", "LEFT", "RIGHT", "LEFT", "LEFT", "LEFT"),
        )

    _heading(pdf, label("chains"))
    if section is None:
        _paragraph(pdf, both(label("chains_not_computed")), size=9, colour=_BLACK)
    elif not section.chains:
        _paragraph(pdf, both(label("no_chains")), size=9, colour=_BLACK)
    else:
        _paragraph(pdf, both(label("chain_note")))
        for graph in section.chains:
            figure = chain_figure(graph, font)
            fig_w, fig_h = figure.get_size_inches()
            confirmed = sum(1 for e in graph.edges if e.evidence is LinkEvidence.CONFIRMED)
            _paragraph(
                pdf,
                f"{both(label('cluster'))} {graph.cluster_id}: {len(graph.nodes):,} {both(label('cases'))}; "
                f"{confirmed:,} {both(label('confirmed_link'))}, {len(graph.edges) - confirmed:,} "
                f"{both(label('inferred_link'))}",
                size=9,
                colour=_BLACK,
            )
            _image(pdf, png_bytes(figure), width, width * float(fig_h) / float(fig_w))

    _heading(pdf, label("tracing"))
    _table(
        pdf,
        ("", both(label("on_day")), both(label("to_date"))),
        _rows(tracing_rows(report)),
        (100.0, 40.0, 40.0),
        ("LEFT", "RIGHT", "RIGHT"),
    )
    _paragraph(pdf, both(label("tracing_note")))
    return bytes(pdf.output())
