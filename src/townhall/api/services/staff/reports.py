"""The review queue: open reports merged by space and person, and what staff do about them.

Reports are never acted on by their count alone: every action is a person's decision,
logged in the audit log with the reports it resolved.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from townhall.api.schemas.staff import (
    ActionOut,
    PersonHistory,
    PersonRef,
    ReportGroup,
    ReportItem,
    ReportQueue,
    SpaceRef,
)
from townhall.api.services import recordings, spaces
from townhall.api.services.staff import audit, evidence, sanctions
from townhall.bus import Bus
from townhall.config import Settings
from townhall.domain import staff as rules
from townhall.domain.errors import Conflict, NotFound
from townhall.domain.spaces import EndReason, SpaceState
from townhall.domain.staff import InstanceRole, ReportAction
from townhall.store import accounts as accounts_store
from townhall.store import recordings as recordings_store
from townhall.store import staff as store
from townhall.store.db import utcnow
from townhall.store.models import AuditRecord, SpaceReport, User
from townhall.store.staff import AuditFilter, ReportFilter

QUEUE_SCAN = 2000
GROUPS_MAX = 200
Sort = Literal["newest", "most"]
Key = tuple[str | None, int | None]


def _key(report: SpaceReport) -> Key:
    return (report.space_id, report.target_user_id)


async def queue(
    session: AsyncSession, actor: User, status: str = "open", sort: Sort = "newest"
) -> ReportQueue:
    """Reports grouped by space and person, newest or most reported first."""
    rules.check_staff(actor.role)
    rows = await store.reports(session, ReportFilter(status=status), QUEUE_SCAN)
    groups: dict[Key, list[SpaceReport]] = {}
    for row in rows:
        groups.setdefault(_key(row), []).append(row)
    ordered = sorted(
        groups.values(),
        key=lambda g: (len(g), max(r.id for r in g)) if sort == "most" else (max(r.id for r in g),),
        reverse=True,
    )[:GROUPS_MAX]
    return ReportQueue(groups=[await _group(session, g) for g in ordered])


async def group_of(session: AsyncSession, actor: User, report_id: int) -> ReportGroup:
    rules.check_staff(actor.role)
    report = await _report(session, report_id)
    rows = await store.reports_in_group(
        session, report.space_id, report.target_user_id, report.status
    )
    return await _group(session, list(rows) or [report])


async def _report(session: AsyncSession, report_id: int) -> SpaceReport:
    report = await store.report_by_id(session, report_id)
    if report is None:
        raise NotFound("report_not_found", "no such report")
    return report


async def _group(session: AsyncSession, rows: Sequence[SpaceReport]) -> ReportGroup:
    newest = max(rows, key=lambda r: r.id)
    space_id = newest.space_id or ""
    space = (await store.spaces_by_ids(session, [space_id] if space_id else [])).get(space_id)
    people = await accounts_store.users_by_ids(
        session,
        [
            uid
            for uid in {
                *(r.reporter_id for r in rows),
                newest.target_user_id,
                newest.space_host_id,
            }
            if uid is not None
        ],
    )
    host_id = space.host_id if space else newest.space_host_id
    host = people.get(host_id) if host_id is not None else None
    if host is None and host_id is not None:
        host = await accounts_store.user_by_id(session, host_id)
    person_id = newest.target_user_id
    person = people.get(person_id) if person_id is not None else None
    subject = person if person_id is not None else host
    history = None
    if subject is not None:
        earlier = await store.reports_against(session, subject.id, 500)
        actions = await store.audit(session, AuditFilter(target_user_id=subject.id), 20)
        history = PersonHistory(reports=len(earlier), actions=[audit.audit_out(a) for a in actions])
    report_ids = [r.id for r in rows]
    logged: list[AuditRecord] = []
    for rid in report_ids[-20:]:
        logged.extend(await store.audit(session, AuditFilter(report_id=rid), 20))
    return ReportGroup(
        id=newest.id,
        status=newest.status,
        space=SpaceRef(
            id=newest.space_id,
            title=space.title if space else newest.space_title,
            state=space.state if space else None,
            host_id=host_id,
            host_handle=host.handle if host else None,
        ),
        person=_person(person_id, person, newest.target_handle)
        if person_id or newest.target_handle
        else None,
        count=len(rows),
        first_at=min(r.created_at for r in rows),
        last_at=max(r.created_at for r in rows),
        reports=[
            ReportItem(
                id=r.id,
                reason=r.reason,
                reporter=people[r.reporter_id].handle if r.reporter_id in people else None,
                created_at=r.created_at,
            )
            for r in sorted(rows, key=lambda r: r.id, reverse=True)
        ],
        history=history,
        audit=[audit.audit_out(a) for a in sorted(logged, key=lambda a: a.id, reverse=True)],
        evidence=await evidence.of_reports(session, rows),
    )


def _person(person_id: int | None, person: User | None, handle: str) -> PersonRef:
    if person is None:
        return PersonRef(id=person_id, handle=handle or None)
    return PersonRef(
        id=person.id,
        handle=person.handle,
        role=InstanceRole(person.role),
        banned=person.banned_at is not None,
        suspended_until=person.suspended_until
        if person.suspended_until and person.suspended_until > utcnow()
        else None,
    )


async def act(
    session: AsyncSession,
    bus: Bus,
    settings: Settings,
    data_dir: Path,
    actor: User,
    report_id: int,
    action: ReportAction,
    reason: str,
    hours: float | None = None,
) -> ActionOut:
    """Resolve a report (and every open report merged with it) by one action."""
    rules.check_staff(actor.role)
    reason = rules.check_reason(reason)
    report = await _report(session, report_id)
    if report.status != "open":
        raise Conflict("report_resolved", f"this report is already {report.status}")
    group = [
        r.id
        for r in await store.reports_in_group(
            session, report.space_id, report.target_user_id, "open"
        )
    ]
    person_id = report.target_user_id
    if person_id is None:
        space = (await store.spaces_by_ids(session, [report.space_id or ""])).get(
            report.space_id or ""
        )
        person_id = space.host_id if space else report.space_host_id
    if action in (ReportAction.WARN, ReportAction.SUSPEND, ReportAction.BAN, ReportAction.RESTORE):
        target = await accounts_store.user_by_id(session, person_id) if person_id else None
        if target is None:
            raise Conflict("account_gone", "the reported account no longer exists")
        await sanctions.apply(
            session, bus, settings, actor, target, action, reason, hours, report.id
        )
    elif action is ReportAction.END_SPACE:
        space_id = _live_space_id(report)
        space = (await store.spaces_by_ids(session, [space_id])).get(space_id)
        if space is None or space.state != SpaceState.LIVE:
            raise Conflict("not_live", "the space is not live")
        await spaces.end_space(session, bus, space_id, EndReason.MODERATOR_ENDED.value)
        await audit.record(
            session, actor, "space.ended", space_id=space_id, report_id=report.id, reason=reason
        )
    elif action is ReportAction.REMOVE_RECORDING:
        space_id = _live_space_id(report)
        if await recordings_store.get(session, space_id) is None:
            raise Conflict("no_recording", "this space has no recording")
        await recordings_store.remove(session, space_id)
        await audit.record(
            session,
            actor,
            "recording.removed",
            space_id=space_id,
            report_id=report.id,
            reason=reason,
        )
        await session.commit()
        recordings.remove_files(data_dir, [space_id])
    else:
        await audit.record(
            session,
            actor,
            "report.dismissed",
            space_id=report.space_id,
            report_id=report.id,
            reason=reason,
        )
    status = "dismissed" if action is ReportAction.DISMISS else "actioned"
    await store.resolve_reports(session, group, status, actor.id, action.value)
    await session.commit()
    last = await store.audit(session, AuditFilter(actor_id=actor.id), 1)
    return ActionOut(action=action, resolved_reports=group, audit=audit.audit_out(last[0]))


def _live_space_id(report: SpaceReport) -> str:
    if report.space_id is None:
        raise Conflict("space_gone", "the reported space no longer exists")
    return report.space_id
