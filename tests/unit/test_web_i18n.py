"""The pages' languages: which one a request gets, catalogs that translate every string the pages
mark, dates and numbers as each locale writes them, and renders that never mix languages."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

import chaincut.web
from chaincut.web import i18n
from chaincut.web.i18n import Language, localizer, negotiate, parse_language
from chaincut.web.render import render

WEB = Path(chaincut.web.__file__).parent
LOCALE = WEB / "locale"


@pytest.mark.parametrize(
    ("tag", "language"),
    [
        ("zh-HK", Language.ZH_HANT),
        ("zh-TW", Language.ZH_HANT),
        ("zh-Hant", Language.ZH_HANT),
        ("zh_Hant_HK", Language.ZH_HANT),
        ("zh-MO", Language.ZH_HANT),
        ("zh", Language.ZH_HANT),
        ("en", Language.EN),
        ("en-GB", Language.EN),
        ("zh-CN", None),
        ("zh-Hans", None),
        ("fr", None),
        ("", None),
        (None, None),
    ],
)
def test_tags_map_to_the_languages_the_pages_have(tag: str | None, language: Language | None) -> None:
    assert parse_language(tag) is language


def test_the_members_choice_then_the_query_then_the_cookie_then_the_browser() -> None:
    assert negotiate("zh-Hant", "en", "en", "en") is Language.ZH_HANT
    assert negotiate(None, "zh-HK", "en", "en") is Language.ZH_HANT
    assert negotiate(None, "xx", "zh-Hant", "en") is Language.ZH_HANT  # an unknown query is skipped
    assert negotiate(None, None, None, "fr;q=1, zh-TW;q=0.8, en;q=0.9") is Language.EN
    assert negotiate(None, None, None, "en;q=0.5, zh-HK") is Language.ZH_HANT  # by weight, not order
    assert negotiate(None, None, None, "zh-CN, zh-HK;q=0.3") is Language.ZH_HANT
    assert negotiate(None, None, None, "zh-HK;q=0, en") is Language.EN  # q=0: not wanted
    assert negotiate(None, None, None, "zh-HK;q=abc, en;q=0.1") is Language.EN  # a bad weight: 0
    assert negotiate(None, None, None, None) is Language.EN


def _marked() -> set[str]:
    """Every string the pages mark, as ``pybabel extract -F babel.cfg -k N_`` finds them."""
    options = {"extensions": "jinja2.ext.i18n", "trim_blocks": "true", "lstrip_blocks": "true"}
    found = extract_from_dir(
        str(WEB),
        method_map=[("**.py", "python"), ("templates/**.html", "jinja2")],
        options_map={"templates/**.html": options},
        keywords={**DEFAULT_KEYWORDS, "N_": None},
    )
    return {message if isinstance(message, str) else message[0] for _, _, message, _, _ in found}


def _translated(forms: str | tuple[str, ...]) -> bool:
    """A message's translation is there (every plural form of a plural one)."""
    return all(forms) if isinstance(forms, tuple) else bool(forms)


def test_every_marked_string_is_translated_in_both_catalogs() -> None:
    marked = _marked()
    assert {"Sign in", "CLEARED", "Not found", "companion %(place)s"} <= marked  # the extraction works
    for catalog in ("en", "zh_Hant"):
        with (LOCALE / catalog / "LC_MESSAGES" / "messages.po").open("rb") as source:
            messages = {m.id if isinstance(m.id, str) else m.id[0]: m for m in read_po(source) if m.id}
        missing = sorted(marked - set(messages))
        assert not missing, f"{catalog}: not in the catalog (run scripts/translations): {missing}"
        untranslated = sorted(i for i in marked if not _translated(messages[i].string) or messages[i].fuzzy)
        assert not untranslated, f"{catalog}: no translation: {untranslated}"


def test_a_string_without_a_translation_is_caught(tmp_path: Path) -> None:
    template = tmp_path / "templates"
    template.mkdir()
    (template / "new.html").write_text('<p>{{ _("A string nobody translated") }}</p>', encoding="utf-8")
    found = extract_from_dir(
        str(tmp_path),
        method_map=[("templates/**.html", "jinja2")],
        options_map={"templates/**.html": {"extensions": "jinja2.ext.i18n"}},
    )
    with (LOCALE / "zh_Hant" / "LC_MESSAGES" / "messages.po").open("rb") as source:
        known = {m.id for m in read_po(source)}
    assert [m for _, _, m, _, _ in found if m not in known] == ["A string nobody translated"]


def test_dates_and_numbers_as_each_locale_writes_them() -> None:
    en, zh = localizer(Language.EN), localizer(Language.ZH_HANT)
    day = date(2022, 2, 19)
    assert en.date(day) == "19 Feb 2022"
    assert zh.date(day) == "2022年2月19日"
    assert en.number(1234567.5) == "1,234,567.5"
    assert zh.number(1234567.5) == "1,234,567.5"
    assert en.percent(0.125) == "12%"


def test_renders_at_once_in_two_languages_never_mix() -> None:
    barrier = threading.Barrier(2)
    expected = {Language.EN: "Sign in", Language.ZH_HANT: "登入"}

    def one(language: Language) -> list[bool]:
        barrier.wait()
        results = []
        for _ in range(200):
            html = render(
                "login.html",
                localizer(language),
                path="/login",
                signed_in=False,
                csrf_token="",
                form_token="t",
                username="",
                error=None,
            )
            other = expected[Language.ZH_HANT if language is Language.EN else Language.EN]
            results.append(f"<h1>{expected[language]}</h1>" in html and f"<h1>{other}</h1>" not in html)
        return results

    with ThreadPoolExecutor(2) as pool:
        done = list(pool.map(one, [Language.EN, Language.ZH_HANT]))
    assert all(done[0]) and all(done[1])


def test_a_compiled_catalog_older_than_its_source_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "locale" / "zh_Hant" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    with (LOCALE / "zh_Hant" / "LC_MESSAGES" / "messages.po").open("rb") as source:
        catalog = read_po(source, locale="zh_Hant")
    (folder / "messages.po").write_bytes((LOCALE / "zh_Hant" / "LC_MESSAGES" / "messages.po").read_bytes())
    catalog["Sign in"].string = "舊的譯文"  # what an earlier install compiled
    with (folder / "messages.mo").open("wb") as out:
        write_mo(out, catalog)
    monkeypatch.setattr(i18n, "files", lambda _package: tmp_path)
    i18n._translations.cache_clear()
    try:
        os.utime(folder / "messages.mo", (1_000_000, 1_000_000))  # older than the .po: a pull since
        assert localizer(Language.ZH_HANT).gettext("Sign in") == "登入"
        i18n._translations.cache_clear()
        os.utime(folder / "messages.mo", None)  # compiled after the .po: used as it is
        assert localizer(Language.ZH_HANT).gettext("Sign in") == "舊的譯文"
    finally:
        i18n._translations.cache_clear()
