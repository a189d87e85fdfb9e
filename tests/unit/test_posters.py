"""Venue posters: the printed QR scans back to a token that verifies, in PNG and PDF.

Needs a CJK font (Debian: fonts-wqy-microhei). The PDF checks that rasterise or read
the PDF need poppler-utils (pdftoppm, pdftotext) and are skipped without it.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import segno
import zxingcpp
from PIL import Image

from chaincut.venues import fonts
from chaincut.venues.fonts import (
    FONT_ENV_VAR,
    KNOWN_CJK_FONT_PATHS,
    PosterFontMissing,
    find_cjk_font,
    poster_font_for,
)
from chaincut.venues.posters import (
    POSTER_SIZE_PX,
    PosterContent,
    render_poster_pdf,
    render_poster_png,
)
from chaincut.venues.tokens import (
    VenueClaims,
    VenueTokenSigner,
    VenueTokenVerifier,
    generate_signing_key,
    key_id_for,
)

KEY = generate_signing_key()
KID = key_id_for(KEY.public_key())
VERIFIER = VenueTokenVerifier({KID: KEY.public_key()})
CLAIMS = VenueClaims("01HZX3K4M5N6P7Q8R9S0T1V2W3", "restaurant", datetime(2024, 3, 1, 8, 30, tzinfo=UTC))
TOKEN = VenueTokenSigner(KEY, KID).sign(CLAIMS)
PUBLIC = "https://chaincut.example.org"
URL = f"{PUBLIC}/v#{TOKEN}"  # what a phone's camera reads: the check-in page, the token its fragment
RESTAURANT = PosterContent(
    token=TOKEN,
    name_en="Tai Hing Roast Restaurant (Hennessy Road)",
    name_zh="太興燒味餐廳（軒尼詩道）",
    venue_type="restaurant",
    district="Wan Chai 灣仔",
    address="Shop G12, G/F, 1 Hennessy Road, Wan Chai 灣仔軒尼詩道1號地下G12號舖",
    public_url=PUBLIC,
)
TAXI_TOKEN = VenueTokenSigner(KEY, KID).sign(
    VenueClaims("7QK2M9D4XW1B6N8R3T5V0Y2ZAC", "taxi", CLAIMS.issued_at)
)
TAXI = PosterContent(TAXI_TOKEN, "Urban taxi", "市區的士", "taxi", "", "", plate="AB 1234", public_url=PUBLIC)

needs_pdftoppm = pytest.mark.skipif(
    shutil.which("pdftoppm") is None, reason="pdftoppm missing: apt-get install poppler-utils"
)
needs_pdftotext = pytest.mark.skipif(
    shutil.which("pdftotext") is None, reason="pdftotext missing: apt-get install poppler-utils"
)


@pytest.fixture(scope="module")
def restaurant_png() -> Image.Image:
    return Image.open(io.BytesIO(render_poster_png(RESTAURANT)))


@pytest.fixture(scope="module")
def restaurant_pdf() -> bytes:
    return render_poster_pdf(RESTAURANT)


@pytest.fixture
def no_fonts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(FONT_ENV_VAR, raising=False)
    monkeypatch.setattr(fonts, "KNOWN_CJK_FONT_PATHS", (tmp_path / "absent.ttc",))


def only_qr(image: Image.Image) -> zxingcpp.Barcode:
    # Scan for QR codes only, as a check-in app does: a 1-D decoder now and then
    # reads a spurious Codabar out of one row of QR modules.
    found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    assert len(found) == 1, f"expected one QR code, found {len(found)}"
    return found[0]


def pdf_to_png(pdf: bytes, tmp_path: Path, dpi: int = 150) -> Image.Image:
    source = tmp_path / "poster.pdf"
    source.write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-r", str(dpi), "-png", "-singlefile", source, tmp_path / "page"],
        check=True,
        capture_output=True,
    )
    with Image.open(tmp_path / "page.png") as page:
        return page.copy()


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    source = tmp_path / "poster.pdf"
    source.write_bytes(pdf)
    result = subprocess.run(["pdftotext", "-layout", source, "-"], check=True, capture_output=True, text=True)
    return result.stdout


def test_png_is_an_a4_page_at_150_dpi(restaurant_png: Image.Image) -> None:
    assert restaurant_png.format == "PNG"
    assert restaurant_png.size == POSTER_SIZE_PX
    assert restaurant_png.info["dpi"] == pytest.approx((150, 150), abs=0.1)


def test_png_qr_decodes_to_the_token_which_verifies(restaurant_png: Image.Image) -> None:
    barcode = only_qr(restaurant_png)
    assert barcode.text == URL
    assert barcode.ec_level in {"Q", "H"}
    assert VERIFIER.verify(barcode.text) == CLAIMS


def test_png_qr_still_scans_at_half_size(restaurant_png: Image.Image) -> None:
    width, height = restaurant_png.size
    photo = restaurant_png.convert("L").resize((width // 2, height // 2), Image.Resampling.BILINEAR)
    assert only_qr(photo).text == URL


def test_png_qr_is_large_with_a_white_quiet_zone(restaurant_png: Image.Image) -> None:
    barcode = only_qr(restaurant_png)
    corners = barcode.position
    left, top = corners.top_left.x, corners.top_left.y
    right, bottom = corners.bottom_right.x, corners.bottom_right.y
    symbol_px = right - left + 1
    # A4 is 1240 px wide: the symbol should fill more than half the page width.
    assert symbol_px > 0.5 * POSTER_SIZE_PX[0]
    modules = segno.make(URL, error="q", mode="byte").symbol_size(border=0)[0]
    module_px = symbol_px / modules
    assert module_px >= 8  # about 1.4 mm printed at 150 dpi
    zone = round(4 * module_px)
    grey = restaurant_png.convert("L")
    for box in (
        (left - zone, top - zone, right + zone, top - 1),  # above
        (left - zone, bottom + 1, right + zone, bottom + zone),  # below
        (left - zone, top, left - 1, bottom),  # left
        (right + 1, top, right + zone, bottom),  # right
    ):
        band = grey.crop((box[0], box[1], box[2] + 1, box[3] + 1))
        assert sum(band.histogram()[:201]) == 0, f"quiet zone not blank at {box}"


def test_taxi_poster_scans_and_shows_the_plate(tmp_path: Path) -> None:
    with_plate = Image.open(io.BytesIO(render_poster_png(TAXI)))
    without_plate = Image.open(
        io.BytesIO(
            render_poster_png(
                PosterContent(TAXI_TOKEN, "Urban taxi", "市區的士", "taxi", "", "", public_url=PUBLIC)
            )
        )
    )
    assert VERIFIER.verify(only_qr(with_plate).text).venue_type == "taxi"
    # The plate takes room above the QR code, so the symbol starts lower down.
    assert only_qr(with_plate).position.top_left.y > only_qr(without_plate).position.top_left.y + 100


def test_long_names_still_fit_and_scan() -> None:
    content = PosterContent(
        token=TOKEN,
        name_en="The Extraordinarily Long Named Community Vaccination Centre " * 4,
        name_zh="香港特別行政區政府社區疫苗接種中心伊利沙伯體育館附屬大樓" * 3,
        venue_type="community-vaccination-centre",
        district="Wan Chai 灣仔 " * 8,
        address="Shop G12, G/F, 18 Oi Kwan Road, Wan Chai 香港灣仔愛群道18號地下G12號舖 " * 6,
        plate="HK 8888",
        public_url=PUBLIC,
    )
    image = Image.open(io.BytesIO(render_poster_png(content)))
    assert only_qr(image).text == URL


def test_pdf_is_one_a4_page_with_an_embedded_font(restaurant_pdf: bytes) -> None:
    assert restaurant_pdf.startswith(b"%PDF-")
    assert restaurant_pdf.rstrip().endswith(b"%%EOF")
    assert len(re.findall(rb"/Type\s*/Page\b(?!s)", restaurant_pdf)) == 1
    assert re.search(rb"/Count\s+1\b", restaurant_pdf)
    assert re.search(rb"/MediaBox\s*\[0 0 595\.2\d* 841\.8\d*\]", restaurant_pdf)
    assert b"/FontFile2" in restaurant_pdf  # the TrueType font travels with the file


@needs_pdftoppm
def test_pdf_qr_decodes_to_the_token_which_verifies(restaurant_pdf: bytes, tmp_path: Path) -> None:
    page = pdf_to_png(restaurant_pdf, tmp_path)
    assert page.size == pytest.approx(POSTER_SIZE_PX, abs=2)
    barcode = only_qr(page)
    assert barcode.text == URL
    assert VERIFIER.verify(barcode.text) == CLAIMS


@needs_pdftoppm
def test_pdf_qr_scans_from_a_low_resolution_render(restaurant_pdf: bytes, tmp_path: Path) -> None:
    assert only_qr(pdf_to_png(restaurant_pdf, tmp_path, dpi=72)).text == URL


@needs_pdftotext
@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            RESTAURANT,
            [
                "Scan to check in",
                "掃描登記",
                "Tai Hing Roast Restaurant",
                "太興燒味餐廳",
                "Wan Chai",
                "灣仔",
                "Hennessy Road",
                "軒尼詩道1號地下G12號舖",
                "restaurant",
                "chaincut.example.org/v",  # the page's short address, for a phone that cannot scan
            ],
        ),
        (
            TAXI,
            [
                "Scan to check in",
                "掃描登記",
                "Urban taxi",
                "市區的士",
                "的士",
                "AB 1234",
                "chaincut.example.org/v",
            ],
        ),
    ],
    ids=["restaurant", "taxi"],
)
def test_pdf_carries_both_scripts_as_text(
    content: PosterContent, expected: list[str], tmp_path: Path
) -> None:
    # Compare without white space: lines wrap wherever the layout needs.
    text = "".join(pdf_text(render_poster_pdf(content), tmp_path).split())
    for snippet in expected:
        assert "".join(snippet.split()) in text


@needs_pdftotext
def test_pdf_wraps_a_long_chinese_name_without_losing_characters(tmp_path: Path) -> None:
    name_zh = "香港特別行政區政府社區疫苗接種中心伊利沙伯體育館附屬大樓"
    content = PosterContent(TOKEN, "Vaccination centre", name_zh, "clinic", "Wan Chai", "", public_url=PUBLIC)
    text = "".join(pdf_text(render_poster_pdf(content), tmp_path).split())
    assert name_zh in text


def test_poster_needs_a_venue_token() -> None:
    with pytest.raises(ValueError, match="venue token"):
        PosterContent("https://example.org/", "Shop", "店", "shop", "", "", public_url=PUBLIC)


@pytest.mark.parametrize("render", [render_poster_png, render_poster_pdf], ids=["png", "pdf"])
@pytest.mark.usefixtures("no_fonts")
def test_missing_cjk_font_names_the_package_to_install(
    render: Callable[[PosterContent], bytes],
) -> None:
    assert find_cjk_font() is None
    with pytest.raises(PosterFontMissing, match="apt-get install -y fonts-wqy-microhei"):
        render(RESTAURANT)


def test_configured_font_that_is_missing_is_an_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(FONT_ENV_VAR, str(tmp_path / "gone.ttf"))
    with pytest.raises(PosterFontMissing, match=FONT_ENV_VAR):
        render_poster_png(RESTAURANT)


def test_configured_file_that_is_not_a_font_is_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    not_a_font = tmp_path / "poster.ttf"
    not_a_font.write_bytes(b"this is not a font" * 100)
    monkeypatch.setenv(FONT_ENV_VAR, str(not_a_font))
    assert find_cjk_font() == not_a_font
    with pytest.raises(PosterFontMissing, match="not a readable font"):
        render_poster_pdf(RESTAURANT)


def test_configured_font_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    installed = next(path for path in KNOWN_CJK_FONT_PATHS if path.is_file())
    monkeypatch.setenv(FONT_ENV_VAR, str(installed))
    assert find_cjk_font() == installed
    assert poster_font_for("掃描登記").path == installed


def test_text_the_font_cannot_draw_is_refused_rather_than_boxed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wqy = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
    if not wqy.is_file():
        pytest.skip("needs fonts-wqy-microhei")
    monkeypatch.delenv(FONT_ENV_VAR, raising=False)
    monkeypatch.setattr(fonts, "KNOWN_CJK_FONT_PATHS", (wqy,))
    # 𨋢 (lift) is a Hong Kong character outside WenQuanYi Micro Hei.
    content = PosterContent(TOKEN, "Lift lobby", "𨋢大堂", "building", "", "", public_url=PUBLIC)
    with pytest.raises(PosterFontMissing, match=r"U\+282E2"):
        render_poster_png(content)


def test_collection_face_prefers_traditional_chinese() -> None:
    names = [
        "Noto Sans CJK JP Regular",
        "Noto Sans CJK KR Regular",
        "Noto Sans CJK SC Regular",
        "Noto Sans CJK TC Regular",
        "Noto Sans CJK HK Regular",
        "Noto Sans Mono CJK HK Regular",
    ]
    assert fonts._preferred_face(names) == 4
    assert fonts._preferred_face(["AR PL UMing CN", "AR PL UMing TW"]) == 1
    assert fonts._preferred_face(["WenQuanYi Micro Hei", "WenQuanYi Micro Hei Mono"]) == 0


def test_a_poster_needs_a_name_and_an_address_to_open() -> None:
    with pytest.raises(ValueError, match="venue's name"):
        PosterContent(TOKEN, " ", "", "shop", "", "", public_url=PUBLIC)
    with pytest.raises(ValueError, match="http"):
        PosterContent(TOKEN, "Shop", "店", "shop", "", "", public_url="ftp://chaincut.example.org")
