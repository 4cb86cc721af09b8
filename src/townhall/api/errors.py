"""Every error leaves the API as JSON: {"error": {"code", "message", "field"?}}."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from townhall.domain.errors import DomainError, RateLimited
from townhall.store.db import DatabaseUnreachable, Trouble, trouble_of

log = logging.getLogger("townhall.api")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
    503: "unavailable",
}

RETRY_AFTER_UNAVAILABLE = 5
"""Seconds a client is told to wait when the database is down."""
RETRY_AFTER_BUSY = 2
"""Seconds a client is told to wait when the server is saturated."""


class ErrorDetail(BaseModel):
    code: str = Field(description="what went wrong, stable for programs (e.g. space_not_found)")
    message: str = Field(description="the same for people")
    field: str | None = Field(None, description="the input at fault, when there is one")


class ErrorResponse(BaseModel):
    """The body of every 4xx and 5xx answer."""

    error: ErrorDetail


_DESCRIPTIONS = {
    400: "the request is malformed (a body that is not JSON, an HLS query that is not a number)",
    401: "not signed in (or the token was revoked)",
    403: "a rule forbids it (the code names the rule)",
    404: "no such thing, or not visible to you",
    409: "the action does not fit the current state",
    413: "the request body is too large",
    415: "the body must be application/json",
    422: "the input is invalid (`field` names it)",
    429: "too many attempts: wait `Retry-After` seconds",
    503: "the database is unavailable or the server saturated: retry after `Retry-After`",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` declaring these error statuses with the error model."""
    return {
        status: {"model": ErrorResponse, "description": _DESCRIPTIONS[status]}
        for status in statuses
    }


SIGNED_IN_ERRORS = error_responses(400, 401, 403, 404, 409, 413, 415, 422, 429, 503)
"""What any signed-in JSON endpoint may answer besides success."""


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if field:
        err["field"] = field
    return {"error": err}


def _validation_field(loc: tuple[Any, ...]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "cookie")]
    return ".".join(parts) or None


async def _domain_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    headers = None
    if isinstance(exc, RateLimited):
        headers = {"Retry-After": str(max(1, exc.retry_after))}
    elif exc.status == 503:
        headers = {"Retry-After": "1"}
    body = error_body(exc.code, exc.message, exc.field)
    body["error"].update({k: v for k, v in exc.extra.items() if k not in body["error"]})
    return JSONResponse(body, status_code=exc.status, headers=headers)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": ""}
    field = _validation_field(tuple(first.get("loc", ())))
    if first.get("type") == "json_invalid":
        return JSONResponse(error_body("invalid_json", "request body is not valid JSON"), 422)
    msg = str(first.get("msg", "invalid value"))
    message = f"{field}: {msg}" if field else msg
    body = error_body("invalid", message, field)
    body["error"]["details"] = [
        {"field": _validation_field(tuple(e.get("loc", ()))), "message": str(e.get("msg"))}
        for e in errors[:20]
    ]
    return JSONResponse(body, status_code=422)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "error")
    return JSONResponse(
        error_body(code, str(exc.detail)),
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


def unavailable_error(trouble: Trouble) -> tuple[dict[str, Any], int]:
    """The error body and the Retry-After seconds for a database that is down or busy."""
    if trouble is Trouble.UNAVAILABLE:
        body = error_body(
            "database_unavailable", "the database is not answering; try again shortly"
        )
        return body, RETRY_AFTER_UNAVAILABLE
    body = error_body("overloaded", "the server is too busy right now; try again shortly")
    return body, RETRY_AFTER_BUSY


def unavailable_response(trouble: Trouble) -> JSONResponse:
    """503 with Retry-After: the database is down, or the server has no capacity now."""
    body, retry = unavailable_error(trouble)
    return JSONResponse(body, status_code=503, headers={"Retry-After": str(retry)})


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    db = getattr(request.app.state, "db", None)
    trouble = db.failed(exc) if db is not None else trouble_of(exc)
    if trouble is None:
        return await _unexpected(request, exc)
    return unavailable_response(trouble)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    trouble = trouble_of(exc)
    if trouble is not None:  # a driver error SQLAlchemy did not wrap
        db = getattr(request.app.state, "db", None)
        if db is not None:
            db.failed(exc)
        return unavailable_response(trouble)
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse(error_body("internal", "internal server error"), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(SQLAlchemyError, _database_error)
    app.add_exception_handler(DatabaseUnreachable, _database_error)
    app.add_exception_handler(Exception, _unexpected)
