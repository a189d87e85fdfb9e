"""The purpose a page of personal data needs: asked once per record (a case, a person) and session.

The API takes it in a header on every call; a browser states it once in a form, the session keeps
it (``session_purposes``), and each page then audits its reads with it. A record one may not see
is refused when the purpose is stated, as a missing one, and nothing is kept.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from fastapi import Request
from fastapi.responses import HTMLResponse

from chaincut.access.accounts import clean_purpose
from chaincut.errors import InvalidInput, NotAuthenticated
from chaincut.guards import Caller
from chaincut.web.pages import localizer_for, page

__all__ = ["keep_purpose", "purpose_form", "stated", "with_stated_purpose"]


def with_stated_purpose(caller: Caller, record: str) -> Caller | None:
    """The caller with the purpose they stated for ``record`` in this session; None if they have not."""
    if caller.session_id is None:
        return None
    purpose = caller.services.accounts.stated_purpose(caller.session_id, record)
    return None if purpose is None else dataclasses.replace(caller, purpose=purpose)


def stated(caller: Caller, purpose: str) -> str | None:
    """The purpose as it will be kept (spaces tidied), or None when it is too short or too long."""
    if caller.session_id is None:
        raise NotAuthenticated("stating a purpose needs a signed-in web session")
    try:
        return clean_purpose(purpose)
    except InvalidInput:
        return None


def keep_purpose(caller: Caller, record: str, purpose: str) -> None:
    assert caller.session_id is not None
    caller.services.accounts.state_purpose(caller.session_id, record, purpose)


def purpose_form(
    request: Request,
    caller: Caller,
    *,
    heading: str,
    explanation: str,
    action: str,
    submit: str,
    next_path: str,
    suggestions: Sequence[str],
    problem: bool = False,
) -> HTMLResponse:
    """The form asking why: the page's own words, and suggestions in the page's language."""
    words = localizer_for(request, caller)
    return page(
        request,
        caller,
        "purpose.html",
        status=400 if problem else 200,
        heading=heading,
        explanation=explanation,
        action=action,
        submit=submit,
        next_path=next_path,
        problem=problem,
        suggestions=[words.gettext(s) for s in suggestions],
    )
