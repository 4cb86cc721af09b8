"""Records a room's full mix: the Opus packets already encoded for listeners, muxed into
an Ogg Opus file without re-encoding.

While recording, the file is `<space_id>.ogg.part`; closing the recorder finishes it and
renames it to `<space_id>.ogg`, so a finished file is never half written. Paused stretches
are simply not written (timestamps run on from the last packet). A recorder opened on a
space that already has a finished file (its room closed when everyone left, and someone
came back) copies that file's packets first and goes on from their end: one recording is
always one Ogg file, its parts concatenated losslessly.

Crashes lose at most about a second: the Ogg pages (half a second of audio each) are
written to the file as they are made, at most two pages behind. The recorder holds an
exclusive `flock` on its `.part` while it writes; a `.part` that nobody holds was left by
a process that died, and `recover_partials` (run at start-up, and by a recorder that finds
one) turns it into the finished `<space_id>.ogg`, keeping every complete packet. A space
still live after the restart then records on from there (the time the server was down is
not in the file).
"""

from __future__ import annotations

import contextlib
import fcntl
import fractions
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import av

from townhall.media.audio import FRAME_SAMPLES, SAMPLE_RATE

log = logging.getLogger(__name__)

TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)
PAGE_MICROSECONDS = 500_000
"""Audio per Ogg page. FFmpeg's Ogg muxer writes a page out once the next one is complete,
so the file on disk is at most two pages (1 s) behind the recording."""

PARTIAL_SUFFIX = ".part"
RECOVERING_SUFFIX = ".recovering"


def recording_path(data_dir: Path, space_id: str) -> Path:
    """Where a space's finished recording lives."""
    return data_dir / "recordings" / f"{space_id}.ogg"


def partial_path(path: Path) -> Path:
    """Where the recording at `path` is written while it records."""
    return path.with_name(path.name + PARTIAL_SUFFIX)


class RecordingBusy(OSError):
    """Another live recorder (in this or another process) holds the partial file."""


class OggWriter:
    """An Ogg Opus file written one packet at a time, each page flushed when complete."""

    def __init__(self, path: Path) -> None:
        self._container = av.open(
            str(path),
            "w",
            format="ogg",
            options={"flush_packets": "1", "page_duration": str(PAGE_MICROSECONDS)},
        )
        stream = self._container.add_stream("libopus", rate=SAMPLE_RATE)
        stream.layout = "mono"
        stream.time_base = TIME_BASE
        stream.codec_context.time_base = TIME_BASE
        self._stream = stream
        self._container.start_encoding()
        self.samples = 0

    def write(self, payload: bytes, samples: int) -> None:
        packet = av.Packet(payload)
        packet.stream = self._stream
        packet.time_base = TIME_BASE
        packet.pts = packet.dts = self.samples
        packet.duration = samples
        self._container.mux(packet)
        self.samples += samples

    def close(self) -> None:
        self._container.close()


def _packets(path: Path) -> Iterator[tuple[bytes, int]]:
    """The complete Opus packets of an Ogg file, up to where it is cut or broken."""
    try:
        with av.open(str(path)) as source:
            for packet in source.demux(audio=0):
                if packet.size:
                    yield bytes(packet), int(packet.duration or FRAME_SAMPLES)
    except (av.FFmpegError, OSError, IndexError, ValueError) as exc:
        log.info("reading %s stopped early (%s)", path, exc)


def _samples(path: Path) -> int:
    return sum(samples for _, samples in _packets(path)) if path.exists() else 0


