"""Reactions, reports and reminders."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from townhall.api.schemas.spaces import Reaction, Reminder, ReportOut
from townhall.api.services.context import Context
from townhall.api.services.spaces.loading import (
    commit_and_publish,
    user_exists,
    viewable,
    with_access_and_member,
)
from townhall.api.services.staff import alerts, evidence
from townhall.bus.events import ReactionSent
from townhall.domain import spaces as rules
from townhall.domain.errors import Conflict, Invalid, NotFound, RateLimited
from townhall.domain.reactions import ReactionWindow, take_reaction, validate_reaction
from townhall.domain.spaces import SpaceState
from townhall.store import spaces as store
from townhall.store import staff as staff_store
from townhall.store.db import utcnow
from townhall.store.models import User

REPORT_REASON_MAX = 500
REPORTS_PER_WINDOW = 10
REPORT_WINDOW_SECONDS = 600


async def react(ctx: Context, space_id: str, emoji: str) -> Reaction:
    """Send a reaction to everyone in the space (rate-limited per user)."""
    validate_reaction(emoji)
    # One query: the space, the access facts and the member row.
    space, seen_by, row = await with_access_and_member(ctx.session, space_id, ctx.actor.id)
    rules.require_live(SpaceState(space.state))
    rules.check_may_view(seen_by)  # lost access meanwhile?
    if row is None or not row.present:
        raise Conflict("not_in_space", "you are not in this space; join it first")
    old = (row.reaction_window_start, row.reaction_count)
    window = None if old[0] is None else ReactionWindow(old[0], old[1])
    new = take_reaction(window, time.time())
    if not await store.take_reaction_slot(ctx.session, row, old, (new.started_at, new.count)):
        raise RateLimited("reaction_rate_limited", "too many reactions at once; slow down")
    await commit_and_publish(
        ctx.session, space.id, [ReactionSent(user_id=ctx.actor.id, emoji=emoji)]
    )
    return Reaction(emoji=emoji)


async def report(
    session: AsyncSession,
    reporter: User,
    space_id: str,
    user_id: int | None,
    reason: str,
    window: evidence.EvidenceWindow = evidence.DEFAULT_WINDOW,
) -> ReportOut:
    """Report a space, or a participant in it, with a reason."""
    space = await viewable(session, space_id, reporter.id)
    cleaned = " ".join(reason.split())
    if not cleaned:
        raise Invalid("reason_required", "say why you report this", "reason")
    if len(cleaned) > REPORT_REASON_MAX:
        raise Invalid(
            "reason_too_long", f"a reason has at most {REPORT_REASON_MAX} characters", "reason"
        )
    target = None
    if user_id is not None:
        target = await user_exists(session, user_id)
        attended = [a.user_id for a, _ in await store.attendance(session, space.id)]
        if user_id not in attended and user_id != space.host_id:
            raise NotFound("not_a_participant", "that person was not in this space", "user_id")
    await _check_report_flood(session, reporter.id, space.id, user_id)
    row = await store.add_report(session, space, reporter.id, target, cleaned)
    await evidence.attach(session, space, row, window)
    await alerts.report_filed(session, row)
    await session.commit()
    return ReportOut(
        id=row.id, space_id=space.id, user_id=user_id, reason=cleaned, created_at=row.created_at
    )


async def _check_report_flood(
    session: AsyncSession, reporter_id: int, space_id: str, target_id: int | None
) -> None:
    """One open report per reporter, space and person; a few reports per window."""
    if await staff_store.open_report_by(session, reporter_id, space_id, target_id):
        raise Conflict("already_reported", "you have reported this already; moderators will look")
    since = utcnow() - timedelta(seconds=REPORT_WINDOW_SECONDS)
    if await staff_store.recent_reports_by(session, reporter_id, since) >= REPORTS_PER_WINDOW:
        raise RateLimited("report_rate_limited", "too many reports at once; try again later")


async def set_reminder(session: AsyncSession, user: User, space_id: str, on: bool) -> Reminder:
    """Ask to be told (or stop being told) when a scheduled space starts."""
    space = await viewable(session, space_id, user.id)
    if on and space.state != SpaceState.SCHEDULED:
        raise Conflict("not_scheduled", "reminders are for scheduled spaces")
    if on and space.host_id == user.id:
        raise Conflict("own_space", "you host this space")
    await store.set_reminder(session, space.id, user.id, on)
    await session.commit()
    return Reminder(space_id=space.id, reminder_set=on)
