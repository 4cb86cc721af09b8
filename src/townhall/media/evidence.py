"""Evidence for reports: the last minutes of a live room's mix, kept only in memory, and
written to a file only when someone reports the space.

Each room has an `EvidenceBuffer`: every tick the mixer hands it the listeners' Opus
packet (the one already encoded for them; nothing is encoded again) and the levels of the
audible speakers. It keeps the last `BUFFER_SECONDS` of packets in one-second chunks (a
packet's bytes and a 2-byte length: at 48 kbit/s about 3.6 MB for 10 minutes) and the
stage timeline: who was on stage and unmuted (`stage`) and who spoke (`speaking`: level
above about -45 dBFS, with half a second of hang) when. It is dropped with the room.

An `EvidenceRequest` (from the bus) asks the room's buffer for `[at - before, at + after]`;
once `at + after` has passed, or the room closes, the chunks of that window are handed to
a thread that writes `<data_dir>/evidence/<id>.ogg` with the recorder's Ogg writer and the
timeline next to it (`<id>.json`), and `EvidenceSaved` is announced on the bus.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import os
import sys
import time
from array import array
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel

from townhall.bus.base import Subscription, SubscriptionClosed, SubscriptionLagged
from townhall.bus.evidence import EVIDENCE_CHANNEL, EvidenceRequest, EvidenceSaved
from townhall.media.audio import FRAME_SAMPLES, FRAME_SECONDS, SAMPLE_RATE
from townhall.media.recorder import OggWriter

log = logging.getLogger(__name__)

BUFFER_SECONDS = 600.0
CHUNK_PACKETS = 50
SPEAKING_LEVEL = 0.25
"""`audio.level` above which a speaker counts as speaking (about -45 dBFS)."""
SPEAKING_HANG = 0.5
TIMELINE_MAX = 4000
"""Closed timeline spans kept at most (besides the age limit)."""
WRITE_SECONDS = 10.0
"""How long closing the desk waits for evidence still being written."""


def evidence_dir(data_dir: Path) -> Path:
    return data_dir / "evidence"


def evidence_path(data_dir: Path, evidence_id: int) -> Path:
    """Where evidence `evidence_id`'s Ogg file lives (its timeline: `.json` next to it)."""
    return evidence_dir(data_dir) / f"{evidence_id}.ogg"


def timeline_path(data_dir: Path, evidence_id: int) -> Path:
    return evidence_dir(data_dir) / f"{evidence_id}.json"


SpanKind = Literal["stage", "speaking"]


class TimelineSpan(BaseModel):
    """A `Span` as written next to the evidence: in ms into its audio file."""

    user_id: int
    kind: SpanKind
    start_ms: int
    end_ms: int


class Sidecar(BaseModel):
    """What `<id>.json` next to evidence `<id>.ogg` says (written by the media plane, read
    by the API when it records the evidence)."""

    evidence_id: int
    space_id: str
    started_at: float
    """Unix time of the file's first sample."""
    duration_ms: int
    size_bytes: int
    report_at_ms: int
    """Where in the file the report was made."""
    timeline: list[TimelineSpan]


@dataclass(frozen=True, slots=True)
class Span:
    """`user_id` was on stage and unmuted (`stage`) or speaking from `start` to `end`
    (unix seconds)."""

    user_id: int
    kind: SpanKind
    start: float
    end: float


class _Chunk:
    """Up to CHUNK_PACKETS packets of consecutive ticks, from `start` (unix seconds)."""

    __slots__ = ("data", "last_index", "lengths", "start")

    def __init__(self, start: float, index: int) -> None:
        self.start = start
        self.last_index = index - 1
        self.data: bytes | bytearray = bytearray()
        self.lengths = array("H")

    @property
    def end(self) -> float:
        return self.start + len(self.lengths) * FRAME_SECONDS

    def append(self, index: int, payload: bytes) -> None:
        assert isinstance(self.data, bytearray)
        self.data += payload
        self.lengths.append(len(payload))
        self.last_index = index

    def seal(self) -> None:
        """Full: keep its bytes exactly (no spare capacity)."""
        self.data = bytes(self.data)

    def frozen(self) -> tuple[float, bytes, array[int]]:
        return self.start, bytes(self.data), array("H", self.lengths)

    def nbytes(self) -> int:
        return sys.getsizeof(self) + sys.getsizeof(self.data) + sys.getsizeof(self.lengths)


@dataclass
class _Capture:
    evidence_id: int
    at: float
    start: float
    end: float


