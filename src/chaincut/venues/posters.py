"""Printable venue posters: the QR code residents scan to check in, with the venue's names.

A poster is laid out once, in pixels of an A4 page at 150 dpi (1240 x 1754), and then
drawn either as a PNG (Pillow) or as a one-page A4 PDF (fpdf2, QR drawn as vectors,
font embedded), so both show the same lines in the same places.

The QR code holds the address of the public check-in page with the signed venue token
as its fragment (``https://host/v#CHAINCUT:1:...``), so a phone's own camera opens the
page; the page's short address is printed below it, for a phone that cannot scan. It is
encoded in byte mode (the token's lower-case letters
rule out alphanumeric mode) at error-correction level Q, which survives a quarter of
the symbol being smudged or torn, with the standard 4-module quiet zone and modules
of a whole number of pixels (about 2 mm once printed) so a phone reads it at arm's
length.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import segno
from PIL import Image, ImageDraw

from chaincut.venues.fonts import PosterFont, poster_font_for
from chaincut.venues.poster_layout import ELLIPSIS, Measurer, fit
from chaincut.venues.tokens import VENUE_TOKEN_PREFIX, checkin_url

if TYPE_CHECKING:
    from fpdf import FPDF

__all__ = [
    "POSTER_DPI",
    "POSTER_SIZE_PX",
    "TITLE_EN",
    "TITLE_ZH",
    "TRACING_TITLE_EN",
    "TRACING_TITLE_ZH",
    "PosterContent",
    "render_poster_pdf",
    "render_poster_png",
]

POSTER_DPI = 150
POSTER_SIZE_PX = (1240, 1754)
"""An A4 portrait page (210 x 297 mm) at `POSTER_DPI`."""

TITLE_EN = "Scan to check in"
TITLE_ZH = "掃描登記"
TRACING_TITLE_EN = "Tracing code: keep it safe"
TRACING_TITLE_ZH = "追蹤碼：請妥善保管"
_TRACING_NOTE = "Show it only to the health authority's tracers 只向衞生當局的追蹤人員出示"
_TAXI_LABEL = "Taxi 的士"
_TYPE_LABEL = "Venue type 場所類型: "

_QR_ERROR_LEVEL = "q"
_QUIET_ZONE_MODULES = 4
_MIN_MODULE_PX = 4

_WIDTH, _HEIGHT = POSTER_SIZE_PX
_MARGIN = 70
_TEXT_WIDTH = (_WIDTH - 2 * _MARGIN) * 0.96  # slack for PDF and PNG measuring glyphs apart
_HEADER_HEIGHT = 250
_PT_PER_PX = 72 / POSTER_DPI

_Rgb = tuple[int, int, int]
_BLACK: _Rgb = (0, 0, 0)
_WHITE: _Rgb = (255, 255, 255)
_HEADER: _Rgb = (0, 84, 86)
_TRACING_HEADER: _Rgb = (128, 0, 0)
_GREY: _Rgb = (90, 90, 90)


@dataclass(frozen=True)
class PosterContent:
    """What a venue's poster shows; ``public_url`` is where phones reach the authority (https://host);
    ``plate`` is a taxi's registration plate."""

    token: str
    name_en: str
    name_zh: str
    venue_type: str
    district: str
    address: str
    plate: str | None = None
    public_url: str = field(kw_only=True)
    # A decentralised venue's poster holds its CrowdNotifier address (the entry code in its fragment)
    # instead of a token; its owner's tracing-code sheet holds the tracing code (``tracing``).
    qr_override: str | None = field(default=None, kw_only=True)
    tracing: bool = field(default=False, kw_only=True)

    def __post_init__(self) -> None:
        if self.qr_override is None and not self.token.startswith(VENUE_TOKEN_PREFIX):
            raise ValueError("token is not a chaincut venue token")
        if not self.public_url.startswith(("https://", "http://")):
            raise ValueError("public_url must be an http(s) address")
        if not self.name_en.strip() and not self.name_zh.strip():
            raise ValueError("a poster needs the venue's name")

    @property
    def qr_text(self) -> str:
        """What the QR code holds: the check-in page's address, the token its fragment."""
        if self.qr_override is not None:
            return self.qr_override
        return checkin_url(self.public_url, self.token)

    @property
    def short_url(self) -> str:
        """The check-in page's address as printed: no scheme, no token."""
        return checkin_url(self.public_url, "").split("://", 1)[1].rstrip("#")


@dataclass(frozen=True)
class _Text:
    text: str
    centre_x: float
    baseline: float
    size: int
    colour: _Rgb = _BLACK
    bold: bool = False


@dataclass(frozen=True)
class _Box:
    left: float
    top: float
    width: float
    height: float
    fill: _Rgb | None = None
    outline: _Rgb | None = None
    outline_width: int = 0


@dataclass(frozen=True)
class _Qr:
    left: int
    top: int
    module: int
    matrix: tuple[tuple[bool, ...], ...]  # quiet zone included


