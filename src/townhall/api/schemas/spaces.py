"""Spaces: space views, the snapshot, members' places and the answers of stage actions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StrictBool, StrictInt, StrictStr

from townhall.api.schemas import Body, IsoTime, Out


class UserBrief(Out):
    id: int
    handle: str
    display_name: str


class RecordingOut(Out):
    """A finished recording."""

    duration_seconds: float
    size_bytes: int
    url: str


class CaptionsBrief(Out):
    on: bool
    language: str
    clips: bool = Field(description="whether people may cut clips of the recording")


class HistorySummary(Out):
    started_at: IsoTime | None
    ended_at: IsoTime | None
    duration_seconds: float | None
    peak_listeners: int
    total_listeners: int
    speakers: list[UserBrief] = Field(description="who was on stage, the host first")


class SpaceOut(Out):
    """A space. Fields with a default are sent only where they apply (unset: left out)."""

    id: str
    title: str
    topics: list[str]
    visibility: str
    speaker_policy: str
    followers_may_join: bool
    state: str
    host: UserBrief | None
    scheduled_for: IsoTime | None
    created_at: IsoTime | None
    started_at: IsoTime | None
    ended_at: IsoTime | None
    listener_count: int
    stage_count: int
    speakers: list[UserBrief]
    recording: bool | RecordingOut | None = Field(
        description="before the end: recording now?; once ended: the recording, or null"
    )
    captions: CaptionsBrief
    end_reason: str | None = Field(default=None, description="ended spaces")
    peak_listeners: int | None = Field(default=None, description="ended spaces")
    share_url: str | None = Field(default=None, description="one space, and a created one")
    my_role: str | None = Field(default=None, description="one space: my role while I am in it")
    reminder_set: bool | None = Field(
        default=None, description="one space, and scheduled ones in discovery"
    )
    history: HistorySummary | None = Field(default=None, description="one ended space")


class SpaceList(Out):
    spaces: list[SpaceOut]


class Attendance(Out):
    user: UserBrief
    joined_at: IsoTime | None
    left_at: IsoTime | None


class HistoryOut(HistorySummary):
    space: SpaceOut
    attendance: list[Attendance]


class Place(Out):
    """Someone's place in a live space (role null: not in it)."""

    role: str | None
    muted: bool
    hand_raised: bool
    invited_as: str | None


class MemberOut(Place):
    """What a stage action answers: the affected member's place."""

    user_id: int


class MyPlace(Place):
    actions: list[str] = Field(description="what I may do to myself now")


class StageMember(Out):
    user: UserBrief
    role: str
    muted: bool
    actions: list[str] = Field(description="what the viewer may do to them now")


class ListenerOut(UserBrief):
    actions: list[str] = Field(description="what the viewer may do to them now")


class RaisedHand(Out):
    user: UserBrief
    raised_at: float | None
    actions: list[str] = Field(description="what the viewer may do to them now")


class Invitation(Out):
    user: UserBrief
    role: str = Field(description="speaker or cohost")


class Snapshot(Out):
    """The room as one viewer sees it."""

    space: SpaceOut
    recording: bool | RecordingOut | None
    stage: list[StageMember]
    listeners: list[ListenerOut] = Field(description="the first 100")
    listener_count: int
    hand_queue: list[RaisedHand] | None = Field(description="hosts and co-hosts only")
    hand_count: int
    invitations: list[Invitation] | None = Field(description="hosts and co-hosts only")
    stage_locked: bool
    reactions: list[str]
    me: MyPlace


class JoinedOut(Snapshot):
    seq: int = Field(description="subscribe with last_seq=seq to get what happened since")


class LeftOut(Out):
    space_id: str
    left: bool


class GuestsAdded(Out):
    added: list[int]


class MutedAll(Out):
    muted: list[int]


class StageLock(Out):
    stage_locked: bool


class Removed(Out):
    user_id: int
    removed: bool
    blocked: bool


class Reaction(Out):
    emoji: str


class ReportOut(Out):
    id: int
    space_id: str
    user_id: int | None
    reason: str
    created_at: IsoTime | None


class Reminder(Out):
    space_id: str
    reminder_set: bool


class RecordingSwitch(Out):
    recording: bool = Field(description="whether the space records now")


# -- requests -----------------------------------------------------------------------


class RecordingIn(Body):
    on: StrictBool


Id = Annotated[StrictInt, Field(ge=1, le=2**31 - 1)]


class CreateSpaceIn(Body):
    title: StrictStr = Field(max_length=200)
    visibility: Literal["public", "private"]
    speaker_policy: Literal["everyone", "followed", "invited"] = "everyone"
    topics: list[Annotated[StrictStr, Field(max_length=100)]] = Field(
        default_factory=list, max_length=10
    )
    scheduled_for: datetime | None = Field(
        default=None, description="start time (ISO 8601 with offset), up to 30 days ahead"
    )
    followers_may_join: StrictBool = Field(
        default=False, description="private spaces: the host's followers may join too"
    )
    guest_ids: list[Id] = Field(
        default_factory=list, max_length=500, description="private spaces: who may join"
    )
    record: StrictBool = Field(
        default=False, description="record the space (the host may pause it while live)"
    )


class EditSpaceIn(Body):
    title: StrictStr | None = Field(default=None, max_length=200)
    topics: list[Annotated[StrictStr, Field(max_length=100)]] | None = Field(
        default=None, max_length=10
    )
    speaker_policy: Literal["everyone", "followed", "invited"] | None = None


class GuestsIn(Body):
    user_ids: list[Id] = Field(min_length=1, max_length=500)


class UserIn(Body):
    user_id: Id


class InviteIn(Body):
    user_id: Id
    role: Literal["speaker", "cohost"] = "speaker"


class RoleIn(Body):
    role: Literal["host", "cohost", "speaker", "listener"]


class MuteIn(Body):
    user_id: Id | None = Field(default=None, description="someone else (moderators); default: me")


class StageLockIn(Body):
    locked: StrictBool


class ReactionIn(Body):
    emoji: StrictStr = Field(max_length=16)


class ReportIn(Body):
    user_id: Id | None = Field(default=None, description="a participant; omit to report the space")
    reason: StrictStr = Field(max_length=2000)
