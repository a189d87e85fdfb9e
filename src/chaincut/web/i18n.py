"""The web pages' languages: gettext catalogs (English, Traditional Chinese) chosen per request.

Strings are marked in the templates (``{% trans %}``, ``_()``) and in Python (``_()`` from a
:class:`Localizer`, or :func:`N_` where a string is defined before a request picks a language);
``pybabel extract -F babel.cfg`` gathers them into ``locale/messages.pot`` and the catalogs
``locale/{en,zh_Hant}/LC_MESSAGES/messages.po`` are committed. ``scripts/setup-venv`` compiles
them to ``.mo`` at install; a catalog with no ``.mo`` beside it, or one older than its ``.po``
(a pull changed it since), is compiled in memory from the ``.po`` when first used, so a page
never shows a missing or stale catalog.

A request's language (:func:`negotiate`): the signed-in staff member's own choice, else
``?lang=``, else the ``chaincut_lang`` cookie the page's language links set, else the browser's
``Accept-Language``; ``zh-HK``, ``zh-TW``, ``zh-MO``, ``zh-Hant`` (and ``zh`` alone) all mean
Traditional Chinese; anything else falls back to English. Nothing is global: each request
carries its own :class:`Localizer`.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from functools import cache
from importlib.resources import files
from pathlib import Path

from babel import Locale
from babel.dates import format_date, format_datetime, format_skeleton, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent
from babel.support import Translations

__all__ = ["LANG_COOKIE", "N_", "Language", "Localizer", "localizer", "negotiate"]

LANG_COOKIE = "chaincut_lang"
DOMAIN = "messages"


class Language(StrEnum):
    """The languages the pages are written in: the tag a page and a link use (``lang=``)."""

    EN = "en"
    ZH_HANT = "zh-Hant"

    @property
    def catalog(self) -> str:
        """The catalog's directory under ``locale/``."""
        return "zh_Hant" if self is Language.ZH_HANT else "en"

    @property
    def babel_locale(self) -> Locale:
        return Locale.parse("zh_Hant_HK" if self is Language.ZH_HANT else "en_GB")


_TRADITIONAL = ("zh-hant", "zh-hk", "zh-tw", "zh-mo")  # zh-Hans, zh-CN...: no catalog, the next decides


def parse_language(value: str | None) -> Language | None:
    """The language a tag names (``en-GB``, ``zh-HK``, ``zh_Hant``...), or None for one we lack."""
    if not value:
        return None
    tag = value.strip().replace("_", "-").lower()
    if tag == "en" or tag.startswith("en-"):
        return Language.EN
    if tag == "zh" or any(tag == t or tag.startswith(t + "-") for t in _TRADITIONAL):
        return Language.ZH_HANT
    return None


def _accepted(header: str | None) -> list[str]:
    """Accept-Language's tags, most wanted first (q=0 left out; ties keep the header's order)."""
    wanted: list[tuple[float, int, str]] = []
    for position, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag.strip() and quality > 0:
            wanted.append((-quality, position, tag.strip()))
    return [tag for _, _, tag in sorted(wanted)]


def negotiate(
    chosen: str | None, query: str | None, cookie: str | None, accept_language: str | None
) -> Language:
    """A request's language: the staff member's choice, ``?lang=``, the cookie, then the browser's."""
    for candidate in (chosen, query, cookie, *_accepted(accept_language)):
        language = parse_language(candidate)
        if language is not None:
            return language
    return Language.EN


def N_(message: str) -> str:
    """Mark ``message`` for the catalogs where it is defined; a :class:`Localizer` translates it."""
    return message


@cache
def _translations(catalog: str) -> Translations:
    """The catalog's translations: its compiled ``.mo``, else its ``.po`` compiled in memory."""
    folder = Path(str(files("chaincut.web").joinpath("locale", catalog, "LC_MESSAGES")))
    compiled, source_po = folder / f"{DOMAIN}.mo", folder / f"{DOMAIN}.po"
    if compiled.is_file() and compiled.stat().st_mtime >= source_po.stat().st_mtime:
        return Translations(io.BytesIO(compiled.read_bytes()), domain=DOMAIN)
    # No .mo, or one older than its .po (a pull changed the catalog since the last install).
    with source_po.open("rb") as source:
        messages = read_po(source, locale=catalog, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, messages)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


@dataclass(frozen=True)
class Localizer:
    """One request's language: its translations, and dates and numbers as its locale writes them."""

    language: Language

    @property
    def tag(self) -> str:
        """The page's ``lang`` attribute."""
        return self.language.value

    def gettext(self, message: str) -> str:
        return _translations(self.language.catalog).gettext(message)

    def message(self, messages: Mapping[str, str], key: str | None) -> str | None:
        """The message ``messages`` holds for ``key`` (a page's ``?done=``, ``?problem=``), in this
        language; None for a key it lacks, so a made-up query shows nothing."""
        return None if key is None or key not in messages else self.gettext(messages[key])

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return _translations(self.language.catalog).ngettext(singular, plural, n)

    def date(self, value: date, format: str = "medium") -> str:
        return format_date(value, format=format, locale=self.language.babel_locale)

    def datetime(self, value: datetime, format: str = "medium") -> str:
        return format_datetime(value, format=format, locale=self.language.babel_locale)

    def day_month(self, value: dt.date) -> str:
        """A day without its year, as the locale writes one ("16 Nov", "11月16日")."""
        return format_skeleton("MMMd", value, locale=self.language.babel_locale)

    def time(self, value: dt.datetime, format: str = "short") -> str:
        return format_time(value, format=format, locale=self.language.babel_locale)

    def number(self, value: float) -> str:
        return format_decimal(value, locale=self.language.babel_locale)

    def percent(self, value: float) -> str:
        return format_percent(value, locale=self.language.babel_locale)


@cache
def localizer(language: Language) -> Localizer:
    return Localizer(language)
