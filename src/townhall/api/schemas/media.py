"""Audio: the WebRTC offer's answer, the browser's ICE configuration, the HLS link."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from townhall.api.schemas import Out


class MediaConfig(Out):
    ice_servers: list[dict[str, Any]] = Field(
        description="RTCIceServer entries ({urls, username?, credential?}); empty: none"
    )


class HlsLink(Out):
    url: str
    path: str
    expires_at: int | None = Field(description="private spaces: when the token ends (epoch s)")