@dataclass(frozen=True)
class Captured:
    """One window taken from a buffer, to be written: its chunks (start, bytes, lengths)
    and the timeline spans that touch it."""

    evidence_id: int
    space_id: str
    at: float
    start: float
    end: float
    chunks: list[tuple[float, bytes, array[int]]]
    spans: list[Span] = field(default_factory=list)


class EvidenceBuffer:
    """The last `seconds` of one room's mix (its Opus packets) and stage timeline.

    `tick` runs on the mixer's clock: appending a packet and following the levels cost a
    few microseconds; taking a window only copies references to its chunks."""

    def __init__(
        self,
        space_id: str,
        *,
        seconds: float = BUFFER_SECONDS,
        clock: Callable[[], float] = time.time,
        on_capture: Callable[[Captured], None] | None = None,
    ) -> None:
        self.space_id = space_id
        self.seconds = seconds
        self._clock = clock
        self.on_capture = on_capture
        self._chunks: deque[_Chunk] = deque()
        self._stage: dict[int, float] = {}  # user -> start of the open stage span
        self._speaking: dict[int, list[float]] = {}  # user -> [start, last loud]
        self._spans: deque[Span] = deque(maxlen=TIMELINE_MAX)
        self._captures: list[_Capture] = []
        self._next_due = float("inf")
        self._seen: set[int] = set()
        self.closed = False

    # -- on the mixer's clock ---------------------------------------------

    def tick(self, index: int, payload: bytes, levels: Mapping[int, float]) -> None:
        """One tick: the listeners' packet (b"" while the encoder primes) and the levels
        of every audible speaker."""
        now = self._clock()
        if payload:
            chunk = self._chunks[-1] if self._chunks else None
            if (
                chunk is None
                or len(chunk.lengths) >= CHUNK_PACKETS
                or index != chunk.last_index + 1
            ):
                if chunk is not None:
                    chunk.seal()
                chunk = _Chunk(now, index)
                self._chunks.append(chunk)
                self._forget(now)
            chunk.append(index, payload)
        if levels or self._stage:
            self._follow(levels, now)
        if now >= self._next_due:
            self._finish_due(now)

    def _follow(self, levels: Mapping[int, float], now: float) -> None:
        stage = self._stage
        if levels.keys() != stage.keys():
            for user_id in [u for u in stage if u not in levels]:
                self._spans.append(Span(user_id, "stage", stage.pop(user_id), now))
            for user_id in levels:
                stage.setdefault(user_id, now)
        speaking = self._speaking
        for user_id, value in levels.items():
            if value >= SPEAKING_LEVEL:
                span = speaking.get(user_id)
                if span is None:
                    speaking[user_id] = [now, now]
                else:
                    span[1] = now
        if speaking:
            for user_id, (start, last) in list(speaking.items()):
                if now - last > SPEAKING_HANG or user_id not in levels:
                    del speaking[user_id]
                    self._spans.append(Span(user_id, "speaking", start, last + FRAME_SECONDS))

    def _forget(self, now: float) -> None:
        horizon = now - self.seconds
        chunks, spans = self._chunks, self._spans
        while chunks and chunks[0].end < horizon:
            chunks.popleft()
        while spans and spans[0].end < horizon:
            spans.popleft()

    # -- windows ------------------------------------------------------------

    def capture(self, request: EvidenceRequest) -> bool:
        """Take `[at - before, at + after]` once its end has passed (or the room closes).
        False when this evidence was asked for already or the buffer is closed."""
        if self.closed or request.evidence_id in self._seen:
            return False
        self._seen.add(request.evidence_id)
        self._captures.append(
            _Capture(
                request.evidence_id,
                request.at,
                request.at - request.before,
                request.at + request.after,
            )
        )
        self._next_due = min(c.end for c in self._captures)
        now = self._clock()
        if now >= self._next_due:
            self._finish_due(now)
        return True

    def _finish_due(self, now: float) -> None:
        due = [c for c in self._captures if c.end <= now]
        self._captures = [c for c in self._captures if c.end > now]
        self._next_due = min((c.end for c in self._captures), default=float("inf"))
        for capture in due:
            self._hand_over(capture, capture.end)

    def _hand_over(self, capture: _Capture, end: float) -> None:
        chunks = [c.frozen() for c in self._chunks if c.end > capture.start and c.start < end]
        if self.on_capture is None:
            return
        try:
            self.on_capture(
                Captured(
                    capture.evidence_id,
                    self.space_id,
                    capture.at,
                    capture.start,
                    end,
                    chunks,
                    self.spans(capture.start, end),
                )
            )
        except Exception:
            log.exception(
                "evidence %s of %s was not handed over", capture.evidence_id, self.space_id
            )

    def spans(self, start: float, end: float) -> list[Span]:
        """Timeline spans touching `[start, end)`, the open ones ending at `end`."""
        found = [s for s in self._spans if s.end > start and s.start < end]
        found += [Span(u, "stage", t, end) for u, t in self._stage.items() if t < end]
        found += [Span(u, "speaking", s, end) for u, (s, _) in self._speaking.items() if s < end]
        return sorted(found, key=lambda s: (s.start, s.user_id, s.kind))

    def close(self) -> None:
        """The room closed: windows still open are taken as they are, then everything is
        dropped."""
        if self.closed:
            return
        now = self._clock()
        captures, self._captures = self._captures, []
        for capture in captures:
            self._hand_over(capture, min(capture.end, now))
        self.closed = True
        self._chunks.clear()
        self._spans.clear()
        self._stage.clear()
        self._speaking.clear()

    # -- diagnostics ----------------------------------------------------------

    @property
    def packets(self) -> int:
        return sum(len(c.lengths) for c in self._chunks)

    def nbytes(self) -> int:
        """Bytes this buffer holds (its chunks, their containers and the timeline)."""
        held = sys.getsizeof(self._chunks) + sum(c.nbytes() for c in self._chunks)
        held += sys.getsizeof(self._spans) + sum(sys.getsizeof(s) for s in self._spans)
        return held


