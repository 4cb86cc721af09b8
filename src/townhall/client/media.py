"""aiortc helpers for tests, the bot and benchmarks: send a tone or a WAV, record what
comes back, and connect through any offer→answer function (MediaServer.answer or HTTP).
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import time
import wave
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import numpy.typing as npt
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from townhall.client.errors import ApiError, raise_for_error
from townhall.config import IceServer
from townhall.media.audio import FRAME_SAMPLES, FRAME_SECONDS, SAMPLE_RATE, MonoConverter
from townhall.media.ice import rtc_configuration

TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)

Samples = npt.NDArray[np.int16]
AnswerFn = Callable[[str, str], Awaitable[tuple[str, str]]]


class PacedAudioTrack(MediaStreamTrack):
    """An audio track producing 20 ms mono 48 kHz frames at real-time pace."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._start: float | None = None
        self._index = 0

    def samples(self, index: int) -> Samples:
        """The 960 samples of frame number `index`."""
        raise NotImplementedError

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._start is None:
            self._start = now
        else:
            due = self._start + self._index * FRAME_SECONDS
            if due > now:
                await asyncio.sleep(due - now)
            elif now - due > 0.2:  # far behind (paused): restart the pace, no burst
                self._start = now - self._index * FRAME_SECONDS
        pcm = self.samples(self._index)
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._index * FRAME_SAMPLES
        frame.time_base = TIME_BASE
        self._index += 1
        return frame


class ToneTrack(PacedAudioTrack):
    """A continuous sine tone; `amplitude` is a fraction of full scale."""

    def __init__(self, freq_hz: float, amplitude: float = 0.3) -> None:
        super().__init__()
        if not 0 < freq_hz < SAMPLE_RATE / 2 or not 0 <= amplitude <= 1:
            raise ValueError("need 0 < freq_hz < 24000 and 0 <= amplitude <= 1")
        self.freq_hz = freq_hz
        self.amplitude = amplitude

    def samples(self, index: int) -> Samples:
        n = np.arange(index * FRAME_SAMPLES, (index + 1) * FRAME_SAMPLES)
        wave_ = np.sin(2 * np.pi * self.freq_hz * n / SAMPLE_RATE) * self.amplitude * 32767
        return wave_.astype(np.int16)


class WavTrack(PacedAudioTrack):
    """A WAV file (16-bit PCM, any rate and channel count), looped when `loop`."""

    def __init__(self, path: str | Path, *, loop: bool = True) -> None:
        super().__init__()
        self._pcm = read_wav(path)
        if self._pcm.size == 0:
            raise ValueError(f"{path} has no audio")
        self._repeat = loop

    def samples(self, index: int) -> Samples:
        start = index * FRAME_SAMPLES
        if not self._repeat and start >= self._pcm.size:
            self.stop()
            raise MediaStreamError
        if self._repeat:
            return self._pcm[np.arange(start, start + FRAME_SAMPLES) % self._pcm.size]
        out = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        chunk = self._pcm[start : start + FRAME_SAMPLES]
        out[: chunk.size] = chunk
        return out


class ScheduleTrack(PacedAudioTrack):
    """Silence with clips placed on it: `clips` is a list of (start second, 48 kHz PCM).

    Plays forever (silence after the last clip); `frame_at(seconds)` says which frame a
    moment of the schedule is sent in."""

    def __init__(self, clips: list[tuple[float, Samples]]) -> None:
        super().__init__()
        self._clips = [(round(at * SAMPLE_RATE), pcm) for at, pcm in clips]
        # When each clip's first and last frame were handed to the sender (monotonic).
        self.began: dict[int, float] = {}
        self.ended: dict[int, float] = {}

    def samples(self, index: int) -> Samples:
        start = index * FRAME_SAMPLES
        out = np.zeros(FRAME_SAMPLES, dtype=np.int32)
        for k, (offset, pcm) in enumerate(self._clips):
            lo, hi = max(start, offset), min(start + FRAME_SAMPLES, offset + pcm.size)
            if lo < hi:
                out[lo - start : hi - start] += pcm[lo - offset : hi - offset]
                self.began.setdefault(k, time.monotonic())
                if hi == offset + pcm.size:
                    self.ended[k] = time.monotonic()
        return np.clip(out, -32768, 32767).astype(np.int16)


def read_wav(path: str | Path) -> Samples:
    """A 16-bit PCM WAV as 48 kHz mono samples."""
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2:
            raise ValueError(f"{path}: only 16-bit PCM WAV is supported")
        channels, rate = wav.getnchannels(), wav.getframerate()
        data = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    mono = data.reshape(-1, channels).mean(axis=1)
    if rate != SAMPLE_RATE and mono.size:
        count = round(mono.size * SAMPLE_RATE / rate)
        mono = np.interp(np.arange(count) * rate / SAMPLE_RATE, np.arange(mono.size), mono)
    return np.asarray(mono, dtype=np.int16)


