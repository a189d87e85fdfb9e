"""Mapping chaincut's errors to HTTP: a status, a machine-readable code, and the field."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError

from chaincut.errors import (
    BatchRejected,
    ChaincutError,
    ConfigurationError,
    Conflict,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    PolicyError,
    RateLimited,
    StoreNotReady,
)

__all__ = ["error_response", "install_error_handlers"]

_STATUS: list[tuple[type[ChaincutError], int]] = [
    (NotAuthenticated, 401),
    (PermissionDenied, 403),
    (RateLimited, 429),
    (NotFound, 404),
    (Conflict, 409),
    (InvalidInput, 422),
    (PolicyError, 422),
    (StoreNotReady, 503),
    (ConfigurationError, 500),
]


def _status_for(exc: ChaincutError) -> int:
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            return status
    return 400


async def _chaincut_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ChaincutError)
    return error_response(exc)


def error_response(exc: ChaincutError) -> JSONResponse:
    """The answer to a chaincut error: for a route that returns a refusal instead of raising it."""
    body: dict[str, Any] = {"code": exc.code, "message": exc.message, "field": exc.field}
    if isinstance(exc, BatchRejected):
        body["errors"] = [{"index": e.index, "field": e.field, "message": e.message} for e in exc.errors]
    headers: dict[str, str] = {}
    if isinstance(exc, NotAuthenticated):
        headers["WWW-Authenticate"] = 'Bearer realm="chaincut"'
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    return JSONResponse(body, status_code=_status_for(exc), headers=headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = []
    for error in exc.errors():
        # A JSON syntax error's location is a character offset, not a field.
        loc = () if error.get("type") == "json_invalid" else error.get("loc", ())
        location = [str(part) for part in loc if part != "body"]
        errors.append({"field": ".".join(location) or None, "message": error.get("msg", "")})
    first = errors[0] if errors else {"field": None, "message": "invalid request"}
    return JSONResponse(
        {
            "code": "invalid_request",
            "message": f"{first['field']}: {first['message']}" if first["field"] else first["message"],
            "field": first["field"],
            "errors": errors,
        },
        status_code=422,
    )


async def _data_error(_request: Request, _exc: Exception) -> JSONResponse:
    # The database refused a value no rule above caught (a NUL character in text, a number out
    # of range): the request was at fault, and nothing was stored (its transaction rolled back).
    return JSONResponse(
        {
            "code": "invalid_input",
            "message": "a value cannot be stored: text must not contain NUL characters, numbers must fit",
            "field": None,
        },
        status_code=422,
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ChaincutError, _chaincut_error)
    app.add_exception_handler(DataError, _data_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
