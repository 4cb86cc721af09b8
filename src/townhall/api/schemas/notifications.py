"""My notifications: one model per kind (`kind` discriminates), and what each carries."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, StrictBool, StrictInt, TypeAdapter

from townhall.api.schemas import Body, IsoTime, Out
from townhall.api.schemas.spaces import UserBrief


class Notice(Out):
    """What a notification of one kind carries (its `data`); `KIND` names the kind."""

    KIND: ClassVar[str]


class SpaceStartedNotice(Notice):
    """Someone you follow started a space (or a private space you are a guest of)."""

    KIND: ClassVar[str] = "space.started"
    space_id: str
    title: str
    by: UserBrief


class SpaceReminderNotice(SpaceStartedNotice):
    """A scheduled space you set a reminder on started (if not already told as a follower)."""

    KIND: ClassVar[str] = "space.reminder"


class CohostAddedNotice(SpaceStartedNotice):
    """Someone you follow was made co-host of a live public space."""

    KIND: ClassVar[str] = "cohost.added"
    user: UserBrief


class InviteNotice(SpaceStartedNotice):
    """You were invited on stage (`speaker`, `cohost`) or to a private space (`guest`)."""

    KIND: ClassVar[str] = "invite"
    role: Literal["speaker", "cohost", "guest"]


class WarningNotice(Notice):
    """The instance's moderators warned you."""

    KIND: ClassVar[str] = "moderation.warning"
    reason: str
    by: Literal["moderators"] = "moderators"


class _Notification(Out):
    id: int
    created_at: IsoTime
    read: bool


class SpaceStartedNotification(_Notification):
    kind: Literal["space.started"]
    data: SpaceStartedNotice


class SpaceReminderNotification(_Notification):
    kind: Literal["space.reminder"]
    data: SpaceReminderNotice


class CohostAddedNotification(_Notification):
    kind: Literal["cohost.added"]
    data: CohostAddedNotice


class InviteNotification(_Notification):
    kind: Literal["invite"]
    data: InviteNotice


class WarningNotification(_Notification):
    kind: Literal["moderation.warning"]
    data: WarningNotice


NotificationOut = Annotated[
    SpaceStartedNotification
    | SpaceReminderNotification
    | CohostAddedNotification
    | InviteNotification
    | WarningNotification,
    Field(discriminator="kind"),
]
NOTIFICATION: TypeAdapter[NotificationOut] = TypeAdapter(NotificationOut)


class NotificationPage(Out):
    items: list[NotificationOut]
    next_cursor: str | None = Field(description="pass back as ?cursor= for the next page")


class UnreadCount(Out):
    count: int


class MarkedRead(Out):
    marked: int = Field(description="how many were marked read now")
    unread: int


class MarkReadIn(Body):
    """Either the ids to mark read, or all: true."""

    ids: list[Annotated[StrictInt, Field(ge=1)]] | None = Field(default=None, max_length=500)
    all: StrictBool = False
