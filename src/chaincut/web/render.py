"""Jinja2 for the pages: autoescaped templates from ``chaincut/web/templates``, in a request's language.

The i18n extension's ``gettext``, ``ngettext`` and ``_`` read the :class:`Localizer` of the
render in progress from a context variable, set for that render only (:func:`render`), so two
requests rendering at once in different languages never see each other's (threads and tasks
each have their own context). Filters ``date``, ``datetime``, ``number`` and ``percent`` format
as the request's locale writes them.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from chaincut.web.i18n import Localizer

__all__ = ["render"]

_current: ContextVar[Localizer] = ContextVar("chaincut_web_localizer")


def _gettext(message: str) -> str:
    return _current.get().gettext(message)


def _ngettext(singular: str, plural: str, n: int) -> str:
    return _current.get().ngettext(singular, plural, n)


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("chaincut.web", "templates"),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.filters["date"] = lambda value, format="medium": _current.get().date(value, format)
    env.filters["datetime"] = lambda value, format="medium": _current.get().datetime(value, format)
    env.filters["day_month"] = lambda value: _current.get().day_month(value)
    env.filters["time"] = lambda value, format="short": _current.get().time(value, format)
    env.filters["number"] = lambda value: _current.get().number(value)
    env.filters["percent"] = lambda value: _current.get().percent(value)
    return env


_ENV = _environment()


def render(template: str, localizer: Localizer, **context: Any) -> str:
    """``template`` rendered in ``localizer``'s language (``lang`` is given to it as well)."""
    token = _current.set(localizer)
    try:
        return _ENV.get_template(template).render(lang=localizer.tag, **context)
    finally:
        _current.reset(token)
