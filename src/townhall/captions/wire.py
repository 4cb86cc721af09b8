"""The captions channel: length-prefixed typed messages over the worker's stdin/stdout.

Each message is `length (u32, big endian) | type (u8) | body`; `length` counts the type
byte and the body. Bodies:

- server -> worker: `Open(stream, language)` one utterance of one speaker begins;
  `Audio(stream, pcm)` 48 kHz mono int16 PCM of it; `Close(stream)` it ended.
- worker -> server: `Ready(engine, languages)` once the engine is loaded;
  `Text(stream, final, text)` a partial or the final text of an utterance;
  `Failed(stream, reason)` an utterance the worker could not recognise.

A stream id is a u32 the server picks per utterance; it maps it back to the space and
speaker. Anything malformed raises `WireError`.
"""

from __future__ import annotations

import asyncio
import json
import struct
from dataclasses import dataclass
from typing import BinaryIO

MAX_MESSAGE = 1 << 20  # 1 MiB; audio messages are 1920 bytes (20 ms)

_HEAD = struct.Struct("!IB")
_STREAM = struct.Struct("!I")
_TEXT = struct.Struct("!IB")


class WireError(ValueError):
    """A message that cannot be read."""


@dataclass(frozen=True)
class Open:
    stream: int
    language: str


@dataclass(frozen=True)
class Audio:
    stream: int
    pcm: bytes


@dataclass(frozen=True)
class Close:
    stream: int


@dataclass(frozen=True)
class Ready:
    engine: str
    languages: tuple[str, ...]


@dataclass(frozen=True)
class Text:
    stream: int
    final: bool
    text: str


@dataclass(frozen=True)
class Failed:
    stream: int
    reason: str


Message = Open | Audio | Close | Ready | Text | Failed

_OPEN, _AUDIO, _CLOSE, _READY, _TEXT_T, _FAILED = 1, 2, 3, 4, 5, 6


def encode(message: Message) -> bytes:
    match message:
        case Audio(stream, pcm):
            kind, body = _AUDIO, _STREAM.pack(stream) + pcm
        case Open(stream, language):
            kind, body = _OPEN, _STREAM.pack(stream) + language.encode()
        case Close(stream):
            kind, body = _CLOSE, _STREAM.pack(stream)
        case Ready(engine, languages):
            kind, body = _READY, json.dumps({"engine": engine, "languages": languages}).encode()
        case Text(stream, final, text):
            kind, body = _TEXT_T, _TEXT.pack(stream, int(final)) + text.encode()
        case Failed(stream, reason):
            kind, body = _FAILED, _STREAM.pack(stream) + reason.encode()
    return _HEAD.pack(len(body) + 1, kind) + body


def decode(kind: int, body: bytes) -> Message:
    try:
        if kind == _AUDIO:
            return Audio(_STREAM.unpack_from(body)[0], body[_STREAM.size :])
        if kind == _OPEN:
            return Open(_STREAM.unpack_from(body)[0], body[_STREAM.size :].decode())
        if kind == _CLOSE:
            return Close(_STREAM.unpack_from(body)[0])
        if kind == _READY:
            raw = json.loads(body)
            return Ready(str(raw["engine"]), tuple(str(x) for x in raw["languages"]))
        if kind == _TEXT_T:
            stream, final = _TEXT.unpack_from(body)
            return Text(stream, bool(final), body[_TEXT.size :].decode())
        if kind == _FAILED:
            return Failed(_STREAM.unpack_from(body)[0], body[_STREAM.size :].decode())
    except (struct.error, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise WireError(f"malformed message of type {kind}: {exc}") from exc
    raise WireError(f"unknown message type {kind}")


def _length(head: bytes) -> tuple[int, int]:
    length, kind = _HEAD.unpack(head)
    if not 1 <= length <= MAX_MESSAGE:
        raise WireError(f"message length {length} out of range")
    return length - 1, kind


def read(stream: BinaryIO) -> Message | None:
    """The next message from a blocking file; None at the end of the stream."""
    head = stream.read(_HEAD.size)
    if not head:
        return None
    if len(head) < _HEAD.size:
        raise WireError("truncated header")
    size, kind = _length(head)
    body = stream.read(size)
    if len(body) < size:
        raise WireError("truncated message")
    return decode(kind, body)


async def aread(reader: asyncio.StreamReader) -> Message | None:
    """The next message from an asyncio stream; None at the end of the stream."""
    try:
        head = await reader.readexactly(_HEAD.size)
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise WireError("truncated header") from exc
    size, kind = _length(head)
    try:
        body = await reader.readexactly(size)
    except asyncio.IncompleteReadError as exc:
        raise WireError("truncated message") from exc
    return decode(kind, body)
