"""Spaces repository: the only place that speaks SQL about spaces."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import and_, bindparam, case, delete, exists, func, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql.selectable import ScalarSelect

from townhall.domain.roles import Role, is_on_stage
from townhall.domain.stage import Member, Room
from townhall.store.models import (
    Block,
    Follow,
    Space,
    SpaceAttendance,
    SpaceGuest,
    SpaceMember,
    SpaceReminder,
    SpaceRemoval,
    SpaceReport,
    SpaceTopic,
    User,
)

STAGE = (Role.HOST.value, Role.COHOST.value, Role.SPEAKER.value)


def new_space_id() -> str:
    """12 url-safe random characters."""
    return secrets.token_urlsafe(9)


# -- spaces --------------------------------------------------------------


async def add_space(session: AsyncSession, space: Space, topics: Sequence[str]) -> Space:
    session.add(space)
    await session.flush()
    await set_topics(session, space.id, topics)
    return space


async def get_space(session: AsyncSession, space_id: str) -> Space | None:
    if not space_id or len(space_id) > 12:
        return None
    return await session.get(Space, space_id, populate_existing=True)


async def lock_space(session: AsyncSession, space_id: str) -> Space | None:
    """Take the space's write lock for the rest of the transaction, then read it fresh.

    The UPDATE is the lock: PostgreSQL locks the row until commit; SQLite takes the
    database write lock (waiting on busy_timeout), so changes to one space never
    interleave and a limit checked here still holds at commit. It returns the row too
    (RETURNING): one round trip while the lock is held, not two.
    """
    if not space_id or len(space_id) > 12:
        return None
    return (await session.scalars(_LOCK_SPACE, {"in_space": space_id})).first()


# Statements a join, leave, react or snapshot makes, built once with bound parameters
# (no construction and cache-key work per request).
_LOCK_SPACE = (
    update(Space)
    .where(Space.id == bindparam("in_space"))
    .values(version=Space.version + 1)
    .returning(Space)
    .execution_options(synchronize_session=False, populate_existing=True)
)


async def set_topics(session: AsyncSession, space_id: str, topics: Sequence[str]) -> None:
    await session.execute(delete(SpaceTopic).where(SpaceTopic.space_id == space_id))
    for position, topic in enumerate(topics):
        session.add(
            SpaceTopic(
                space_id=space_id, position=position, topic=topic, topic_key=topic.casefold()
            )
        )
    await session.flush()


async def topics_of(session: AsyncSession, space_ids: Iterable[str]) -> dict[str, list[str]]:
    ids = list(space_ids)
    out: dict[str, list[str]] = {sid: [] for sid in ids}
    if not ids:
        return out
    rows = await session.execute(
        select(SpaceTopic.space_id, SpaceTopic.topic)
        .where(SpaceTopic.space_id.in_(ids))
        .order_by(SpaceTopic.space_id, SpaceTopic.position)
    )
    for sid, topic in rows:
        out[sid].append(topic)
    return out


async def live_space_hosts(session: AsyncSession) -> list[tuple[str, int]]:
    rows = await session.execute(select(Space.id, Space.host_id).where(Space.state == "live"))
    return [(r[0], r[1]) for r in rows]


async def open_spaces_of(session: AsyncSession, user_id: int) -> list[tuple[str, str, bool]]:
    """(space id, state, hosts it) of every scheduled or live space the user hosts or is
    present in."""
    hosted = select(Space.id, Space.state, literal(True)).where(
        Space.host_id == user_id, Space.state.in_(("scheduled", "live"))
    )
    joined = (
        select(Space.id, Space.state, literal(False))
        .join(SpaceMember, SpaceMember.space_id == Space.id)
        .where(
            SpaceMember.user_id == user_id,
            SpaceMember.present.is_(True),
            Space.state == "live",
            Space.host_id != user_id,
        )
    )
    rows = await session.execute(hosted.union_all(joined))
    return [(r[0], r[1], bool(r[2])) for r in rows]


async def live_members(session: AsyncSession) -> list[tuple[str, int, int]]:
    """(space id, user id, host id) of every present member of every live space."""
    rows = await session.execute(
        select(SpaceMember.space_id, SpaceMember.user_id, Space.host_id)
        .join(Space, Space.id == SpaceMember.space_id)
        .where(Space.state == "live", SpaceMember.present.is_(True))
    )
    return [(r[0], r[1], r[2]) for r in rows]


@dataclass(frozen=True)
class Counts:
    listeners: int = 0
    stage: int = 0  # present host, co-hosts and speakers


async def counts_of(session: AsyncSession, space_ids: Iterable[str]) -> dict[str, Counts]:
    ids = list(space_ids)
    out = {sid: Counts() for sid in ids}
    if not ids:
        return out
    is_listener = case((SpaceMember.role == Role.LISTENER.value, 1), else_=0)
    on_stage = case((SpaceMember.role.in_(STAGE), 1), else_=0)
    rows = await session.execute(
        select(SpaceMember.space_id, func.sum(is_listener), func.sum(on_stage))
        .where(SpaceMember.space_id.in_(ids), SpaceMember.present.is_(True))
        .group_by(SpaceMember.space_id)
    )
    for sid, listeners, stage in rows:
        out[sid] = Counts(int(listeners or 0), int(stage or 0))
    return out


async def stage_user_ids(
    session: AsyncSession, space_ids: Iterable[str], per_space: int = 4
) -> dict[str, list[int]]:
    """Up to `per_space` present stage members of each space, host first (for list cards)."""
    ids = list(space_ids)
    out: dict[str, list[int]] = {sid: [] for sid in ids}
    if not ids:
        return out
    rank = case(
        (SpaceMember.role == Role.HOST.value, 0),
        (SpaceMember.role == Role.COHOST.value, 1),
        else_=2,
    )
    rows = await session.execute(
        select(SpaceMember.space_id, SpaceMember.user_id)
        .where(
            SpaceMember.space_id.in_(ids),
            SpaceMember.present.is_(True),
            SpaceMember.role.in_(STAGE),
        )
        .order_by(SpaceMember.space_id, rank, SpaceMember.joined_at)
    )
    for sid, uid in rows:
        if len(out[sid]) < per_space:
            out[sid].append(uid)
    return out


def _listener_count_subquery() -> ScalarSelect[int]:
    return (
        select(func.count())
        .where(
            SpaceMember.space_id == Space.id,
            SpaceMember.present.is_(True),
            SpaceMember.role == Role.LISTENER.value,
        )
        .correlate(Space)
        .scalar_subquery()
    )


async def discover(
    session: AsyncSession,
    viewer_id: int,
    state: str,
    query: str | None,
    followee_ids: Sequence[int],
    limit: int,
    host_id: int | None = None,
) -> list[Space]:
    """Spaces in `state` the viewer may see (only `host_id`'s when given), in discovery order.

    live: hosted or co-hosted by people the viewer follows first, then by listeners.
    scheduled: soonest first.
    """
    visible = or_(
        Space.visibility == "public",
        Space.host_id == viewer_id,
        exists().where(SpaceGuest.space_id == Space.id, SpaceGuest.user_id == viewer_id),
        and_(Space.followers_may_join.is_(True), Space.host_id.in_(followee_ids)),
    )
    not_blocked = ~exists().where(Block.blocker_id == Space.host_id, Block.blocked_id == viewer_id)
    q = select(Space).where(Space.state == state, visible, not_blocked)
    if host_id is not None:
        q = q.where(Space.host_id == host_id)
    if query:
        pattern = f"%{_escape_like(query.casefold())}%"
        q = q.where(
            or_(
                func.lower(Space.title).like(pattern, escape="\\"),
                exists().where(
                    SpaceTopic.space_id == Space.id,
                    SpaceTopic.topic_key.like(pattern, escape="\\"),
                ),
            )
        )
    if state == "live":
        followed = or_(
            Space.host_id.in_(followee_ids),
            exists().where(
                SpaceMember.space_id == Space.id,
                SpaceMember.present.is_(True),
                SpaceMember.role == Role.COHOST.value,
                SpaceMember.user_id.in_(followee_ids),
            ),
        )
        q = q.order_by(
            case((followed, 0), else_=1),
            _listener_count_subquery().desc(),
            Space.started_at.desc(),
            Space.id,
        )
    else:
        q = q.order_by(Space.scheduled_for, Space.id)
    return list(await session.scalars(q.limit(limit)))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# -- members ---------------------------------------------------------------


ROLES = {r.value: r for r in Role}
"""Stored role names to roles (a dict lookup: `Role(value)` costs ten times more)."""


def member_of(row: SpaceMember) -> Member:
    return Member(
        user_id=row.user_id,
        role=ROLES[row.role],
        muted=row.muted,
        hand_raised_at=row.hand_raised_at,
        invited_as=ROLES[row.invited_as] if row.invited_as else None,
    )


async def present_members(session: AsyncSession, space_id: str) -> list[SpaceMember]:
    rows = await session.scalars(
        select(SpaceMember)
        .where(SpaceMember.space_id == space_id, SpaceMember.present.is_(True))
        .order_by(SpaceMember.joined_at, SpaceMember.user_id)
        .execution_options(populate_existing=True)
    )
    return list(rows)


def notable() -> Any:
    """Present members a partial room always holds: the stage, raised hands, invitations."""
    return or_(
        SpaceMember.role.in_(STAGE),
        SpaceMember.hand_raised_at.is_not(None),
        SpaceMember.invited_as.is_not(None),
    )


async def notable_members(
    session: AsyncSession, space_id: str, user_ids: Sequence[int] = ()
) -> list[SpaceMember]:
    """The present stage, raised hands and pending invitations, and these users if present:
    everything but the plain listeners (so a few dozen rows however big the audience)."""
    rows = await session.scalars(_NOTABLE, {"space_id": space_id, "user_ids": list(user_ids)})
    return list(rows)


async def notable_members_counted(
    session: AsyncSession, space_id: str, user_ids: Sequence[int]
) -> tuple[list[SpaceMember], int]:
    """`notable_members` and `listener_count`, in one statement (the count rides on each
    row; a room with none of them counts on its own)."""
    params = {"space_id": space_id, "user_ids": list(user_ids)}
    rows = (await session.execute(_NOTABLE_COUNTED, params)).all()
    if not rows:
        return [], await listener_count(session, space_id)
    return [row[0] for row in rows], int(rows[0][1] or 0)


def notable_or(user_ids: Any) -> Any:
    """Present members of the space `space_id` (a bound parameter) a partial room holds,
    and the users `user_ids` (an expanding bound parameter) if present."""
    return and_(
        SpaceMember.space_id == bindparam("space_id"),
        SpaceMember.present.is_(True),
        or_(notable(), SpaceMember.user_id.in_(user_ids)),
    )


_NOTABLE = (
    select(SpaceMember)
    .where(notable_or(bindparam("user_ids", expanding=True)))
    .order_by(SpaceMember.joined_at, SpaceMember.user_id)
    .execution_options(populate_existing=True)
)
_OTHER = aliased(SpaceMember)
_NOTABLE_COUNTED = (
    select(
        SpaceMember,
        select(func.count())
        .select_from(_OTHER)
        .where(
            _OTHER.space_id == bindparam("space_id"),
            _OTHER.present.is_(True),
            _OTHER.role == Role.LISTENER.value,
        )
        .scalar_subquery(),
    )
    .where(notable_or(bindparam("user_ids", expanding=True)))
    .order_by(SpaceMember.joined_at, SpaceMember.user_id)
    .execution_options(populate_existing=True)
)
_LISTENER_COUNT = (
    select(func.count())
    .select_from(SpaceMember)
    .where(
        SpaceMember.space_id == bindparam("space_id"),
        SpaceMember.present.is_(True),
        SpaceMember.role == Role.LISTENER.value,
    )
)


async def listener_count(session: AsyncSession, space_id: str) -> int:
    """Present listeners, raised hands and invitations included."""
    return int(await session.scalar(_LISTENER_COUNT, {"space_id": space_id}) or 0)


async def member_row(session: AsyncSession, space_id: str, user_id: int) -> SpaceMember | None:
    return await session.get(SpaceMember, (space_id, user_id), populate_existing=True)


async def save_room(
    session: AsyncSession, space_id: str, before: Room, after: Room, now: datetime
) -> None:
    """Persist the members that changed between two pictures of one room: one statement
    per changed member (an upsert for someone who joined: their row may be there from an
    earlier stay), none read first."""
    for uid, m in after.members.items():
        old = before.members.get(uid)
        if old == m:
            continue
        values: dict[str, Any] = {
            "role": m.role.value,
            "muted": m.muted,
            "hand_raised_at": m.hand_raised_at,
            "invited_as": m.invited_as.value if m.invited_as else None,
        }
        if old is None:  # joined
            await _upsert_joined(session, space_id, uid, values, is_on_stage(m.role), now)
            session.add(SpaceAttendance(space_id=space_id, user_id=uid, joined_at=now))
            continue
        if is_on_stage(m.role):
            values["was_on_stage"] = True
        await session.execute(
            update(SpaceMember)
            .where(SpaceMember.space_id == space_id, SpaceMember.user_id == uid)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    gone = [uid for uid in before.members if uid not in after.members]
    if gone:
        await mark_left(session, space_id, gone, now)
    await session.flush()


@cache
def _upsert_joined_statement(dialect: str) -> Any:
    """Insert a joiner's row, or make the row of an earlier stay present again (its
    reaction window kept, `was_on_stage` only ever raised)."""
    upsert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = upsert(SpaceMember).values(reaction_count=0)
    fresh = stmt.excluded
    again = {
        name: getattr(fresh, name)
        for name in ("present", "role", "muted", "hand_raised_at", "invited_as", "joined_at")
    }
    again["was_on_stage"] = or_(SpaceMember.was_on_stage, fresh.was_on_stage)
    return stmt.on_conflict_do_update(
        index_elements=[SpaceMember.space_id, SpaceMember.user_id], set_=again
    )


async def _upsert_joined(
    session: AsyncSession,
    space_id: str,
    user_id: int,
    values: dict[str, Any],
    on_stage: bool,
    now: datetime,
) -> None:
    """The member's row, present from `now` with `values` (see `_upsert_joined_statement`)."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    params = dict(
        values, space_id=space_id, user_id=user_id, present=True, joined_at=now,
        was_on_stage=on_stage,
    )  # fmt: skip
    await session.execute(_upsert_joined_statement(dialect), params)


