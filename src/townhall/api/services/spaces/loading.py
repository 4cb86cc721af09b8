"""Locking and loading a space, access checks, saving a room, commit with its events.

Every change to a space runs in one transaction that starts by locking the space row
(`locked`), reads the room fresh (`load_room`), asks the domain, writes what changed
(`save`), adds its events to the outbox and commits (`commit_and_publish`). The outbox
relay publishes them on the bus after the commit (so a snapshot taken after an event was
seen always contains it, and a committed change is always announced). Stage use cases
take that path as one step: `async with staged(...) as stage` (lock, load; `apply` the
domain's new room, which saves it; `publish` events; committed with them on the way
out), or `stage_change(...)` when the change and its events are two functions.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from enum import Enum
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from townhall.api.services import outbox
from townhall.bus.events import EventData, ListenersCount
from townhall.config import Settings
from townhall.domain import spaces as rules
from townhall.domain.errors import Invalid, NotFound
from townhall.domain.roles import Role
from townhall.domain.spaces import Access, SpaceState, SpeakerPolicy, Visibility
from townhall.domain.stage import Limits, Room
from townhall.store import accounts as accounts_store
from townhall.store import spaces as store
from townhall.store.db import utcnow
from townhall.store.models import Space, SpaceMember, User

Events = list[EventData]
E = TypeVar("E", bound=Enum)


def limits_of(settings: Settings | None) -> Limits:
    if settings is None:
        return Limits()
    return Limits(stage_limit=settings.stage_limit, cohost_limit=settings.cohost_limit)


async def load_room(
    session: AsyncSession,
    space: Space,
    settings: Settings | None,
    removed: Sequence[int] = (),
    focus: Sequence[int] | None = None,
) -> Room:
    """The space's room as stored; `removed`: the users to check for a removal.

    With `focus` (the people an operation is about: a join, a leave), the room holds only
    the stage, raised hands, invitations and those people, and counts the other listeners
    (`Room.other_listeners`): a join into a space of thousands reads a few rows."""
    if focus is None:
        rows = await store.present_members(session, space.id)
        others = 0
    else:
        rows, listeners = await store.notable_members_counted(session, space.id, focus)
        others = listeners - sum(1 for r in rows if r.role == Role.LISTENER.value)
    banned = [uid for uid in removed if await store.is_removed(session, space.id, uid)]
    return Room(
        host_id=space.host_id,
        state=SpaceState(space.state),
        speaker_policy=SpeakerPolicy(space.speaker_policy),
        limits=limits_of(settings),
        members={r.user_id: store.member_of(r) for r in rows},
        removed=frozenset(banned),
        other_listeners=max(0, others),
        stage_locked=space.stage_locked,
    )


def _not_found() -> NotFound:
    return NotFound("space_not_found", "no such space")


async def existing(session: AsyncSession, space_id: str) -> Space:
    """The space, unlocked; NotFound when there is none."""
    space = await store.get_space(session, space_id)
    if space is None:
        raise _not_found()
    return space


async def locked(session: AsyncSession, space_id: str) -> Space:
    """The space, its row locked until the transaction ends; NotFound when there is none."""
    space = await store.lock_space(session, space_id)
    if space is None:
        raise _not_found()
    return space


def access_of(space: Space, viewer_id: int, facts: store.AccessFacts) -> Access:
    """The domain's picture of the viewer's access, from the store's facts."""
    return Access(
        viewer_id=viewer_id,
        host_id=space.host_id,
        visibility=Visibility(space.visibility),
        followers_may_join=space.followers_may_join,
        is_guest=facts.is_guest,
        follows_host=facts.follows_host,
        blocked_by_host=facts.blocked_by_host,
        blocked_by_cohost=facts.blocked_by_cohost,
        removed=facts.removed,
    )


async def access(session: AsyncSession, space: Space, viewer_id: int) -> Access:
    facts = await store.access_facts(session, space.id, viewer_id, space.host_id)
    return access_of(space, viewer_id, facts)