@dataclass(frozen=True)
class _Layout:
    qr: _Qr
    boxes: list[_Box]
    texts: list[_Text]


def render_poster_png(content: PosterContent) -> bytes:
    """Draw a venue's check-in poster as an A4 PNG at 150 dpi."""
    measure = Measurer(_font_for(content))
    layout = _lay_out(content, measure)
    image = Image.new("RGB", POSTER_SIZE_PX, _WHITE)
    draw = ImageDraw.Draw(image)
    for box in layout.boxes:
        draw.rectangle(
            (box.left, box.top, box.left + box.width - 1, box.top + box.height - 1),
            fill=box.fill,
            outline=box.outline,
            width=box.outline_width,
        )
    image.paste(_qr_image(layout.qr), (layout.qr.left, layout.qr.top))
    for text in layout.texts:
        stroke = _stroke_px(text)
        draw.text(
            (text.centre_x, text.baseline),
            text.text,
            font=measure.font(text.size),
            fill=text.colour,
            anchor="ms",
            stroke_width=stroke,
            stroke_fill=text.colour,
        )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", dpi=(POSTER_DPI, POSTER_DPI))
    return buffer.getvalue()


def render_poster_pdf(content: PosterContent) -> bytes:
    """Draw a venue's check-in poster as a one-page A4 PDF with the font embedded."""
    font = _font_for(content)
    layout = _lay_out(content, Measurer(font))
    # Points, not millimetres: fpdf2 2.8 writes a text stroke width in user units as if
    # they were points, so stroked (bold) text only comes out right with unit="pt".
    from fpdf import FPDF  # loaded when a PDF is drawn: it takes a third of a second

    pdf = FPDF(orientation="portrait", unit="pt", format="A4")
    pdf.set_auto_page_break(auto=False)
    kind = "Tracing code" if content.tracing else "Check-in poster"
    pdf.set_title(f"{kind}: {content.name_en}")
    pdf.set_creator("chaincut")
    pdf.add_font("poster", fname=str(font.path), collection_font_number=font.face_index)
    pdf.add_page()
    for box in layout.boxes:
        style = ("F" if box.fill else "") + ("D" if box.outline else "")
        with pdf.local_context(
            fill_color=box.fill or _WHITE,
            draw_color=box.outline or _BLACK,
            line_width=box.outline_width * _PT_PER_PX,
        ):
            # PDF strokes straddle the path; Pillow draws the outline inside the box.
            inset = box.outline_width / 2 if box.outline else 0
            pdf.rect(
                (box.left + inset) * _PT_PER_PX,
                (box.top + inset) * _PT_PER_PX,
                (box.width - 2 * inset) * _PT_PER_PX,
                (box.height - 2 * inset) * _PT_PER_PX,
                style=style,
            )
    _draw_qr_vector(pdf, layout.qr)
    for text in layout.texts:
        size_pt = text.size * _PT_PER_PX
        stroke_pt = 2 * _stroke_px(text) * _PT_PER_PX
        with pdf.local_context(
            font_family="poster",
            font_size_pt=size_pt,
            text_color=text.colour,
            draw_color=text.colour,
            line_width=stroke_pt,
            text_mode="FILL_STROKE" if stroke_pt else "FILL",
        ):
            width = pdf.get_string_width(text.text)
            pdf.text(text.centre_x * _PT_PER_PX - width / 2, text.baseline * _PT_PER_PX, text.text)
    return bytes(pdf.output())


def _font_for(content: PosterContent) -> PosterFont:
    every_text = "".join(
        (
            TITLE_EN,
            TITLE_ZH,
            TRACING_TITLE_EN,
            TRACING_TITLE_ZH,
            _TRACING_NOTE,
            _TAXI_LABEL,
            _TYPE_LABEL,
            ELLIPSIS,
            content.name_en,
            content.name_zh,
            content.venue_type,
            content.district,
            content.address,
            content.plate or "",
            content.short_url,
        )
    )
    return poster_font_for(every_text)


