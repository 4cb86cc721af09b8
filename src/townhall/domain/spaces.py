"""Space lifecycle, input validation, who may see and join a space, and the host-grace rule."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from townhall.domain.errors import Conflict, Forbidden, Invalid, NotFound

TITLE_MAX = 70
TOPICS_MAX = 3
TOPIC_MAX_LEN = 30
SCHEDULE_MAX_AHEAD = timedelta(days=30)


class SpaceState(StrEnum):
    SCHEDULED = "scheduled"
    LIVE = "live"
    ENDED = "ended"
    CANCELLED = "cancelled"


class Visibility(StrEnum):
    PUBLIC = "public"
    PRIVATE = "private"


class SpeakerPolicy(StrEnum):
    """Who may ask to speak by raising a hand. Hosts and co-hosts may always invite."""

    EVERYONE = "everyone"
    FOLLOWED = "followed"  # people the host follows
    INVITED = "invited"  # only people the host or a co-host invites


class EndReason(StrEnum):
    HOST_ENDED = "host_ended"
    HOST_GONE = "host_gone"  # the host was away longer than the grace time
    HOST_DELETED = "host_deleted"  # the host deleted their account
    MODERATOR_ENDED = "moderator_ended"  # instance staff ended it (a report, a ban)


# -- validation -------------------------------------------------------------


def validate_title(title: str) -> str:
    """A title is 1-70 characters after trimming."""
    cleaned = " ".join(title.split())
    if not cleaned:
        raise Invalid("title_required", "a title is required", "title")
    if len(cleaned) > TITLE_MAX:
        raise Invalid("title_too_long", f"a title has at most {TITLE_MAX} characters", "title")
    return cleaned


def validate_topics(topics: Iterable[str]) -> tuple[str, ...]:
    """Up to 3 distinct topics (case-insensitive), each 1-30 characters."""
    result: list[str] = []
    seen: set[str] = set()
    for topic in topics:
        cleaned = " ".join(topic.split())
        if not cleaned:
            raise Invalid("topic_empty", "a topic cannot be empty", "topics")
        if len(cleaned) > TOPIC_MAX_LEN:
            raise Invalid(
                "topic_too_long", f"a topic has at most {TOPIC_MAX_LEN} characters", "topics"
            )
        if cleaned.casefold() in seen:
            continue
        seen.add(cleaned.casefold())
        result.append(cleaned)
    if len(result) > TOPICS_MAX:
        raise Invalid("too_many_topics", f"a space has at most {TOPICS_MAX} topics", "topics")
    return tuple(result)


def validate_schedule(scheduled_for: datetime, now: datetime) -> datetime:
    """A scheduled start lies in the future and at most 30 days ahead; times are aware."""
    if scheduled_for.tzinfo is None:
        raise Invalid(
            "schedule_needs_timezone", "scheduled_for needs a timezone offset", "scheduled_for"
        )
    if scheduled_for <= now:
        raise Invalid("schedule_in_past", "scheduled_for must be in the future", "scheduled_for")
    if scheduled_for - now > SCHEDULE_MAX_AHEAD:
        raise Invalid(
            "schedule_too_far",
            f"a space can be scheduled at most {SCHEDULE_MAX_AHEAD.days} days ahead",
            "scheduled_for",
        )
    return scheduled_for


# -- lifecycle --------------------------------------------------------------


def require_host(actor_id: int, host_id: int, action: str) -> None:
    if actor_id != host_id:
        raise Forbidden("host_only", f"only the host may {action}")


def require_live(state: SpaceState) -> None:
    """Stage actions need a live space."""
    if state is SpaceState.LIVE:
        return
    if state in (SpaceState.ENDED, SpaceState.CANCELLED):
        raise Conflict("space_ended", f"the space is {state.value}")
    raise Conflict("space_not_live", "the space has not started yet")


def start(state: SpaceState, actor_id: int, host_id: int) -> SpaceState:
    """scheduled → live, by the host."""
    require_host(actor_id, host_id, "start the space")
    if state is not SpaceState.SCHEDULED:
        raise Conflict("not_scheduled", f"only a scheduled space can start (it is {state.value})")
    return SpaceState.LIVE


def cancel(state: SpaceState, actor_id: int, host_id: int) -> SpaceState:
    """scheduled → cancelled, by the host."""
    require_host(actor_id, host_id, "cancel the space")
    if state is not SpaceState.SCHEDULED:
        raise Conflict(
            "not_scheduled", f"only a scheduled space can be cancelled (it is {state.value})"
        )
    return SpaceState.CANCELLED


def end(state: SpaceState, actor_id: int | None, host_id: int) -> SpaceState:
    """live → ended, by the host (actor None: the system, e.g. the host-grace watcher)."""
    if actor_id is not None:
        require_host(actor_id, host_id, "end the space")
    if state is not SpaceState.LIVE:
        raise Conflict("not_live", f"only a live space can end (it is {state.value})")
    return SpaceState.ENDED


def check_editable(state: SpaceState, actor_id: int, host_id: int) -> None:
    """The host edits title, topics and policy while the space is scheduled or live."""
    require_host(actor_id, host_id, "edit the space")
    if state not in (SpaceState.SCHEDULED, SpaceState.LIVE):
        raise Conflict("space_ended", f"the space is {state.value}")


def host_grace_expired(
    host_present: bool, host_last_seen: float | None, now: float, grace_seconds: float
) -> bool:
    """True when a live space's host has been away for longer than the grace time."""
    if host_present:
        return False
    if host_last_seen is None:
        return True
    return now - host_last_seen > grace_seconds