async def mark_left(
    session: AsyncSession, space_id: str, user_ids: Sequence[int] | None, now: datetime
) -> None:
    """Mark people (or everyone, for None) as gone and close their attendance."""
    if user_ids is not None:
        params = {"in_space": space_id, "user_ids": list(user_ids), "now": now}
        await session.execute(_LEFT_MEMBERS, params)
        await session.execute(_LEFT_STAYS, params)
        return
    await session.execute(
        update(SpaceMember)
        .where(SpaceMember.space_id == space_id)
        .values(**_LEFT)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(SpaceAttendance)
        .where(SpaceAttendance.space_id == space_id, SpaceAttendance.left_at.is_(None))
        .values(left_at=now)
        .execution_options(synchronize_session=False)
    )


_LEFT = {
    "present": False,
    "role": Role.LISTENER.value,
    "muted": True,
    "hand_raised_at": None,
    "invited_as": None,
}
_LEFT_MEMBERS = (
    update(SpaceMember)
    .where(
        SpaceMember.space_id == bindparam("in_space"),  # not a column's name: UPDATE
        SpaceMember.user_id.in_(bindparam("user_ids", expanding=True)),
    )
    .values(**_LEFT)
    .execution_options(synchronize_session=False)
)
_LEFT_STAYS = (
    update(SpaceAttendance)
    .where(
        SpaceAttendance.space_id == bindparam("in_space"),
        SpaceAttendance.left_at.is_(None),
        SpaceAttendance.user_id.in_(bindparam("user_ids", expanding=True)),
    )
    .values(left_at=bindparam("now"))
    .execution_options(synchronize_session=False)
)


