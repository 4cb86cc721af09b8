"""Request and response models of the staff API (/api/v1/admin) and of invite codes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, StrictInt, StrictStr

from townhall.api.schemas import Body, IsoTime, Out
from townhall.domain.staff import InstanceRole, ReportAction

# -- requests ----------------------------------------------------------------------


class RoleIn(Body):
    role: InstanceRole


class QuotaIn(Body):
    invite_quota: StrictInt | None = Field(ge=0, le=1000)


class InviteIn(Body):
    expires_in_days: StrictInt = Field(7, ge=1, le=90)


class ActionIn(Body):
    action: ReportAction
    reason: StrictStr = Field("", max_length=2000)
    hours: float | None = Field(None, gt=0, le=24 * 365, description="suspend: how long")


class UserActionIn(Body):
    action: Literal["warn", "suspend", "ban", "restore"]
    reason: StrictStr = Field("", max_length=2000)
    hours: float | None = Field(None, gt=0, le=24 * 365, description="suspend: how long")


class TermIn(Body):
    term: StrictStr = Field(min_length=1, max_length=200)


# -- responses ---------------------------------------------------------------------


class StaffUserOut(BaseModel):
    id: int
    handle: str
    display_name: str
    role: InstanceRole
    banned: bool
    suspended_until: datetime | None
    created_at: datetime
    invited_by: str | None = None
    invite_quota: int | None = Field(None, description="null: the instance default")


class StaffList(BaseModel):
    staff: list[StaffUserOut]


class InviteOut(BaseModel):
    id: int
    created_at: datetime
    expires_at: datetime
    used: bool
    used_by: str | None = None
    code: str | None = Field(None, description="only in the answer that creates the code")


class InviteList(BaseModel):
    invites: list[InviteOut]
    quota: int
    unused: int


class AuditDetail(Out):
    """What an audit record adds to its action; only the fields the action has are sent."""

    term: str | None = Field(default=None, description="words.added, words.removed")
    invite_id: int | None = Field(default=None, description="invite.created")
    role: str | None = Field(default=None, description="role.granted: the new role")
    before: str | None = Field(default=None, description="role.granted: the role before")
    invite_quota: int | None = Field(default=None, description="invites.quota")
    locked: bool | None = Field(default=None, description="space.stage_lock")
    until: IsoTime | None = Field(default=None, description="user.suspend: suspended until")
    hours: float | None = Field(default=None, description="user.suspend: for how long")


class AuditOut(BaseModel):
    id: int
    created_at: datetime
    action: str
    actor_id: int | None
    actor_handle: str | None
    target_user_id: int | None
    target_handle: str | None
    space_id: str | None
    report_id: int | None
    reason: str
    detail: AuditDetail


class AuditPage(BaseModel):
    records: list[AuditOut]
    next_before: int | None = Field(None, description="pass as ?before= for older records")


class ReportItem(BaseModel):
    id: int
    reason: str
    reporter: str | None
    created_at: datetime


class SpaceRef(BaseModel):
    id: str | None
    title: str
    state: str | None
    host_id: int | None
    host_handle: str | None


class PersonRef(BaseModel):
    id: int | None
    handle: str | None
    role: InstanceRole | None = None
    banned: bool = False
    suspended_until: datetime | None = None


class PersonHistory(BaseModel):
    reports: int = Field(description="reports ever naming this person or their spaces")
    actions: list[AuditOut]


class TimelineEntry(BaseModel):
    """`handle` was on stage and unmuted (`stage`) or speaking, from `start_ms` to
    `end_ms` into the evidence's audio."""

    user_id: int
    handle: str | None
    kind: Literal["stage", "speaking"]
    start_ms: int
    end_ms: int


class EvidenceOut(BaseModel):
    """The audio of the space around a report: `pending` until the window after the
    report has closed and the file is written, then `ready` (`missing`: no media node
    had the space's audio)."""

    id: int
    status: Literal["pending", "ready", "missing"]
    url: str | None = Field(description="the Ogg Opus file (staff only) once ready")
    window_start: datetime
    window_end: datetime
    duration_ms: int
    report_at_ms: int | None = Field(description="where in the audio the first report came")
    timeline: list[TimelineEntry]


class ReportGroup(BaseModel):
    """Open reports of one space and one person (None: the space itself), merged."""

    id: int = Field(description="the newest report's id; act on the group through it")
    status: str
    space: SpaceRef
    person: PersonRef | None
    count: int
    first_at: datetime
    last_at: datetime
    reports: list[ReportItem]
    history: PersonHistory | None
    audit: list[AuditOut]
    evidence: list[EvidenceOut] = Field(default_factory=list)


class ReportQueue(BaseModel):
    groups: list[ReportGroup]


class ActionOut(BaseModel):
    action: ReportAction
    resolved_reports: list[int]
    audit: AuditOut


class TermOut(BaseModel):
    id: int
    term: str
    created_at: datetime


class TermList(BaseModel):
    terms: list[TermOut]
