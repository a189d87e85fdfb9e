"""Fitting poster text to a width: measuring it, wrapping it, shrinking or cutting it short."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterator, Sequence

from PIL import ImageFont

from chaincut.venues.fonts import PosterFont

__all__ = ["ELLIPSIS", "Measurer", "fit", "wrap"]

ELLIPSIS = "…"
"""What ends a line of text that was cut short to fit."""


class Measurer:
    """Pillow faces of one font by pixel size, to measure and draw text."""

    def __init__(self, font: PosterFont) -> None:
        self._font = font
        self._faces: dict[int, ImageFont.FreeTypeFont] = {}

    def font(self, size: int) -> ImageFont.FreeTypeFont:
        if size not in self._faces:
            self._faces[size] = ImageFont.truetype(
                str(self._font.path),
                size,
                index=self._font.face_index,
                layout_engine=ImageFont.Layout.BASIC,
            )
        return self._faces[size]

    def width(self, text: str, size: int) -> float:
        return self.font(size).getlength(text)


def fit(
    measure: Measurer, text: str, max_width: float, sizes: Sequence[int], max_lines: int
) -> tuple[int, list[str]]:
    """Pick the largest size at which ``text`` wraps into ``max_lines``; else truncate it."""
    for size in sizes:
        lines = wrap(text, _width_at(measure, size), max_width)
        if len(lines) <= max_lines:
            return size, lines
    size = sizes[-1]
    lines = wrap(text, _width_at(measure, size), max_width)[:max_lines]
    last = lines[-1]
    while last and measure.width(last + ELLIPSIS, size) > max_width:
        last = last[:-1]
    lines[-1] = last.rstrip() + ELLIPSIS
    return size, lines


def _width_at(measure: Measurer, size: int) -> Callable[[str], float]:
    return lambda text: measure.width(text, size)


def wrap(text: str, width_of: Callable[[str], float], max_width: float) -> list[str]:
    """Break text into lines: at spaces, between Chinese characters, inside overlong words."""
    lines: list[str] = []
    current = ""
    for piece in _pieces(" ".join(text.split())):
        if piece == " ":
            current += " " if current else ""
            continue
        if width_of(current + piece) <= max_width:
            current += piece
            continue
        if current.strip():
            lines.append(current.rstrip())
        while len(piece) > 1 and width_of(piece) > max_width:
            cut = _longest_fitting_prefix(piece, width_of, max_width)
            lines.append(piece[:cut])
            piece = piece[cut:]
        current = piece
    if current.strip():
        lines.append(current.rstrip())
    return lines


def _longest_fitting_prefix(word: str, width_of: Callable[[str], float], max_width: float) -> int:
    for length in range(len(word) - 1, 0, -1):
        if width_of(word[:length]) <= max_width:
            return length
    return 1


def _pieces(text: str) -> Iterator[str]:
    """Split into spaces, single wide (CJK) characters, and runs of other characters."""
    run = ""
    for char in text:
        if char == " " or unicodedata.east_asian_width(char) in ("W", "F"):
            if run:
                yield run
                run = ""
            yield char
        else:
            run += char
    if run:
        yield run
