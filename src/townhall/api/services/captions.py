"""Captions, transcripts and search: the use cases, and the node's captioning runtime.

The host switches a space's captions (and clips) and picks its language; the API stores
it and publishes `captions.changed`, which the media bridge applies (the room gets a
captions tap, or loses it: a space without captions sends no audio to the worker).
`Captioner` runs this node's worker (`captions.supervisor`) and turns what it recognises
into `caption` events (partial and final) and, for final ones, transcript lines.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from townhall.api.schemas.captions import (
    CaptionsOut,
    SearchHit,
    SearchOut,
    SearchResult,
    TranscriptLine,
    TranscriptOut,
)
from townhall.api.services import outbox
from townhall.api.services.spaces.loading import access, commit_and_publish, locked, viewable
from townhall.api.services.spaces.views import space_views, user_brief
from townhall.api.services.staff import alerts
from townhall.bus import Bus
from townhall.bus.events import Caption, CaptionsChanged, Event
from townhall.captions.engines import STATIC_LANGUAGES
from townhall.captions.supervisor import CaptionsWorker, Utterance
from townhall.captions.tap import CaptionsTap
from townhall.config import Settings
from townhall.domain import captions as rules
from townhall.domain import spaces as space_rules
from townhall.domain.spaces import SpaceState
from townhall.media.audio import SAMPLE_RATE
from townhall.media.room import MediaRoom
from townhall.media.server import MediaServer
from townhall.store import accounts as accounts_store
from townhall.store import captions as store
from townhall.store import spaces as spaces_store
from townhall.store.db import Database
from townhall.store.models import CaptionSettings, Space, User

log = logging.getLogger(__name__)

SEARCH_LIMIT = 20


@dataclass(frozen=True)
class CaptionsConfig:
    on: bool
    language: str
    clips: bool


def config_of(settings: Settings, row: CaptionSettings | None) -> CaptionsConfig:
    """A space's captions settings; without a row, on when the instance has an engine."""
    if row is None:
        return CaptionsConfig(on=settings.captions_available, language="en", clips=True)
    return CaptionsConfig(
        on=row.on and settings.captions_available, language=row.language, clips=row.clips
    )


def captions_view(settings: Settings, config: CaptionsConfig) -> CaptionsOut:
    return CaptionsOut(
        available=settings.captions_available,
        on=config.on,
        language=config.language,
        clips=config.clips,
    )


async def captions_of(session: AsyncSession, settings: Settings, space_id: str) -> CaptionsConfig:
    return config_of(settings, await store.settings_of(session, space_id))


def languages(settings: Settings, captioner: Captioner | None) -> frozenset[str]:
    if captioner is not None and captioner.worker.languages:
        return captioner.worker.languages
    return STATIC_LANGUAGES.get(settings.captions_engine, frozenset({"en"}))


async def get_captions(
    session: AsyncSession,
    settings: Settings,
    captioner: Captioner | None,
    viewer: User,
    space_id: str,
) -> CaptionsOut:
    space = await viewable(session, space_id, viewer.id)
    view = captions_view(settings, await captions_of(session, settings, space.id))
    view.paused = bool(view.on and captioner is not None and not captioner.worker.up)
    view.languages = sorted(languages(settings, captioner)) if view.available else []
    return view


async def set_captions(
    session: AsyncSession,
    bus: Bus,
    settings: Settings,
    captioner: Captioner | None,
    actor: User,
    space_id: str,
    *,
    on: bool | None,
    language: str | None,
    clips: bool | None,
) -> CaptionsOut:
    """The host switches captions or clips, or sets the language (scheduled or live)."""
    space = await locked(session, space_id)
    rules.check_toggle(actor.id, space.host_id, SpaceState(space.state))
    before = await captions_of(session, settings, space.id)
    after = CaptionsConfig(
        on=before.on if on is None else on,
        language=before.language if language is None else language,
        clips=before.clips if clips is None else clips,
    )
    if on:
        rules.check_available(settings.captions_available)
    if language is not None or after.on:
        rules.check_language(
            after.language, settings.captions_engine, languages(settings, captioner)
        )
    await store.save_settings(
        session, space.id, on=after.on, language=after.language, clips=after.clips
    )
    events = []
    if (after.on, after.language) != (before.on, before.language) or after.clips != before.clips:
        events.append(
            CaptionsChanged(on=after.on, language=after.language, clips=after.clips, by=actor.id)
        )
    await commit_and_publish(session, space.id, events)
    return captions_view(settings, after)


# -- transcripts -------------------------------------------------------------


async def transcript_lines(
    session: AsyncSession, viewer: User, space_id: str
) -> tuple[Space, list[TranscriptLine]]:
    """An ended space's final captions in order, for whoever may see the space."""
    space = await viewable(session, space_id, viewer.id)
    rules.check_transcript(SpaceState(space.state))
    lines = await store.lines_of(session, space.id)
    people = await accounts_store.users_by_ids(session, list({line.user_id for line in lines}))
    return space, [
        TranscriptLine(
            id=line.id,
            user=user_brief(people[line.user_id]) if line.user_id in people else None,
            start_ms=line.start_ms,
            end_ms=line.end_ms,
            replay_ms=line.replay_ms,
            text=line.text,
        )
        for line in lines
    ]


def transcript_json(space: Space, lines: Sequence[TranscriptLine]) -> TranscriptOut:
    return TranscriptOut(space_id=space.id, title=space.title, lines=list(lines))


