"""Errors a rule can raise. Each maps to one HTTP status in the API layer."""

from __future__ import annotations

from collections.abc import Mapping


class DomainError(Exception):
    """A rule said no. `code` is a stable machine-readable name; `field` names the input."""

    status = 400

    def __init__(
        self,
        code: str,
        message: str,
        field: str | None = None,
        extra: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.extra = dict(extra or {})  # more members of the error body (e.g. hls_url)


class Invalid(DomainError):
    """The input breaks a rule about its shape or range (422)."""

    status = 422


class Forbidden(DomainError):
    """The actor's role does not allow the action (403)."""

    status = 403


class NotFound(DomainError):
    """The thing does not exist, or the actor may not know it exists (404)."""

    status = 404


class Conflict(DomainError):
    """The action does not fit the current state (409)."""

    status = 409


class Unauthorized(DomainError):
    """No valid credentials (401)."""

    status = 401


class RateLimited(DomainError):
    """Too many attempts; try again later (429, `Retry-After: retry_after` seconds)."""

    status = 429

    def __init__(
        self,
        code: str,
        message: str,
        field: str | None = None,
        extra: Mapping[str, object] | None = None,
        *,
        retry_after: int = 60,
    ) -> None:
        super().__init__(code, message, field, extra)
        self.retry_after = retry_after


class BadRequest(DomainError):
    """The request cannot be understood or asks for what cannot be (400)."""

    status = 400


class Unavailable(DomainError):
    """Not ready yet; try again shortly (503)."""

    status = 503
