"""Clips: cut up to a minute from an ended space's recording, its page, its audio."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status
from fastapi.responses import FileResponse

from townhall.api.deps import CurrentUser, DbSession, SettingsDep
from townhall.api.routers.spaces import Call
from townhall.api.schemas.clips import ClipIn, ClipOut
from townhall.api.services import clips as service

router = APIRouter(prefix="/api/v1", tags=["clips"])
ClipId = Annotated[str, Path(max_length=64)]


@router.post("/spaces/{space_id}/clips", status_code=status.HTTP_201_CREATED)
async def create_clip(c: Call, body: ClipIn) -> ClipOut:
    """Cut a clip (1 to 60 s) from the ended space's recording, without re-encoding."""
    return await service.create(
        c.session, c.settings.data_dir, c.user, c.space_id, body.start_ms, body.end_ms
    )


@router.get("/clips/{clip_id}")
async def get_clip(clip_id: ClipId, user: CurrentUser, session: DbSession) -> ClipOut:
    """A clip: its space, span, maker, audio URL and the words said in it."""
    return await service.get(session, user, clip_id)


@router.get(
    "/clips/{clip_id}/audio",
    response_class=FileResponse,
    responses={200: {"content": {"audio/ogg": {}}}},
)
async def clip_audio(
    clip_id: ClipId, user: CurrentUser, session: DbSession, settings: SettingsDep
) -> FileResponse:
    """The clip's audio (Ogg Opus), for whoever may see its space."""
    path = await service.audio(session, settings.data_dir, user, clip_id)
    return FileResponse(path, media_type="audio/ogg", filename=f"{clip_id}.ogg")
