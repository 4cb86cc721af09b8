"""A space's life: create (now or scheduled), start, cancel, end, edit, guests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from townhall.api.schemas.notifications import (
    InviteNotice,
    SpaceReminderNotice,
    SpaceStartedNotice,
)
from townhall.api.schemas.spaces import GuestsAdded, SpaceOut
from townhall.api.services import notifications
from townhall.api.services.context import Context
from townhall.api.services.spaces.loading import (
    commit_and_publish,
    load_room,
    locked,
    parse_enum,
    save,
)
from townhall.api.services.spaces.stage import leave
from townhall.api.services.spaces.views import share_url, space_view, user_brief, user_ref
from townhall.api.services.staff import words
from townhall.bus import Bus
from townhall.bus.events import MemberJoined, SpaceEnded, SpaceStarted, SpaceUpdated
from townhall.config import Settings
from townhall.domain import spaces as rules
from townhall.domain import staff as staff_rules
from townhall.domain.errors import Conflict, Invalid
from townhall.domain.roles import Role
from townhall.domain.spaces import EndReason, SpaceState, SpeakerPolicy, Visibility
from townhall.store import accounts as accounts_store
from townhall.store import captions as captions_store
from townhall.store import recordings as recordings_store
from townhall.store import spaces as store
from townhall.store.db import utcnow
from townhall.store.models import Space, User

GUESTS_MAX = 500


async def create_space(
    ctx: Context,
    *,
    title: str,
    visibility: str,
    speaker_policy: str = SpeakerPolicy.EVERYONE.value,
    topics: Sequence[str] = (),
    scheduled_for: datetime | None = None,
    followers_may_join: bool = False,
    guest_ids: Sequence[int] = (),
    public_base: str = "",
    record: bool = False,
) -> SpaceOut:
    """Start a space now, or schedule it; the host joins a live space at once.

    `record`: the media plane records the room's mix from the start."""
    clean_title = rules.validate_title(title)
    clean_topics = rules.validate_topics(topics)
    vis = parse_enum(Visibility, visibility, "visibility")
    policy = parse_enum(SpeakerPolicy, speaker_policy, "speaker_policy")
    now = utcnow()
    staff_rules.check_account_age(ctx.actor.created_at, now, ctx.settings.min_account_age_to_speak)
    await words.check(ctx.session, title=clean_title, topic=" / ".join(clean_topics))
    if scheduled_for is not None:
        rules.validate_schedule(scheduled_for, now)
    guests = await _checked_guests(ctx.session, ctx.actor, guest_ids)
    space = Space(
        id=store.new_space_id(),
        host_id=ctx.actor.id,
        title=clean_title,
        visibility=vis.value,
        speaker_policy=policy.value,
        followers_may_join=followers_may_join,
        state=(SpaceState.SCHEDULED if scheduled_for else SpaceState.LIVE).value,
        scheduled_for=scheduled_for,
        created_at=now,
        started_at=None if scheduled_for else now,
        peak_listeners=0,
        version=0,
    )
    await store.add_space(ctx.session, space, clean_topics)
    await store.add_guests(ctx.session, space.id, guests)
    if record:
        await recordings_store.set_on(ctx.session, space.id, True)
    # Captions are on by default when the instance has an engine (the host may switch).
    await captions_store.save_settings(
        ctx.session, space.id, on=ctx.settings.captions_available, language="en", clips=True
    )
    if scheduled_for is None:
        view = await _go_live(ctx.session, ctx.settings, space, ctx.actor)
        view.share_url = share_url(public_base, space.id)
        return view
    view = await space_view(ctx.session, space)
    view.share_url = share_url(public_base, space.id)
    if guests:
        await _tell_guests(ctx.session, space, ctx.actor, guests)
    await ctx.session.commit()
    return view


async def _checked_guests(session: AsyncSession, host: User, ids: Sequence[int]) -> list[int]:
    unique = list(dict.fromkeys(i for i in ids if i != host.id))
    if len(unique) > GUESTS_MAX:
        raise Invalid("too_many_guests", f"at most {GUESTS_MAX} guests at once", "guest_ids")
    found = await accounts_store.users_by_ids(session, unique)
    missing = [i for i in unique if i not in found]
    if missing:
        raise Invalid("unknown_user", f"no user with id {missing[0]}", "guest_ids")
    return unique


async def _tell_guests(
    session: AsyncSession, space: Space, host: User, guests: Sequence[int]
) -> None:
    notice = InviteNotice(space_id=space.id, title=space.title, by=user_brief(host), role="guest")
    await notifications.notify(session, guests, notice)


async def _go_live(session: AsyncSession, settings: Settings, space: Space, host: User) -> SpaceOut:
    before = await load_room(session, space, settings)
    after = before.join(host.id)
    await save(session, space, before, after)
    view = await space_view(session, space)
    await _announce_start(session, space, host)
    await commit_and_publish(
        session,
        space.id,
        [
            SpaceStarted(space=view.model_dump(mode="json")),
            MemberJoined(user=user_ref(host), role=Role.HOST.value),
        ],
    )
    return view


