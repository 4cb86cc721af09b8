"""Captions, transcripts and search: the host's switch, an ended space's transcript
(JSON or WebVTT), deleting it, and searching what was said."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import PlainTextResponse

from townhall.api.deps import CurrentUser, DbSession
from townhall.api.routers.spaces import Call
from townhall.api.schemas.captions import CaptionsIn, CaptionsOut, SearchOut, TranscriptOut
from townhall.api.services import captions as service

router = APIRouter(prefix="/api/v1", tags=["captions"])


def _captioner(request: Request) -> service.Captioner | None:
    return getattr(request.app.state, "captions", None)


@router.get("/spaces/{space_id}/captions")
async def get_captions(c: Call, request: Request) -> CaptionsOut:
    """Are the space's captions on, in which language, paused (the recogniser restarting),
    and which languages this instance recognises."""
    return await service.get_captions(
        c.session, c.settings, _captioner(request), c.user, c.space_id
    )


@router.post("/spaces/{space_id}/captions")
async def set_captions(c: Call, body: CaptionsIn, request: Request) -> CaptionsOut:
    """The host switches captions (and clips) on or off, or sets the space's language."""
    return await service.set_captions(
        c.session,
        c.bus,
        c.settings,
        _captioner(request),
        c.user,
        c.space_id,
        on=body.on,
        language=body.language,
        clips=body.clips,
    )


@router.get(
    "/spaces/{space_id}/transcript",
    response_model=TranscriptOut,
    responses={200: {"content": {"text/vtt": {"schema": {"type": "string"}}}}},
)
async def get_transcript(
    c: Call, format: Annotated[Literal["json", "vtt"], Query()] = "json"
) -> TranscriptOut | PlainTextResponse:
    """The ended space's transcript (times in ms from the space's start; `replay_ms`: in
    its recording), for whoever may see the space. `?format=vtt`: WebVTT."""
    space, lines = await service.transcript_lines(c.session, c.user, c.space_id)
    if format == "vtt":
        return PlainTextResponse(
            service.transcript_vtt(lines),
            media_type="text/vtt",
            headers={"Content-Disposition": f'inline; filename="{space.id}.vtt"'},
        )
    return service.transcript_json(space, lines)


@router.delete("/spaces/{space_id}/transcript", status_code=status.HTTP_204_NO_CONTENT)
async def delete_transcript(c: Call) -> None:
    """The host deletes the ended space's transcript."""
    await service.delete_transcript(c.session, c.user, c.space_id)


@router.get("/search")
async def search(
    user: CurrentUser,
    session: DbSession,
    q: Annotated[str, Query(max_length=1000, description="words said, or a title or topic")],
) -> SearchOut:
    """Ended spaces by what was said (ranked, with the matching line and its time) and
    live spaces by title or topic; only spaces you may see."""
    return await service.search(session, user, q)
