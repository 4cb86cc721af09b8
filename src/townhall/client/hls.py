"""An LL-HLS player for bots, tests and benchmarks: httpx for the requests, PyAV to decode.

It follows the LL-HLS rules a real player does: it reads `EXT-X-SERVER-CONTROL`, starts
`PART-HOLD-BACK` behind the live edge, fetches the init segment, then asks for each next
part with a blocking playlist reload (`_HLS_msn`/`_HLS_part`) and fetches the parts the
playlist lists, until `EXT-X-ENDLIST` or its time is up.

Where playback starts (`schedule`): `PART-HOLD-BACK` behind its estimate of the live edge
at that moment, the newest part's end plus the time since the player learned of it (as
hls.js does), taking the freshest of the playlists it got before it starts: the first
one may come from a cache and be up to its `max-age` old.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urljoin, urlsplit

import av
import httpx
import numpy as np
import numpy.typing as npt

_ATTR = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)')


def attributes(text: str) -> dict[str, str]:
    return {k: v.strip('"') for k, v in _ATTR.findall(text)}


@dataclass(frozen=True)
class ListedPart:
    msn: int
    index: int
    uri: str
    duration: float
    independent: bool
    start: float | None = None  # epoch seconds, from its segment's PROGRAM-DATE-TIME


@dataclass(frozen=True)
class ListedSegment:
    msn: int
    uri: str
    duration: float
    program_date_time: str | None


@dataclass
class MediaPlaylist:
    """What a player needs from a media playlist (and what tests check in it)."""

    version: int | None = None
    target_duration: int | None = None
    part_target: float | None = None
    media_sequence: int = 0
    server_control: dict[str, str] = field(default_factory=dict)
    map_uri: str | None = None
    segments: list[ListedSegment] = field(default_factory=list)
    parts: list[ListedPart] = field(default_factory=list)
    preload_hint: str | None = None
    ended: bool = False
    tags: list[str] = field(default_factory=list)

    @property
    def edge(self) -> float | None:
        """Where the newest listed part ends, in PROGRAM-DATE-TIME terms (epoch seconds)."""
        if not self.parts or self.parts[-1].start is None:
            return None
        return self.parts[-1].start + self.parts[-1].duration

    @property
    def part_hold_back(self) -> float:
        return float(self.server_control.get("PART-HOLD-BACK", 3 * (self.part_target or 1)))

    def next_position(self) -> tuple[int, int]:
        """(msn, part index) of the first part not listed yet."""
        if self.parts:
            last = self.parts[-1]
            finished = any(s.msn == last.msn for s in self.segments)
            return (last.msn + 1, 0) if finished else (last.msn, last.index + 1)
        return self.media_sequence + len(self.segments), 0


def parse_playlist(text: str) -> MediaPlaylist:
    """Parse an LL-HLS media playlist; raises ValueError when it is not one."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != "#EXTM3U":
        raise ValueError("a playlist starts with #EXTM3U")
    out = MediaPlaylist()
    msn: int | None = None
    part_index = 0
    pending_pdt: str | None = None
    pending_duration: float | None = None
    clock: float | None = None  # PROGRAM-DATE-TIME of the next part
    for line in lines[1:]:
        if not line.startswith("#"):
            if pending_duration is None:
                raise ValueError(f"a URI without #EXTINF: {line}")
            if msn is None:
                msn = out.media_sequence
            out.segments.append(ListedSegment(msn, line, pending_duration, pending_pdt))
            msn += 1
            part_index = 0
            pending_pdt = pending_duration = None
            continue
        tag, _, value = line.partition(":")
        out.tags.append(tag)
        if tag == "#EXT-X-VERSION":
            out.version = int(value)
        elif tag == "#EXT-X-TARGETDURATION":
            out.target_duration = int(value)
        elif tag == "#EXT-X-PART-INF":
            out.part_target = float(attributes(value)["PART-TARGET"])
        elif tag == "#EXT-X-MEDIA-SEQUENCE":
            out.media_sequence = int(value)
            msn = int(value)
        elif tag == "#EXT-X-SERVER-CONTROL":
            out.server_control = attributes(value)
        elif tag == "#EXT-X-MAP":
            out.map_uri = attributes(value)["URI"]
        elif tag == "#EXT-X-PROGRAM-DATE-TIME":
            pending_pdt = value
            clock = datetime.fromisoformat(value).timestamp()
        elif tag == "#EXT-X-PART":
            attrs = attributes(value)
            if msn is None:
                msn = out.media_sequence
            out.parts.append(
                ListedPart(
                    msn,
                    part_index,
                    attrs["URI"],
                    float(attrs["DURATION"]),
                    attrs.get("INDEPENDENT") == "YES",
                    clock,
                )
            )
            part_index += 1
            if clock is not None:
                clock += float(attrs["DURATION"])
        elif tag == "#EXTINF":
            pending_duration = float(value.split(",")[0])
        elif tag == "#EXT-X-PRELOAD-HINT":
            out.preload_hint = attributes(value)["URI"]
        elif tag == "#EXT-X-ENDLIST":
            out.ended = True
    return out


