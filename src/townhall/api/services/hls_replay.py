"""Serving an ended space's replay as VOD HLS, cut on demand from its recording.

The same access rules as the recording (`api/services/recordings.py`): the space has
ended and its recording is finished; a public space's URLs carry no token (one cached
copy for everyone), any other space's carry a signed replay token (`api/hls_tokens.py`,
scope "replay") handed to whoever may see the space by `replay_url`. Segments are cut
in a worker thread (`media/hls/vod.py`), at most `CUTS_AT_ONCE` at a time, one cut per
segment however many ask at once, and kept in a byte-bounded LRU; their URLs name the
recording's version, so they are immutable and a shared cache keeps them.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from townhall.api.hls_tokens import BUCKET_SECONDS, LIFETIME_BUCKETS, HlsTokens
from townhall.api.schemas.media import HlsLink
from townhall.api.services.hls import MEDIA_CACHE, MEDIA_TYPE, HlsBody
from townhall.api.services.recordings import finish, replay_file
from townhall.domain import recording as recording_rules
from townhall.domain.errors import Conflict, NotFound
from townhall.domain.spaces import SpaceState, Visibility
from townhall.media.hls import vod
from townhall.media.recorder import partial_path, recording_path
from townhall.store import recordings as recordings_store
from townhall.store import spaces as spaces_store
from townhall.store.models import User

SCOPE = "replay"
PLAYLIST_CACHE = "public, max-age=60"
ACCESS_CACHE_SECONDS = 2.0
CACHE_BYTES = 32 * 2**20
CUTS_AT_ONCE = 2
_SEGMENT = re.compile(r"^(0|[1-9][0-9]{0,6})\.m4s$")


@dataclass(frozen=True)
class _Replay:
    public: bool
    path: Path
    version: str
    layout: vod.VodLayout


@dataclass(frozen=True)
class _Entry:
    """What a request for the space's replay meets: its visibility, then the replay or
    why there is none."""

    public: bool
    replay: _Replay | None
    refusal: NotFound | Conflict | None


def _version(path: Path) -> str:
    stat = path.stat()
    return hashlib.sha256(f"{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:12]


class ReplayService:
    """One per app: access checks (cached briefly), the layouts and the segment cache."""

    def __init__(
        self, data_dir: Path, tokens: HlsTokens, db: Any, cache_bytes: int = CACHE_BYTES
    ) -> None:
        self._data_dir = data_dir
        self._tokens = tokens
        self._db = db
        self._cache_bytes = cache_bytes
        self._access: dict[str, tuple[float, _Entry]] = {}
        self._layouts: dict[tuple[str, str], vod.VodLayout] = {}
        self._segments: OrderedDict[tuple[str, str, int], bytes] = OrderedDict()
        self._held = 0
        self._cutting: dict[tuple[str, str, int], asyncio.Future[bytes]] = {}
        self._cuts = asyncio.Semaphore(CUTS_AT_ONCE)

    async def _replay(self, space_id: str, token: str | None) -> _Replay:
        now = time.monotonic()
        cached = self._access.get(space_id)
        if cached is not None and now - cached[0] < ACCESS_CACHE_SECONDS:
            entry = cached[1]
        else:
            entry = await self._load(space_id)
            if len(self._access) > 10_000:
                self._access.clear()
            self._access[space_id] = (now, entry)
        if not entry.public:  # the token first: nothing said about the space without it
            self._tokens.check(space_id, token, scope=SCOPE)
        if entry.replay is None:
            assert entry.refusal is not None
            raise entry.refusal
        return entry.replay

    async def _load(self, space_id: str) -> _Entry:
        async with self._db.session() as session:
            space = await spaces_store.get_space(session, space_id)
            if space is None:
                raise NotFound("space_not_found", "no such space")
            await finish(session, self._data_dir, space_id)
            row = await recordings_store.get(session, space_id)
            state = SpaceState(space.state)
            public = space.visibility == Visibility.PUBLIC.value
        path = recording_path(self._data_dir, space_id)
        available = (
            row is not None
            and row.duration_seconds is not None
            and path.exists()
            and not partial_path(path).exists()
        )
        try:
            recording_rules.check_replay(state, available)
            version = await asyncio.to_thread(_version, path)
        except (NotFound, Conflict) as refusal:
            return _Entry(public, None, refusal)
        except FileNotFoundError:
            return _Entry(public, None, NotFound("recording_not_found", "no recording"))
        layout = self._layouts.get((space_id, version))
        if layout is None:
            samples = await asyncio.to_thread(vod.recording_samples, path)
            layout = vod.VodLayout(samples)
            if len(self._layouts) > 1000:
                self._layouts.clear()
            self._layouts[(space_id, version)] = layout
        return _Entry(public, _Replay(public, path, version, layout), None)

    async def playlist(self, space_id: str, token: str | None) -> HlsBody:
        replay = await self._replay(space_id, token)
        query = "" if replay.public else f"token={token}"
        text = vod.render(replay.layout, replay.version, query)
        return HlsBody(text.encode(), vod.PLAYLIST_TYPE, PLAYLIST_CACHE)

    async def init(self, space_id: str, version: str, token: str | None) -> HlsBody:
        replay = await self._replay(space_id, token)
        _check_version(replay, version)
        return HlsBody(vod.init_segment(), MEDIA_TYPE, MEDIA_CACHE)

    async def segment(self, space_id: str, version: str, name: str, token: str | None) -> HlsBody:
        found = _SEGMENT.match(name)
        if found is None:
            raise NotFound("no_such_media", "replay segments are named like 12.m4s")
        replay = await self._replay(space_id, token)
        _check_version(replay, version)
        n = int(found.group(1))
        if n >= replay.layout.count:
            raise NotFound(
                "no_such_segment", f"the replay has {replay.layout.count} segments (0 to last)"
            )
        return HlsBody(await self._cut(space_id, replay, n), MEDIA_TYPE, MEDIA_CACHE)

    async def _cut(self, space_id: str, replay: _Replay, n: int) -> bytes:
        key = (space_id, replay.version, n)
        data = self._segments.get(key)
        if data is not None:
            self._segments.move_to_end(key)
            return data
        pending = self._cutting.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._cut_now(key, replay, n))
            self._cutting[key] = pending
            pending.add_done_callback(lambda _: self._cutting.pop(key, None))
        return await asyncio.shield(pending)

    async def _cut_now(self, key: tuple[str, str, int], replay: _Replay, n: int) -> bytes:
        async with self._cuts:
            data = await asyncio.to_thread(vod.cut_segment, replay.path, n, replay.layout)
        self._segments[key] = data
        self._held += len(data)
        while self._held > self._cache_bytes and len(self._segments) > 1:
            _, old = self._segments.popitem(last=False)
            self._held -= len(old)
        return data


def _check_version(replay: _Replay, version: str) -> None:
    if version != replay.version:
        raise NotFound("replay_version_gone", "that replay is gone; reload the playlist")


async def replay_url(
    session: AsyncSession,
    tokens: HlsTokens,
    data_dir: Path,
    base: str,
    viewer: User,
    space_id: str,
) -> HlsLink:
    """The replay's VOD playlist URL for this viewer (the recording's rules: whoever may
    see the ended space); signed unless the space is public, for long enough to play it
    twice over."""
    await replay_file(session, data_dir, viewer, space_id)
    space = await spaces_store.get_space(session, space_id)
    row = await recordings_store.get(session, space_id)
    assert space is not None and row is not None
    path = f"/hls/{space_id}/replay.m3u8"
    expires = None
    if space.visibility != Visibility.PUBLIC.value:
        seconds = 2 * (row.duration_seconds or 0)
        buckets = LIFETIME_BUCKETS + math.ceil(seconds / BUCKET_SECONDS)
        token, expires = tokens.issue(space_id, scope=SCOPE, lifetime_buckets=buckets)
        path += f"?token={token}"
    return HlsLink(url=base + path, path=path, expires_at=expires)