async def _announce_start(session: AsyncSession, space: Space, host: User) -> None:
    """Followers (public spaces, or private ones open to followers) or guests hear
    `space.started`; reminder holders not told so already hear `space.reminder`."""
    started = SpaceStartedNotice(space_id=space.id, title=space.title, by=user_brief(host))
    told: set[int] = {host.id}
    if space.visibility == Visibility.PUBLIC or space.followers_may_join:
        await notifications.notify_followers(session, host.id, started)
        told |= set(await accounts_store.follower_ids(session, host.id))
    if space.visibility == Visibility.PRIVATE:
        guests = set(await store.guest_ids(session, space.id)) - told
        if guests:
            await notifications.notify(session, sorted(guests), started)
        told |= guests
    blocked = set(await accounts_store.blocked_ids(session, host.id))
    waiting = set(await store.reminder_user_ids(session, space.id)) - told - blocked
    if waiting:
        reminder = SpaceReminderNotice(**started.model_dump())
        await notifications.notify(session, sorted(waiting), reminder)


async def start_space(ctx: Context, space_id: str) -> SpaceOut:
    space = await locked(ctx.session, space_id)
    space.state = rules.start(SpaceState(space.state), ctx.actor.id, space.host_id).value
    space.started_at = utcnow()
    return await _go_live(ctx.session, ctx.settings, space, ctx.actor)


async def cancel_space(ctx: Context, space_id: str) -> SpaceOut:
    space = await locked(ctx.session, space_id)
    state = rules.cancel(SpaceState(space.state), ctx.actor.id, space.host_id)
    return await _close(ctx.session, ctx.bus, space, state, "cancelled")


async def end_space(
    session: AsyncSession, bus: Bus, space_id: str, reason: str, actor_id: int | None = None
) -> SpaceOut:
    """End a live space (by its host, or by the system when actor_id is None)."""
    space = await locked(session, space_id)
    state = rules.end(SpaceState(space.state), actor_id, space.host_id)
    return await _close(session, bus, space, state, str(reason))


async def _close(
    session: AsyncSession, bus: Bus, space: Space, state: SpaceState, reason: str
) -> SpaceOut:
    """Record that the space ended (or was cancelled) now for this reason, everyone still
    in a live space leaving; commit, and publish `space.ended`."""
    space.state = state.value
    space.ended_at = utcnow()
    space.end_reason = reason
    if state is SpaceState.ENDED:
        await store.mark_left(session, space.id, None, space.ended_at)
    await session.flush()
    view = await space_view(session, space)
    await commit_and_publish(session, space.id, [SpaceEnded(reason=reason)])
    return view


async def end_by_host(ctx: Context, space_id: str) -> SpaceOut:
    return await end_space(ctx.session, ctx.bus, space_id, EndReason.HOST_ENDED.value, ctx.actor.id)


async def edit_space(
    ctx: Context,
    space_id: str,
    *,
    title: str | None = None,
    topics: Sequence[str] | None = None,
    speaker_policy: str | None = None,
) -> SpaceOut:
    """The host edits title, topics and speaker policy of a scheduled or live space."""
    space = await locked(ctx.session, space_id)
    rules.check_editable(SpaceState(space.state), ctx.actor.id, space.host_id)
    if title is not None:
        space.title = rules.validate_title(title)
        await words.check(ctx.session, title=space.title)
    if speaker_policy is not None:
        space.speaker_policy = parse_enum(SpeakerPolicy, speaker_policy, "speaker_policy").value
    if topics is not None:
        clean_topics = rules.validate_topics(topics)
        await words.check(ctx.session, topic=" / ".join(clean_topics))
        await store.set_topics(ctx.session, space.id, clean_topics)
    await ctx.session.flush()
    view = await space_view(ctx.session, space)
    await commit_and_publish(
        ctx.session, space.id, [SpaceUpdated(space=view.model_dump(mode="json"))]
    )
    return view


async def add_guests(ctx: Context, space_id: str, user_ids: Sequence[int]) -> GuestsAdded:
    """The host lets more people into a private space."""
    space = await locked(ctx.session, space_id)
    rules.require_host(ctx.actor.id, space.host_id, "invite guests")
    if space.visibility != Visibility.PRIVATE:
        raise Conflict("space_is_public", "anyone may join a public space; no guest list needed")
    if space.state in (SpaceState.ENDED, SpaceState.CANCELLED):
        raise Conflict("space_ended", f"the space is {space.state}")
    added = await store.add_guests(
        ctx.session, space.id, await _checked_guests(ctx.session, ctx.actor, user_ids)
    )
    if added:
        await _tell_guests(ctx.session, space, ctx.actor, added)
    await ctx.session.commit()
    return GuestsAdded(added=added)


async def close_for_deleted_account(
    session: AsyncSession,
    bus: Bus,
    settings: Settings,
    user: User,
    end_reason: EndReason = EndReason.HOST_DELETED,
) -> None:
    """Before an account goes (or is banned): its live spaces end, its scheduled ones are
    cancelled, and it leaves the spaces it is in, each with the usual events, so no client
    is left waiting."""
    for space_id, state, hosts in await store.open_spaces_of(session, user.id):
        if not hosts:
            await leave(Context(session, bus, settings, user), space_id)
        elif state == SpaceState.LIVE:
            await end_space(session, bus, space_id, end_reason.value)
        else:
            await cancel_space(Context(session, bus, settings, user), space_id)
