"""Errors a browser sees as pages, not JSON: an unknown address (404) and a failure (500).

A request "wants a page" when it is a GET or HEAD whose ``Accept`` names ``text/html`` (a
browser's navigation); API clients ask for JSON, or anything, and keep their JSON answers. A
failure's page shows a request id, logged with the exception, so a support desk can find what
happened without the page saying anything about it.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from chaincut.web.pages import error_page

__all__ = ["install_page_errors", "wants_page"]

log = logging.getLogger("chaincut.web")

REQUEST_ID_HEADER = "X-Request-Id"


def wants_page(request: Request) -> bool:
    """A browser navigating (GET or HEAD, ``Accept: text/html``), as against an API client."""
    return request.method in ("GET", "HEAD") and "text/html" in request.headers.get("accept", "")


async def _not_found(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404 and wants_page(request):
        return error_page(request, 404)
    return await http_exception_handler(request, exc)


def _failure(headers: Mapping[str, str]) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def failed(request: Request, exc: Exception) -> Response:
        request_id = secrets.token_hex(8)
        log.error("request %s failed: %s %s", request_id, request.method, request.url.path, exc_info=exc)
        if wants_page(request):
            response: Response = error_page(request, 500, request_id=request_id)
        else:
            response = PlainTextResponse(f"Internal Server Error (request {request_id})", status_code=500)
        response.headers[REQUEST_ID_HEADER] = request_id
        for name, value in headers.items():  # answered outside the middleware that adds them
            response.headers.setdefault(name, value)
        return response

    return failed


def install_page_errors(app: FastAPI, headers: Mapping[str, str]) -> None:
    """Pages for a browser's 404 and 500; ``headers``: the security headers every answer carries
    (a failure is answered by Starlette's outermost middleware, before any other adds them)."""
    app.add_exception_handler(StarletteHTTPException, _not_found)
    app.add_exception_handler(Exception, _failure(headers))
