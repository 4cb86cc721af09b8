"""Audio: the WebRTC offer's answer, the browser's ICE configuration, the HLS link."""

from __future__ import annotations

from pydantic import Field, StrictStr

from townhall.api.schemas import Body, Out
from townhall.media.offer import MAX_OFFER_BYTES


class IceServerOut(Out):
    """An RTCIceServer for the browser; username and credential only when configured."""

    urls: str | list[str]
    username: str | None = None
    credential: str | None = None


class MediaConfig(Out):
    ice_servers: list[IceServerOut] = Field(description="the ICE servers to use; empty: none")


class HlsLink(Out):
    url: str
    path: str
    expires_at: int | None = Field(description="private spaces: when the token ends (epoch s)")


class OfferIn(Body):
    sdp: StrictStr = Field(max_length=MAX_OFFER_BYTES, description="the client's SDP offer")
    type: StrictStr = Field(max_length=16, description='always "offer"')


class AnswerOut(Out):
    sdp: str
    type: str


class MediaSpaceOut(Out):
    edge: bool = Field(description="the space's mix comes from another worker (its origin)")
    members: int
    listeners: int
    listener_packets: int


class MediaWorkerOut(Out):
    """One media worker (or the in-process media plane) as `GET /api/v1/admin/media` shows it."""

    index: int
    node: str = ""
    """A media node's id (`townhall media`); empty for a worker."""
    alive: bool
    pid: int = 0
    restarts: int = 0
    spaces: dict[str, MediaSpaceOut] = {}
    listeners: int = 0
    packets_per_second: float = 0.0
    cpu: float = 0.0
    """Share of one core since the previous report."""
    cpu_seconds: float = 0.0
    listener_packets: int = 0
    relay_received: int = 0
    relay_lost: int = 0
    relay_dropped: int = 0


class MediaOverview(Out):
    mode: str
    """"workers" (TOWNHALL_MEDIA_WORKERS > 0), "nodes" (TOWNHALL_MEDIA_NODES) or "in-process"."""
    workers: list[MediaWorkerOut]
