"""Logging set-up: levels, and no credentials in access logs."""

from __future__ import annotations

import logging
import re

_SECRET_QUERY = re.compile(r"(?i)\b(token|access_token|password)=[^&\s]*")


def redact(text: str) -> str:
    """Hide credential values passed in a URL's query string."""
    return _SECRET_QUERY.sub(lambda m: f"{m.group(1)}=[redacted]", text)


class RedactCredentials(logging.Filter):
    """Rewrites log records so that `?token=...` and the like never reach a log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def configure(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    for name in ("uvicorn.access", "uvicorn.error", "uvicorn"):
        logging.getLogger(name).addFilter(RedactCredentials())