async def take_reaction_slot(
    session: AsyncSession,
    row: SpaceMember,
    old: tuple[float | None, int],
    new: tuple[float, int],
) -> bool:
    """Store the new reaction window only if nobody changed it meanwhile."""
    start_matches = (
        SpaceMember.reaction_window_start.is_(None)
        if old[0] is None
        else SpaceMember.reaction_window_start == old[0]
    )
    result = await session.execute(
        update(SpaceMember)
        .where(
            SpaceMember.space_id == row.space_id,
            SpaceMember.user_id == row.user_id,
            start_matches,
            SpaceMember.reaction_count == old[1],
        )
        .values(reaction_window_start=new[0], reaction_count=new[1])
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


# -- removals, guests, reminders, reports ------------------------------------


async def is_removed(session: AsyncSession, space_id: str, user_id: int) -> bool:
    return await session.get(SpaceRemoval, (space_id, user_id)) is not None


async def add_removal(session: AsyncSession, space_id: str, user_id: int, by_id: int) -> None:
    if not await is_removed(session, space_id, user_id):
        session.add(SpaceRemoval(space_id=space_id, user_id=user_id, by_id=by_id))
        await session.flush()


@dataclass(frozen=True)
class AccessFacts:
    is_guest: bool
    follows_host: bool
    blocked_by_host: bool
    removed: bool
    blocked_by_cohost: bool  # a present co-host blocked the viewer


def _access_exists(space_id: Any, viewer_id: Any, host_id: Any) -> tuple[Any, ...]:
    """The five facts of `AccessFacts`, as EXISTS columns (space and host: values or
    columns of the space row; the viewer: a value or a bound parameter)."""
    cohosts = (
        select(SpaceMember.user_id)
        .where(
            SpaceMember.space_id == space_id,
            SpaceMember.present.is_(True),
            SpaceMember.role == Role.COHOST.value,
        )
        .correlate(Space)  # to the space row two levels up, when space_id is its column
    )
    return (
        exists().where(SpaceGuest.space_id == space_id, SpaceGuest.user_id == viewer_id),
        exists().where(Follow.follower_id == viewer_id, Follow.followee_id == host_id),
        exists().where(Block.blocker_id == host_id, Block.blocked_id == viewer_id),
        exists().where(SpaceRemoval.space_id == space_id, SpaceRemoval.user_id == viewer_id),
        exists().where(Block.blocked_id == viewer_id, Block.blocker_id.in_(cohosts)),
    )


async def access_facts(
    session: AsyncSession, space_id: str, viewer_id: int, host_id: int
) -> AccessFacts:
    """What decides whether the viewer may see and join the space, in one query."""
    params = {"space_id": space_id, "viewer_id": viewer_id, "host_id": host_id}
    row = (await session.execute(_ACCESS_FACTS, params)).one()
    return AccessFacts(*(bool(v) for v in row))


async def space_and_access(
    session: AsyncSession, space_id: str, viewer_id: int
) -> tuple[Space, AccessFacts] | None:
    """The space, read fresh, and what decides whether the viewer may see it: one query
    (`get_space` then `access_facts` in one)."""
    if not space_id or len(space_id) > 12:
        return None
    params = {"space_id": space_id, "viewer_id": viewer_id}
    row = (await session.execute(_SPACE_AND_ACCESS, params)).first()
    if row is None:
        return None
    return row[0], AccessFacts(*(bool(v) for v in row[1:]))


async def space_access_and_member(
    session: AsyncSession, space_id: str, viewer_id: int
) -> tuple[Space, AccessFacts, SpaceMember | None] | None:
    """`space_and_access` and the viewer's member row (present or not, None if they never
    joined), in one query."""
    if not space_id or len(space_id) > 12:
        return None
    params = {"space_id": space_id, "viewer_id": viewer_id}
    row = (await session.execute(_SPACE_ACCESS_MEMBER, params)).first()
    if row is None:
        return None
    return row[0], AccessFacts(*(bool(v) for v in row[2:])), row[1]


_ACCESS_FACTS = select(
    *_access_exists(bindparam("space_id"), bindparam("viewer_id"), bindparam("host_id"))
)
_SPACE_AND_ACCESS = (
    select(Space, *_access_exists(Space.id, bindparam("viewer_id"), Space.host_id))
    .where(Space.id == bindparam("space_id"))
    .execution_options(populate_existing=True)
)


_SPACE_ACCESS_MEMBER = (
    select(Space, SpaceMember, *_access_exists(Space.id, bindparam("viewer_id"), Space.host_id))
    .outerjoin(
        SpaceMember,
        and_(SpaceMember.space_id == Space.id, SpaceMember.user_id == bindparam("viewer_id")),
    )
    .where(Space.id == bindparam("space_id"))
    .execution_options(populate_existing=True)
)


async def is_guest(session: AsyncSession, space_id: str, user_id: int) -> bool:
    return await session.get(SpaceGuest, (space_id, user_id)) is not None


async def add_guests(session: AsyncSession, space_id: str, user_ids: Iterable[int]) -> list[int]:
    """Add people to a private space's guest list; returns those newly added."""
    added = []
    for uid in dict.fromkeys(user_ids):
        if not await is_guest(session, space_id, uid):
            session.add(SpaceGuest(space_id=space_id, user_id=uid))
            added.append(uid)
    await session.flush()
    return added


async def guest_ids(session: AsyncSession, space_id: str) -> list[int]:
    rows = await session.scalars(select(SpaceGuest.user_id).where(SpaceGuest.space_id == space_id))
    return list(rows)


async def set_reminder(session: AsyncSession, space_id: str, user_id: int, on: bool) -> None:
    if not on:
        await session.execute(
            delete(SpaceReminder).where(
                SpaceReminder.space_id == space_id, SpaceReminder.user_id == user_id
            )
        )
        return
    if await session.get(SpaceReminder, (space_id, user_id)) is None:
        try:
            async with session.begin_nested():
                session.add(SpaceReminder(space_id=space_id, user_id=user_id))
        except IntegrityError:
            pass


async def has_reminder(session: AsyncSession, space_id: str, user_id: int) -> bool:
    return await session.get(SpaceReminder, (space_id, user_id)) is not None


async def reminder_user_ids(session: AsyncSession, space_id: str) -> list[int]:
    rows = await session.scalars(
        select(SpaceReminder.user_id).where(SpaceReminder.space_id == space_id)
    )
    return list(rows)


async def add_report(
    session: AsyncSession, space: Space, reporter_id: int, target: User | None, reason: str
) -> SpaceReport:
    """A report; the space's title and host and the person's handle are copied in, so the
    report still reads right after the space or the account is gone."""
    report = SpaceReport(
        space_id=space.id,
        reporter_id=reporter_id,
        target_user_id=target.id if target else None,
        reason=reason,
        space_title=space.title,
        space_host_id=space.host_id,
        target_handle=target.handle if target else "",
    )
    session.add(report)
    await session.flush()
    return report


async def reports_of(session: AsyncSession, space_id: str) -> list[SpaceReport]:
    rows = await session.scalars(
        select(SpaceReport).where(SpaceReport.space_id == space_id).order_by(SpaceReport.id)
    )
    return list(rows)


# -- history -----------------------------------------------------------------


async def attendance(session: AsyncSession, space_id: str) -> list[tuple[SpaceAttendance, User]]:
    rows = await session.execute(
        select(SpaceAttendance, User)
        .join(User, User.id == SpaceAttendance.user_id)
        .where(SpaceAttendance.space_id == space_id)
        .order_by(SpaceAttendance.joined_at, SpaceAttendance.id)
    )
    return [(r[0], r[1]) for r in rows]


async def distinct_attendees(session: AsyncSession, space_id: str, excluding: int) -> int:
    count = await session.scalar(
        select(func.count(func.distinct(SpaceAttendance.user_id))).where(
            SpaceAttendance.space_id == space_id, SpaceAttendance.user_id != excluding
        )
    )
    return int(count or 0)


async def stage_people(session: AsyncSession, space_id: str, host_id: int) -> list[User]:
    """Everyone who was on stage in the space at some point: the host first, then in the
    order they joined."""
    rows = await session.execute(
        select(User)
        .join(SpaceMember, SpaceMember.user_id == User.id)
        .where(SpaceMember.space_id == space_id, SpaceMember.was_on_stage.is_(True))
        .order_by((User.id != host_id).asc(), SpaceMember.joined_at, User.id)
    )
    return list(rows.scalars())
