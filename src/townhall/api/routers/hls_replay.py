"""Replays of ended spaces as VOD HLS: `/hls/{space_id}/replay.m3u8`, its init segment
and segments (cut on demand from the recording; see `api/services/hls_replay.py`).

Open to any GET (CORS `*`); spaces that are not public need the signed `token` that
`GET /api/v1/spaces/{space_id}/replay/hls` hands to whoever may see the space.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from townhall.api.deps import CurrentUser, DbSession, PublicBase, SettingsDep
from townhall.api.routers.hls import CORS, SpaceId, Token
from townhall.api.schemas.media import HlsLink
from townhall.api.services import hls_replay as service
from townhall.api.services.hls import HlsBody
from townhall.api.services.hls_replay import ReplayService

router = APIRouter(tags=["hls"])

Version = Annotated[str, Path(max_length=16, pattern=r"^[0-9a-f]{1,16}$")]


def _service(request: Request) -> ReplayService:
    replays: ReplayService = request.app.state.hls_replay
    return replays


def _response(found: HlsBody) -> Response:
    return Response(
        found.body,
        media_type=found.content_type,
        headers={"Cache-Control": found.cache_control, **CORS},
    )


@router.get("/hls/{space_id}/replay.m3u8", response_class=Response)
async def replay_playlist(request: Request, space_id: SpaceId, token: Token = None) -> Response:
    """The ended space's replay as a VOD playlist (6 s AAC segments in fMP4)."""
    return _response(await _service(request).playlist(space_id, token))


@router.get("/hls/{space_id}/replay/{version}/init.mp4", response_class=Response)
async def replay_init(
    request: Request, space_id: SpaceId, version: Version, token: Token = None
) -> Response:
    """The replay's init segment (fragmented MP4, AAC-LC mono)."""
    return _response(await _service(request).init(space_id, version, token))


@router.get("/hls/{space_id}/replay/{version}/{name}", response_class=Response)
async def replay_segment(
    request: Request,
    space_id: SpaceId,
    version: Version,
    name: Annotated[str, Path(max_length=32)],
    token: Token = None,
) -> Response:
    """Segment `n.m4s` of the replay, cut from the recording the first time it is asked."""
    return _response(await _service(request).segment(space_id, version, name, token))


@router.get("/api/v1/spaces/{space_id}/replay/hls")
async def replay_url(
    space_id: SpaceId,
    user: CurrentUser,
    session: DbSession,
    base: PublicBase,
    settings: SettingsDep,
    request: Request,
) -> HlsLink:
    """The ended space's replay playlist URL for you (signed unless the space is public;
    the token lasts twice the replay's length and 10 minutes more)."""
    return await service.replay_url(
        session, request.app.state.hls.tokens, settings.data_dir, base, user, space_id
    )