def _lock(path: Path) -> int:
    """Open (creating) and exclusively lock `path`; returns the descriptor.
    Raises RecordingBusy when someone else holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise RecordingBusy(f"{path} is being recorded") from None
    return fd


def _recover_locked(partial: Path, path: Path) -> bool:
    """Make `path` the longer of itself and what `partial` holds (the caller holds the
    lock on `partial`). True when `path` holds a recording afterwards."""
    kept = _samples(path)
    temporary = path.with_name(path.name + RECOVERING_SUFFIX)
    writer = OggWriter(temporary)
    try:
        for payload, samples in _packets(partial):
            writer.write(payload, samples)
    finally:
        writer.close()
    if writer.samples and writer.samples >= kept:
        os.replace(temporary, path)
        log.warning(
            "recovered %.1f s of an unfinished recording into %s",
            writer.samples / SAMPLE_RATE,
            path,
        )
    else:
        temporary.unlink()
    return path.exists()


def recover_partial(path: Path) -> bool:
    """Turn the partial file of the recording at `path`, left by a process that died,
    into the finished file (when it holds more than the finished file already does) and
    remove it. Returns False, doing nothing, while a live recorder holds it."""
    partial = partial_path(path)
    if not partial.exists():
        return False
    try:
        fd = _lock(partial)
    except RecordingBusy:
        return False
    try:
        _recover_locked(partial, path)
        partial.unlink(missing_ok=True)
    finally:
        os.close(fd)
    return True


def recover_partials(data_dir: Path) -> list[str]:
    """Recover every recording left unfinished under `data_dir` (start-up, before any
    recorder opens); returns the ids of the spaces whose recordings were recovered."""
    directory = recording_path(data_dir, "x").parent
    if not directory.is_dir():
        return []
    for stale in directory.glob(f"*.ogg{RECOVERING_SUFFIX}"):
        with contextlib.suppress(OSError):
            stale.unlink()  # a recovery that was itself interrupted: done again below
    recovered: list[str] = []
    for partial in sorted(directory.glob(f"*.ogg{PARTIAL_SUFFIX}")):
        path = partial.with_name(partial.name.removesuffix(PARTIAL_SUFFIX))
        try:
            if recover_partial(path):
                recovered.append(path.name.removesuffix(".ogg"))
        except (av.FFmpegError, OSError):
            log.exception("could not recover the recording %s", partial)
    return recovered


def _probed_samples(path: Path) -> int:
    """The duration an Ogg file states (its last page), in samples; 0 when unreadable."""
    try:
        with av.open(str(path)) as container:
            stream = container.streams.audio[0]
            if stream.duration is not None and stream.time_base is not None:
                return int(stream.duration * stream.time_base * SAMPLE_RATE)
    except (av.FFmpegError, OSError, IndexError):
        pass
    return 0


class Recorder:
    """One Ogg Opus file being written, one 20 ms packet at a time.

    Carrying on an earlier part (the finished file, or a partial one a dead process left)
    means copying its packets first; that runs in a thread so the room's clock never waits
    for it. Packets written meanwhile are held and follow the copied ones in order.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.partial = partial_path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = _lock(self.partial)  # RecordingBusy when another recorder writes it
        self.closed = False
        self._guard = threading.Lock()
        self._writer: OggWriter | None = None
        self._pending: list[tuple[bytes, int]] = []
        self._pending_samples = 0
        self._carried = 0  # samples of the earlier part (as its file states, until copied)
        self._carrier: threading.Thread | None = None
        try:
            left_behind = os.fstat(self._lock).st_size > 0  # by a process that died
            if left_behind or path.exists():
                self._carried = max(_probed_samples(path), _probed_samples(self.partial))
                self._carrier = threading.Thread(
                    target=self._carry_on,
                    args=(left_behind,),
                    name=f"townhall-recorder-{path.stem}",
                    daemon=True,
                )
                self._carrier.start()
            else:
                self._writer = OggWriter(self.partial)
        except BaseException:
            os.close(self._lock)
            raise

    def _carry_on(self, left_behind: bool) -> None:
        writer: OggWriter | None = None
        try:
            if left_behind:
                _recover_locked(self.partial, self.path)
            writer = OggWriter(self.partial)
            if self.path.exists():
                for payload, samples in _packets(self.path):
                    writer.write(payload, samples)
        except (av.FFmpegError, OSError):
            log.exception("could not carry on the recording in %s", self.path)
        finally:
            with self._guard:
                pending, self._pending = self._pending, []
                self._pending_samples = 0
                self._carrier_done(writer, pending)

    def _carrier_done(self, writer: OggWriter | None, pending: list[tuple[bytes, int]]) -> None:
        try:
            if writer is not None:
                for payload, samples in pending:
                    writer.write(payload, samples)
        except (av.FFmpegError, OSError):
            log.exception("writing the recording %s failed; it stops here", self.partial)
        self._writer = writer
        self._carrier = None

    @property
    def samples(self) -> int:
        """Samples recorded so far, earlier parts included."""
        with self._guard:
            if self._carrier is not None:
                return self._carried + self._pending_samples
            return self._writer.samples if self._writer is not None else 0

    @property
    def seconds(self) -> float:
        return self.samples / SAMPLE_RATE

    def write(self, payload: bytes, samples: int = FRAME_SAMPLES) -> None:
        """Append one Opus packet (20 ms unless told); empty payloads are skipped."""
        if self.closed or not payload:
            return
        with self._guard:
            if self._carrier is not None:  # still copying the earlier part: held
                self._pending.append((payload, samples))
                self._pending_samples += samples
                return
            writer = self._writer
        if writer is None:
            return
        try:
            writer.write(payload, samples)
        except (av.FFmpegError, OSError):
            log.exception("writing the recording %s failed; it stops here", self.partial)
            self.close()

    def close(self) -> None:
        """Finish the file and move it to `path` (nothing is kept when nothing was written,
        or when the partial file was deleted meanwhile). Waits for a copy of an earlier
        part still running."""
        if self.closed:
            return
        self.closed = True
        carrier = self._carrier
        if carrier is not None:
            carrier.join()
        writer = self._writer
        samples = writer.samples if writer is not None else 0
        try:
            if writer is not None:
                writer.close()
        except (av.FFmpegError, OSError):
            log.exception("finishing the recording %s failed", self.partial)
        try:
            if not samples:
                with contextlib.suppress(OSError):
                    self.partial.unlink()
                return
            try:
                os.replace(self.partial, self.path)
            except FileNotFoundError:  # deleted while recording (the space's data was deleted)
                log.info("the recording %s was deleted before it was finished", self.partial)
        finally:
            os.close(self._lock)