def write_wav(path: str | Path, pcm: Samples, rate: int = SAMPLE_RATE) -> None:
    """Write mono 16-bit PCM."""
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm.astype("<i2").tobytes())


# -- analysis -------------------------------------------------------------------


def rms(pcm: Samples) -> float:
    """Root mean square as a fraction of full scale (0 silence, ~0.707 a full sine)."""
    if pcm.size == 0:
        return 0.0
    return float(np.sqrt(np.mean(np.square(pcm, dtype=np.float64)))) / 32768.0


def spectrum(pcm: Samples, rate: int = SAMPLE_RATE) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    """(frequencies, magnitudes) of a Hann-windowed FFT."""
    x = pcm.astype(np.float64) * np.hanning(pcm.size)
    return np.fft.rfftfreq(pcm.size, 1 / rate), np.abs(np.fft.rfft(x))


def dominant_frequencies(
    pcm: Samples, count: int = 2, *, min_ratio: float = 0.1, rate: int = SAMPLE_RATE
) -> list[float]:
    """Up to `count` spectral peaks (Hz), strongest first, each at least `min_ratio` of the
    strongest; peaks closer than 30 Hz to a stronger one are the same peak."""
    if pcm.size < 64:
        return []
    freqs, mags = spectrum(pcm, rate)
    mags[freqs < 40] = 0
    order = np.argsort(mags)[::-1]
    top = float(mags[order[0]]) if order.size else 0.0
    peaks: list[float] = []
    for i in order:
        if len(peaks) >= count or mags[i] < top * min_ratio or top == 0:
            break
        f = float(freqs[i])
        if all(abs(f - p) > 30 for p in peaks):
            peaks.append(f)
    return peaks


def band_rms(pcm: Samples, freq_hz: float, width_hz: float = 20, rate: int = SAMPLE_RATE) -> float:
    """RMS (fraction of full scale) of the content within ±width_hz of freq_hz."""
    if pcm.size == 0:
        return 0.0
    freqs, _ = spectrum(pcm, rate)
    coeffs = np.fft.rfft(pcm.astype(np.float64))
    band = np.abs(freqs - freq_hz) <= width_hz
    power = 2 * np.sum(np.abs(coeffs[band]) ** 2) / pcm.size**2
    return float(np.sqrt(power)) / 32768.0


# -- receiving ------------------------------------------------------------------


class Recorder:
    """Collects a received audio track as 48 kHz mono int16 samples."""

    def __init__(self, max_seconds: float = 120.0) -> None:
        self._chunks: list[Samples] = []
        self._count = 0
        self._dropped = 0
        self._max = int(max_seconds * SAMPLE_RATE)
        self._task: asyncio.Task[None] | None = None
        self._grew = asyncio.Event()
        self.frames = 0

    def start(self, track: MediaStreamTrack) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(track), name="townhall-recorder")

    def follow(self, track: MediaStreamTrack) -> None:
        """Record `track` from now on instead (a new connection of the same member)."""
        old, self._task = self._task, None
        if old is not None:
            old.cancel()
        self.start(track)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, MediaStreamError):
                await task

    @property
    def sample_count(self) -> int:
        """Samples received so far (including ones dropped beyond max_seconds)."""
        return self._count

    def mark(self) -> int:
        """A position to slice from later with `since()`."""
        return self._count

    def samples(self) -> Samples:
        if not self._chunks:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate(self._chunks)

    def since(self, mark: int) -> Samples:
        """Samples received after `mark` (as far as they are still kept)."""
        start = max(0, mark - self._dropped)
        return self.samples()[start:]

    async def wait_samples(self, count: int, *, after: int = 0, timeout: float = 10.0) -> Samples:
        """Wait until `count` samples arrived after mark `after`; returns them."""
        async with asyncio.timeout(timeout):
            while self._count - after < count:
                self._grew.clear()
                await self._grew.wait()
        return self.since(after)[:count]

    def write_wav(self, path: str | Path) -> None:
        write_wav(path, self.samples())

    async def _run(self, track: MediaStreamTrack) -> None:
        converter = MonoConverter()
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            pcm = converter.convert(frame)  # type: ignore[arg-type]
            self._chunks.append(pcm)
            self._count += pcm.size
            self.frames += 1
            while self._count - self._dropped > self._max and len(self._chunks) > 1:
                self._dropped += self._chunks.pop(0).size
            self._grew.set()


# -- connecting -----------------------------------------------------------------


