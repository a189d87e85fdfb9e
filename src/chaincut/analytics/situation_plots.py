"""The situation report's plots, drawn with matplotlib's object-oriented API in the CJK font.

Each plot is a fresh :class:`matplotlib.figure.Figure` rendered by the Agg canvas: pyplot
and its global "current figure" are never used, and no ``rcParams`` is changed, so reports
drawn at once in two threads share nothing but matplotlib's per-thread font cache. The
Chinese labels are drawn in the font file passed in (a :class:`PosterFont`, the font the
posters use: WenQuanYi Micro Hei from ``fonts-wqy-microhei`` by default), given to every
text artist as ``FontProperties(fname=...)`` rather than registered in the global font
manager. SVG output draws text as paths (matplotlib's default), so a browser needs no font.

Colours are the Okabe-Ito palette (Okabe and Ito, "Color Universal Design", 2008), told
apart by people with the common colour-vision deficiencies, and the bars keep their order
from the legend, bottom first.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties

from chaincut.analytics.epicurve import CLASSIFICATIONS, EpidemicCurve, UnlinkedShare
from chaincut.analytics.reproduction_service import RtReport
from chaincut.analytics.situation import ChainGraph, LinkEvidence
from chaincut.analytics.situation_labels import CLASSIFICATION_LABELS, both, label
from chaincut.venues.fonts import PosterFont

__all__ = [
    "MAX_CHAIN_NODES",
    "chain_figure",
    "epicurve_figure",
    "png_bytes",
    "rt_figure",
    "svg_bytes",
    "unlinked_figure",
]

MAX_CHAIN_NODES = 120
"""The most cases one chain graph draws: past that the labels cannot be read, and the rest are counted."""

_OKABE_ITO = ("#E69F00", "#56B4E9", "#009E73", "#D55E00", "#CC79A7", "#999999", "#0072B2", "#F0E442")
_INK = "#222222"


def _font(font: PosterFont, size: float) -> FontProperties:
    return FontProperties(fname=str(font.path), size=size)


def svg_bytes(figure: Figure) -> bytes:
    """The figure as SVG, text drawn as paths (no font needed to show it), with no date in it."""
    out = io.BytesIO()
    figure.savefig(out, format="svg", metadata={"Date": None})
    return out.getvalue()


def png_bytes(figure: Figure, dpi: int = 200) -> bytes:
    """The figure as a PNG at ``dpi`` dots per inch (the PDF embeds these)."""
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=dpi)
    return out.getvalue()


def _day_axis(ax: Axes, days: Sequence[date], font: PosterFont) -> None:
    """Ticks at about eight evenly spaced days, labelled MM-DD, the first and last with the year."""
    n = len(days)
    step = max(1, int(np.ceil(n / 8)))
    ticks = list(range(0, n, step))
    if ticks[-1] != n - 1 and n - 1 - ticks[-1] >= step / 2:
        ticks.append(n - 1)
    ax.set_xticks(ticks)
    ax.set_xticklabels(
        [days[i].isoformat() if i in (ticks[0], ticks[-1]) else days[i].strftime("%m-%d") for i in ticks],
        fontproperties=_font(font, 7),
    )
    ax.set_xlim(-0.6, n - 0.4)
    for tick in ax.get_yticklabels():
        tick.set_fontproperties(_font(font, 7))


def _style(ax: Axes, font: PosterFont, xlabel: tuple[str, str], ylabel: tuple[str, str]) -> None:
    ax.set_xlabel(both(xlabel), fontproperties=_font(font, 8), color=_INK)
    ax.set_ylabel(both(ylabel), fontproperties=_font(font, 8), color=_INK)
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)
    ax.grid(axis="y", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)


def epicurve_figure(curve: EpidemicCurve, font: PosterFont) -> Figure:
    """Daily cases by onset date stacked by classification, with the trailing average as a line."""
    figure = Figure(figsize=(8.0, 3.6), layout="constrained")
    ax = figure.add_subplot()
    days = curve.days
    x = np.arange(len(days))
    bottom = np.zeros(len(days))
    for i, classification in enumerate(CLASSIFICATIONS):
        counts = np.asarray(curve.by_classification[classification], dtype=np.float64)
        if not counts.any():
            continue
        ax.bar(
            x,
            counts,
            bottom=bottom,
            width=0.9,
            color=_OKABE_ITO[i % len(_OKABE_ITO)],
            label=both(CLASSIFICATION_LABELS[classification]),
            linewidth=0,
        )
        bottom += counts
    avg = label("average")
    ax.plot(
        x,
        curve.average,
        color=_INK,
        linewidth=1.4,
        label=f"{curve.average_days}-{avg[0]} {curve.average_days}{avg[1]}",
    )
    _style(ax, font, label("onset_date"), label("daily_cases"))
    _day_axis(ax, days, font)
    ax.set_ylim(bottom=0)
    ax.legend(prop=_font(font, 7), frameon=False, loc="upper left")
    return figure


def rt_figure(rt: RtReport, font: PosterFont) -> Figure:
    """R_t at each window's last day with its 95% band; windows with insufficient data shaded apart."""
    figure = Figure(figsize=(8.0, 3.2), layout="constrained")
    ax = figure.add_subplot()
    windows = rt.windows
    days = [w.end for w in windows]
    if not windows:
        ax.text(0.5, 0.5, both(label("no_windows")), ha="center", va="center", fontproperties=_font(font, 9))
        ax.set_axis_off()
        return figure
    x = np.arange(len(windows))
    mean = np.array([np.nan if w.posterior is None else w.posterior.mean for w in windows])
    lo = np.array([np.nan if w.posterior is None else w.posterior.lo for w in windows])
    hi = np.array([np.nan if w.posterior is None else w.posterior.hi for w in windows])
    estimated = ~np.isnan(mean)
    if estimated.any():
        ax.fill_between(x, lo, hi, color="#56B4E9", alpha=0.35, linewidth=0, label=both(label("band")))
        ax.plot(x, mean, color="#0072B2", linewidth=1.5, marker="." if estimated.sum() < 3 else None)
    top = float(np.nanmax(hi)) if estimated.any() else 2.0
    insufficient = np.flatnonzero(~estimated)
    for n, i in enumerate(insufficient):
        ax.axvspan(
            i - 0.5,
            i + 0.5,
            color="#cccccc",
            alpha=0.6,
            linewidth=0,
            hatch="//",
            label=both(label("insufficient")) if n == 0 else None,
        )
    ax.axhline(1.0, color="#D55E00", linewidth=1.0, linestyle="--", label="R = 1")
    _style(ax, font, label("onset_date"), ("R_t", ""))
    _day_axis(ax, days, font)
    ax.set_ylim(0, max(2.0, min(top * 1.05, 10.0)))
    ax.legend(prop=_font(font, 7), frameon=False, loc="upper right")
    return figure


