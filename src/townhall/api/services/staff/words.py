"""The instance's word list: admins keep it; profile and space texts are checked on it."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from townhall.api.schemas.staff import AuditDetail, TermList, TermOut
from townhall.api.services.staff import audit
from townhall.domain import staff as rules
from townhall.domain.errors import Conflict, NotFound
from townhall.store import staff as store
from townhall.store.models import BlockedTerm, User


def _out(row: BlockedTerm) -> TermOut:
    return TermOut(id=row.id, term=row.term, created_at=row.created_at)


async def list_terms(session: AsyncSession, actor: User) -> TermList:
    rules.check_admin(actor.role)
    return TermList(terms=[_out(r) for r in await store.term_rows(session)])


async def add(session: AsyncSession, actor: User, term: str) -> TermOut:
    rules.check_admin(actor.role)
    cleaned = rules.check_term(term)
    if len(await store.terms(session)) >= rules.TERMS_MAX:
        raise Conflict("too_many_terms", f"the list holds at most {rules.TERMS_MAX} terms")
    row = await store.add_term(session, cleaned, actor.id)
    if row is None:
        raise Conflict("term_listed", "that term is already on the list", "term")
    await audit.record(session, actor, "words.added", detail=AuditDetail(term=cleaned))
    await session.commit()
    return _out(row)


async def remove(session: AsyncSession, actor: User, term_id: int) -> None:
    rules.check_admin(actor.role)
    term = await store.remove_term(session, term_id)
    if term is None:
        raise NotFound("term_not_found", "no such term")
    await audit.record(session, actor, "words.removed", detail=AuditDetail(term=term))
    await session.commit()


async def check(session: AsyncSession, **fields: str | None) -> None:
    """Refuse any of these texts (title=..., bio=...) that contains a listed term."""
    present = {k: v for k, v in fields.items() if v}
    if not present:
        return
    terms = await store.terms(session)
    if not terms:
        return
    for field, text in present.items():
        assert text is not None
        rules.check_words(field, text, terms)
