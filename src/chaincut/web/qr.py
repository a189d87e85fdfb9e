"""QR codes drawn into a page: segno's SVG, inline, sized by the stylesheet (no inline style)."""

from __future__ import annotations

import segno
from markupsafe import Markup

__all__ = ["qr_svg"]


def qr_svg(qr: segno.QRCode | str, *, css_class: str, title: str) -> Markup:
    """``qr`` (a symbol, or text to encode at error correction M) as an inline ``<svg>`` with its
    4-module quiet zone, ``css_class`` for the stylesheet to size it and ``title`` for screen readers.

    Safe to put in a page as it is: segno writes only its own elements, and escapes the title.
    """
    symbol = segno.make(qr, error="m") if isinstance(qr, str) else qr
    svg = symbol.svg_inline(border=4, omitsize=True, svgclass=css_class, lineclass=None, title=title)
    return Markup(svg)  # noqa: S704 - segno's own SVG (its title escaped by segno)
