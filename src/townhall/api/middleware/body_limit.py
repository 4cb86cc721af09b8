"""Request bodies are refused past their route's limit, before they are read.

By `Content-Length` the request is answered 413 at once; a body without a length
(chunked) is counted as it streams in, and the first chunk past the limit ends it with
413: the application sees a disconnect and whatever it answers is dropped. Nothing past
the limit is ever buffered.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from townhall.api.middleware.policy import EdgePolicy
from townhall.api.middleware.responses import header, send_error


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, policy: EdgePolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.policy.route(scope["path"]).max_body
        length = header(scope, b"content-length")
        if length is not None:
            if not length.strip().isdigit():
                await send_error(send, 400, "bad_request", "Content-Length is not a number")
                return
            if int(length) > limit:
                await _too_large(send, limit)
                return
        exchange = _Exchange(receive, send, limit)
        await self.app(scope, exchange.receive, exchange.send)


async def _too_large(send: Send, limit: int) -> None:
    await send_error(
        send, 413, "too_large", f"the request body is larger than {limit} bytes", close=True
    )


class _Exchange:
    """Counts the body as the app reads it; past the limit, answers 413 itself (unless
    the app already started its response), tells the app the client is gone, and drops
    whatever the app sends after that."""

    def __init__(self, receive: Receive, send: Send, limit: int) -> None:
        self._receive = receive
        self._send = send
        self.limit = limit
        self.seen = 0
        self.refused = False
        self.started = False
        self.answered = False

    async def receive(self) -> Message:
        if self.refused:
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] == "http.request":
            self.seen += len(message.get("body", b""))
            if self.seen > self.limit:
                self.refused = True
                if not self.started:
                    self.started = self.answered = True
                    await _too_large(self._send, self.limit)
                return {"type": "http.disconnect"}
        return message

    async def send(self, message: Message) -> None:
        if self.answered:
            return
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)
