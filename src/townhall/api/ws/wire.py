"""Event frames written straight to a WebSocket's transport: the fan-out's fast path.

`WebSocket.send_text` takes each message down through every ASGI middleware and
uvicorn's sans-I/O protocol, which frames it again for every connection: about 50 µs of
CPU per message, which a space of 2,000 members pays 2,000 times per event. A frame from
server to client is not masked and, without permessage-deflate (off: see `townhall
serve`), its bytes depend only on the text, so townhall frames each event's text once
(RFC 6455 §5.2) and writes the bytes to each connection's transport.

The transport is uvicorn's: `WireCapture`, the outermost middleware, finds the protocol
behind the ASGI `send` of a WebSocket connection and keeps a `FrameWriter` for it in the
scope. Anything else (another server, a test transport) has none, and callers fall back
to `send_text`. Written for uvicorn's `websockets-sansio` protocol (uvicorn 0.54, pinned):
`transport`, `close_sent` and the `websockets` connection's `state`;
tests/api/test_ws_wire.py checks them on a real server.
"""

from __future__ import annotations

import struct
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send
from websockets.protocol import State

WIRE_KEY = "townhall.wire"
"""Where `WireCapture` leaves the connection's `FrameWriter` in the scope."""

_TEXT_FIN = 0x81  # FIN bit + opcode 1 (text)


def text_frame(payload: bytes) -> bytes:
    """An unmasked, unfragmented text frame holding `payload` (UTF-8)."""
    size = len(payload)
    if size < 126:
        return bytes((_TEXT_FIN, size)) + payload
    if size < 1 << 16:
        return struct.pack("!BBH", _TEXT_FIN, 126, size) + payload
    return struct.pack("!BBQ", _TEXT_FIN, 127, size) + payload


class FrameWriter:
    """Writes ready frames to one connection, while its WebSocket is open."""

    def __init__(self, protocol: Any) -> None:
        self._protocol = protocol

    @property
    def open(self) -> bool:
        p = self._protocol
        return bool(
            not p.close_sent and p.conn.state is State.OPEN and not p.transport.is_closing()
        )

    def write(self, frame: bytes) -> bool:
        """Write one frame; False when the connection is closing (nothing written)."""
        if not self.open:
            return False
        self._protocol.transport.write(frame)
        return True


def _writer_for(send: Send) -> FrameWriter | None:
    protocol = getattr(send, "__self__", None)
    if protocol is None or type(protocol).__name__ != "WebSocketsSansIOProtocol":
        return None
    if not all(hasattr(protocol, name) for name in ("transport", "close_sent", "conn")):
        return None
    return FrameWriter(protocol)


class WireCapture:
    """Outermost ASGI middleware: a WebSocket connection's `FrameWriter` into its scope."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            writer = _writer_for(send)
            if writer is not None:
                scope[WIRE_KEY] = writer
        await self.app(scope, receive, send)


def frame_writer(scope: Scope) -> FrameWriter | None:
    """The connection's writer, if the server is one `WireCapture` knows."""
    writer = scope.get(WIRE_KEY)
    return writer if isinstance(writer, FrameWriter) else None
