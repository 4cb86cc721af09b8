"""The fan-out's fast path (api/ws/wire.py): frames made once, written to uvicorn's
transport. Checked against the pinned uvicorn and websockets: frames the client library
parses back to the same text at every length class, a writer found for a real
connection, nothing written once the connection closes, and the same events in the same
order whether they took the fast path or not."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
import websockets
from starlette.types import Receive, Scope, Send
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from tests.support.server import free_port
from townhall.api.ws.wire import FrameWriter, WireCapture, frame_writer, text_frame


def _parse(data: bytes) -> Frame:
    reader = StreamReader()
    reader.feed_data(data)
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        frame: Frame = done.value
        return frame
    raise AssertionError("incomplete frame")


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 70000])
def test_a_text_frame_parses_back_to_its_text_at_every_length(size: int) -> None:
    payload = ("é" * (size // 2) + "x" * (size % 2)).encode()
    frame = _parse(text_frame(payload))
    assert frame.opcode is Opcode.TEXT and frame.fin
    assert frame.data == payload


class _Echoes:
    """A bare ASGI app: accepts a WebSocket, writes frames through its FrameWriter."""

    def __init__(self) -> None:
        self.writers: list[FrameWriter | None] = []
        self.closed_writes: list[bool] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            return
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        writer = frame_writer(scope)
        self.writers.append(writer)
        assert writer is not None and writer.open
        writer.write(text_frame(b'{"n":1}'))
        await send({"type": "websocket.send", "text": '{"n":2}'})  # the usual path, after
        writer.write(text_frame(json.dumps({"n": 3, "pad": "p" * 300}).encode()))
        message = await receive()
        assert message["type"] == "websocket.disconnect"
        await asyncio.sleep(0.05)
        self.closed_writes.append(writer.write(text_frame(b"{}")))


@pytest.fixture
async def echoes() -> AsyncIterator[tuple[_Echoes, str]]:
    app = _Echoes()
    port = free_port()
    config = uvicorn.Config(
        WireCapture(app), host="127.0.0.1", port=port, lifespan="off", log_level="warning"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.025)
    try:
        yield app, f"ws://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def test_frames_reach_the_client_in_order_and_stop_once_it_has_gone(
    echoes: tuple[_Echoes, str],
) -> None:
    app, url = echoes
    async with websockets.connect(url, open_timeout=5) as ws:
        got: list[Any] = [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(3)]
    assert [m["n"] for m in got] == [1, 2, 3]
    for _ in range(100):
        if app.closed_writes:
            break
        await asyncio.sleep(0.02)
    assert app.closed_writes == [False]  # a closed connection gets nothing written
    writer = app.writers[0]
    assert writer is not None and not writer.open


async def test_no_writer_without_the_server_it_was_written_for() -> None:
    seen: list[FrameWriter | None] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(frame_writer(scope))

    async def not_uvicorn(message: Any) -> None:
        return None

    async def nothing() -> Any:
        return {"type": "websocket.connect"}

    await WireCapture(inner)({"type": "websocket"}, nothing, not_uvicorn)
    assert seen == [None]  # the app falls back to send_text
