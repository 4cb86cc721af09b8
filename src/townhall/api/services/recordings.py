"""Recording and replay: the host switches recording on or off, anyone who may see an
ended space replays it, the host deletes it.

The API only records the wish (`recordings.active`) and publishes `recording.changed`;
the media plane (through its bus bridge) writes the room's mix to
`<data_dir>/recordings/<space_id>.ogg` and finishes the file when the room closes. The
duration and size are read from the finished file and stored the first time an ended
space is read (`finish`): a file still being finished (`.ogg.part`) is not offered yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from pathlib import Path

import av
from sqlalchemy.ext.asyncio import AsyncSession

from townhall.api.schemas.spaces import RecordingSwitch
from townhall.api.services.spaces.loading import commit_and_publish, locked, viewable
from townhall.bus import Bus
from townhall.bus.events import RecordingChanged
from townhall.domain import recording as rules
from townhall.domain.spaces import SpaceState
from townhall.media.recorder import partial_path, recording_path, recover_partials
from townhall.store import recordings as store
from townhall.store import spaces as spaces_store
from townhall.store.db import Database
from townhall.store.models import Recording, User

log = logging.getLogger(__name__)


async def set_recording(
    session: AsyncSession, bus: Bus, actor: User, space_id: str, on: bool
) -> RecordingSwitch:
    """The host starts or pauses the recording of a scheduled or live space."""
    space = await locked(session, space_id)
    rules.check_toggle(actor.id, space.host_id, SpaceState(space.state))
    row = await store.get(session, space.id)
    changed = (row.active if row is not None else False) != on
    if row is not None or on:
        await store.set_on(session, space.id, on)
    events = [RecordingChanged(on=on, by=actor.id)] if changed else []
    await commit_and_publish(session, space.id, events)
    return RecordingSwitch(recording=on)


def _probe(path: Path) -> tuple[float, int]:
    size = path.stat().st_size
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        if stream.duration is not None and stream.time_base is not None:
            return float(stream.duration * stream.time_base), size
        return (container.duration or 0) / 1_000_000, size


async def finish(session: AsyncSession, data_dir: Path, space_id: str) -> None:
    """Store the duration and size of an ended space's finished recording, once."""
    space = await spaces_store.get_space(session, space_id)
    if space is None or space.state != SpaceState.ENDED:
        return
    row = await store.get(session, space_id)
    if row is None or row.duration_seconds is not None:
        return
    path = recording_path(data_dir, space_id)
    if partial_path(path).exists() or not path.exists():
        return
    try:
        duration, size = await asyncio.to_thread(_probe, path)
    except (av.FFmpegError, OSError, IndexError):
        return
    await store.set_finished(session, space_id, duration, size)
    await session.commit()


async def recover(db: Database, data_dir: Path) -> list[str]:
    """At start-up, before any recorder opens: turn every partial recording a crash left
    behind into a finished file, and store the duration of those whose space has ended
    (a space still live records on from there when its members reconnect)."""
    space_ids = await asyncio.to_thread(recover_partials, data_dir)
    try:
        async with db.session() as session:
            for space_id in space_ids:
                await finish(session, data_dir, space_id)
    except Exception as exc:  # the database is away: finished when the space is next read
        log.warning("recovered recordings not stored yet (%s)", exc)
    return space_ids


def _available(row: Recording | None, path: Path) -> bool:
    return row is not None and row.duration_seconds is not None and path.exists()


async def replay_file(session: AsyncSession, data_dir: Path, viewer: User, space_id: str) -> Path:
    """The finished recording's file, for whoever may see the ended space."""
    space = await viewable(session, space_id, viewer.id)
    await finish(session, data_dir, space.id)
    path = recording_path(data_dir, space.id)
    available = _available(await store.get(session, space.id), path)
    rules.check_replay(SpaceState(space.state), available)
    return path


async def delete(session: AsyncSession, data_dir: Path, actor: User, space_id: str) -> None:
    """The host deletes an ended space's recording (the file and its record)."""
    space = await viewable(session, space_id, actor.id)
    await finish(session, data_dir, space.id)
    path = recording_path(data_dir, space.id)
    available = _available(await store.get(session, space.id), path)
    rules.check_delete(actor.id, space.host_id, SpaceState(space.state), available)
    await store.remove(session, space.id)
    await session.commit()
    remove_files(data_dir, [space.id])
    from townhall.api.services import clips  # clips are cut from it: they go too

    await clips.remove_of_space(session, data_dir, space.id)


async def recorded_spaces_of(session: AsyncSession, host_id: int) -> list[str]:
    """The host's spaces that have recordings (read before deleting the account)."""
    return await store.space_ids_of_host(session, host_id)


def remove_files(data_dir: Path, space_ids: Iterable[str]) -> None:
    """Delete these spaces' recording files (finished or partial), where they exist.

    The partial file first: a recorder still writing it then finds it gone and keeps
    nothing; one that renamed it meanwhile left the finished file, deleted next."""
    for space_id in space_ids:
        path = recording_path(data_dir, space_id)
        for candidate in (partial_path(path), path):
            with contextlib.suppress(FileNotFoundError):
                candidate.unlink()
