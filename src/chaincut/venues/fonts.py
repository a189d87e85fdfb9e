"""Finding a font that can print a venue poster's Traditional Chinese text.

The base machine has no CJK font. The setup script installs Debian's
``fonts-wqy-microhei``; an operator may instead point ``CHAINCUT_POSTER_FONT`` at any
TrueType/OpenType font or collection (.ttf, .otf, .ttc, .otc). Rendering refuses to
draw a poster whose text the font cannot show, rather than printing empty boxes.
"""

from __future__ import annotations

import functools
import os
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaincut.errors import ConfigurationError

__all__ = [
    "FONT_ENV_VAR",
    "FONT_PACKAGE",
    "KNOWN_CJK_FONT_PATHS",
    "PosterFont",
    "PosterFontMissing",
    "find_cjk_font",
    "poster_font_for",
]

FONT_ENV_VAR = "CHAINCUT_POSTER_FONT"
"""Environment variable naming the font file to print posters with."""

FONT_PACKAGE = "fonts-wqy-microhei"
"""Debian package that provides the default poster font."""

KNOWN_CJK_FONT_PATHS: tuple[Path, ...] = (
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),  # fonts-wqy-microhei
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),  # fonts-wqy-zenhei
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),  # fonts-noto-cjk
    Path("/usr/share/fonts/truetype/arphic/uming.ttc"),  # fonts-arphic-uming
)
"""Where Debian's CJK font packages put their fonts, in order of preference."""

# Within a collection, prefer the Hong Kong face, then Taiwan's: both draw Traditional
# Chinese glyph shapes; monospaced faces are a last resort.
_FACE_PREFERENCE = ("HK", "TC", "TW")


class PosterFontMissing(ConfigurationError):
    """No installed font can print this poster's text; the message says what to install."""

    code = "poster_font_missing"


@dataclass(frozen=True)
class PosterFont:
    """A font file, and the face within it when it is a collection, to print posters with."""

    path: Path
    face_index: int = 0


def find_cjk_font() -> Path | None:
    """Return the font file posters should use, or None when no CJK font is installed.

    ``CHAINCUT_POSTER_FONT`` wins when set; a setting that names a missing file raises
    `PosterFontMissing` rather than quietly falling back to another font.
    """
    configured = os.environ.get(FONT_ENV_VAR, "").strip()
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise PosterFontMissing(f"{FONT_ENV_VAR} names {path}, which is not a file")
        return path
    return next((path for path in KNOWN_CJK_FONT_PATHS if path.is_file()), None)


def poster_font_for(text: str) -> PosterFont:
    """Choose the font to print ``text`` with; raise `PosterFontMissing` if none has every glyph.

    Without ``CHAINCUT_POSTER_FONT``, the first known font that covers the whole text
    is used, so a venue whose name needs a Hong Kong character missing from WenQuanYi
    can still be printed when Noto Sans CJK is installed too.
    """
    needed = {ord(char) for char in text if _needs_glyph(char)}
    first = find_cjk_font()
    if first is None:
        raise PosterFontMissing(
            f"no CJK font found: install the Debian package {FONT_PACKAGE} "
            f"(apt-get install -y {FONT_PACKAGE}) or set {FONT_ENV_VAR} to a font file "
            "with Traditional Chinese glyphs"
        )
    candidates: Iterable[Path] = (
        [first] if os.environ.get(FONT_ENV_VAR, "").strip() else _installed_known_fonts()
    )
    missing: set[int] = set()
    for path in candidates:
        face_index, cmap = _load_face(path)
        uncovered = needed - cmap
        if not uncovered:
            return PosterFont(path, face_index)
        missing = missing or uncovered  # report what the preferred font lacks
    shown = ", ".join(f"U+{code:04X}" for code in sorted(missing)[:5])
    raise PosterFontMissing(
        f"no usable font has glyphs for {shown}: install fonts-noto-cjk or set "
        f"{FONT_ENV_VAR} to a font that has them"
    )


def _installed_known_fonts() -> list[Path]:
    return [path for path in KNOWN_CJK_FONT_PATHS if path.is_file()]


def _needs_glyph(char: str) -> bool:
    # Spaces and control characters are laid out, not drawn.
    return not char.isspace() and unicodedata.category(char)[0] != "C"


def _load_face(path: Path) -> tuple[int, frozenset[int]]:
    stat = path.stat()
    return _load_face_cached(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=8)
def _load_face_cached(path: Path, _mtime_ns: int, _size: int) -> tuple[int, frozenset[int]]:
    """Pick the best face of a font file and list the code points it can draw."""
    from fontTools.ttLib import TTCollection, TTFont  # type: ignore[import-untyped,unused-ignore]

    try:
        # Open the file here so it is closed even when fontTools gives up half way.
        with path.open("rb") as file:
            is_collection = file.read(4) == b"ttcf"
            file.seek(0)
            if is_collection:
                faces = TTCollection(file, lazy=True).fonts
                face_index = _preferred_face([_face_name(face) for face in faces])
                cmap = faces[face_index].getBestCmap()
            else:
                face_index = 0
                cmap = TTFont(file, lazy=True).getBestCmap()
    # fontTools raises many kinds of error on a damaged file; all mean "not a usable font".
    except Exception as error:
        raise PosterFontMissing(f"{path} is not a readable font ({type(error).__name__})") from error
    if not cmap:
        raise PosterFontMissing(f"{path} has no Unicode character map")
    return face_index, frozenset(int(code) for code in cmap)


def _face_name(face: Any) -> str:
    name = face["name"].getDebugName(4)
    return str(name or "")


def _preferred_face(names: list[str]) -> int:
    for marker in _FACE_PREFERENCE:
        for index, name in enumerate(names):
            if marker in name.split() and "Mono" not in name:
                return index
    for index, name in enumerate(names):
        if "Mono" not in name:
            return index
    return 0