def _lay_out(content: PosterContent, measure: Measurer) -> _Layout:
    """Place every line, box and the QR code, top down then bottom up, QR in between."""
    centre = _WIDTH / 2
    header = _TRACING_HEADER if content.tracing else _HEADER
    boxes = [_Box(0, 0, _WIDTH, _HEADER_HEIGHT, fill=header)]
    title_en, title_zh = (TRACING_TITLE_EN, TRACING_TITLE_ZH) if content.tracing else (TITLE_EN, TITLE_ZH)
    texts = [
        _Text(title_en, centre, 118, 68 if not content.tracing else 60, _WHITE, bold=True),
        _Text(title_zh, centre, 212, 76 if not content.tracing else 68, _WHITE, bold=True),
    ]

    top = _HEADER_HEIGHT + 40.0
    top = _add_block(texts, measure, content.name_en, top, range(64, 35, -4), 2, bold=True)
    top = _add_block(texts, measure, content.name_zh, top + 8, range(64, 35, -4), 2, bold=True)
    if content.plate and content.plate.strip():
        top = _add_block(texts, measure, _TAXI_LABEL, top + 12, (34,), 1, colour=_GREY)
        size, lines = fit(measure, content.plate, _TEXT_WIDTH - 80, range(110, 59, -10), 1)
        box_height = size * 1.45
        boxes.append(_Box(_MARGIN + 150, top, _WIDTH - 2 * (_MARGIN + 150), box_height, None, _BLACK, 8))
        texts.append(_Text(lines[0], centre, top + size * 1.08, size, bold=True))
        top += box_height

    bottom = _add_block_above(
        texts, measure, _TYPE_LABEL + content.venue_type, _HEIGHT - 50.0, (28, 24, 20), 1, _GREY
    )
    bottom = _add_block_above(texts, measure, content.address, bottom - 30, range(36, 25, -2), 3)
    bottom = _add_block_above(texts, measure, content.district, bottom - 16, range(44, 29, -2), 1, bold=True)
    footer = _TRACING_NOTE if content.tracing else content.short_url
    bottom = _add_block_above(texts, measure, footer, bottom - 24, range(40, 19, -2), 2, header)

    return _Layout(_place_qr(content.qr_text, top + 20, bottom - 16), boxes, texts)


def _add_block(
    texts: list[_Text],
    measure: Measurer,
    text: str,
    top: float,
    sizes: Sequence[int],
    max_lines: int,
    *,
    bold: bool = False,
    colour: _Rgb = _BLACK,
) -> float:
    """Add centred, wrapped text below ``top``; return where the next block may start."""
    if not text.strip():
        return top
    size, lines = fit(measure, text, _TEXT_WIDTH, sizes, max_lines)
    for line in lines:
        texts.append(_Text(line, _WIDTH / 2, top + size, size, colour, bold))
        top += size * 1.25
    return top


def _add_block_above(
    texts: list[_Text],
    measure: Measurer,
    text: str,
    bottom: float,
    sizes: Sequence[int],
    max_lines: int,
    colour: _Rgb = _BLACK,
    *,
    bold: bool = False,
) -> float:
    """Add centred, wrapped text ending at baseline ``bottom``; return the space left above."""
    if not text.strip():
        return bottom
    size, lines = fit(measure, text, _TEXT_WIDTH, sizes, max_lines)
    first_baseline = bottom - (len(lines) - 1) * size * 1.25
    for index, line in enumerate(lines):
        baseline = first_baseline + index * size * 1.25
        texts.append(_Text(line, _WIDTH / 2, baseline, size, colour, bold))
    return first_baseline - size * 1.15


def _place_qr(text: str, top: float, bottom: float) -> _Qr:
    qr = segno.make(text, error=_QR_ERROR_LEVEL, mode="byte", micro=False)
    matrix = tuple(
        tuple(bool(dark) for dark in row) for row in qr.matrix_iter(scale=1, border=_QUIET_ZONE_MODULES)
    )
    side_modules = len(matrix)
    available = min(bottom - top, _WIDTH - 2 * _MARGIN)
    module = int(available // side_modules)
    if module < _MIN_MODULE_PX:
        raise ValueError("not enough room on the poster for a scannable QR code")
    side = module * side_modules
    left = (_WIDTH - side) // 2
    return _Qr(left, int(top + (bottom - top - side) / 2), module, matrix)


def _qr_image(qr: _Qr) -> Image.Image:
    side = len(qr.matrix)
    pixels = bytes(0 if dark else 255 for row in qr.matrix for dark in row)
    small = Image.frombytes("L", (side, side), pixels)
    return small.resize((side * qr.module, side * qr.module), Image.Resampling.NEAREST)


def _draw_qr_vector(pdf: FPDF, qr: _Qr) -> None:
    with pdf.local_context(fill_color=_BLACK):
        for row_index, row in enumerate(qr.matrix):
            for start, length in _dark_runs(row):
                pdf.rect(
                    (qr.left + start * qr.module) * _PT_PER_PX,
                    (qr.top + row_index * qr.module) * _PT_PER_PX,
                    length * qr.module * _PT_PER_PX,
                    qr.module * _PT_PER_PX,
                    style="F",
                )


def _dark_runs(row: Sequence[bool]) -> Iterator[tuple[int, int]]:
    start: int | None = None
    for index, dark in enumerate((*row, False)):
        if dark and start is None:
            start = index
        elif not dark and start is not None:
            yield start, index - start
            start = None


def _stroke_px(text: _Text) -> int:
    # Faux bold, as the CJK fonts Debian ships have no bold face; below 40 px a stroke
    # fills in the counters of dense characters such as 灣, so small text stays regular.
    return max(1, round(text.size / 56)) if text.bold and text.size >= 40 else 0
