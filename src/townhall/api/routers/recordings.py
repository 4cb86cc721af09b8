"""Recording and replay of a space: the host's switch, the audio file, deleting it."""

from __future__ import annotations

from fastapi import APIRouter, status
from fastapi.responses import FileResponse

from townhall.api.routers.spaces import Call
from townhall.api.schemas.spaces import RecordingIn, RecordingSwitch
from townhall.api.services import recordings as service

router = APIRouter(prefix="/api/v1/spaces", tags=["recordings"])


@router.post("/{space_id}/recording")
async def set_recording(c: Call, body: RecordingIn) -> RecordingSwitch:
    """The host starts or pauses recording (scheduled or live spaces; pauses are skipped)."""
    return await service.set_recording(c.session, c.bus, c.user, c.space_id, body.on)


@router.get(
    "/{space_id}/recording",
    response_class=FileResponse,
    responses={200: {"content": {"audio/ogg": {}}}, 206: {"description": "a byte range"}},
)
async def get_recording(c: Call) -> FileResponse:
    """The ended space's recording as Ogg Opus, for whoever may see the space (HTTP
    Range requests are answered with 206)."""
    path = await service.replay_file(c.session, c.settings.data_dir, c.user, c.space_id)
    return FileResponse(path, media_type="audio/ogg", filename=f"{c.space_id}.ogg")


@router.delete("/{space_id}/recording", status_code=status.HTTP_204_NO_CONTENT)
async def delete_recording(c: Call) -> None:
    """The host deletes the ended space's recording."""
    await service.delete(c.session, c.settings.data_dir, c.user, c.space_id)
