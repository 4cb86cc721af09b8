"""The media server: answers participants' offers and keeps one `MediaRoom` per live space."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription

from townhall.config import Settings
from townhall.domain.errors import Conflict, Invalid, RateLimited
from townhall.media.evidence import EvidenceDesk
from townhall.media.hls.hub import HlsHub
from townhall.media.hls.sink import HlsPackager
from townhall.media.ice import gathering_on, rtc_configuration
from townhall.media.jitter import JitterBuffer
from townhall.media.levels import Publisher
from townhall.media.offer import check_offer
from townhall.media.output import OutputFactory
from townhall.media.recorder import Recorder, recording_path
from townhall.media.room import CONNECT_TIMEOUT, MediaRoom, Participant, close_participant
from townhall.media.room_state import RoomState
from townhall.media.sinks import SpeakerSink

SinkFactory = Callable[[MediaRoom, str], SpeakerSink]
"""Makes a room's captions tap: (room, language) -> sink."""

log = logging.getLogger(__name__)

MAX_PENDING_OFFERS = 32
MEDIA_CLIENT_ID = "media"
"""The bus presence client id of a member's media connection (next to their sockets')."""


@runtime_checkable
class PresenceBus(Protocol):
    """The part of the bus that tracks who is connected to which space."""

    presence_ttl: float

    async def touch(
        self, space_id: str, user_id: int, client_id: str = "", ttl: float | None = None
    ) -> None: ...

    async def leave(self, space_id: str, user_id: int, client_id: str = "") -> None: ...


