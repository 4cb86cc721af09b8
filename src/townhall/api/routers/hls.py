"""LL-HLS of live spaces: `/hls/{space_id}/live.m3u8` and its init segment, segments, parts.

Open to any GET from anywhere (CORS `*`, for embeds): public spaces need nothing, private
ones the signed `token` their URL carries. Responses carry the caching headers a shared
cache (nginx, a CDN) acts on; see `api/services/hls.py`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from townhall.api.deps import CurrentUser, DbSession, PublicBase
from townhall.api.schemas.media import HlsLink
from townhall.api.services import hls as service
from townhall.api.services.hls import HlsBody, HlsService

router = APIRouter(tags=["hls"])

SpaceId = Annotated[str, Path(max_length=64, description="the space's 12-character id")]
Stream = Annotated[str, Path(max_length=16, pattern=r"^[0-9a-f]{1,16}$")]
Token = Annotated[str | None, Query(max_length=128, description="private spaces' signed token")]
CORS = {"Access-Control-Allow-Origin": "*"}


def _service(request: Request) -> HlsService:
    hls: HlsService = request.app.state.hls
    return hls


def _response(found: HlsBody) -> Response:
    return Response(
        found.body,
        media_type=found.content_type,
        headers={"Cache-Control": found.cache_control, **CORS},
    )


@router.get("/hls/{space_id}/live.m3u8", response_class=Response)
async def live_playlist(
    request: Request,
    space_id: SpaceId,
    token: Token = None,
    hls_msn: Annotated[str | None, Query(alias="_HLS_msn", max_length=16)] = None,
    hls_part: Annotated[str | None, Query(alias="_HLS_part", max_length=16)] = None,
) -> Response:
    """The LL-HLS media playlist; `_HLS_msn` (and `_HLS_part`) hold it until that
    segment (part) exists, at most a few seconds."""
    found = await _service(request).playlist(space_id, token, hls_msn, hls_part)
    return _response(found)


@router.get("/hls/{space_id}/{stream}/init.mp4", response_class=Response)
async def init_segment(
    request: Request, space_id: SpaceId, stream: Stream, token: Token = None
) -> Response:
    """The stream's init segment (fragmented MP4, AAC-LC mono)."""
    return _response(await _service(request).init(space_id, stream, token))


@router.get("/hls/{space_id}/{stream}/{name}", response_class=Response)
async def media(
    request: Request,
    space_id: SpaceId,
    stream: Stream,
    name: Annotated[str, Path(max_length=32)],
    token: Token = None,
) -> Response:
    """A segment (`12.m4s`) or a part (`12.3.m4s`); the next part is waited for."""
    return _response(await _service(request).media(space_id, stream, name, token))


@router.get("/api/v1/spaces/{space_id}/hls")
async def hls_url(
    space_id: SpaceId, user: CurrentUser, session: DbSession, base: PublicBase, request: Request
) -> HlsLink:
    """The space's HLS playlist URL for you (signed for members of a private space;
    a token lasts 10 to 15 minutes: ask again for a fresh one)."""
    return await service.hls_url(session, _service(request).tokens, base, space_id, user.id)
