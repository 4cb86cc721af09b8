"""The reads of a space's snapshot and single view, in few statements returning plain rows.

A snapshot lists the stage, raised hands, invitations and the first listeners with their
names, and a space's view its counts, recording and captions state. Each of these is one
Core select here (members joined with their users; counts, recording and captions in one
row), so a snapshot costs a handful of statements however big the audience, and no ORM
instances are built for the people in it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, bindparam, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from townhall.domain.roles import Role
from townhall.domain.stage import Member
from townhall.store.models import CaptionSettings, Recording, Space, SpaceMember, User
from townhall.store.spaces import ROLES, STAGE, Counts, notable_or


@dataclass(frozen=True, slots=True)
class Person:
    """A present member of a space and the name they show."""

    member: Member
    handle: str
    display_name: str


@dataclass(frozen=True)
class RecordingState:
    active: bool
    duration_seconds: float | None
    size_bytes: int | None


@dataclass(frozen=True)
class CaptionState:
    on: bool
    language: str
    clips: bool


@dataclass(frozen=True)
class ViewFacts:
    """What a space's view adds to the space row: counts, recording, captions."""

    counts: Counts
    recording: RecordingState | None
    captions: CaptionState | None


PeopleQuery = Select[int, str, bool, float | None, str | None, str, str]


def _people() -> PeopleQuery:
    return (
        select(
            SpaceMember.user_id,
            SpaceMember.role,
            SpaceMember.muted,
            SpaceMember.hand_raised_at,
            SpaceMember.invited_as,
            User.handle,
            User.display_name,
        )
        .join(User, User.id == SpaceMember.user_id)
        .order_by(SpaceMember.joined_at, SpaceMember.user_id)
    )


# Built once, with bound parameters (no construction and cache-key work per snapshot).
_NOTABLE = _people().where(notable_or(bindparam("user_ids", expanding=True)))
_FIRST_LISTENERS = (
    _people()
    .where(
        SpaceMember.space_id == bindparam("space_id"),
        SpaceMember.present.is_(True),
        SpaceMember.role == Role.LISTENER.value,
    )
    .limit(bindparam("limit"))
)


async def _run(session: AsyncSession, query: PeopleQuery, params: dict[str, Any]) -> list[Person]:
    rows = (await session.execute(query, params)).all()
    return [
        Person(
            Member(
                user_id=uid,
                role=ROLES[role],
                muted=bool(muted),
                hand_raised_at=raised,
                invited_as=ROLES[invited] if invited else None,
            ),
            handle,
            name,
        )
        for uid, role, muted, raised, invited, handle, name in rows
    ]


async def notable_people(
    session: AsyncSession, space_id: str, user_ids: Sequence[int] = ()
) -> list[Person]:
    """As `spaces.notable_members` (the present stage, raised hands, invitations, and
    these users if present), with names, in the order they joined."""
    return await _run(session, _NOTABLE, {"space_id": space_id, "user_ids": list(user_ids)})


async def first_listener_people(session: AsyncSession, space_id: str, limit: int) -> list[Person]:
    """The `limit` present listeners who joined first, with names."""
    return await _run(session, _FIRST_LISTENERS, {"space_id": space_id, "limit": limit})


def _view_facts() -> Any:
    present = (
        select(func.count())
        .where(SpaceMember.space_id == Space.id, SpaceMember.present.is_(True))
        .correlate(Space)
    )
    listeners = present.where(SpaceMember.role == Role.LISTENER.value).scalar_subquery()
    stage = present.where(SpaceMember.role.in_(STAGE)).scalar_subquery()
    has_recording = case((Recording.space_id.is_(None), False), else_=True)
    has_captions = case((CaptionSettings.space_id.is_(None), False), else_=True)
    return (
        select(
            listeners,
            stage,
            has_recording,
            Recording.active,
            Recording.duration_seconds,
            Recording.size_bytes,
            has_captions,
            CaptionSettings.on,
            CaptionSettings.language,
            CaptionSettings.clips,
        )
        .select_from(Space)
        .outerjoin(Recording, Recording.space_id == Space.id)
        .outerjoin(CaptionSettings, CaptionSettings.space_id == Space.id)
        .where(Space.id == bindparam("space_id"))
    )


_VIEW_FACTS = _view_facts()


async def view_facts(session: AsyncSession, space_id: str) -> ViewFacts:
    """The space's present listeners and stage, its recording and captions, in one row."""
    row = (await session.execute(_VIEW_FACTS, {"space_id": space_id})).first()
    if row is None:
        return ViewFacts(Counts(), None, None)
    n_listeners, n_stage, recorded, active, duration, size, captioned, on, language, clips = row
    return ViewFacts(
        counts=Counts(int(n_listeners or 0), int(n_stage or 0)),
        recording=RecordingState(bool(active), duration, size) if recorded else None,
        captions=CaptionState(bool(on), language, bool(clips)) if captioned else None,
    )
