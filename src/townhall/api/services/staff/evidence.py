"""Evidence for reports: asked for when a live space is reported, recorded once the media
plane has written it, shown in the review queue, and deleted when its retention ends.

A report in a live space opens a window (the 5 minutes before it and the 2 after) unless
the space has one open already: every report in that window shares its one file. The
request goes to the media plane through the outbox (`EvidenceRequest` on the evidence
channel); the node with the space's audio writes `<data_dir>/evidence/<id>.ogg` and its
timeline (`<id>.json`) and announces `EvidenceSaved`, which every API node's
`EvidenceKeeper` records. The keeper also looks at the files by itself (an announcement
lost while Redis was away), marks windows nobody wrote `missing`, and deletes evidence
past `TOWNHALL_EVIDENCE_RETENTION_DAYS` (file and row).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from townhall.api.schemas.staff import EvidenceOut, TimelineEntry
from townhall.api.services import outbox
from townhall.api.services.periodic import PeriodicCheck
from townhall.bus.base import Subscription, SubscriptionClosed, SubscriptionLagged
from townhall.bus.evidence import (
    EVIDENCE_CHANNEL,
    EVIDENCE_REQUESTED,
    EvidenceRequest,
    EvidenceSaved,
)
from townhall.config import Settings
from townhall.domain import staff as rules
from townhall.domain.errors import NotFound
from townhall.domain.spaces import SpaceState
from townhall.media.evidence import Sidecar, TimelineSpan, evidence_path, timeline_path
from townhall.store import accounts as accounts_store
from townhall.store import evidence as store
from townhall.store import spaces as spaces_store
from townhall.store import staff as staff_store
from townhall.store.db import Database, utcnow
from townhall.store.models import Evidence, Space, SpaceReport, User

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvidenceWindow:
    """How much of the space's audio is saved before and after a report."""

    before: timedelta = timedelta(minutes=5)
    after: timedelta = timedelta(minutes=2)

    @classmethod
    def of(cls, settings: Settings) -> EvidenceWindow:
        return cls(
            timedelta(seconds=settings.evidence_before_seconds),
            timedelta(seconds=settings.evidence_after_seconds),
        )


DEFAULT_WINDOW = EvidenceWindow()
WRITE_GRACE = timedelta(seconds=30)
"""After its window closed, how long evidence may stay pending before it counts as missing."""
EVIDENCE_READY = "evidence.ready"
"""Pushed to every moderator and admin when evidence becomes playable."""


async def attach(
    session: AsyncSession, space: Space, report: SpaceReport, window: EvidenceWindow
) -> Evidence | None:
    """Give a report in a live space its evidence: the space's open window, or a new one
    (asked of the media plane once this transaction commits). None when not live."""
    if space.state != SpaceState.LIVE:
        return None
    await spaces_store.lock_space(session, space.id)  # one window per space, even in floods
    at = report.created_at
    current = await store.open_window(session, space.id, at)
    if current is None:
        current = await store.add(session, space.id, at - window.before, at + window.after, at)
        request = EvidenceRequest(
            current.id,
            space.id,
            at.timestamp(),
            window.before.total_seconds(),
            window.after.total_seconds(),
        )
        data = request.to_payload()["data"]
        await outbox.add_user_pushes(session, [(EVIDENCE_CHANNEL, EVIDENCE_REQUESTED, data)])
    await store.link(session, report.id, current.id)
    return current


def evidence_url(evidence_id: int) -> str:
    return f"/api/v1/admin/evidence/{evidence_id}.ogg"


async def of_reports(session: AsyncSession, reports: Sequence[SpaceReport]) -> list[EvidenceOut]:
    """The evidence of a group of reports, oldest window first, with handles named."""
    by_report = await store.of_reports(session, [r.id for r in reports])
    rows = {e.id: e for found in by_report.values() for e in found}
    if not rows:
        return []
    user_ids = {uid for e in rows.values() for uid, _ in _spans(e)}
    people = await accounts_store.users_by_ids(session, list(user_ids)) if user_ids else {}
    return [_out(row, people) for row in sorted(rows.values(), key=lambda e: e.window_start)]


class KeptTimeline(BaseModel):
    """What an evidence row keeps of its sidecar (`Evidence.timeline`; `{}` while pending)."""

    started_at: float | None = None
    report_at_ms: int | None = None
    spans: list[TimelineSpan] = []


def _kept(row: Evidence) -> KeptTimeline:
    try:
        return KeptTimeline.model_validate(row.timeline or {})
    except ValidationError:
        log.warning("evidence %s: its stored timeline is unreadable", row.id)
        return KeptTimeline()


def _spans(row: Evidence) -> list[tuple[int, TimelineSpan]]:
    return [(span.user_id, span) for span in _kept(row).spans]


def _out(row: Evidence, people: dict[int, User]) -> EvidenceOut:
    ready = row.status == "ready"
    kept = _kept(row)
    timeline = [
        TimelineEntry(
            user_id=span.user_id,
            handle=people[span.user_id].handle if span.user_id in people else None,
            kind=span.kind,
            start_ms=span.start_ms,
            end_ms=span.end_ms,
        )
        for span in kept.spans
    ]
    status = row.status if row.status in ("pending", "ready") else "missing"
    return EvidenceOut(
        id=row.id,
        status=status,  # type: ignore[arg-type]
        url=evidence_url(row.id) if ready else None,
        window_start=row.window_start,
        window_end=row.window_end,
        duration_ms=row.duration_ms,
        report_at_ms=kept.report_at_ms,
        timeline=timeline,
    )


