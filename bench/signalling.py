"""A minimal JSON-lines request/response channel over TCP on loopback, for bench processes."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
LIMIT = 1 << 20


async def serve(handler: Handler, host: str = "127.0.0.1", port: int = 0) -> asyncio.Server:
    """Serve requests: each line is a JSON object, each reply a JSON object line."""

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                try:
                    reply = await handler(json.loads(line))
                except Exception as exc:
                    reply = {"error": f"{type(exc).__name__}: {exc}"}
                writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # client gone, or the server shutting down
        finally:
            writer.close()

    return await asyncio.start_server(on_client, host, port, limit=LIMIT)


class Channel:
    """A client connection; `request` may be awaited from many tasks (one at a time)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._lock = asyncio.Lock()

    @classmethod
    async def connect(cls, host: str, port: int) -> Channel:
        reader, writer = await asyncio.open_connection(host, port, limit=LIMIT)
        return cls(reader, writer)

    async def request(self, message: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
        async with self._lock:
            self._writer.write(json.dumps(message).encode() + b"\n")
            await self._writer.drain()
            line = await asyncio.wait_for(self._reader.readline(), timeout)
        if not line:
            raise ConnectionError("signalling server closed the connection")
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"server error: {reply['error']}")
        return reply

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()