def write_evidence(data_dir: Path, captured: Captured) -> Path | None:
    """Write one window as `<id>.ogg` (no re-encoding) with its timeline (`<id>.json`).

    Returns None when the file exists or another writer (another node sharing the data
    directory) is writing it."""
    final = evidence_path(data_dir, captured.evidence_id)
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = final.with_name(final.name + ".part")
    if final.exists():
        return None
    try:
        os.close(os.open(partial, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    except FileExistsError:
        return None
    try:
        places = _Places()
        writer = OggWriter(partial)
        try:
            for chunk_start, data, lengths in captured.chunks:
                offset = 0
                for i, length in enumerate(lengths):
                    at = chunk_start + i * FRAME_SECONDS
                    if captured.start <= at < captured.end:
                        places.add(at, writer.samples)
                        writer.write(data[offset : offset + length], FRAME_SAMPLES)
                    offset += length
            samples = writer.samples
        finally:
            writer.close()
        timeline = timeline_path(data_dir, captured.evidence_id)
        sidecar = Sidecar(
            evidence_id=captured.evidence_id,
            space_id=captured.space_id,
            started_at=places.first if places.first is not None else captured.start,
            duration_ms=samples * 1000 // 48_000,
            size_bytes=partial.stat().st_size,
            report_at_ms=places.ms(captured.at),
            timeline=[_relative(s, places) for s in captured.spans],
        )
        staging = timeline.with_name(timeline.name + ".part")
        staging.write_text(sidecar.model_dump_json())
        os.replace(staging, timeline)
        os.replace(partial, final)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise
    return final


class _Places:
    """Where a moment (unix seconds) is in the written file. Skipped ticks (a loaded
    machine) are not in the file, so the file runs behind the clock after each gap: every
    run of consecutive packets is a segment (its first packet's time and position)."""

    def __init__(self) -> None:
        self._starts: list[float] = []
        self._samples: list[int] = []
        self._last: float | None = None
        self._end = 0
        self.first: float | None = None

    def add(self, at: float, samples: int) -> None:
        if self._last is None or abs(at - self._last - FRAME_SECONDS) > FRAME_SECONDS / 2:
            self._starts.append(at)
            self._samples.append(samples)
            if self.first is None:
                self.first = at
        self._last = at
        self._end = samples + FRAME_SAMPLES

    def ms(self, at: float) -> int:
        """The file position of `at`, in ms (a moment in a gap: where the next part starts)."""
        i = bisect.bisect_right(self._starts, at) - 1
        if i < 0:
            return 0
        limit = self._samples[i + 1] if i + 1 < len(self._samples) else self._end
        samples = min(self._samples[i] + (at - self._starts[i]) * SAMPLE_RATE, limit)
        return max(0, round(samples * 1000 / SAMPLE_RATE))


def _relative(span: Span, places: _Places) -> TimelineSpan:
    return TimelineSpan(
        user_id=span.user_id,
        kind=span.kind,
        start_ms=places.ms(span.start),
        end_ms=places.ms(span.end),
    )


class EvidenceBus(Protocol):
    async def publish_user(self, user_id: int, payload: dict[str, Any]) -> None: ...

    async def subscribe_user(self, user_id: int) -> Subscription[dict[str, Any]]: ...


class EvidenceDesk:
    """The evidence of one media node: a buffer per room, the requests from the bus, and
    the files written for them (each announced with `EvidenceSaved`)."""

    def __init__(
        self,
        bus: EvidenceBus | None,
        data_dir: Path,
        *,
        clock: Callable[[], float] = time.time,
        seconds: float = BUFFER_SECONDS,
    ) -> None:
        self._bus = bus
        self._data_dir = data_dir
        self._clock = clock
        self._seconds = seconds
        self._buffers: dict[str, EvidenceBuffer] = {}
        self._writes: set[asyncio.Task[None]] = set()
        self._listener: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()
        self.written: list[int] = []  # evidence ids written here (diagnostics, tests)

    def buffer_for(self, space_id: str) -> EvidenceBuffer:
        """A new buffer for a room that opens (replacing one left behind)."""
        old = self._buffers.pop(space_id, None)
        if old is not None:
            old.close()
        buffer = self._buffers[space_id] = EvidenceBuffer(
            space_id, seconds=self._seconds, clock=self._clock, on_capture=self._captured
        )
        return buffer

    def buffer(self, space_id: str) -> EvidenceBuffer | None:
        return self._buffers.get(space_id)

    def room_closed(self, space_id: str) -> None:
        """Forget the buffer of a room that closed (the room closed it)."""
        buffer = self._buffers.get(space_id)
        if buffer is not None and buffer.closed:
            del self._buffers[space_id]

    def request(self, request: EvidenceRequest) -> bool:
        """Start taking a window, if this node has the space's audio."""
        buffer = self._buffers.get(request.space_id)
        return buffer is not None and buffer.capture(request)

    # -- the bus --------------------------------------------------------------

    def start(self) -> None:
        if self._bus is not None and self._listener is None:
            self._listener = asyncio.create_task(self._listen(self._bus), name="townhall-evidence")

    async def _listen(self, bus: EvidenceBus) -> None:
        failures = 0
        while True:
            try:
                subscription = await bus.subscribe_user(EVIDENCE_CHANNEL)
            except Exception as exc:
                failures += 1
                if failures == 1:
                    log.warning("evidence: cannot follow requests (%s); retrying", exc)
                await asyncio.sleep(min(0.25 * 2 ** min(failures, 5), 5.0))
                continue
            if failures:
                log.warning("evidence: following requests again")
            failures = 0
            self.listening.set()
            try:
                async for payload in subscription:
                    request = EvidenceRequest.from_payload(payload)
                    if request is not None:
                        self.request(request)
            except (SubscriptionLagged, SubscriptionClosed):
                pass
            finally:
                self.listening.clear()
                with contextlib.suppress(Exception):
                    await subscription.close()
            await asyncio.sleep(0.25)

    def _captured(self, captured: Captured) -> None:
        task = asyncio.get_running_loop().create_task(
            self._write(captured), name=f"townhall-evidence-{captured.evidence_id}"
        )
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _write(self, captured: Captured) -> None:
        try:
            path = await asyncio.to_thread(write_evidence, self._data_dir, captured)
        except Exception:
            log.exception(
                "evidence %s of %s: writing failed", captured.evidence_id, captured.space_id
            )
            return
        if path is None:
            return
        self.written.append(captured.evidence_id)
        await self._announce(EvidenceSaved(captured.evidence_id, captured.space_id))

    async def _announce(self, saved: EvidenceSaved, attempts: int = 8) -> None:
        """Tell the API; it also finds the file by itself later if this is lost."""
        if self._bus is None:
            return
        for attempt in range(attempts):
            try:
                await self._bus.publish_user(EVIDENCE_CHANNEL, saved.to_payload())
                return
            except Exception:
                await asyncio.sleep(min(0.25 * 2**attempt, 5.0))
        log.warning("evidence %s: could not announce it; the API will find it", saved.evidence_id)

    async def close(self) -> None:
        """Stop following requests; windows still open are written (bounded wait)."""
        task, self._listener = self._listener, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        buffers, self._buffers = list(self._buffers.values()), {}
        for buffer in buffers:
            buffer.close()
        if self._writes:
            await asyncio.wait(set(self._writes), timeout=WRITE_SECONDS)