def unlinked_figure(days: Sequence[date], unlinked: UnlinkedShare, font: PosterFont) -> Figure:
    """The share of local cases with no known source, by report date, in percent; no local case: no bar."""
    figure = Figure(figsize=(8.0, 2.8), layout="constrained")
    ax = figure.add_subplot()
    x = np.arange(len(days))
    local = np.asarray(unlinked.local, dtype=np.float64)
    share = np.divide(
        np.asarray(unlinked.unlinked, dtype=np.float64) * 100.0,
        local,
        out=np.zeros_like(local),
        where=local > 0,
    )
    ax.bar(x[local > 0], share[local > 0], width=0.9, color="#CC79A7", linewidth=0)
    _style(ax, font, label("report_date"), ("% unlinked", "% 源頭不明"))
    _day_axis(ax, days, font)
    ax.set_ylim(0, 100)
    return figure


def _layers(graph: ChainGraph) -> tuple[dict[str, tuple[float, int]], int]:
    """Positions (x, generation) of the nodes drawn, and how many were left out.

    Nodes are taken by generation then reference up to :data:`MAX_CHAIN_NODES`; within a
    generation each is placed after the mean position of its infector (a barycentre order,
    Sugiyama et al. 1981), so edges cross less.
    """
    ordered = sorted(graph.nodes, key=lambda n: (n.generation, n.case_ref))
    kept = ordered[:MAX_CHAIN_NODES]
    infector = {e.infectee: e.infector for e in graph.edges}
    position: dict[str, tuple[float, int]] = {}
    by_generation: dict[int, list[str]] = {}
    for node in kept:
        by_generation.setdefault(node.generation, []).append(node.case_ref)
    widest = max((len(v) for v in by_generation.values()), default=1)
    for generation in sorted(by_generation):
        refs = by_generation[generation]

        def parent_x(ref: str) -> float:
            parent = infector.get(ref)
            return position[parent][0] if parent in position else -1.0

        refs.sort(key=lambda r: (parent_x(r), r))
        offset = (widest - len(refs)) / 2
        for i, ref in enumerate(refs):
            position[ref] = (offset + i, generation)
    return position, len(ordered) - len(kept)


def chain_figure(graph: ChainGraph, font: PosterFont) -> Figure:
    """One cluster's transmission chains as a layered tree: one row per generation, case refs as labels."""
    position, left_out = _layers(graph)
    generations = sorted({g for _, g in position.values()})
    widest = max((sum(1 for _, g in position.values() if g == gen) for gen in generations), default=1)
    figure = Figure(
        figsize=(8.0, min(9.0, 1.0 + 0.7 * max(1, len(generations)))),
        layout="constrained",
    )
    ax = figure.add_subplot()
    for edge in graph.edges:
        if edge.infector not in position or edge.infectee not in position:
            continue
        (x0, y0), (x1, y1) = position[edge.infector], position[edge.infectee]
        ax.plot(
            [x0, x1],
            [y0, y1],
            color="#555555",
            linewidth=0.8,
            linestyle="-" if edge.evidence is LinkEvidence.CONFIRMED else "--",
            zorder=1,
        )
    xs = [p[0] for p in position.values()]
    ys = [p[1] for p in position.values()]
    ax.scatter(xs, ys, s=60 if widest <= 30 else 20, color="#0072B2", zorder=2)
    if len(position) <= 60:
        size = 7 if widest <= 12 else 5
        for ref, (px, py) in position.items():
            ax.annotate(
                ref,
                (px, py),
                xytext=(0, 6),
                textcoords="offset points",
                ha="center",
                fontproperties=_font(font, size),
            )
    ax.set_ylim(max(generations, default=0) + 0.6, min(generations, default=0) - 0.8)
    ax.set_xlim(-0.8, widest - 0.2)
    ax.set_yticks(generations)
    en, zh = label("generation_n")
    ax.set_yticklabels(
        [f"{en.format(n=g)} {zh.format(n=g)}" for g in generations], fontproperties=_font(font, 7)
    )
    ax.set_xticks([])
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    if left_out:
        note = label("cases_not_drawn")
        ax.set_title(
            f"{left_out:,} {note[0]}; {left_out:,} {note[1]}", fontproperties=_font(font, 7), loc="left"
        )
    return figure
