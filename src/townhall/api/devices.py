"""Device cookies (OWASP's defence against password guessing that locks owners out).

After a successful sign-in the browser gets `townhall_device`: a random device id and an
HMAC over it and the account's handle, keyed by the server's secret. It proves that this
device signed in to that account before, so its sign-ins are limited only by their own
failures, not by the guesses others make against the same handle.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

DEVICE_COOKIE = "townhall_device"
DEVICE_COOKIE_DAYS = 365


class DeviceCookies:
    def __init__(self, secret_key: str) -> None:
        self._key = hashlib.sha256(b"townhall device cookie:" + secret_key.encode()).digest()

    def _sign(self, handle_key: str, device_id: str) -> str:
        message = f"{handle_key}:{device_id}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()[:32]

    def issue(self, handle_key: str, device_id: str | None = None) -> str:
        """A cookie value for this handle (keeping the device id when there is one)."""
        device_id = device_id or secrets.token_urlsafe(16)
        return f"{device_id}.{self._sign(handle_key, device_id)}"

    def device_for(self, cookie: str | None, handle_key: str) -> str | None:
        """The device id when `cookie` is a genuine device cookie for this handle."""
        if not cookie or len(cookie) > 100:
            return None
        device_id, _, signature = cookie.partition(".")
        if not device_id or not hmac.compare_digest(signature, self._sign(handle_key, device_id)):
            return None
        return device_id
