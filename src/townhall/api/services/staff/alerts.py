"""What reaches the moderators by itself: a new report, live on their WebSockets, and a
caption that contains a listed term, flagged to the review queue (never acted on)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from townhall.api.services import outbox
from townhall.domain import staff as rules
from townhall.store import accounts as accounts_store
from townhall.store import staff as store
from townhall.store.models import Space, SpaceReport

REPORT_FILED = "report.filed"


async def report_filed(session: AsyncSession, report: SpaceReport) -> None:
    """Push `report.filed` to every moderator and admin once the report commits."""
    staff_ids = [u.id for u in await store.staff(session)]
    data = {
        "report_id": report.id,
        "space_id": report.space_id,
        "user_id": report.target_user_id,
        "reason": report.reason,
    }
    await outbox.add_user_pushes(session, [(uid, REPORT_FILED, data) for uid in staff_ids])


def _clock(ms: int) -> str:
    seconds = max(0, ms // 1000)
    return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


async def flag_caption(
    session: AsyncSession, space: Space, speaker_id: int, text: str, start_ms: int
) -> SpaceReport | None:
    """A final caption with a listed term files a report by the word list (once per
    space, speaker and term while open), with the line and its time."""
    term = rules.find_term(text, await store.terms(session))
    if term is None:
        return None
    if await store.open_flag_exists(session, space.id, speaker_id, term):
        return None
    speaker = await accounts_store.user_by_id(session, speaker_id)
    reason = f'word list: "{term}" at {_clock(start_ms)}: {text}'[:500]
    report = await store.add_flag(session, space, speaker, reason, term)
    await report_filed(session, report)
    return report