# -- access -----------------------------------------------------------------


@dataclass(frozen=True)
class Access:
    """What decides whether one viewer may see and join one space."""

    viewer_id: int
    host_id: int
    visibility: Visibility
    followers_may_join: bool = False
    is_guest: bool = False  # on the host's invitation list of a private space
    follows_host: bool = False
    blocked_by_host: bool = False
    blocked_by_cohost: bool = False  # a present co-host blocked the viewer
    removed: bool = False


def may_view(access: Access) -> bool:
    """Whether the viewer may see the space (listed, fetched). Blocked users may not."""
    if access.viewer_id == access.host_id:
        return True
    if access.blocked_by_host:
        return False
    if access.visibility is Visibility.PUBLIC:
        return True
    return access.is_guest or (access.followers_may_join and access.follows_host)


def check_may_view(access: Access) -> None:
    """Refuse a viewer who may not see the space.

    Someone the host blocked is told so (403 `blocked_by_host`: they know the host). Anyone
    else who may not see a private space gets the answer of an unknown id (404
    `space_not_found`), so that its existence is not revealed to people who may not know
    of it. (A removed member knows it: `check_may_join` answers 403 `removed_from_space`.)
    """
    if may_view(access):
        return
    if access.blocked_by_host:
        raise Forbidden("blocked_by_host", "the host has blocked you")
    raise NotFound("space_not_found", "no such space")


def watch_refusal(access: Access) -> str | None:
    """Why the viewer may not follow the space's live events, or None when they may.

    `removed_from_space` for someone removed (or blocked) by a moderator, `not_found`
    when they may not see it (the space's existence is not revealed)."""
    if access.viewer_id == access.host_id:
        return None
    if access.removed:
        return "removed_from_space"
    return None if may_view(access) else "not_found"


def check_may_join(access: Access) -> None:
    """Raise Forbidden naming the rule when the viewer may not join."""
    if access.viewer_id == access.host_id:
        return
    if access.removed:
        raise Forbidden("removed_from_space", "you were removed from this space")
    check_may_view(access)
    if access.blocked_by_cohost:
        raise Forbidden("blocked_by_cohost", "a co-host of this space has blocked you")
