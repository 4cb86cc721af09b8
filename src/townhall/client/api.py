"""Python SDK: the townhall HTTP API, live events and media for scripts, bots and tests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import websockets
from aiortc.mediastreams import MediaStreamTrack

from townhall.client.errors import ApiError, raise_for_error
from townhall.client.media import (
    MediaClient,
    MediaSession,
    connect,
    http_answer,
    ice_servers_of,
)
from townhall.domain.backoff import Backoff


class Townhall:
    """A signed-in client of one townhall server.

    >>> async with Townhall("http://127.0.0.1:8080", token) as th:
    ...     space = await th.create_space("Hello")
    """

    def __init__(self, server: str, token: str | None = None, *, timeout: float = 15.0) -> None:
        self.server = server.rstrip("/")
        self.token = token
        self.http = httpx.AsyncClient(base_url=self.server, timeout=timeout)

    async def __aenter__(self) -> Townhall:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.http.aclose()

    # -- plumbing --------------------------------------------------------

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        """One API call; JSON in, JSON out, errors as ApiError."""
        try:
            r = await self.http.request(
                method,
                path if path.startswith("/") else f"/api/v1/{path}",
                json=body,
                params={k: v for k, v in params.items() if v is not None} or None,
                headers=self.headers,
            )
        except httpx.HTTPError as exc:
            raise ApiError(0, "unreachable", f"cannot reach {self.server}: {exc}") from exc
        raise_for_error(r)
        return r.json() if r.content else None

    # -- accounts --------------------------------------------------------

    async def signup(self, handle: str, password: str, display_name: str | None = None) -> Any:
        out = await self.call(
            "POST",
            "auth/signup",
            {"handle": handle, "display_name": display_name or handle, "password": password},
        )
        self.token = out["token"]
        return out["user"]

    async def login(self, handle: str, password: str) -> Any:
        out = await self.call("POST", "auth/login", {"handle": handle, "password": password})
        self.token = out["token"]
        return out["user"]

    async def me(self) -> Any:
        return await self.call("GET", "me")

    async def follow(self, handle: str) -> Any:
        return await self.call("POST", f"users/{handle}/follow")

    # -- spaces ----------------------------------------------------------

    async def create_space(self, title: str, visibility: str = "public", **fields: Any) -> Any:
        return await self.call(
            "POST", "spaces", {"title": title, "visibility": visibility} | fields
        )

    async def space(self, space_id: str) -> Any:
        return await self.call("GET", f"spaces/{space_id}")

    async def spaces(self, state: str = "live", q: str | None = None) -> Any:
        return await self.call("GET", "spaces", state=state, q=q)

    async def join(self, space_id: str) -> Any:
        return await self.call("POST", f"spaces/{space_id}/join")

    async def leave(self, space_id: str) -> Any:
        return await self.call("POST", f"spaces/{space_id}/leave")

    async def end(self, space_id: str) -> Any:
        return await self.call("POST", f"spaces/{space_id}/end")

    async def act(self, space_id: str, action: str, body: Any = None) -> Any:
        """Any other space action: `await th.act(sid, "hand")`, see docs/SPACES.md."""
        return await self.call("POST", f"spaces/{space_id}/{action}", body)

    # -- recordings ------------------------------------------------------

    async def set_recording(self, space_id: str, on: bool) -> Any:
        """The host starts or pauses recording the space."""
        return await self.call("POST", f"spaces/{space_id}/recording", {"on": on})

    async def download_recording(self, space_id: str) -> bytes:
        """An ended space's recording (Ogg Opus)."""
        r = await self.http.get(f"/api/v1/spaces/{space_id}/recording", headers=self.headers)
        raise_for_error(r)
        return r.content

    # -- captions, transcripts, search ------------------------------------

    async def set_captions(self, space_id: str, **settings: Any) -> Any:
        """The host switches captions (`on`), `clips`, or sets the `language`."""
        return await self.call("POST", f"spaces/{space_id}/captions", settings)

    async def transcript(self, space_id: str) -> Any:
        """An ended space's transcript: `{space_id, title, lines: [...]}`."""
        return await self.call("GET", f"spaces/{space_id}/transcript")

    async def transcript_vtt(self, space_id: str) -> str:
        """An ended space's transcript as WebVTT."""
        r = await self.http.get(
            f"/api/v1/spaces/{space_id}/transcript",
            params={"format": "vtt"},
            headers=self.headers,
        )
        raise_for_error(r)
        return r.text

    async def search(self, q: str) -> Any:
        """Ended spaces by what was said, live ones by title or topic."""
        return await self.call("GET", "search", q=q)

    # -- media and events ------------------------------------------------

    async def connect_media(
        self, space_id: str, track: MediaStreamTrack | None = None
    ) -> MediaClient:
        """One WebRTC connection to the space's mixer: send `track`, record what it sends."""
        config = await self.call("GET", "media/config")
        answer = http_answer(self.http, space_id, self.headers)
        return await connect(answer, track=track, ice_servers=ice_servers_of(config))

    async def media_session(
        self, space_id: str, track: MediaStreamTrack | None = None
    ) -> MediaSession:
        """`connect_media` that offers again whenever the server moves this member (call
        `follow_moves` to act on the space's `media.moved` events)."""
        config = await self.call("GET", "media/config")
        answer = http_answer(self.http, space_id, self.headers)
        session = MediaSession(answer, track=track, ice_servers=ice_servers_of(config))
        await session.start()
        return session

    async def follow_moves(self, space_id: str, session: MediaSession, user_id: int) -> None:
        """Until cancelled: make `session` offer again on each `media.moved` naming me."""
        backoff = Backoff(initial=0.5, maximum=8.0)
        while True:
            try:
                async for event in self.events(space_id):
                    backoff.reset()
                    await session.on_event(event, user_id)
            except (OSError, websockets.WebSocketException):
                await asyncio.sleep(backoff.next_delay())  # dropped: follow again

    async def hls_url(self, space_id: str) -> str:
        """The space's LL-HLS playlist URL for this user (signed for a private space)."""
        return str((await self.call("GET", f"spaces/{space_id}/hls"))["url"])

    async def events(
        self, space_id: str, last_seq: int | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """The space's snapshot, then its live events, as dicts (see docs/EVENTS.md)."""
        parts = urlsplit(self.server)
        scheme = "wss" if parts.scheme == "https" else "ws"
        url = f"{scheme}://{parts.netloc}/api/v1/ws?batch=1"  # a busy space: arrays
        async with websockets.connect(url, additional_headers=self.headers) as ws:
            msg: dict[str, Any] = {"op": "subscribe", "space_id": space_id}
            if last_seq is not None:
                msg["last_seq"] = last_seq
            await ws.send(json.dumps(msg))
            async for raw in ws:
                message = json.loads(raw)
                for one in message if isinstance(message, list) else [message]:
                    yield one