class MediaServer:
    """All live rooms of this node. Every method is safe to call for unknown spaces/users."""

    def __init__(
        self,
        settings: Settings,
        bus: Publisher | None,
        *,
        output: str = "auto",
        max_pending_offers: int = MAX_PENDING_OFFERS,
        connect_timeout: float = CONNECT_TIMEOUT,
        hls: HlsHub | None = None,
    ) -> None:
        self._settings = settings
        self._hls = hls
        self._bus = bus
        self._outputs = OutputFactory(output, settings.fanout_engine)
        self._max_pending = max_pending_offers
        self._connect_timeout = connect_timeout
        self._pending = 0
        self._rooms: dict[str, MediaRoom] = {}
        self._recorders: dict[str, Recorder] = {}  # open while the room lives
        self._closed = False
        self._room_closed_callbacks: list[Callable[[str], None]] = []
        # Set when the instance has a captions engine: makes a room's captions tap.
        self.captions_sinks: SinkFactory | None = None
        self._captions: dict[str, str] = {}  # space id -> language, while captioned
        self._member_gone_callbacks: list[Callable[[str, int], None]] = []
        # Set when evidence is kept for reports: gives every room its ring buffer.
        self.evidence: EvidenceDesk | None = None
        # A member with a media connection counts as present in the space (bus presence,
        # refreshed while connected, left when the connection closes).
        self._presence = bus if isinstance(bus, PresenceBus) else None
        self._presence_task: asyncio.Task[None] | None = None
        self._presence_failing = False
        self._gather_on = list(settings.effective_media_addresses) or None

    def on_room_closed(self, callback: Callable[[str], None]) -> None:
        """Call `callback(space_id)` whenever a room closes (ended, or its last member left)."""
        self._room_closed_callbacks.append(callback)

    def on_member_gone(self, callback: Callable[[str, int], None]) -> None:
        """Call `callback(space_id, user_id)` whenever a member's connection closes (and no
        newer one of theirs replaced it)."""
        self._member_gone_callbacks.append(callback)

    def connections_of(self, user_id: int) -> list[tuple[str, int | None]]:
        """(space id, credential) of each open connection of the user on this server."""
        found = []
        for space_id, room in self._rooms.items():
            participant = room.participants.get(user_id)
            if participant is not None and not participant.closed:
                found.append((space_id, participant.credential))
        return found

    @property
    def output_mode(self) -> str:
        return self._outputs.mode

    def room(self, space_id: str) -> MediaRoom | None:
        """The live room of a space, if anyone is connected to it."""
        return self._rooms.get(space_id)

    def space_ids(self) -> list[str]:
        """The spaces with a live room here."""
        return list(self._rooms)

    def webrtc_listeners(self, space_id: str, except_user: int | None = None) -> int:
        """How many off-stage members of the space have a WebRTC connection here."""
        room = self._rooms.get(space_id)
        if room is None:
            return 0
        return sum(
            1
            for user_id, p in room.participants.items()
            if not p.on_stage and not p.closed and user_id != except_user
        )

    async def answer(
        self,
        space_id: str,
        user_id: int,
        sdp: object,
        type: object,
        *,
        on_stage: bool,
        muted: bool,
        credential: int | None = None,
        relayed: bool = False,
    ) -> tuple[str, str]:
        """Connect (or reconnect) a member; returns the answer's (sdp, type).

        `credential`: the id of the token the member connected with (`connections_of`).
        `relayed`: a new room here is an edge's (its mix comes from another worker).

        Raises `Invalid` for a bad offer, `RateLimited` when too many offers are being
        answered, `Conflict` when a newer offer of the same user replaced this one.
        """
        if self._closed:
            raise Conflict("media_closed", "the media server is shutting down")
        check_offer(sdp, type)
        assert isinstance(sdp, str)
        if self._pending >= self._max_pending:
            raise RateLimited("too_many_offers", "too many connections are being set up")
        self._pending += 1
        try:
            return await self._answer(
                space_id,
                user_id,
                sdp,
                on_stage=on_stage,
                muted=muted,
                credential=credential,
                relayed=relayed,
            )
        finally:
            self._pending -= 1

    async def _answer(
        self,
        space_id: str,
        user_id: int,
        sdp: str,
        *,
        on_stage: bool,
        muted: bool,
        credential: int | None,
        relayed: bool = False,
    ) -> tuple[str, str]:
        pc = RTCPeerConnection(rtc_configuration(self._settings.ice_servers))
        transceiver = pc.addTransceiver("audio", direction="sendrecv")
        opus = [c for c in RTCRtpSender.getCapabilities("audio").codecs if c.name.lower() == "opus"]
        transceiver.setCodecPreferences(opus)
        track = self._outputs.track_for_sender()
        if track is not None:
            transceiver.sender.replaceTrack(track)
        participant = Participant(
            user_id=user_id,
            pc=pc,
            transceiver=transceiver,
            on_stage=on_stage,
            muted=muted,
            jitter=JitterBuffer(prefetch=self._settings.jitter_prefetch_samples),
            credential=credential,
        )
        room = self._rooms.get(space_id)
        if room is None:
            room = MediaRoom(
                space_id,
                self._bus,
                self._outputs,
                connect_timeout=self._connect_timeout,
                on_empty=self._close_if_empty,
                on_gone=self._gone,
                relayed=relayed,
            )
            self._rooms[space_id] = room
            if self._hls is not None and not relayed:
                try:
                    room.mix_sinks.append(HlsPackager(space_id, self._hls))
                except Exception:
                    log.exception("no HLS for %s", space_id)
            if self.evidence is not None and not relayed:
                room.evidence = self.evidence.buffer_for(space_id)
            room.start()
        replaced = room.add(participant)
        if replaced is not None:
            await close_participant(replaced)
        try:
            try:
                await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
                with gathering_on(self._gather_on):
                    await pc.setLocalDescription(await pc.createAnswer())
            except Exception as exc:
                if participant.closed:  # replaced by a newer offer, or the space ended
                    raise self._superseded(room) from exc
                raise Invalid("bad_sdp", f"the offer was refused ({exc})", field="sdp") from exc
            if participant.closed or not room.is_current(participant):
                raise self._superseded(room)
            try:
                room.start_ingest(participant)  # before media flows: the sockets exist now
            except ValueError as exc:
                raise Invalid("no_opus", str(exc), field="sdp") from exc
            room.set_muted(user_id, muted)  # applies receive permissions now that it is set up
        except BaseException:
            await self._drop(room, participant)
            raise
        await self._touch(space_id, user_id)
        self._keep_present()
        local = pc.localDescription
        return local.sdp, local.type

    # -- presence -----------------------------------------------------------

    def _presence_result(self, error: Exception | None) -> None:
        """Log an outage of the presence store once, and its end once."""
        if error is not None and not self._presence_failing:
            self._presence_failing = True
            log.warning("media presence: the bus does not answer (%s); retrying", error)
        elif error is None and self._presence_failing:
            self._presence_failing = False
            log.warning("media presence: the bus answers again")

    async def _touch(self, space_id: str, user_id: int) -> None:
        if self._presence is not None:
            try:
                await self._presence.touch(space_id, user_id, MEDIA_CLIENT_ID)
            except Exception as exc:
                self._presence_result(exc)
            else:
                self._presence_result(None)

    async def _gone(self, room: MediaRoom, user_id: int) -> None:
        """A member's connection closed (and no newer one of theirs is in the room)."""
        for callback in self._member_gone_callbacks:
            try:
                callback(room.space_id, user_id)
            except Exception:
                log.exception("member-gone callback failed for %s in %s", user_id, room.space_id)
        if self._presence is not None:
            try:
                await self._presence.leave(room.space_id, user_id, MEDIA_CLIENT_ID)
            except Exception as exc:  # its entry expires on its own
                self._presence_result(exc)

    def _keep_present(self) -> None:
        if self._presence is not None and (
            self._presence_task is None or self._presence_task.done()
        ):
            self._presence_task = asyncio.create_task(
                self._refresh_presence(self._presence), name="townhall-media-presence"
            )

    async def _refresh_presence(self, presence: PresenceBus) -> None:
        """While this server has connections, keep their members present on the bus."""
        while self._rooms and not self._closed:
            await asyncio.sleep(presence.presence_ttl / 3)
            for room in list(self._rooms.values()):
                for user_id, participant in list(room.participants.items()):
                    if not participant.closed:
                        await self._touch(room.space_id, user_id)

    @staticmethod
    def _superseded(room: MediaRoom) -> Conflict:
        if room.closed:
            return Conflict("space_ended", "the space's audio ended while connecting")
        return Conflict("superseded", "a newer connection of this user replaced this one")

    def set_on_stage(self, space_id: str, user_id: int, on_stage: bool) -> None:
        """Promote (mixed from the next tick) or demote (silent from the next tick)."""
        room = self._rooms.get(space_id)
        if room is not None:
            room.set_on_stage(user_id, on_stage)

    def set_recording(self, space_id: str, on: bool) -> None:
        """Record the room's mix from the next tick, or pause (the gap is not recorded).

        The file stays open while the room lives and is finished when it closes."""
        room = self._rooms.get(space_id)
        if room is None or room.closed:
            return
        recorder = self._recorders.get(space_id)
        if on and recorder is None:
            path = recording_path(self._settings.data_dir, space_id)
            try:
                recorder = self._recorders[space_id] = Recorder(path)
            except (OSError, ValueError):
                log.exception("cannot record %s", space_id)
                return
        room.recorder = recorder if on else None

    def set_captions(self, space_id: str, on: bool, language: str = "en") -> None:
        """Hand the room's speakers to a captions tap from the next tick, or stop.

        A space with captions off has no tap: none of its audio leaves the mixer."""
        room = self._rooms.get(space_id)
        if room is None or room.closed:
            return
        if not on or self.captions_sinks is None:
            self._captions.pop(space_id, None)
            room.set_speaker_sink(None)
            return
        if room.speaker_sink is not None and self._captions.get(space_id) == language:
            return
        self._captions[space_id] = language
        room.set_speaker_sink(self.captions_sinks(room, language))

    def captioned(self, space_id: str) -> bool:
        """Does the space's audio go to captions right now?"""
        room = self._rooms.get(space_id)
        return room is not None and room.speaker_sink is not None

    def captions_language(self, space_id: str) -> str:
        return self._captions.get(space_id, "en")

    def captioned_spaces(self) -> list[str]:
        return [s for s, room in self._rooms.items() if room.speaker_sink is not None]

    def recording(self, space_id: str) -> bool:
        """Is the space's mix being recorded right now?"""
        room = self._rooms.get(space_id)
        return room is not None and room.recorder is not None

    def set_muted(self, space_id: str, user_id: int, muted: bool) -> None:
        """Mute (silent from the next tick) or unmute."""
        room = self._rooms.get(space_id)
        if room is not None:
            room.set_muted(user_id, muted)

    async def disconnect(self, space_id: str, user_id: int) -> None:
        """Close one member's connection; the room closes when its last member leaves."""
        room = self._rooms.get(space_id)
        if room is None:
            return
        await room.remove(user_id)
        await self._close_if_empty(room)

    async def reconcile(self, space_id: str, read: Callable[[], Awaitable[RoomState]]) -> bool:
        """Make a live room match `await read()` (ended, members, stage, mutes, recording,
        captions).

        Only connections registered before the state was read are judged by it: one made
        meanwhile read its own membership after registering. Returns False when there is
        no room (nothing to do); the error of `read` propagates.
        """
        room = self._rooms.get(space_id)
        if room is None:
            return False
        before = dict(room.participants)
        state = await read()
        if self._rooms.get(space_id) is not room:
            return False
        if state.ended:
            await self.end_space(space_id)
            return True
        for user_id, participant in before.items():
            if not room.is_current(participant):
                continue
            if user_id not in state.members:
                log.info("reconcile: user %s is no longer in %s; disconnecting", user_id, space_id)
                await room.remove(user_id)
                continue
            room.set_on_stage(user_id, user_id in state.on_stage)
            room.set_muted(user_id, user_id in state.muted)
        if self._rooms.get(space_id) is room:
            self.set_recording(space_id, state.recording)
            self.set_captions(space_id, state.captions, state.captions_language)
            await self._close_if_empty(room)
        return True

    async def end_space(self, space_id: str) -> None:
        """Close every connection of a space and stop its clock."""
        room = self._rooms.pop(space_id, None)
        if room is not None:
            await self._close_room(room, ended=True)

    async def close(self) -> None:
        """End every room (server shutdown)."""
        self._closed = True
        rooms = list(self._rooms.values())
        self._rooms.clear()
        await asyncio.gather(*(self._close_room(room) for room in rooms), return_exceptions=True)
        task, self._presence_task = self._presence_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _drop(self, room: MediaRoom, participant: Participant) -> None:
        if room.is_current(participant):
            await room.remove(participant.user_id)
        else:
            await close_participant(participant)
        await self._close_if_empty(room)

    async def _close_if_empty(self, room: MediaRoom) -> None:
        if not room.participants and self._rooms.get(room.space_id) is room:
            del self._rooms[room.space_id]
            await self._close_room(room)

    async def _close_room(self, room: MediaRoom, ended: bool = False) -> None:
        members = list(room.participants)
        try:
            await room.close(ended)
        except Exception:
            log.exception("closing the room of %s failed", room.space_id)
        room.recorder = None
        self._captions.pop(room.space_id, None)
        recorder = self._recorders.pop(room.space_id, None)
        if recorder is not None:
            recorder.close()
        for user_id in members:
            await self._gone(room, user_id)
        for callback in self._room_closed_callbacks:
            try:
                callback(room.space_id)
            except Exception:
                log.exception("room-closed callback failed for %s", room.space_id)