async def file_for(session: AsyncSession, actor: User, data_dir: Path, evidence_id: int) -> Path:
    """The Ogg file of ready evidence, for staff."""
    rules.check_staff(actor.role)
    row = await store.get(session, evidence_id)
    path = evidence_path(data_dir, evidence_id)
    if row is None or row.status != "ready" or not path.exists():
        raise NotFound("evidence_not_found", "no such evidence, or it is not ready yet")
    return path


def read_timeline(data_dir: Path, evidence_id: int) -> Sidecar | None:
    """What the media plane wrote next to the file, or None when it is not (yet) there
    (or unreadable)."""
    path = timeline_path(data_dir, evidence_id)
    if not evidence_path(data_dir, evidence_id).exists():
        return None
    try:
        return Sidecar.model_validate_json(path.read_text())
    except (OSError, ValueError):  # pydantic's ValidationError is a ValueError
        return None


class EvidenceKeeper(PeriodicCheck):
    """Records written evidence (announced, or found), marks windows nobody wrote
    `missing`, and deletes evidence past its retention. Runs on every API node; each step
    is idempotent, so two nodes doing it at once is harmless. `clock` is injectable."""

    task_name = "townhall-evidence"
    label = "evidence"

    def __init__(
        self,
        db: Database,
        bus: Any,
        data_dir: Path,
        retention_days: int,
        *,
        interval: float = 10.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__(0, interval)
        self._db = db
        self._bus = bus
        self._data_dir = data_dir
        self.retention = timedelta(days=retention_days)
        self.clock = clock
        self._listener: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()

    def start(self) -> None:
        super().start()
        if self._bus is not None and self._listener is None:
            self._listener = asyncio.create_task(self._listen(), name="townhall-evidence-saved")

    async def stop(self) -> None:
        task, self._listener = self._listener, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await super().stop()

    async def _listen(self) -> None:
        failures = 0
        while True:
            try:
                subscription: Subscription[dict[str, Any]] = await self._bus.subscribe_user(
                    EVIDENCE_CHANNEL
                )
            except Exception:
                failures += 1
                await asyncio.sleep(min(0.25 * 2 ** min(failures, 5), 5.0))
                continue
            failures = 0
            self.listening.set()
            try:
                async for payload in subscription:
                    saved = EvidenceSaved.from_payload(payload)
                    if saved is not None:
                        with contextlib.suppress(Exception):  # the sweep finds it later
                            await self.record(saved.evidence_id)
            except (SubscriptionLagged, SubscriptionClosed):
                pass
            finally:
                self.listening.clear()
                with contextlib.suppress(Exception):
                    await subscription.close()
            await asyncio.sleep(0.25)

    async def record(self, evidence_id: int) -> bool:
        """Store what the media plane wrote for this evidence; False if not there (yet)."""
        sidecar = read_timeline(self._data_dir, evidence_id)
        if sidecar is None:
            return False
        kept = KeptTimeline(
            started_at=sidecar.started_at,
            report_at_ms=sidecar.report_at_ms,
            spans=sidecar.timeline,
        )
        async with self._db.session() as session:
            done = await store.mark_ready(
                session,
                evidence_id,
                duration_ms=sidecar.duration_ms,
                size_bytes=sidecar.size_bytes,
                timeline=kept.model_dump(mode="json"),
                at=self.clock(),
            )
            if done:  # the review queue plays it from now on
                staff_ids = [u.id for u in await staff_store.staff(session)]
                data = {"evidence_id": evidence_id, "space_id": sidecar.space_id}
                await outbox.add_user_pushes(
                    session, [(uid, EVIDENCE_READY, data) for uid in staff_ids]
                )
            await session.commit()
        return done

    async def check_once(self) -> dict[str, list[int]]:
        """One pass: recorded, missing and deleted evidence ids (and `asked`: requests
        sent again for pending windows not yet missing, in case one was lost while the
        bus was away; the media plane takes each evidence id once, and one that comes
        after its window closed still finds it in the buffer)."""
        now = self.clock()
        async with self._db.session() as session:
            waiting = await store.pending(session)
            late = set(await store.pending_closed_before(session, now - WRITE_GRACE))
            # Late is fine: the buffer still holds a window for minutes after it closed.
            still_open = await store.pending_open(session, now - WRITE_GRACE)
        asked = [row.id for row in still_open if await self._ask_again(row)]
        recorded = [eid for eid in waiting if await self.record(eid)]
        missing = sorted(late - set(recorded))
        async with self._db.session() as session:
            await store.mark_missing(session, missing)
            expired = await store.expired(session, now - self.retention)
            await store.remove(session, expired)
            await session.commit()
        remove_files(self._data_dir, expired)
        if expired:
            log.info("evidence: deleted %d past retention", len(expired))
        return {"recorded": recorded, "missing": missing, "deleted": expired, "asked": asked}

    async def _ask_again(self, row: Evidence) -> bool:
        if self._bus is None or row.space_id is None:
            return False
        request = EvidenceRequest(
            row.id,
            row.space_id,
            row.created_at.timestamp(),
            (row.created_at - row.window_start).total_seconds(),
            (row.window_end - row.created_at).total_seconds(),
        )
        try:
            await self._bus.publish_user(EVIDENCE_CHANNEL, request.to_payload())
        except Exception:  # the bus logs its outage; the next pass asks again
            return False
        return True


def remove_files(data_dir: Path, ids: Sequence[int]) -> None:
    for evidence_id in ids:
        for path in (evidence_path(data_dir, evidence_id), timeline_path(data_dir, evidence_id)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
