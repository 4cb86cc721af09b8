"""The staff API: roles, sanctions, the review queue, the audit log and the word list.

Only the instance's moderators and admins get past the services' checks (403 for
everyone else, 401 without credentials); some endpoints are for admins only.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response, status
from fastapi.responses import FileResponse

from townhall.api.deps import BusDep, CurrentUser, DbSession, SettingsDep, TokensDep
from townhall.api.schemas.media import MediaOverview
from townhall.api.schemas.staff import (
    ActionIn,
    ActionOut,
    AuditPage,
    InviteIn,
    InviteOut,
    QuotaIn,
    ReportGroup,
    ReportQueue,
    RoleIn,
    StaffList,
    StaffUserOut,
    TermIn,
    TermList,
    TermOut,
    UserActionIn,
)
from townhall.api.services import media_admin
from townhall.api.services.staff import (
    audit,
    evidence,
    invites,
    reports,
    roles,
    sanctions,
    words,
)
from townhall.domain import staff as rules
from townhall.domain.staff import ReportAction
from townhall.store.staff import AuditFilter

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])

Handle = Annotated[str, Path(max_length=15)]
ReportId = Annotated[int, Path(ge=1, le=2**62)]


@router.get("/media")
async def media_overview(user: CurrentUser, request: Request) -> MediaOverview:
    """Staff: the media plane per worker: its spaces (origin or edge), listeners,
    packets/s, CPU and relay loss."""
    return await media_admin.staff_overview(user, request.app.state.media)


metrics_router = APIRouter(tags=["admin"])


@metrics_router.get("/metrics", response_class=Response)
async def metrics(user: CurrentUser, request: Request) -> Response:
    """Staff (bearer token): the media figures in Prometheus' text format."""
    view = await media_admin.staff_overview(user, request.app.state.media)
    return Response(media_admin.prometheus_text(view), media_type="text/plain; version=0.0.4")


@router.get("/staff")
async def list_staff(user: CurrentUser, session: DbSession) -> StaffList:
    """The instance's moderators and admins."""
    return await roles.list_staff(session, user)


@router.get("/users/{handle}")
async def get_user(handle: Handle, user: CurrentUser, session: DbSession) -> StaffUserOut:
    """An account as staff see it: role, sanctions, who invited it."""
    return await roles.user_view(session, user, handle)


@router.put("/users/{handle}/role")
async def set_role(
    handle: Handle, body: RoleIn, user: CurrentUser, session: DbSession
) -> StaffUserOut:
    """Admins make someone a moderator, an admin, or a member again."""
    return await roles.grant(session, user, handle, body.role)


@router.put("/users/{handle}/invite-quota")
async def set_invite_quota(
    handle: Handle, body: QuotaIn, user: CurrentUser, session: DbSession
) -> StaffUserOut:
    """How many unused invite codes this member may hold (null: the instance default)."""
    return await roles.set_invite_quota(session, user, handle, body.invite_quota)


@router.post("/users/{handle}/actions")
async def act_on_user(
    handle: Handle,
    body: UserActionIn,
    user: CurrentUser,
    session: DbSession,
    bus: BusDep,
    settings: SettingsDep,
) -> StaffUserOut:
    """Warn, suspend (`hours`), ban or restore an account."""
    target = await roles.target_by_handle(session, handle)
    await sanctions.apply(
        session, bus, settings, user, target, ReportAction(body.action), body.reason, body.hours
    )
    return await roles.user_view(session, user, handle)


@router.get("/reports")
async def report_queue(
    user: CurrentUser,
    session: DbSession,
    status_: Annotated[
        Literal["open", "dismissed", "actioned", "all"], Query(alias="status")
    ] = "open",
    sort: Literal["newest", "most"] = "newest",
) -> ReportQueue:
    """Reports merged by space and person, newest or most reported first."""
    return await reports.queue(session, user, status_, sort)


@router.get("/reports/{report_id}")
async def report_group(report_id: ReportId, user: CurrentUser, session: DbSession) -> ReportGroup:
    """A report with every report merged with it, the person's history and the log."""
    return await reports.group_of(session, user, report_id)


@router.get(
    "/evidence/{evidence_id}.ogg",
    response_class=FileResponse,
    responses={200: {"content": {"audio/ogg": {}}}, 206: {"description": "a byte range"}},
)
async def evidence_file(
    evidence_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    user: CurrentUser,
    session: DbSession,
    settings: SettingsDep,
) -> FileResponse:
    """A report's evidence as Ogg Opus (the space's audio around it), for staff."""
    path = await evidence.file_for(session, user, settings.data_dir, evidence_id)
    return FileResponse(path, media_type="audio/ogg", filename=f"evidence-{evidence_id}.ogg")


@router.post("/reports/{report_id}/actions")
async def act_on_report(
    report_id: ReportId,
    body: ActionIn,
    user: CurrentUser,
    session: DbSession,
    bus: BusDep,
    settings: SettingsDep,
) -> ActionOut:
    """Resolve a report (and those merged with it) by one action; logged."""
    return await reports.act(
        session,
        bus,
        settings,
        settings.data_dir,
        user,
        report_id,
        body.action,
        body.reason,
        body.hours,
    )


@router.get("/audit")
async def read_audit(
    user: CurrentUser,
    session: DbSession,
    actor_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    target_user_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    space_id: Annotated[str | None, Query(max_length=12)] = None,
    report_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    action: Annotated[str | None, Query(max_length=40)] = None,
    before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> AuditPage:
    """The audit log, newest first, filtered; admins only."""
    where = AuditFilter(
        actor_id=actor_id,
        target_user_id=target_user_id,
        space_id=space_id,
        report_id=report_id,
        action=action,
        before_id=before,
    )
    return await audit.read(session, user, where, limit)


@router.get("/words")
async def list_words(user: CurrentUser, session: DbSession) -> TermList:
    return await words.list_terms(session, user)


@router.post("/words", status_code=status.HTTP_201_CREATED)
async def add_word(body: TermIn, user: CurrentUser, session: DbSession) -> TermOut:
    """Titles, topics, names and bios with this term are refused from now on."""
    return await words.add(session, user, body.term)


@router.delete("/words/{term_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_word(
    term_id: Annotated[int, Path(ge=1, le=2**62)], user: CurrentUser, session: DbSession
) -> None:
    await words.remove(session, user, term_id)


@router.post("/invites", status_code=status.HTTP_201_CREATED)
async def admin_invite(
    body: InviteIn, user: CurrentUser, session: DbSession, settings: SettingsDep, tokens: TokensDep
) -> InviteOut:
    """An admin's invite code: valid even when registration is closed."""
    rules.check_admin(user.role)
    return await invites.create(session, settings, tokens, user, body.expires_in_days)
