"""What the API needs of a media plane: the in-process `MediaServer`, or the `WorkerPool`.

With workers, the bridge and the access tracker run inside each worker; the API-side
stand-ins here have nothing to do.
"""

from __future__ import annotations

from typing import Any, Protocol


class MediaPlane(Protocol):
    def room(self, space_id: str) -> Any: ...

    def webrtc_listeners(self, space_id: str, except_user: int | None = None) -> int: ...

    async def answer(
        self,
        space_id: str,
        user_id: int,
        sdp: object,
        type: object,
        *,
        on_stage: bool,
        muted: bool,
        credential: int | None = None,
    ) -> tuple[str, str]: ...

    async def disconnect(self, space_id: str, user_id: int) -> None: ...

    def set_on_stage(self, space_id: str, user_id: int, on_stage: bool) -> None: ...

    def set_muted(self, space_id: str, user_id: int, muted: bool) -> None: ...

    def set_recording(self, space_id: str, on: bool) -> None: ...

    def set_captions(self, space_id: str, on: bool, language: str = "en") -> None: ...

    async def close(self) -> None: ...


class NoBridge:
    """The API-side bridge when workers follow the bus themselves."""

    async def watch(self, space_id: str) -> None:
        return None

    async def unwatch(self, space_id: str) -> None:
        return None

    async def close(self) -> None:
        return None


class NoAccess:
    """The API-side access tracker when workers track access themselves."""

    async def track(self, user_id: int) -> None:
        return None

    async def close(self) -> None:
        return None