@dataclass
class MediaClient:
    """One client connection: send with `send()`, hear through `recorder`."""

    pc: RTCPeerConnection
    sender: RTCRtpSender
    recorder: Recorder
    _connected: asyncio.Event = field(default_factory=asyncio.Event)

    def send(self, track: MediaStreamTrack | None) -> None:
        """Start (or stop, with None) sending on the same connection: no renegotiation."""
        self.sender.replaceTrack(track)

    async def wait_connected(self, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            await self._connected.wait()
        if self.pc.connectionState != "connected":
            raise ConnectionError(f"connection is {self.pc.connectionState}")

    async def wait_closed(self, timeout: float = 10.0) -> None:
        """Wait until the server has closed (or failed) this connection."""
        async with asyncio.timeout(timeout):
            while self.pc.connectionState not in ("closed", "failed"):
                await asyncio.sleep(0.05)

    async def close(self) -> None:
        await self.recorder.stop()
        await self.pc.close()


class SignalingError(ApiError):
    """The server refused an offer; `status` and `code` come from its JSON error."""


def http_answer(
    http: httpx.AsyncClient, space_id: str, headers: Mapping[str, str] | None = None
) -> AnswerFn:
    """An offer→answer function that posts to `POST /api/v1/spaces/{space_id}/media`."""

    async def answer(sdp: str, type_: str) -> tuple[str, str]:
        response = await http.post(
            f"/api/v1/spaces/{space_id}/media",
            json={"sdp": sdp, "type": type_},
            headers=dict(headers or {}),
        )
        raise_for_error(response, SignalingError)
        body = response.json()
        return str(body["sdp"]), str(body["type"])

    return answer


async def http_ice_servers(
    http: httpx.AsyncClient, headers: Mapping[str, str] | None = None
) -> list[IceServer]:
    """The ICE servers the server hands to clients (`GET /api/v1/media/config`)."""
    response = await http.get("/api/v1/media/config", headers=dict(headers or {}))
    response.raise_for_status()
    return ice_servers_of(response.json())


def ice_servers_of(config: Any) -> list[IceServer]:
    """The ICE servers of a `GET /api/v1/media/config` answer."""
    return [IceServer.model_validate(s) for s in config.get("ice_servers", [])]


async def connect(
    answer: AnswerFn,
    *,
    track: MediaStreamTrack | None = None,
    ice_servers: Sequence[IceServer] | None = None,
    recorder: Recorder | None = None,
) -> MediaClient:
    """Offer one sendrecv audio stream, get the answer from `answer(sdp, type)`, and record
    whatever the server sends (into `recorder` when given: it follows this connection).
    Call `townhall.media.ice.use_host_addresses` first."""
    pc = RTCPeerConnection(rtc_configuration(ice_servers or []))
    transceiver = pc.addTransceiver("audio", direction="sendrecv")
    if track is not None:
        transceiver.sender.replaceTrack(track)
    following = recorder is not None
    recording = recorder if recorder is not None else Recorder()
    client = MediaClient(pc=pc, sender=transceiver.sender, recorder=recording)

    @pc.on("track")
    def _on_track(remote: MediaStreamTrack) -> None:
        if following:
            recording.follow(remote)
        else:
            recording.start(remote)

    @pc.on("connectionstatechange")
    def _on_state() -> None:
        if pc.connectionState in ("connected", "failed", "closed"):
            client._connected.set()

    try:
        await pc.setLocalDescription(await pc.createOffer())
        sdp, type_ = await answer(pc.localDescription.sdp, pc.localDescription.type)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type=type_))
    except BaseException:
        await client.close()
        raise
    return client


MEDIA_MOVED = "media.moved"


def moves(event: Mapping[str, Any], user_id: int) -> bool:
    """Is this WebSocket event a `media.moved` naming `user_id` (offer again)?"""
    if event.get("type") != MEDIA_MOVED:
        return False
    data = event.get("data")
    ids = data.get("user_ids") if isinstance(data, Mapping) else None
    return isinstance(ids, list) and user_id in ids


class MediaSession:
    """A member's audio that follows the server's `media.moved`: told to move (its media
    worker died, or a listener on an edge was promoted), it offers again with the same
    track and keeps recording into the same `recorder`. No reload, no new track."""

    def __init__(
        self,
        answer: AnswerFn,
        *,
        track: MediaStreamTrack | None = None,
        ice_servers: Sequence[IceServer] | None = None,
    ) -> None:
        self._answer = answer
        self._track = track
        self._ice_servers = ice_servers
        self.recorder = Recorder()
        self.client: MediaClient | None = None
        self.moves = 0

    async def start(self) -> MediaClient:
        self.client = await connect(
            self._answer, track=self._track, ice_servers=self._ice_servers, recorder=self.recorder
        )
        return self.client

    async def reoffer(self) -> MediaClient:
        """Close this connection (not the recorder) and offer again."""
        old, self.client = self.client, None
        if old is not None:
            old.sender.replaceTrack(None)  # closing a sender stops its track: keep ours
            await old.pc.close()
        self.moves += 1
        return await self.start()

    async def on_event(self, event: Mapping[str, Any], user_id: int) -> bool:
        """Offer again when `event` moves `user_id`; True when it did."""
        if not moves(event, user_id):
            return False
        await self.reoffer()
        return True

    async def close(self) -> None:
        await self.recorder.stop()
        if self.client is not None:
            await self.client.pc.close()
