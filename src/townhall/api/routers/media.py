"""Audio: connect to a live space's media server, and the ICE servers to use for it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from townhall.api.deps import CurrentAuth, CurrentUser, DbSession, PublicBase, SettingsDep
from townhall.api.schemas.media import AnswerOut, HlsLink, MediaConfig, OfferIn
from townhall.api.services import hls as hls_service
from townhall.api.services import media as service
from townhall.media.access import MediaAccess
from townhall.media.bridge import MediaBridge
from townhall.media.workers.plane import MediaPlane, NoAccess, NoBridge

router = APIRouter(prefix="/api/v1", tags=["media"])

SpaceId = Annotated[str, Path(max_length=64, description="the space's 12-character id")]


def _media(request: Request) -> MediaPlane:
    media: MediaPlane = request.app.state.media
    return media


def _bridge(request: Request) -> MediaBridge | NoBridge:
    bridge: MediaBridge | NoBridge = request.app.state.media_bridge
    return bridge


def _access(request: Request) -> MediaAccess | NoAccess:
    access: MediaAccess | NoAccess = request.app.state.media_access
    return access


@router.post("/spaces/{space_id}/media")
async def connect_audio(
    space_id: SpaceId,
    body: OfferIn,
    auth: CurrentAuth,
    session: DbSession,
    media: Annotated[MediaPlane, Depends(_media)],
    bridge: Annotated[MediaBridge | NoBridge, Depends(_bridge)],
    settings: SettingsDep,
    base: PublicBase,
    request: Request,
    access: Annotated[MediaAccess | NoAccess, Depends(_access)],
) -> AnswerOut:
    """Exchange SDP for the one audio connection of a member of a live space.

    Speakers send and receive on it; listeners receive. A new offer replaces the
    member's previous connection. When the space's WebRTC listener seats on this node
    are full (`TOWNHALL_WEBRTC_LISTENER_LIMIT`), a listener gets `409 webrtc_full` with
    `hls_url`. The connection closes when the token it was made with is revoked (or
    signed out), the account is deleted, or the member loses access to the space.
    """
    tokens = request.app.state.hls.tokens

    async def hls_link() -> HlsLink:
        return await hls_service.hls_url(session, tokens, base, space_id, auth.user.id)

    answer = await service.connect(
        session,
        media,
        bridge,
        space_id,
        auth.user.id,
        body.sdp,
        body.type,
        listener_limit=settings.webrtc_listener_limit,
        hls_link=hls_link,
        access=access,
        credential=auth.token.id,
    )
    return AnswerOut(**answer)


@router.get("/media/config")
async def media_config(user: CurrentUser, settings: SettingsDep) -> MediaConfig:
    """ICE servers (STUN/TURN) for the browser's RTCPeerConnection."""
    return service.client_config(settings)
