"""Finding Chinese drawn as empty boxes ("tofu"), on a PDF's pages or in a matplotlib figure.

A font without CJK glyphs draws every Chinese character as the same box (its ``.notdef``
glyph), or as nothing. So the check crops each Chinese character where it was drawn and
compares the crops of distinct characters: real glyphs differ from one another, tofu boxes
are all alike. The crops come from where the text is known to be: for a PDF, the word boxes
``pdftotext -bbox`` reports, on the page as ``pdftoppm`` rasterises it; for a figure, each
text artist's extent and the advance of each prefix of its string, on the Agg canvas.
"""

from __future__ import annotations

import re
import subprocess
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from html import unescape
from pathlib import Path

import numpy as np
import numpy.typing as npt
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text
from PIL import Image

__all__ = ["Drawn", "figure_cjk_cells", "glyph_problems", "is_cjk", "pdf_cjk_cells"]

Cell = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Drawn:
    """One Chinese character where it was drawn: its crop (None: no ink) and the text it was part of."""

    char: str
    group: str
    cell: Cell | None


_SIDE = 24  # crops are compared at 24 x 24 pixels
_WORD = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>')
_PAGE = re.compile(r"<page width=")


def is_cjk(char: str) -> bool:
    """A CJK unified ideograph (the Chinese characters; not punctuation)."""
    return unicodedata.name(char, "").startswith("CJK UNIFIED IDEOGRAPH")


def _normalised(gray: npt.NDArray[np.uint8]) -> Cell | None:
    """The ink of a crop, trimmed to its bounding box and scaled to _SIDE pixels; None if no ink."""
    ink = gray < 128
    if not ink.any():
        return None
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    trimmed = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    image = Image.fromarray((~trimmed).astype(np.uint8) * 255).resize(
        (_SIDE, _SIDE), Image.Resampling.BILINEAR
    )
    return np.asarray(image) < 128


def glyph_problems(cells: Sequence[Drawn], *, min_chars: int) -> list[str]:
    """What is wrong with the drawn Chinese characters (empty when they are real glyphs).

    Characters are compared within the word or text they were drawn in (one size, one
    font, so one box if tofu). Two distinct characters "look alike" when under 8% of their
    pixels differ: real glyphs of distinct characters differ in over a quarter of them
    (WenQuanYi Micro Hei, measured), tofu boxes in none.
    """
    problems = []
    distinct = {d.char for d in cells}
    if len(distinct) < min_chars:
        problems.append(
            f"only {len(distinct)} distinct Chinese characters found drawn (expected {min_chars}+)"
        )
    blank = sorted({d.char for d in cells if d.cell is None})
    if blank:
        problems.append(f"{len(blank)} Chinese characters draw nothing: {''.join(blank[:10])}")
    groups: dict[str, list[Drawn]] = {}
    for d in cells:
        if d.cell is not None:
            groups.setdefault(d.group, []).append(d)
    pairs = alike = 0
    examples: set[str] = set()
    for members in groups.values():
        for i, a in enumerate(members):
            for b in members[i + 1 :]:
                if a.char == b.char:
                    continue
                assert a.cell is not None and b.cell is not None
                pairs += 1
                if np.mean(a.cell != b.cell) < 0.08:
                    alike += 1
                    examples |= {a.char, b.char}
    if pairs == 0 and not problems:
        problems.append("no two distinct Chinese characters drawn side by side to compare")
    elif pairs and alike > pairs // 20:
        problems.append(
            f"{alike} of {pairs} pairs of distinct Chinese characters draw the same image (tofu): "
            f"{''.join(sorted(examples)[:12])}"
        )
    return problems


def pdf_cjk_cells(pdf: Path, work: Path, dpi: int = 200) -> list[Drawn]:
    """Each Chinese character on the PDF's pages, cropped from the page rendered by pdftoppm.

    Words made only of Chinese characters are split into equal cells (CJK glyphs are
    full-width).
    """
    boxes = work / "bbox.html"
    subprocess.run(["pdftotext", "-bbox", str(pdf), str(boxes)], check=True, timeout=120)
    pages = _PAGE.split(boxes.read_text(encoding="utf-8"))[1:]
    cells: list[Drawn] = []
    scale = dpi / 72.0
    for number, page in enumerate(pages, start=1):
        words = [
            (float(a), float(b), float(c), float(d), unescape(t)) for a, b, c, d, t in _WORD.findall(page)
        ]
        words = [w for w in words if len(w[4]) >= 1 and all(is_cjk(ch) for ch in w[4])]
        if not words:
            continue
        prefix = work / f"page-{number}"
        subprocess.run(
            [
                "pdftoppm",
                "-r",
                str(dpi),
                "-gray",
                "-png",
                "-f",
                str(number),
                "-l",
                str(number),
                "-singlefile",
                str(pdf),
                str(prefix),
            ],
            check=True,
            timeout=120,
        )
        gray = np.asarray(Image.open(prefix.with_suffix(".png")).convert("L"))
        for x0, y0, x1, y1, text in words:
            step = (x1 - x0) / len(text)
            for i, char in enumerate(text):
                left, right = round((x0 + i * step) * scale), round((x0 + (i + 1) * step) * scale)
                crop = gray[round(y0 * scale) : round(y1 * scale), left + 1 : right - 1]
                cells.append(Drawn(char, f"page {number} at {x0:.0f},{y0:.0f}", _normalised(crop)))
    return cells


def figure_cjk_cells(figure: Figure) -> list[Drawn]:
    """Each Chinese character in the figure's text, cropped from the figure drawn by Agg."""
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    renderer = canvas.get_renderer()
    pixels = np.asarray(canvas.buffer_rgba())
    gray = (pixels[..., :3].mean(axis=2)).astype(np.uint8)
    height = gray.shape[0]
    cells: list[Drawn] = []
    for text in figure.findobj(Text):
        assert isinstance(text, Text)
        string = text.get_text()
        if not text.get_visible() or not any(is_cjk(c) for c in string) or text.get_rotation() != 0:
            continue
        box = text.get_window_extent(renderer)
        prop = text.get_fontproperties()

        def advance(k: int, s: str = string, p: object = prop) -> float:
            return float(renderer.get_text_width_height_descent(s[:k], p, ismath=False)[0])  # type: ignore[arg-type]

        top, bottom = round(height - box.y1), round(height - box.y0)
        for i, char in enumerate(string):
            if not is_cjk(char):
                continue
            left, right = round(box.x0 + advance(i)), round(box.x0 + advance(i + 1))
            cells.append(
                Drawn(
                    char,
                    f"{string!r} at {box.x0:.0f},{box.y0:.0f}",
                    _normalised(gray[top:bottom, left:right]),
                )
            )
    return cells
