"""Runs the captions worker process, restarts it when it dies, and carries messages.

`CaptionsWorker` owns the process and the queue to it. `send` never blocks: it appends
to a bounded queue drained by a writer task; when the queue is full (the worker is slow,
stuck, or restarting) audio is dropped with a log line, so the mixer never waits.
Results are read by a reader task and handed to `on_text` (final and partial texts, with
the utterance they belong to). `on_state(up)` tells when the worker comes up (its engine
loaded) and goes down (the process died; it is started again after a back-off).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from townhall.captions import wire

log = logging.getLogger(__name__)

QUEUE_LIMIT = 300  # messages (an audio message is 20 ms of one speaker: 6 s in all); past
# that, captions would lag more than they help: audio is dropped instead
RESTART_DELAYS = (0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
DROP_LOG_EVERY = 5.0  # seconds between two "dropping" log lines


@dataclass
class Utterance:
    """One speaker's stretch of speech, from the gate's opening to its closing."""

    stream: int
    space_id: str
    user_id: int
    language: str
    started_at: float  # wall clock (time.time()) of its first frame
    ended_at: float | None = None  # of its last voiced frame, once closed
    replay_samples: int | None = None  # where it starts in the space's recording, if any
    partial: str = ""
    lost: bool = False  # audio of it was dropped
    extra: dict[str, object] = field(default_factory=dict)


TextHandler = Callable[[Utterance, str, bool], Awaitable[None]]
StateHandler = Callable[[bool], Awaitable[None]]


class CaptionsWorker:
    def __init__(
        self,
        engine: str,
        model: Path | None,
        on_text: TextHandler,
        on_state: StateHandler | None = None,
        *,
        queue_limit: int = QUEUE_LIMIT,
        command: list[str] | None = None,
    ) -> None:
        self._command = command or [
            sys.executable,
            "-m",
            "townhall.captions.worker",
            "--engine",
            engine,
            *(["--model", str(model)] if model else []),
        ]
        self._on_text = on_text
        self._on_state = on_state
        self._limit = queue_limit
        self._queue: deque[wire.Message] = deque()
        self._wake = asyncio.Event()
        self._ids = itertools.count(1)
        self.utterances: dict[int, Utterance] = {}
        self.up = False
        self.languages: frozenset[str] = frozenset()
        self.engine_name = engine
        self.process: asyncio.subprocess.Process | None = None
        self.restarts = 0
        self.opened = 0  # utterances sent to the worker
        self.sent = 0  # messages queued for it
        self.dropped = 0
        self._dropped_logged_at = 0.0
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    # -- the mixer's side: never blocks ------------------------------------

    def open(
        self, space_id: str, user_id: int, language: str, started_at: float
    ) -> Utterance | None:
        """A new utterance, or None while the worker is down (or the queue is full)."""
        if not self.up or len(self._queue) >= self._limit:
            return None
        utterance = Utterance(next(self._ids) & 0xFFFFFFFF, space_id, user_id, language, started_at)
        self.utterances[utterance.stream] = utterance
        self.opened += 1
        self._put(wire.Open(utterance.stream, language))
        return utterance

    def audio(self, utterance: Utterance, pcm: bytes) -> None:
        if utterance.lost:
            return
        if not self.up or len(self._queue) >= self._limit:
            utterance.lost = True  # a hole in an utterance garbles it: drop its rest
            self._drop()
            return
        self._put(wire.Audio(utterance.stream, pcm))

    def close(self, utterance: Utterance, ended_at: float) -> None:
        utterance.ended_at = ended_at
        if self.utterances.get(utterance.stream) is utterance:
            self._put(wire.Close(utterance.stream))  # control messages are never dropped

    def _put(self, message: wire.Message) -> None:
        self._queue.append(message)
        self.sent += 1
        self._wake.set()

    def _drop(self) -> None:
        self.dropped += 1
        now = time.monotonic()
        if now - self._dropped_logged_at >= DROP_LOG_EVERY:
            self._dropped_logged_at = now
            log.warning(
                "captions worker behind or down: dropping audio (%d utterances dropped so far)",
                self.dropped,
            )

    @property
    def queued(self) -> int:
        return len(self._queue)

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._supervise(), name="townhall-captions-worker")

    async def stop(self) -> None:
        self._closed = True
        task, self._task = self._task, None
        process = self.process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(process.wait(), 5.0)

    async def wait_up(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.up:
            if time.monotonic() > deadline:
                raise TimeoutError("the captions worker did not come up")
            await asyncio.sleep(0.05)

    async def _supervise(self) -> None:
        failures = 0
        while not self._closed:
            started = time.monotonic()
            try:
                await self._run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("captions worker failed")
            if self._closed:
                return
            await self._set_up(False)
            failures = 0 if time.monotonic() - started > 60 else failures + 1
            delay = RESTART_DELAYS[min(failures, len(RESTART_DELAYS) - 1)]
            log.warning("captions worker exited; starting it again in %.1f s", delay)
            self.restarts += 1
            await asyncio.sleep(delay)

    async def _set_up(self, up: bool) -> None:
        if up == self.up:
            return
        self.up = up
        if not up:
            self._queue.clear()
            for utterance in self.utterances.values():
                utterance.lost = True
            self.utterances.clear()
        if self._on_state is not None:
            try:
                await self._on_state(up)
            except Exception:
                log.exception("captions state handler failed")

    async def _run_once(self) -> None:
        process = await asyncio.create_subprocess_exec(
            *self._command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=None,  # the worker's log lines go to the server's stderr
        )
        self.process = process
        assert process.stdin is not None and process.stdout is not None
        writer = asyncio.create_task(self._write(process.stdin), name="townhall-captions-write")
        try:
            await self._read(process.stdout)
        finally:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
            with contextlib.suppress(Exception):
                code = await asyncio.wait_for(process.wait(), 5.0)
                if not self._closed:
                    log.warning("captions worker exited with %s", code)

    async def _write(self, stdin: asyncio.StreamWriter) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue and self.up:
                batch: list[bytes] = []
                while self._queue and len(batch) < 64:
                    batch.append(wire.encode(self._queue.popleft()))
                stdin.write(b"".join(batch))
                await stdin.drain()

    async def _read(self, stdout: asyncio.StreamReader) -> None:
        while True:
            message = await wire.aread(stdout)
            if message is None:
                return
            match message:
                case wire.Ready(engine, languages):
                    self.languages = frozenset(languages)
                    log.info("captions worker up: %s (%s)", engine, ", ".join(languages))
                    await self._set_up(True)
                    self._wake.set()
                case wire.Text(stream, final, text):
                    utterance = self.utterances.get(stream)
                    if utterance is None:
                        continue
                    if final:
                        del self.utterances[stream]
                    elif text == utterance.partial:
                        continue
                    utterance.partial = text
                    try:
                        await self._on_text(utterance, text, final)
                    except Exception:
                        log.exception("captions text handler failed")
                case wire.Failed(stream, reason):
                    self.utterances.pop(stream, None)
                    log.warning("captions: utterance %s not recognised: %s", stream, reason)
                case _:
                    log.warning("captions worker sent %s", type(message).__name__)
