"""The error a townhall server answers with, as the Python client raises it."""

from __future__ import annotations

import httpx


class ApiError(Exception):
    """The server said no: `status`, and the JSON error's `code` and `message`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{message} ({code}, HTTP {status})")
        self.status = status
        self.code = code
        self.message = message


def raise_for_error(response: httpx.Response, error: type[ApiError] = ApiError) -> None:
    """Raise `error` built from the server's JSON error when the response is a 4xx/5xx."""
    if response.status_code < 400:
        return
    try:
        body = response.json()["error"]
        code, message = str(body.get("code", "error")), str(body.get("message", ""))
    except (ValueError, KeyError, TypeError, AttributeError):
        code, message = "error", response.text[:200]
    raise error(response.status_code, code, message)
