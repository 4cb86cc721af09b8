"""Audio: the WebRTC offer's answer, the browser's ICE configuration, the HLS link."""

from __future__ import annotations

from typing import Any

from pydantic import Field, StrictStr

from townhall.api.schemas import Body, Out
from townhall.media.offer import MAX_OFFER_BYTES


class MediaConfig(Out):
    ice_servers: list[dict[str, Any]] = Field(
        description="RTCIceServer entries ({urls, username?, credential?}); empty: none"
    )


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
