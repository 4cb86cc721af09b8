"""Connecting a member's audio: who may connect, and on which terms (from the membership)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from townhall.api.hls_tokens import HlsTokens
from townhall.api.schemas.media import HlsLink, IceServerOut, MediaConfig
from townhall.api.services import accounts, spaces
from townhall.api.services.captions import Captioner
from townhall.api.services.hls import HlsService
from townhall.api.services.hls_replay import ReplayService
from townhall.config import Settings
from townhall.domain.errors import Conflict, Forbidden, Unauthorized
from townhall.domain.roles import STAGE_ROLES
from townhall.domain.spaces import SpaceState
from townhall.media.access import MediaAccess
from townhall.media.bridge import MediaBridge
from townhall.media.evidence import EvidenceDesk
from townhall.media.hls.hub import HlsHub
from townhall.media.hls.relay import RedisHlsRelay
from townhall.media.nodes.pool import NodePool
from townhall.media.room_state import RoomState
from townhall.media.server import MediaServer
from townhall.media.workers.plane import MediaPlane, NoAccess, NoBridge
from townhall.media.workers.pool import WorkerPool
from townhall.store import captions as captions_store
from townhall.store import recordings as recordings_store
from townhall.store import spaces as spaces_store
from townhall.store.db import Database


async def connect(
    session: AsyncSession,
    media: MediaPlane,
    bridge: MediaBridge | NoBridge,
    space_id: str,
    user_id: int,
    sdp: str,
    type_: str,
    *,
    listener_limit: int | None = None,
    hls_link: Callable[[], Awaitable[HlsLink]] | None = None,
    access: MediaAccess | NoAccess | None = None,
    credential: int | None = None,
) -> dict[str, str]:
    """Answer a member's offer; on stage and mute state come from the stored membership.

    The bridge follows the space's events before the membership is read, and the
    membership (and whether the space records) is read again once the connection is
    registered, so a role, mute, removal or recording switch made meanwhile still
    reaches the connection. Likewise `access` follows the user's channel before the
    credential (`credential`, the token's id) and access are checked again, so the
    connection closes when either ends, now or later.
    """
    await bridge.watch(space_id)
    try:
        member = await spaces.membership(session, space_id, user_id)
        if member is None:
            raise Forbidden("not_in_space", "join the live space before connecting its audio")
        if (
            listener_limit is not None
            and member.role not in STAGE_ROLES
            and media.webrtc_listeners(space_id, except_user=user_id) >= listener_limit
        ):
            link = await hls_link() if hls_link is not None else None
            raise Conflict(
                "webrtc_full",
                "the space's WebRTC seats are full: listen over HLS",
                extra={"hls_url": link and link.url, "hls_path": link and link.path},
            )
        # End the read: no database connection is held while the media plane answers.
        await session.commit()
        answer_sdp, answer_type = await media.answer(
            space_id,
            user_id,
            sdp,
            type_,
            on_stage=member.role in STAGE_ROLES,
            muted=member.muted,
            credential=credential,
        )
        if access is not None:
            await access.track(user_id)
        # Read again now that the connection is registered: a change committed while it
        # was being set up is in this read, and every later one arrives as an event.
        await session.commit()
        if credential is not None and not await accounts.credential_is_live(session, credential):
            await media.disconnect(space_id, user_id)
            raise Unauthorized("invalid_token", "the token was revoked meanwhile")
        latest = await spaces.membership(session, space_id, user_id)
        if latest is None:
            await media.disconnect(space_id, user_id)
            raise Forbidden("not_in_space", "you left or were removed from the space")
        media.set_on_stage(space_id, user_id, latest.role in STAGE_ROLES)
        media.set_muted(space_id, user_id, latest.muted)
        recording = await recordings_store.get(session, space_id)
        media.set_recording(space_id, recording is not None and recording.active)
        captions = await captions_store.settings_of(session, space_id)
        if captions is not None:
            media.set_captions(space_id, captions.on, captions.language)
    except BaseException:
        if media.room(space_id) is None:
            await bridge.unwatch(space_id)
        raise
    return {"sdp": answer_sdp, "type": answer_type}


async def room_state(session: AsyncSession, space_id: str) -> RoomState:
    """What the media plane must make heard in a space: the stored truth."""
    space = await spaces_store.get_space(session, space_id)
    if space is None or space.state != SpaceState.LIVE:
        return RoomState.over()
    members = await spaces_store.present_members(session, space_id)
    recording = await recordings_store.get(session, space_id)
    captions = await captions_store.settings_of(session, space_id)
    return RoomState(
        ended=False,
        members=frozenset(m.user_id for m in members),
        on_stage=frozenset(m.user_id for m in members if m.role in STAGE_ROLES),
        muted=frozenset(m.user_id for m in members if m.muted),
        recording=recording is not None and recording.active,
        captions=captions is not None and captions.on,
        captions_language=captions.language if captions is not None else "en",
    )


class DatabaseRoomStates:
    """The media plane's `RoomStateSource`, read from the database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def room_state(self, space_id: str) -> RoomState:
        async with self._db.session() as session:
            return await room_state(session, space_id)


def client_config(settings: Settings) -> MediaConfig:
    """What a browser needs to build its RTCPeerConnection."""
    return MediaConfig(
        ice_servers=[
            IceServerOut.model_validate(s.model_dump(exclude_unset=True))
            for s in settings.ice_servers
        ]
    )


async def may_stay(db: Database, space_id: str, user_id: int, credential: int | None) -> bool:
    """Whether a member's connection to a space may stay open: the credential it was
    opened with is live (when given), and they are still in the space and may see it."""
    async with db.session() as session:
        if credential is not None and not await accounts.credential_is_live(session, credential):
            return False
        return await spaces.membership(session, space_id, user_id) is not None


async def start(state: Any, settings: Settings) -> None:
    """Create the app's MediaServer (`state.media`), its bus bridge (`state.media_bridge`)
    the HLS hub and service (`state.hls`: through Redis when the bus is Redis), the
    evidence ring buffers of its rooms (`state.evidence_desk`), what closes
    connections whose access ended (`state.media_access`) and, when the instance has a
    captions engine, its captioner (`state.captions`).

    With `TOWNHALL_MEDIA_WORKERS` > 0, `state.media` is the `WorkerPool` instead: each
    worker runs its own bridge and access tracker, through the pool."""
    relay = RedisHlsRelay(settings.redis_url, settings.redis_prefix) if settings.redis_url else None
    hub = HlsHub(relay)
    if settings.media_nodes:
        await _start_nodes(state, settings, hub)
        return
    if settings.media_workers > 0:
        await _start_workers(state, settings, hub)
        return
    state.media = MediaServer(settings, state.bus, hls=hub if settings.hls else None)
    state.media_bridge = MediaBridge(state.bus, state.media, DatabaseRoomStates(state.db))
    state.media.evidence = state.evidence_desk = EvidenceDesk(state.bus, settings.data_dir)
    state.media.on_room_closed(state.evidence_desk.room_closed)
    state.evidence_desk.start()
    state.hls = HlsService(hub, HlsTokens(settings.load_secret_key()), state.db)
    state.hls_replay = ReplayService(settings.data_dir, state.hls.tokens, state.db)
    state.captions = None
    if settings.captions_available:
        state.captions = Captioner(state.db, state.bus, state.media, settings)
    db: Database = state.db

    async def allowed(space_id: str, user_id: int, credential: int | None) -> bool:
        return await may_stay(db, space_id, user_id, credential)

    state.media_access = MediaAccess(state.bus, state.media, allowed)


async def _start_workers(state: Any, settings: Settings, hub: HlsHub) -> None:
    db: Database = state.db

    async def allowed(space_id: str, user_id: int, credential: int | None) -> bool:
        return await may_stay(db, space_id, user_id, credential)

    pool = WorkerPool(
        settings,
        state.bus,
        DatabaseRoomStates(db),
        allowed,
        count=settings.media_workers,
        listeners_per_worker=settings.media_listeners_per_worker,
        hls=hub if settings.hls else None,
    )
    state.media = pool
    state.media_bridge = NoBridge()
    state.media_access = NoAccess()
    state.evidence_desk = None  # each worker keeps the evidence of the rooms it mixes
    state.hls = HlsService(hub, HlsTokens(settings.load_secret_key()), state.db)
    state.captions = None
    await pool.start()


async def _start_nodes(state: Any, settings: Settings, hub: HlsHub) -> None:
    """Media on the nodes registered in Redis (`townhall media`); HLS comes through Redis
    from the node that packages it."""
    db: Database = state.db

    async def allowed(space_id: str, user_id: int, credential: int | None) -> bool:
        return await may_stay(db, space_id, user_id, credential)

    pool = NodePool(settings, state.bus, DatabaseRoomStates(db), allowed)
    state.media = pool
    state.media_bridge = NoBridge()
    state.media_access = NoAccess()
    state.evidence_desk = None  # each node keeps the evidence of the rooms it mixes
    state.hls = HlsService(hub, HlsTokens(settings.load_secret_key()), state.db)
    state.captions = None
    await pool.start()


async def stop(state: Any) -> None:
    """End every room and stop following events (app shutdown, before the bus closes)."""
    await state.media_bridge.close()
    if state.captions is not None:
        await state.captions.stop()
    await state.media_access.close()
    await state.media.close()
    if state.evidence_desk is not None:
        await state.evidence_desk.close()  # writes the windows the rooms left open
    await state.hls.hub.close()