async def with_access(session: AsyncSession, space_id: str, viewer_id: int) -> tuple[Space, Access]:
    """The space (read fresh) and the viewer's access to it, in one query; NotFound when
    there is no such space."""
    found = await store.space_and_access(session, space_id, viewer_id)
    if found is None:
        raise _not_found()
    space, facts = found
    return space, access_of(space, viewer_id, facts)


async def with_access_and_member(
    session: AsyncSession, space_id: str, viewer_id: int
) -> tuple[Space, Access, SpaceMember | None]:
    """`with_access`, and the viewer's member row (None if they never joined)."""
    found = await store.space_access_and_member(session, space_id, viewer_id)
    if found is None:
        raise _not_found()
    space, facts, row = found
    return space, access_of(space, viewer_id, facts), row


async def viewable(session: AsyncSession, space_id: str, viewer_id: int) -> Space:
    """The space if the viewer may see it; else NotFound or Forbidden."""
    space, seen_by = await with_access(session, space_id, viewer_id)
    rules.check_may_view(seen_by)
    return space


async def save(session: AsyncSession, space: Space, before: Room, after: Room) -> None:
    await store.save_room(session, space.id, before, after, utcnow())
    space.peak_listeners = max(space.peak_listeners, after.listener_count)
    space.host_id = after.host_id
    space.stage_locked = after.stage_locked
    await session.flush()


async def commit_and_publish(
    session: AsyncSession, space_id: str, events: Sequence[EventData]
) -> None:
    """Add the events to the outbox (numbered with the space's next seqs) and commit; the
    relay publishes them right after. Never waits for the bus."""
    await outbox.add_space_events(session, space_id, events)
    await session.commit()


class StagedChange:
    """One change of a space's stage inside `staged`: the locked space, the room as
    loaded (`before`), the room the domain made of it (`after`) and the events to
    publish with it."""

    def __init__(self, session: AsyncSession, space: Space, before: Room) -> None:
        self._session = session
        self.space = space
        self.before = before
        self.after = before
        self.events: Events = []

    async def apply(self, after: Room) -> Room:
        """Take the domain's new room and save what changed (flushed, not committed)."""
        self.after = after
        if after is not self.before:
            await save(self._session, self.space, self.before, after)
        return after

    def publish(self, *events: EventData) -> None:
        """Events to add to the outbox with the change (in this order)."""
        self.events.extend(events)


@asynccontextmanager
async def staged(
    session: AsyncSession,
    settings: Settings,
    space_id: str,
    removed: Sequence[int] = (),
    focus: Sequence[int] | None = None,
) -> AsyncIterator[StagedChange]:
    """Lock the space and load its room; the body checks, `apply`s the domain's change
    and `publish`es its events; on the way out the events are added to the outbox and
    everything commits. An error in the body commits nothing (it propagates).

    `removed`, `focus`: as for `load_room` (`focus`: the change is only about them)."""
    space = await locked(session, space_id)
    stage = StagedChange(session, space, await load_room(session, space, settings, removed, focus))
    yield stage
    await commit_and_publish(session, space.id, stage.events)


async def stage_change(
    session: AsyncSession,
    settings: Settings,
    space_id: str,
    change: Callable[[Room], Room],
    events: Callable[[Room, Room], Events],
    removed: Sequence[int] = (),
    focus: Sequence[int] | None = None,
) -> tuple[Space, Room, Room]:
    """`staged` for a change that is one function of the room, its events one function
    of (before, after): lock, load, change, save, commit with the events."""
    async with staged(session, settings, space_id, removed, focus) as stage:
        after = await stage.apply(change(stage.before))
        stage.publish(*events(stage.before, after))
    return stage.space, stage.before, stage.after


def listeners_event(room: Room) -> ListenersCount:
    return ListenersCount(count=room.listener_count)


async def user_exists(session: AsyncSession, user_id: int, field: str = "user_id") -> User:
    user = await accounts_store.user_by_id(session, user_id)
    if user is None:
        raise NotFound("user_not_found", "no such user", field)
    return user


def parse_enum(kind: type[E], value: str, field: str) -> E:
    """`kind(value)`, or Invalid naming the field and the allowed values."""
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(v.value for v in kind)
        raise Invalid(f"invalid_{field}", f"{field} is one of: {allowed}", field) from None
