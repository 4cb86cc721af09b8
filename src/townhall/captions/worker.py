"""The captions worker process: `python -m townhall.captions.worker --engine NAME [--model DIR]`.

Reads `wire` messages on stdin, writes results on stdout, logs on stderr. One thread:
while it recognises, its stdin pipe fills and the server's bounded queue drops audio
(the media plane never waits for it).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import BinaryIO

from townhall.captions import wire
from townhall.captions.engines import Downsampler, Engine, EngineError, Recognizer, create_engine

log = logging.getLogger("townhall.captions.worker")

MAX_STREAMS = 64  # utterances open at once (speakers talking over each other)


class _Stream:
    def __init__(self, recognizer: Recognizer) -> None:
        self.recognizer = recognizer
        self.resampler = Downsampler()


class Worker:
    """Recognises the utterances the server opens, feeds and closes."""

    def __init__(self, engine: Engine, out: BinaryIO) -> None:
        self._engine = engine
        self._out = out
        self._streams: dict[int, _Stream] = {}

    def send(self, message: wire.Message) -> None:
        self._out.write(wire.encode(message))
        self._out.flush()

    def handle(self, message: wire.Message) -> None:
        match message:
            case wire.Audio(stream_id, pcm):
                self._feed(stream_id, pcm)
            case wire.Open(stream_id, language):
                self._open(stream_id, language)
            case wire.Close(stream_id):
                self._close(stream_id)
            case _:
                log.warning("unexpected message %s", type(message).__name__)

    def _fail(self, stream_id: int, exc: Exception) -> None:
        log.warning("recognising utterance %s failed: %s", stream_id, exc)
        self._streams.pop(stream_id, None)
        self.send(wire.Failed(stream_id, str(exc)))

    def _open(self, stream_id: int, language: str) -> None:
        if len(self._streams) >= MAX_STREAMS:
            self.send(wire.Failed(stream_id, "too many utterances at once"))
            return
        try:
            self._streams[stream_id] = _Stream(self._engine.recognizer(language))
        except EngineError as exc:
            self._fail(stream_id, exc)

    def _feed(self, stream_id: int, pcm: bytes) -> None:
        stream = self._streams.get(stream_id)
        if stream is None:
            return
        try:
            partial = stream.recognizer.accept(stream.resampler.process(pcm))
        except Exception as exc:
            self._fail(stream_id, exc)
            return
        if partial:
            self.send(wire.Text(stream_id, False, partial))

    def _close(self, stream_id: int) -> None:
        stream = self._streams.pop(stream_id, None)
        if stream is None:
            return
        try:
            text = stream.recognizer.finish()
        except Exception as exc:
            self._fail(stream_id, exc)
            return
        self.send(wire.Text(stream_id, True, text))


def serve(engine_name: str, model: Path | None, inp: BinaryIO, out: BinaryIO) -> int:
    try:
        engine = create_engine(engine_name, model)
    except EngineError as exc:
        log.error("captions engine unavailable: %s", exc)
        return 2
    worker = Worker(engine, out)
    worker.send(wire.Ready(engine.name, tuple(sorted(engine.languages))))
    while True:
        try:
            message = wire.read(inp)
        except wire.WireError as exc:
            log.error("bad message from the server: %s", exc)
            return 3
        if message is None:
            return 0
        worker.handle(message)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="townhall-captions-worker")
    parser.add_argument("--engine", default="pocketsphinx")
    parser.add_argument("--model", type=Path, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("TOWNHALL_LOG_LEVEL", "info").upper(),
        format="captions-worker %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    try:
        return serve(args.engine, args.model, sys.stdin.buffer, sys.stdout.buffer)
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
