"""Repository for users, tokens, follows and blocks. SQL lives here and nowhere else."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, bindparam, delete, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from townhall.domain.accounts import handle_key
from townhall.store.db import utcnow
from townhall.store.models import Block, Follow, Token, User


class HandleTaken(Exception):
    """Another user already has this handle (case-insensitively)."""


# -- users ---------------------------------------------------------------


async def create_user(
    session: AsyncSession, handle: str, display_name: str, password_hash: str
) -> User:
    user = User(
        handle=handle,
        handle_key=handle_key(handle),
        display_name=display_name,
        bio="",
        password_hash=password_hash,
    )
    try:
        async with session.begin_nested():
            session.add(user)
    except IntegrityError as exc:
        raise HandleTaken(handle) from exc
    return user


async def user_by_handle(session: AsyncSession, handle: str) -> User | None:
    return await session.scalar(select(User).where(User.handle_key == handle_key(handle)))


async def user_by_id(session: AsyncSession, user_id: int) -> User | None:
    return await session.get(User, user_id)


async def users_by_ids(session: AsyncSession, ids: Sequence[int]) -> dict[int, User]:
    if not ids:
        return {}
    rows = await session.scalars(select(User).where(User.id.in_(set(ids))))
    return {u.id: u for u in rows}


async def delete_user(session: AsyncSession, user: User) -> None:
    await session.delete(user)
    await session.flush()


# -- tokens --------------------------------------------------------------


async def add_token(
    session: AsyncSession,
    user_id: int,
    token_hash: str,
    kind: str,
    name: str = "",
    expires_at: datetime | None = None,
) -> Token:
    token = Token(
        user_id=user_id, token_hash=token_hash, kind=kind, name=name, expires_at=expires_at
    )
    session.add(token)
    await session.flush()
    return token


# Built once (not per call) with bound parameters: the statements every authenticated
# request and WebSocket subscribe makes skip SQLAlchemy's construction and cache-key work.
_LIVE_TOKEN = (
    select(Token, User)
    .join(User, User.id == Token.user_id)
    .where(
        Token.token_hash == bindparam("token_hash"),
        Token.revoked_at.is_(None),
        or_(Token.expires_at.is_(None), Token.expires_at > bindparam("now")),
        User.banned_at.is_(None),
        or_(User.suspended_until.is_(None), User.suspended_until <= bindparam("now")),
    )
)
_TOKEN_IS_LIVE = select(
    exists().where(
        Token.id == bindparam("token_id"),
        Token.revoked_at.is_(None),
        or_(Token.expires_at.is_(None), Token.expires_at > bindparam("now")),
    )
)


async def live_token(session: AsyncSession, token_hash: str) -> tuple[Token, User] | None:
    """The unrevoked, unexpired token with this hash and its user."""
    params = {"token_hash": token_hash, "now": utcnow()}
    row = (await session.execute(_LIVE_TOKEN, params)).first()
    return (row[0], row[1]) if row else None


async def token_is_live(session: AsyncSession, token_id: int) -> bool:
    """Whether the token exists (so does its user) and is neither revoked nor expired."""
    params = {"token_id": token_id, "now": utcnow()}
    return bool(await session.scalar(_TOKEN_IS_LIVE, params))


async def touch_token(session: AsyncSession, token_id: int, now: datetime | None = None) -> None:
    await session.execute(
        update(Token).where(Token.id == token_id).values(last_used_at=now or utcnow())
    )


async def tokens_of(session: AsyncSession, user_id: int) -> Sequence[Token]:
    now = utcnow()
    rows = await session.scalars(
        select(Token)
        .where(
            Token.user_id == user_id,
            Token.revoked_at.is_(None),
            or_(Token.expires_at.is_(None), Token.expires_at > now),
        )
        .order_by(Token.id)
    )
    return rows.all()


async def revoke_token(session: AsyncSession, user_id: int, token_id: int) -> bool:
    result = await session.execute(
        update(Token)
        .where(Token.id == token_id, Token.user_id == user_id, Token.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


# -- follows -------------------------------------------------------------


async def is_following(session: AsyncSession, follower_id: int, followee_id: int) -> bool:
    return bool(
        await session.scalar(
            select(
                exists().where(Follow.follower_id == follower_id, Follow.followee_id == followee_id)
            )
        )
    )


async def follow(session: AsyncSession, follower_id: int, followee_id: int) -> bool:
    """Add the follow; False when it already existed."""
    if await is_following(session, follower_id, followee_id):
        return False
    try:
        async with session.begin_nested():
            session.add(Follow(follower_id=follower_id, followee_id=followee_id))
    except IntegrityError:
        return False
    return True


async def unfollow(session: AsyncSession, follower_id: int, followee_id: int) -> bool:
    result = await session.execute(
        delete(Follow).where(Follow.follower_id == follower_id, Follow.followee_id == followee_id)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def followers_page(
    session: AsyncSession, user_id: int, after: int | None, limit: int
) -> list[tuple[int, User]]:
    """(follow id, follower) newest first, after the cursor `after` (a follow id)."""
    q = select(Follow.id, User).join(User, User.id == Follow.follower_id)
    q = q.where(Follow.followee_id == user_id)
    if after is not None:
        q = q.where(Follow.id < after)
    rows = await session.execute(q.order_by(Follow.id.desc()).limit(limit))
    return [(r[0], r[1]) for r in rows]


async def following_page(
    session: AsyncSession, user_id: int, after: int | None, limit: int
) -> list[tuple[int, User]]:
    q = select(Follow.id, User).join(User, User.id == Follow.followee_id)
    q = q.where(Follow.follower_id == user_id)
    if after is not None:
        q = q.where(Follow.id < after)
    rows = await session.execute(q.order_by(Follow.id.desc()).limit(limit))
    return [(r[0], r[1]) for r in rows]


async def follow_counts(session: AsyncSession, user_id: int) -> tuple[int, int]:
    """(followers, following)."""
    followers = await session.scalar(
        select(func.count()).select_from(Follow).where(Follow.followee_id == user_id)
    )
    following = await session.scalar(
        select(func.count()).select_from(Follow).where(Follow.follower_id == user_id)
    )
    return int(followers or 0), int(following or 0)


async def follower_ids(session: AsyncSession, user_id: int) -> list[int]:
    rows = await session.scalars(select(Follow.follower_id).where(Follow.followee_id == user_id))
    return list(rows)


async def followee_ids(session: AsyncSession, user_id: int) -> list[int]:
    rows = await session.scalars(select(Follow.followee_id).where(Follow.follower_id == user_id))
    return list(rows)


# -- blocks --------------------------------------------------------------


async def is_blocked(session: AsyncSession, blocker_id: int, blocked_id: int) -> bool:
    return bool(
        await session.scalar(
            select(exists().where(Block.blocker_id == blocker_id, Block.blocked_id == blocked_id))
        )
    )


async def block(session: AsyncSession, blocker_id: int, blocked_id: int) -> bool:
    """Add the block and drop follows both ways; False when it already existed."""
    await session.execute(
        delete(Follow).where(
            or_(
                and_(Follow.follower_id == blocker_id, Follow.followee_id == blocked_id),
                and_(Follow.follower_id == blocked_id, Follow.followee_id == blocker_id),
            )
        )
    )
    if await is_blocked(session, blocker_id, blocked_id):
        return False
    try:
        async with session.begin_nested():
            session.add(Block(blocker_id=blocker_id, blocked_id=blocked_id))
    except IntegrityError:
        return False
    return True


async def unblock(session: AsyncSession, blocker_id: int, blocked_id: int) -> bool:
    result = await session.execute(
        delete(Block).where(Block.blocker_id == blocker_id, Block.blocked_id == blocked_id)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def blocked_ids(session: AsyncSession, blocker_id: int) -> list[int]:
    rows = await session.scalars(select(Block.blocked_id).where(Block.blocker_id == blocker_id))
    return list(rows)


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def search_users(session: AsyncSession, query: str, viewer_id: int, limit: int) -> list[User]:
    """People whose handle starts with the query (an exact handle first) or whose display
    name contains it; not banned, and not those who blocked the viewer."""
    key = query.casefold()
    q = (
        select(User)
        .where(
            or_(
                User.handle_key.like(f"{_like_escaped(key)}%", escape="\\"),
                func.lower(User.display_name).like(f"%{_like_escaped(key)}%", escape="\\"),
            ),
            User.banned_at.is_(None),
            ~exists().where(Block.blocker_id == User.id, Block.blocked_id == viewer_id),
        )
        .order_by((User.handle_key == key).desc(), User.handle_key)
        .limit(limit)
    )
    return list((await session.scalars(q)).all())
