"""Serving a space's LL-HLS: who may fetch it, blocking reloads, and the caching headers.

The window comes from the node's `HlsHub` (packaged here, or mirrored through Redis).
Public spaces' URLs carry no token (one cached copy for everyone); private spaces' carry
a signed token (`api/hls_tokens.py`) that members get from `hls_url`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from townhall.api.hls_tokens import HlsTokens
from townhall.api.schemas.media import HlsLink
from townhall.api.services import spaces
from townhall.domain import hls as rules
from townhall.domain.errors import Forbidden, NotFound, Unavailable
from townhall.domain.spaces import SpaceState, Visibility
from townhall.media.hls import playlist
from townhall.media.hls.hub import HlsHub
from townhall.media.hls.window import HlsWindow
from townhall.store import spaces as store

BLOCK_SECONDS = 3.0 * playlist.TARGET_DURATION  # the longest a request is held
ACCESS_CACHE_SECONDS = 2.0
PLAYLIST_CACHE = "public, max-age=1"
BLOCKING_PLAYLIST_CACHE = "public, max-age=6"
MEDIA_CACHE = "public, max-age=31536000, immutable"
MEDIA_TYPE = "audio/mp4"


@dataclass(frozen=True)
class HlsBody:
    body: bytes
    content_type: str
    cache_control: str


@dataclass(frozen=True)
class _SpaceAccess:
    exists: bool
    private: bool
    live: bool


class HlsService:
    """One per app: the hub, the token signer, and a short cache of spaces' visibility."""

    def __init__(self, hub: HlsHub, tokens: HlsTokens, db: Any) -> None:
        self.hub = hub
        self.tokens = tokens
        self._db = db
        self._access: dict[str, tuple[float, _SpaceAccess]] = {}

    async def _space(self, space_id: str) -> _SpaceAccess:
        now = time.monotonic()
        cached = self._access.get(space_id)
        if cached is not None and now - cached[0] < ACCESS_CACHE_SECONDS:
            return cached[1]
        async with self._db.session() as session:
            space = await store.get_space(session, space_id)
            found = _SpaceAccess(
                exists=space is not None,
                private=space is not None and space.visibility == Visibility.PRIVATE.value,
                live=space is not None and space.state == SpaceState.LIVE.value,
            )
        if len(self._access) > 10_000:
            self._access.clear()
        self._access[space_id] = (now, found)
        return found

    async def _window(self, space_id: str, token: str | None) -> tuple[HlsWindow, str]:
        """The stream and the query its media URIs carry; 404/403 otherwise."""
        space = await self._space(space_id)
        if not space.exists:
            raise NotFound("space_not_found", "no such space")
        query = ""
        if space.private:
            self.tokens.check(space_id, token)
            query = f"token={token}"
        window = await self.hub.window(space_id)
        if window is None:
            if space.live:
                raise NotFound("hls_not_started", "the space's audio has not started yet")
            raise NotFound("space_not_live", "the space is not live")
        return window, query

    async def playlist(
        self, space_id: str, token: str | None, msn: str | None, part: str | None
    ) -> HlsBody:
        blocking = rules.parse_blocking(msn, part, playlist.PARTS_PER_SEGMENT)
        window, query = await self._window(space_id, token)
        if blocking is not None:
            view = window.view()
            last = view.segments[-1].msn if view.segments else 0
            rules.check_reachable(blocking, last)
            arrived = await window.wait(blocking.msn, blocking.part, BLOCK_SECONDS)
            if not arrived and not window.ended:
                raise Unavailable("hls_not_ready", "that part did not come in time; retry")
        text = playlist.render(window.view(), query)
        cache = BLOCKING_PLAYLIST_CACHE if blocking is not None else PLAYLIST_CACHE
        return HlsBody(text.encode(), playlist.CONTENT_TYPE, cache)

    async def init(self, space_id: str, stream: str, token: str | None) -> HlsBody:
        window, _ = await self._window(space_id, token)
        if window.stream != stream:
            raise NotFound("hls_stream_gone", "that stream is over; reload the playlist")
        return HlsBody(window.init, MEDIA_TYPE, MEDIA_CACHE)

    async def media(self, space_id: str, stream: str, name: str, token: str | None) -> HlsBody:
        msn, part = rules.parse_media_name(name, playlist.PARTS_PER_SEGMENT)
        window, _ = await self._window(space_id, token)
        if window.stream != stream:
            raise NotFound("hls_stream_gone", "that stream is over; reload the playlist")
        data = self._get(window, msn, part)
        if data is None:
            view = window.view()
            rules.check_media_wait(msn, part, view.first_msn, view.next_part())
            await window.wait(msn, part, BLOCK_SECONDS)
            data = self._get(window, msn, part)
        if data is None:
            if window.ended:
                raise NotFound("hls_not_produced", "the stream ended before that part")
            if msn < window.first_msn:
                raise NotFound("hls_expired", "that part is older than the live window")
            raise Unavailable("hls_not_ready", "that part did not come in time; retry")
        return HlsBody(data, MEDIA_TYPE, MEDIA_CACHE)

    @staticmethod
    def _get(window: HlsWindow, msn: int, part: int | None) -> bytes | None:
        return window.segment(msn) if part is None else window.part(msn, part)


async def hls_url(
    session: AsyncSession, tokens: HlsTokens, base: str, space_id: str, user_id: int
) -> HlsLink:
    """The space's playlist URL for this user: a member of a private space gets a signed
    one; anyone who may see a public space gets the plain one."""
    space = await store.get_space(session, space_id)
    if space is None or not await spaces.can_view(session, space_id, user_id):
        raise NotFound("space_not_found", "no such space")
    if space.state != SpaceState.LIVE.value:
        raise NotFound("space_not_live", "the space is not live")
    private = space.visibility == Visibility.PRIVATE.value
    if private:
        await require_member(session, space_id, user_id)
    return playlist_url(tokens, base, space_id, private)


async def require_member(session: AsyncSession, space_id: str, user_id: int) -> None:
    if await spaces.membership(session, space_id, user_id) is None:
        raise Forbidden("not_in_space", "join the live space before listening")


def playlist_url(tokens: HlsTokens, base: str, space_id: str, private: bool) -> HlsLink:
    path = f"/hls/{space_id}/live.m3u8"
    expires = None
    if private:
        token, expires = tokens.issue(space_id)
        path += f"?token={token}"
    return HlsLink(url=base + path, path=path, expires_at=expires)