def transcript_vtt(lines: Sequence[TranscriptLine]) -> str:
    return rules.to_vtt(
        rules.CueLine(
            line.start_ms,
            line.end_ms,
            line.user.display_name if line.user else "someone",
            line.text,
        )
        for line in lines
    )


async def delete_transcript(session: AsyncSession, actor: User, space_id: str) -> int:
    """The host deletes an ended space's transcript; returns how many lines went."""
    space = await viewable(session, space_id, actor.id)
    rules.check_delete_transcript(actor.id, space.host_id, SpaceState(space.state))
    count = await store.delete_lines(session, space.id)
    await session.commit()
    return count


# -- search --------------------------------------------------------------------


async def search(session: AsyncSession, viewer: User, query: str) -> SearchOut:
    """Ended spaces by what was said (the best line of each), live ones by title or topic.

    Only spaces the viewer may see are returned: a private space's words never show."""
    terms = rules.search_terms(query)
    hits = await store.search_lines(session, terms, SEARCH_LIMIT * 5)
    best: dict[str, store.LineHit] = {}
    for hit in hits:
        if hit.space_id not in best:
            best[hit.space_id] = hit
    visible: list[Space] = []
    for space_id in best:
        space = await spaces_store.get_space(session, space_id)
        if space is not None and space_rules.may_view(await access(session, space, viewer.id)):
            visible.append(space)
        if len(visible) >= SEARCH_LIMIT:
            break
    views = {v.id: v for v in await space_views(session, visible)}
    speakers = await accounts_store.users_by_ids(
        session, list({best[s.id].user_id for s in visible})
    )
    results = []
    for space in visible:
        hit = best[space.id]
        line = SearchHit(
            id=hit.line_id,
            text=hit.text,
            start_ms=hit.start_ms,
            end_ms=hit.end_ms,
            replay_ms=hit.replay_ms,
            user=user_brief(speakers[hit.user_id]) if hit.user_id in speakers else None,
        )
        results.append(SearchResult(space=views[space.id], line=line, rank=round(hit.rank, 6)))
    followees = await accounts_store.followee_ids(session, viewer.id)
    live = await spaces_store.discover(
        session, viewer.id, SpaceState.LIVE, " ".join(terms), followees, SEARCH_LIMIT
    )
    live_views = await space_views(session, live)
    return SearchOut(query=" ".join(terms), results=results, live=live_views)


# -- the runtime ----------------------------------------------------------------


class Captioner:
    """This node's captions: the worker process, the rooms' taps, and what comes back."""

    def __init__(self, db: Database, bus: Any, media: MediaServer, settings: Settings) -> None:
        self._db = db
        self._bus = bus
        self._media = media
        self.worker = CaptionsWorker(
            settings.captions_engine, settings.captions_model, self._on_text, self._on_state
        )
        self._started: dict[str, datetime | None] = {}
        self._was_down = False
        media.captions_sinks = self._tap
        media.on_room_closed(self._forget)

    def start(self) -> None:
        """Start the worker now (otherwise it starts with the first captioned room)."""
        self.worker.start()

    def _forget(self, space_id: str) -> None:
        self._started.pop(space_id, None)

    async def stop(self) -> None:
        self._media.captions_sinks = None
        await self.worker.stop()

    def _tap(self, room: MediaRoom, language: str) -> CaptionsTap:
        self.worker.start()  # an instance nobody captions never loads the engine

        def position() -> int | None:
            recorder = room.recorder
            return recorder.samples if recorder is not None else None

        return CaptionsTap(room.space_id, language, self.worker, replay_position=position)

    async def _space_start(self, space_id: str) -> datetime | None:
        if space_id not in self._started:
            async with self._db.session() as session:
                space = await spaces_store.get_space(session, space_id)
                self._started[space_id] = space.started_at if space is not None else None
        return self._started[space_id]

    async def _on_text(self, utterance: Utterance, text: str, final: bool) -> None:
        started = await self._space_start(utterance.space_id)
        zero = started.timestamp() if started is not None else utterance.started_at
        end = utterance.ended_at if final and utterance.ended_at else time.time()
        start_ms = max(0, round((utterance.started_at - zero) * 1000))
        end_ms = max(start_ms, round((end - zero) * 1000))
        text = " ".join(text.split())
        if final and text:
            replay = utterance.replay_samples
            async with self._db.session() as session:
                space = await spaces_store.get_space(session, utterance.space_id)
                if space is None or space.state == SpaceState.ENDED:
                    return
                await store.add_line(
                    session,
                    utterance.space_id,
                    utterance.user_id,
                    start_ms,
                    end_ms,
                    None if replay is None else replay * 1000 // SAMPLE_RATE,
                    text,
                )
                await alerts.flag_caption(session, space, utterance.user_id, text, start_ms)
        if not text and not final:
            return
        caption = Caption(
            user_id=utterance.user_id,
            text=text,
            final=final,
            start_ms=start_ms,
            end_ms=end_ms,
            utterance=utterance.stream,
        )
        await self._bus.publish(Event.of(utterance.space_id, caption))

    async def _on_state(self, up: bool) -> None:
        """Tell the captioned spaces that captions paused (the worker died) or resumed."""
        if up and not self._was_down:
            return  # the first start is no news
        self._was_down = not up
        for space_id in self._media.captioned_spaces():
            language = self._media.captions_language(space_id)
            data = CaptionsChanged(on=True, language=language, paused=not up)
            async with self._db.session() as session:  # a kept event: through the outbox
                await outbox.add_space_events(session, space_id, [data])