Samples = npt.NDArray[np.int16]
TUNE_IN_RELOADS = 8


def decode(init: bytes, media: bytes) -> Samples:
    """Decode fragmented MP4 (init + fragments) to 48 kHz mono int16 samples."""
    with av.open(io.BytesIO(init + media), "r") as container:
        assert isinstance(container, av.container.InputContainer)
        resampler = av.AudioResampler(format="s16", layout="mono", rate=48_000)
        chunks = []
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
    if not chunks:
        return np.zeros(0, dtype=np.int16)
    return np.concatenate(chunks).astype(np.int16)


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    headers: dict[str, str]

    @property
    def text(self) -> str:
        return self.body.decode()


class Http1:
    """One keep-alive HTTP/1.1 connection to one host, one request at a time: what a
    player needs, at a fraction of a general client's CPU (crowds of simulated players
    in one process). Reconnects when the server closes it."""

    def __init__(self, base: str, *, timeout: float = 10.0) -> None:
        parts = urlsplit(base)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError("Http1 speaks plain http:// only")
        self.host = parts.hostname
        self.port = parts.port or 80
        self._timeout = timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def get(self, url: str) -> Reply:
        for attempt in (0, 1):
            if self._writer is None:
                self._reader, self._writer = await asyncio.wait_for(
                    asyncio.open_connection(self.host, self.port), self._timeout
                )
            try:
                return await asyncio.wait_for(self._request(url), self._timeout)
            except (ConnectionError, asyncio.IncompleteReadError) as exc:
                await self.close()
                if attempt:
                    raise ConnectionError(f"GET {url}: {exc}") from exc
            except BaseException:
                await self.close()
                raise
        raise AssertionError("unreachable")

    async def _request(self, url: str) -> Reply:
        assert self._reader is not None and self._writer is not None
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        self._writer.write(
            f"GET {target} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n\r\n".encode()
        )
        await self._writer.drain()
        head = await self._reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = await self._reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int((await self._reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunk = await self._reader.readexactly(size + 2)
                if size == 0:
                    break
                chunks.append(chunk[:-2])
            body = b"".join(chunks)
        else:
            body = await self._reader.read()
            await self.close()
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return Reply(status, body, headers)

    def clone(self) -> Http1:
        """Another connection to the same server (for a request in parallel)."""
        return Http1(f"http://{self.host}:{self.port}", timeout=self._timeout)

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


class _HttpxGet:
    def __init__(self, http: httpx.AsyncClient, timeout: float) -> None:
        self._http = http
        self._timeout = timeout

    async def get(self, url: str) -> Reply:
        r = await self._http.get(url, timeout=self._timeout)
        return Reply(r.status_code, r.content, dict(r.headers))


class HlsError(Exception):
    def __init__(self, status: int, url: str, body: bytes) -> None:
        super().__init__(f"{status} for {url}: {body[:200]!r}")
        self.status = status


@dataclass(frozen=True)
class Fetched:
    msn: int
    index: int
    duration: float
    data: bytes
    arrived: float  # time.monotonic() when the bytes were in
    start: float | None = None  # epoch seconds (PROGRAM-DATE-TIME) of its first sample


@dataclass
class PlayerStats:
    playlist_requests: int = 0
    part_requests: int = 0
    errors: int = 0
    missed_parts: int = 0  # listed parts that expired before they were fetched
    error_statuses: dict[int, int] = field(default_factory=dict)


class HlsPlayer:
    """One LL-HLS listener of one playlist URL."""

    def __init__(
        self,
        http: httpx.AsyncClient | Http1,
        url: str,
        *,
        timeout: float = 10.0,
        keep_media: bool = True,
    ) -> None:
        self._keep_media = keep_media  # False: only sizes and times (crowds of players)
        self._http: _HttpxGet | Http1
        self._hint_http: _HttpxGet | Http1
        if isinstance(http, httpx.AsyncClient):
            self._http = self._hint_http = _HttpxGet(http, timeout)
        else:  # the preload hint is fetched on a second connection, in parallel
            self._http, self._hint_http = http, http.clone()
        self.url = url
        self._timeout = timeout
        self.init: bytes = b""
        self.parts: list[Fetched] = []
        self.playlists: list[MediaPlaylist] = []
        self.stats = PlayerStats()
        self.ended = False
        self.started_at: float | None = None
        self.initial_parts = 0  # parts fetched from the first playlist (the hold-back)
        # (time.monotonic() asked, came; its edge) for the first playlists (with dates)
        self.edges: list[tuple[float, float, float]] = []
        self.hold_back = 0.0
        self.part_target = 1.0

    def _absolute(self, uri: str) -> str:
        return urljoin(self.url, uri)

    def _blocking_url(self, msn: int, part: int) -> str:
        sep = "&" if urlsplit(self.url).query else "?"
        return f"{self.url}{sep}_HLS_msn={msn}&_HLS_part={part}"

    async def _get(self, url: str) -> Reply:
        response = await self._http.get(url)
        if response.status != 200:
            self.stats.errors += 1
            statuses = self.stats.error_statuses
            statuses[response.status] = statuses.get(response.status, 0) + 1
            raise HlsError(response.status, url, response.body)
        return response

    async def _playlist(self, url: str) -> MediaPlaylist:
        self.stats.playlist_requests += 1
        sent = time.monotonic()
        playlist = parse_playlist((await self._get(url)).text)
        if playlist.edge is not None and len(self.edges) < 64:
            self.edges.append((sent, time.monotonic(), playlist.edge))
        self.playlists.append(playlist)
        if len(self.playlists) > 4:
            del self.playlists[0]
        return playlist

    async def play(self, seconds: float, *, keep_playlists: bool = False) -> None:
        """Listen for `seconds` (or until the stream ends); parts land in `parts`."""
        deadline = time.monotonic() + seconds
        playlist = await self._playlist(self.url)
        if playlist.map_uri is None:
            raise ValueError("the playlist has no EXT-X-MAP")
        self.init = (await self._get(self._absolute(playlist.map_uri))).body
        self.started_at = time.monotonic()
        self.hold_back = playlist.part_hold_back
        self.part_target = playlist.part_target or 1.0
        # Start PART-HOLD-BACK behind the live edge.
        held, start = 0.0, len(playlist.parts)
        while start > 0 and held + 1e-4 < playlist.part_hold_back:
            start -= 1
            held += playlist.parts[start].duration
        position = (
            (playlist.parts[start].msn, playlist.parts[start].index)
            if start < len(playlist.parts)
            else playlist.next_position()
        )
        hinted: dict[str, asyncio.Task[Reply]] = {}
        try:
            while time.monotonic() < deadline:
                first = (playlist.parts[0].msn, playlist.parts[0].index) if playlist.parts else None
                if first is not None and position < first:
                    self.stats.missed_parts += 1  # fell out of the window before it was fetched
                for part in playlist.parts:
                    if (part.msn, part.index) < position:
                        continue
                    early = hinted.pop(part.uri, None)
                    response = None
                    if early is not None:
                        with contextlib.suppress(Exception):
                            response = await early
                        if response is not None and response.status != 200:
                            response = None
                    if response is None:
                        self.stats.part_requests += 1
                        response = await self._get(self._absolute(part.uri))
                    self.parts.append(
                        Fetched(
                            part.msn,
                            part.index,
                            part.duration,
                            response.body if self._keep_media else b"",
                            time.monotonic(),
                            part.start,
                        )
                    )
                    position = (part.msn, part.index + 1)
                if playlist.ended:
                    self.ended = True
                    return
                if not self.initial_parts:
                    self.initial_parts = len(self.parts)
                msn, index = playlist.next_position()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                # Like Apple's player: ask for the hinted part while the reload blocks.
                hint = playlist.preload_hint
                if hint is not None and hint not in hinted:
                    self.stats.part_requests += 1
                    hinted[hint] = asyncio.ensure_future(self._hint_http.get(self._absolute(hint)))
                try:
                    playlist = await asyncio.wait_for(
                        self._playlist(self._blocking_url(msn, index)), remaining
                    )
                except TimeoutError:
                    return
        finally:
            for task in hinted.values():
                task.cancel()
            # Wait for them (a failed or cancelled hint is not an error) before closing.
            await asyncio.gather(*hinted.values(), return_exceptions=True)
            if self._hint_http is not self._http:
                assert isinstance(self._hint_http, Http1)
                await self._hint_http.close()

    def audio(self) -> Samples:
        """Everything fetched so far, decoded."""
        return decode(self.init, b"".join(p.data for p in self.parts))

    @property
    def playing_from(self) -> float | None:
        """When playback starts (time.monotonic()): once the parts behind the live edge are
        in and a blocking reload came back that had to wait for its part (so the player
        knows where the live edge is: a cache may answer the first requests with
        playlists that are some parts old), or after `TUNE_IN_RELOADS` reloads."""
        if not self.parts:
            return None
        ready = self.parts[max(0, self.initial_parts - 1)].arrived
        later = [(sent, came) for sent, came, _ in self.edges[1:] if came >= ready]
        for sent, came in later[:TUNE_IN_RELOADS]:
            if came - sent >= self.part_target / 2:
                return came
        return later[:TUNE_IN_RELOADS][-1][1] if later else ready

    def edge_lag(self) -> float | None:
        """How late (time.monotonic() minus PROGRAM-DATE-TIME) the freshest playlist the
        player had at the start came: its estimate of the live edge is now - edge_lag."""
        start = self.playing_from
        seen = [came - edge for _, came, edge in self.edges if start and came <= start]
        return min(seen) if seen else None

    def schedule(self) -> tuple[list[float], int]:
        """When each fetched part's first sample plays (time.monotonic(); parts before the
        start position get the time they would have played), and how many times playback
        ran dry (a part arriving after its turn: a stall, playback waits and stays later).

        Playback starts at `playing_from`, PART-HOLD-BACK behind the live edge as the
        player estimates it then; without PROGRAM-DATE-TIMEs, with the first part it got."""
        plays: list[float] = []
        stalls = 0
        lag, start = self.edge_lag(), self.playing_from
        if lag is not None and start is not None and all(p.start for p in self.parts):
            delay = lag + self.hold_back  # monotonic time = stream time + delay
            for part in self.parts:
                assert part.start is not None
                due = part.start + delay
                if due + part.duration > start and part.arrived > max(due, start) + 0.001:
                    stalls += 1
                    delay += part.arrived - max(due, start)
                    due = part.start + delay
                plays.append(due)
            return plays, stalls
        clock = 0.0
        for i, part in enumerate(self.parts):
            if i == 0:  # playback starts once the parts behind the live edge are in
                clock = self.parts[max(0, self.initial_parts - 1)].arrived
            elif part.arrived > clock + 0.001:
                stalls += 1
                clock = part.arrived
            plays.append(clock)
            clock += part.duration
        return plays, stalls
