"""Every space's HLS window on this node: the ones packaged here, and mirrors of others'.

The packager publishes into the hub; with a relay (Redis) the hub also hands every
init segment, part and end to the relay, and a space packaged on another node is
served from the relay's mirror of it. An ended stream stays readable for
`ended_keep` seconds (players see `EXT-X-ENDLIST`), then it is gone (404).
"""

from __future__ import annotations

import logging
import time
from typing import Protocol

from townhall.media.hls.window import HlsWindow, PartRecord

log = logging.getLogger(__name__)

ENDED_KEEP_SECONDS = 30.0


class HlsRelay(Protocol):
    def start_stream(self, space_id: str, stream: str, init: bytes) -> None: ...

    def publish_part(self, space_id: str, record: PartRecord) -> None: ...

    def end_stream(self, space_id: str, stream: str) -> None: ...

    async def mirror(self, space_id: str) -> HlsWindow | None: ...

    async def close(self) -> None: ...


class HlsHub:
    def __init__(
        self, relay: HlsRelay | None = None, ended_keep: float = ENDED_KEEP_SECONDS
    ) -> None:
        self._relay = relay
        self._ended_keep = ended_keep
        self._windows: dict[str, HlsWindow] = {}

    # -- the packager's side (HlsPublisher) -----------------------------------

    def start_stream(self, space_id: str, stream: str, init: bytes) -> None:
        old = self._windows.get(space_id)
        if old is not None:
            old.end()  # its waiters return now
        self._windows[space_id] = HlsWindow(space_id, stream, init)
        if self._relay is not None:
            self._relay.start_stream(space_id, stream, init)

    def publish_part(self, space_id: str, record: PartRecord) -> None:
        window = self._windows.get(space_id)
        if window is not None:
            window.add(record)
        if self._relay is not None:
            self._relay.publish_part(space_id, record)

    def end_stream(self, space_id: str, stream: str) -> None:
        window = self._windows.get(space_id)
        if window is not None and window.stream == stream:
            window.end()
        if self._relay is not None:
            self._relay.end_stream(space_id, stream)

    # -- the serving side -------------------------------------------------------

    def local(self, space_id: str) -> HlsWindow | None:
        """The window packaged on this node (dropped once ended long enough)."""
        window = self._windows.get(space_id)
        if window is not None and self._expired(window):
            del self._windows[space_id]
            return None
        return window

    async def window(self, space_id: str) -> HlsWindow | None:
        """The space's current stream, wherever it is packaged; None when there is none."""
        self._sweep()
        window = self.local(space_id)
        if window is not None:
            return window
        if self._relay is not None:
            window = await self._relay.mirror(space_id)
            if window is not None and not self._expired(window):
                return window
        return None

    def _expired(self, window: HlsWindow) -> bool:
        return window.ended_at is not None and time.monotonic() - window.ended_at > (
            self._ended_keep
        )

    def _sweep(self) -> None:
        for space_id, window in list(self._windows.items()):
            if self._expired(window):
                del self._windows[space_id]

    async def close(self) -> None:
        for window in self._windows.values():
            window.end()
        self._windows.clear()
        if self._relay is not None:
            await self._relay.close()
