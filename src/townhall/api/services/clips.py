"""Clips: anyone who may see an ended, recorded space cuts up to a minute of it (unless
the host turned clips off); the clip is the recording's own Opus packets in that span,
remuxed into `<data_dir>/clips/<clip_id>.ogg` without re-encoding, with its own page
(`#/clip/<id>`) showing the words said in it. Clips go with their space's recording,
the space, and the account of the space's host or of the clip's maker."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterable
from pathlib import Path

import av
from sqlalchemy.ext.asyncio import AsyncSession

from townhall.api.schemas.clips import ClipLine, ClipOut
from townhall.api.services import recordings
from townhall.api.services.spaces.loading import viewable
from townhall.api.services.spaces.views import space_view, user_brief
from townhall.domain import clips as rules
from townhall.domain.errors import Forbidden, NotFound
from townhall.domain.spaces import SpaceState
from townhall.media.recorder import recording_path
from townhall.store import accounts as accounts_store
from townhall.store import captions as captions_store
from townhall.store import clips as store
from townhall.store import recordings as recordings_store
from townhall.store import spaces as spaces_store
from townhall.store.models import Clip, Space, User


def clip_path(data_dir: Path, clip_id: str) -> Path:
    return data_dir / "clips" / f"{clip_id}.ogg"


def cut(source: Path, target: Path, start_ms: int, end_ms: int) -> int:
    """Copy the Opus packets of [start_ms, end_ms) of `source` into `target` (no
    re-encoding; timestamps start at 0). Returns the packets copied."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    copied = 0
    with av.open(str(source)) as src:
        stream = src.streams.audio[0]
        base = stream.time_base
        assert base is not None
        with av.open(str(partial), "w", format="ogg") as out:
            ostream = out.add_stream_from_template(stream)
            first: int | None = None
            for packet in src.demux(stream):
                if packet.pts is None or not packet.size:
                    continue
                at = float(packet.pts * base) * 1000
                if at < start_ms:
                    continue
                if at >= end_ms:
                    break
                if first is None:
                    first = packet.pts
                packet.pts = packet.dts = packet.pts - first
                packet.stream = ostream
                out.mux(packet)
                copied += 1
    os.replace(partial, target)
    return copied


async def create(
    session: AsyncSession, data_dir: Path, viewer: User, space_id: str, start_ms: int, end_ms: int
) -> ClipOut:
    space = await viewable(session, space_id, viewer.id)
    await recordings.finish(session, data_dir, space.id)
    row = await recordings_store.get(session, space.id)
    source = recording_path(data_dir, space.id)
    if row is None or row.duration_seconds is None or not source.exists():
        raise NotFound("recording_not_found", "this space has no recording to clip")
    settings = await captions_store.settings_of(session, space.id)
    allowed = settings.clips if settings is not None else True
    duration_ms = int(row.duration_seconds * 1000)
    rules.check_clip(SpaceState(space.state), allowed, start_ms, end_ms, duration_ms)
    end_ms = min(end_ms, duration_ms)
    clip = await store.add(session, space.id, viewer.id, start_ms, end_ms)
    await asyncio.to_thread(cut, source, clip_path(data_dir, clip.id), start_ms, end_ms)
    await session.commit()
    return await view(session, clip)


async def view(session: AsyncSession, clip: Clip) -> ClipOut:
    space = await space_view(session, await _space(session, clip.space_id))
    lines = await store.lines_in(session, clip.space_id, clip.start_ms, clip.end_ms)
    people = await accounts_store.users_by_ids(
        session, list({line.user_id for line in lines} | {clip.creator_id})
    )
    return ClipOut(
        id=clip.id,
        space=space,
        start_ms=clip.start_ms,
        end_ms=clip.end_ms,
        by=user_brief(people[clip.creator_id]) if clip.creator_id in people else None,
        audio_url=f"/api/v1/clips/{clip.id}/audio",
        share_url=f"/#/clip/{clip.id}",
        lines=[
            ClipLine(
                user=user_brief(people[line.user_id]) if line.user_id in people else None,
                text=line.text,
                at_ms=max(0, (line.replay_ms or 0) - clip.start_ms),
            )
            for line in lines
        ],
    )


async def _space(session: AsyncSession, space_id: str) -> Space:
    space = await spaces_store.get_space(session, space_id)
    if space is None:
        raise NotFound("clip_not_found", "no such clip")
    return space


async def _visible(session: AsyncSession, viewer: User, clip_id: str) -> Clip:
    clip = await store.get(session, clip_id)
    if clip is None:
        raise NotFound("clip_not_found", "no such clip")
    try:
        await viewable(session, clip.space_id, viewer.id)  # who may see the space
    except (NotFound, Forbidden):
        raise NotFound("clip_not_found", "no such clip") from None  # nothing revealed
    return clip


async def get(session: AsyncSession, viewer: User, clip_id: str) -> ClipOut:
    return await view(session, await _visible(session, viewer, clip_id))


async def audio(session: AsyncSession, data_dir: Path, viewer: User, clip_id: str) -> Path:
    clip = await _visible(session, viewer, clip_id)
    path = clip_path(data_dir, clip.id)
    if not path.exists():
        raise NotFound("clip_not_found", "this clip's audio is gone")
    return path


async def clip_ids_for_removal(
    session: AsyncSession, space_ids: list[str], user_id: int
) -> list[str]:
    """Clips of these spaces or made by this user (read before deleting an account)."""
    return await store.ids_of_spaces_or_creator(session, space_ids, user_id)


async def remove_of_space(session: AsyncSession, data_dir: Path, space_id: str) -> None:
    """The recording went: its clips go too (rows now, files after the commit)."""
    ids = await store.ids_of_space(session, space_id)
    await store.remove_of_space(session, space_id)
    await session.commit()
    remove_files(data_dir, ids)


def remove_files(data_dir: Path, clip_ids: Iterable[str]) -> None:
    for clip_id in clip_ids:
        with contextlib.suppress(FileNotFoundError):
            clip_path(data_dir, clip_id).unlink()
