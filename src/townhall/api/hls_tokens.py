"""Signed HLS URLs of private spaces: `token=<expiry>.<HMAC>`, bound to the space.

The key is derived from the instance's secret key, so every node of a deployment accepts
every other node's tokens. Expiries are rounded up to `BUCKET_SECONDS`, so everyone
handed a URL in the same few minutes gets the same token and a shared cache keeps one
copy of each part for all of them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from townhall.domain.errors import Forbidden

BUCKET_SECONDS = 300
LIFETIME_BUCKETS = 3  # valid 10 to 15 minutes after it is handed out
MAX_TOKEN_LENGTH = 64


class HlsTokens:
    def __init__(self, secret_key: str) -> None:
        self._key = hmac.new(secret_key.encode(), b"townhall hls url", hashlib.sha256).digest()

    def _signature(self, space_id: str, expires: int, scope: str) -> str:
        message = f"{space_id}\x00{expires}" + (f"\x00{scope}" if scope else "")
        mac = hmac.new(self._key, message.encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()[:18]).decode()

    def issue(
        self,
        space_id: str,
        now: float | None = None,
        *,
        scope: str = "",
        lifetime_buckets: int = LIFETIME_BUCKETS,
    ) -> tuple[str, int]:
        """(token, expiry as epoch seconds). `scope` "replay": a replay's token (not
        accepted for the live stream, nor a live one for the replay)."""
        now = time.time() if now is None else now
        expires = (int(now) // BUCKET_SECONDS + lifetime_buckets) * BUCKET_SECONDS
        return f"{expires}.{self._signature(space_id, expires, scope)}", expires

    def check(
        self, space_id: str, token: str | None, now: float | None = None, *, scope: str = ""
    ) -> None:
        """Raise Forbidden unless the token is this space's (and scope's) and unexpired."""
        if not token:
            raise Forbidden("hls_token_required", "this space is private: use your signed URL")
        expires_text, _, signature = token.partition(".")
        if len(token) > MAX_TOKEN_LENGTH or not expires_text.isdigit() or not signature:
            raise Forbidden("hls_token_invalid", "the HLS token is malformed")
        expires = int(expires_text)
        if not hmac.compare_digest(signature, self._signature(space_id, expires, scope)):
            raise Forbidden("hls_token_invalid", "the HLS token is not valid for this space")
        now = time.time() if now is None else now
        if expires < now:
            raise Forbidden("hls_token_expired", "the HLS token expired: ask for a new URL")
