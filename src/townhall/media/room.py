"""One live space's audio: its participants, its 20 ms mix, and its outputs.

The room is the authority on who is heard: only participants on stage and not muted are
mixed, whatever their client sends. Listeners share one encoded mix; each on-stage
participant gets mix-minus-self from an encoder of its own.

Every participant's audio is taken at its connection's socket (`RtpIn`), decoded on arrival
while it may be heard, and placed in its jitter buffer by RTP timestamp; aiortc's receiver
(its 4-packet receive buffer and decoder thread) never sees it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCPeerConnection, RTCRtpTransceiver

from townhall.media.audio import FRAME_SAMPLES, OpusEncoder, Pcm, level
from townhall.media.evidence import EvidenceBuffer
from townhall.media.jitter import JitterBuffer, TimestampUnwrapper
from townhall.media.levels import LevelReporter, Publisher
from townhall.media.mixer import SILENT_MIX, FrameClock, Mix, mix
from townhall.media.output import AudioOut, OutputFactory
from townhall.media.recorder import Recorder
from townhall.media.rtp_in import OpusDecoder, RtpIn
from townhall.media.sinks import MixSink, SpeakerSink

log = logging.getLogger(__name__)

SPEAKER_ENCODER_COMPLEXITY = 5  # about half the CPU of 10; up to ~13 of these per tick
CONNECT_TIMEOUT = 20.0  # seconds from answer to "connected" before a connection is dropped


@dataclass(eq=False)
class Participant:
    """One member's connection to the room and what the server allows it to do."""

    user_id: int
    pc: RTCPeerConnection
    transceiver: RTCRtpTransceiver
    on_stage: bool
    muted: bool
    jitter: JitterBuffer = field(default_factory=JitterBuffer)
    out: AudioOut | None = None
    encoder: OpusEncoder | None = None
    rtp_in: RtpIn | None = None
    watchdog: asyncio.TimerHandle | None = None
    closed: bool = False
    credential: int | None = None  # the token it was opened with: its revocation closes it

    @property
    def audible(self) -> bool:
        """May this participant's audio be mixed right now?"""
        return self.on_stage and not self.muted and not self.closed


class _Ingest:
    """One participant's packets, decoded on arrival into its jitter buffer while audible.

    Packets of a participant who may not be heard are not decoded (and its decoder is
    dropped, so audio heard again starts from a fresh decoder state). Timestamps are
    unwrapped; the jitter buffer places each frame by timestamp, so lost packets leave a
    concealed hole, reordered ones fill theirs, late ones are dropped.
    """

    def __init__(self, participant: Participant) -> None:
        self._participant = participant
        self._timestamps = TimestampUnwrapper()
        self._decoder: OpusDecoder | None = None

    def on_packet(self, payload: bytes, timestamp: int, sequence_number: int) -> None:
        pts = self._timestamps.unwrap(timestamp)
        participant = self._participant
        if not participant.audible:
            self._decoder = None
            return
        if self._decoder is None:
            self._decoder = OpusDecoder()
        participant.jitter.push(self._decoder.decode(payload), pts)


class MediaRoom:
    """The audio of one space; created on the first join, closed on end or when empty."""

    def __init__(
        self,
        space_id: str,
        bus: Publisher | None,
        outputs: OutputFactory,
        *,
        connect_timeout: float = CONNECT_TIMEOUT,
        on_empty: Callable[[MediaRoom], Awaitable[None]] | None = None,
        on_gone: Callable[[MediaRoom, int], Awaitable[None]] | None = None,
        relayed: bool = False,
    ) -> None:
        self.space_id = space_id
        # An edge's room: no clock and no mixing; `forward` fans out another worker's mix.
        self.relayed = relayed
        self._on_empty = on_empty
        self._on_gone = on_gone  # a member's connection closed (not replaced by a newer one)
        self._connect_timeout = connect_timeout
        self.participants: dict[int, Participant] = {}
        self._stage: dict[int, Participant] = {}  # on stage: mixed when unmuted, own encoder
        self._outputs = outputs
        self._fanout = outputs.fanout()
        self._listening: set[int] = set()
        self._listener_encoder = OpusEncoder()
        self._clock = FrameClock(self._tick)
        self._levels = LevelReporter(space_id, bus)
        self._tasks: set[asyncio.Task[Any]] = set()
        self.closed = False
        self.last_mix: Mix = SILENT_MIX
        # Set (by the MediaServer) while the space records: gets the listeners' packets.
        self.recorder: Recorder | None = None
        self.listener_packets = 0
        # Set (by the MediaServer) while the room lives: keeps the last minutes of the
        # listeners' packets and the stage timeline for reports (media/evidence.py).
        self.evidence: EvidenceBuffer | None = None
        # Get the full mix every tick (the HLS packager); closed with the room.
        self.mix_sinks: list[MixSink] = []
        # Set (by the MediaServer) while the space has captions: gets each audible
        # speaker's frame and level every tick, before mixing.
        self.speaker_sink: SpeakerSink | None = None
        # Called with (tick index, mix) after every tick's mix (tests and diagnostics).
        self.on_mixed: Callable[[int, Mix], None] | None = None
        # Get every tick's encoded listener packet (the relay to edge workers).
        self.mix_taps: list[Callable[[bytes, int], None]] = []

    def start(self) -> None:
        if self.relayed:
            return
        self._clock.start()
        self._levels.start()

    def become_origin(self) -> None:
        """An edge whose origin is gone mixes from now on (its listeners stay)."""
        if self.relayed and not self.closed:
            self.relayed = False
            self.start()

    def forward(self, payload: bytes, timestamp: int) -> None:
        """An edge: send a packet the origin encoded to this room's listeners."""
        if self._listening:
            self.listener_packets += self._fanout.send(payload, timestamp)

    @property
    def clock(self) -> FrameClock:
        return self._clock

    # -- membership -----------------------------------------------------

    def add(self, participant: Participant) -> Participant | None:
        """Register a participant; returns the connection it replaces (to be closed)."""
        old = self.participants.get(participant.user_id)
        if old is not None:
            self._detach(old)
        self.participants[participant.user_id] = participant
        if participant.on_stage:
            self._stage[participant.user_id] = participant
        participant.watchdog = asyncio.get_running_loop().call_later(
            self._connect_timeout, self._drop_if_unconnected, participant
        )
        pc = participant.pc

        @pc.on("connectionstatechange")
        def _on_state() -> None:
            state = pc.connectionState
            if state == "connected":
                self._connect_output(participant)
            elif (
                state in ("failed", "closed")
                and self.participants.get(participant.user_id) is participant
            ):
                self._spawn(self.remove(participant.user_id))

        return old

    def start_ingest(self, participant: Participant) -> None:
        """Take the participant's audio at its socket from now on.

        Call once its answer is set (`setLocalDescription` has gathered the ICE sockets),
        before media flows. Every participant gets one: a listener may be promoted on the
        same connection; `audible` decides whether its packets are decoded and mixed.
        Raises ValueError when no Opus is negotiated.
        """
        if participant.closed or participant.rtp_in is not None:
            return
        ingest = _Ingest(participant)
        participant.rtp_in = RtpIn.attach(
            participant.pc, participant.transceiver.receiver, ingest.on_packet
        )

    async def remove(self, user_id: int) -> bool:
        """Close one participant's connection; False when it was not here."""
        participant = self.participants.get(user_id)
        if participant is None:
            return False
        self._detach(participant)
        await close_participant(participant)
        if self._on_gone is not None and user_id not in self.participants:
            try:
                await self._on_gone(self, user_id)
            except Exception:
                log.exception("on_gone failed for user %s in %s", user_id, self.space_id)
        if not self.participants and self._on_empty is not None and not self.closed:
            await self._on_empty(self)
        return True

    def is_current(self, participant: Participant) -> bool:
        return self.participants.get(participant.user_id) is participant

    def set_on_stage(self, user_id: int, on_stage: bool) -> bool:
        participant = self.participants.get(user_id)
        if participant is None:
            return False
        if participant.on_stage != on_stage:
            participant.on_stage = on_stage
            if on_stage:
                self._stage[user_id] = participant
            else:
                self._stage.pop(user_id, None)
            self._apply_permissions(participant)
            if participant.out is not None:
                if on_stage:
                    self._unlisten(user_id)
                else:
                    participant.encoder = None
                    self._listen(user_id, participant.out)
        return True

    def set_muted(self, user_id: int, muted: bool) -> bool:
        participant = self.participants.get(user_id)
        if participant is None:
            return False
        participant.muted = muted
        self._apply_permissions(participant)
        return True

    async def close(self, ended: bool = False) -> None:
        """Stop the clock, close the mix sinks and every connection (`ended`: the space
        ended, rather than its last member leaving)."""
        self.closed = True
        await self._clock.stop()
        await self._levels.stop()
        sinks, self.mix_sinks = self.mix_sinks, []
        for sink in sinks:
            try:
                sink.close(ended)
            except Exception:
                log.exception("closing a mix sink of %s failed", self.space_id)
        self.set_speaker_sink(None)
        evidence, self.evidence = self.evidence, None
        if evidence is not None:  # open windows are written as they are, the rest dropped
            evidence.close()
        participants = list(self.participants.values())
        for participant in participants:
            self._detach(participant)
        await asyncio.gather(*(close_participant(p) for p in participants))
        others = [t for t in self._tasks if t is not asyncio.current_task()]
        if others:
            await asyncio.wait(others, timeout=5.0)
        for task in others:
            task.cancel()

    def set_speaker_sink(self, sink: SpeakerSink | None) -> None:
        """Hand each speaker's frames to `sink` from the next tick (None: to nobody)."""
        old, self.speaker_sink = self.speaker_sink, sink
        if old is not None and old is not sink:
            try:
                old.close()
            except Exception:
                log.exception("closing the speaker sink of %s failed", self.space_id)

    # -- internals --------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, object]) -> None:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _drop_if_unconnected(self, participant: Participant) -> None:
        participant.watchdog = None
        if participant.out is None and self.is_current(participant):
            log.info("user %s never connected to %s; dropping", participant.user_id, self.space_id)
            self._spawn(self.remove(participant.user_id))

    def _detach(self, participant: Participant) -> None:
        if self.participants.get(participant.user_id) is participant:
            del self.participants[participant.user_id]
            self._stage.pop(participant.user_id, None)
            self._unlisten(participant.user_id)
        participant.closed = True
        if participant.watchdog is not None:
            participant.watchdog.cancel()
            participant.watchdog = None
        out, participant.out = participant.out, None
        if out is not None:
            with contextlib.suppress(Exception):
                out.close()
        participant.jitter.clear()

    def _apply_permissions(self, participant: Participant) -> None:
        if not participant.audible:
            participant.jitter.clear()

    def _connect_output(self, participant: Participant) -> None:
        if participant.closed or participant.out is not None or not self.is_current(participant):
            return
        self._spawn(self._attach_output(participant))

    async def _attach_output(self, participant: Participant) -> None:
        try:
            out = await self._outputs.out_for(participant.pc, participant.transceiver.sender)
        except Exception:
            log.exception("no output for user %s in %s", participant.user_id, self.space_id)
            self._spawn(self.remove(participant.user_id))
            return
        if participant.closed or participant.out is not None or not self.is_current(participant):
            out.close()
            return
        participant.out = out
        if not participant.on_stage:
            self._listen(participant.user_id, participant.out)

    def _listen(self, user_id: int, out: AudioOut) -> None:
        self._fanout.add(user_id, out)
        self._listening.add(user_id)

    def _unlisten(self, user_id: int) -> None:
        if user_id in self._listening:
            self._listening.discard(user_id)
            self._fanout.remove(user_id)

    def _tick(self, index: int, skipped: int) -> None:
        frames: dict[int, Pcm] = {}
        levels: dict[int, float] = {}
        stage = list(self._stage.values())
        for participant in stage:
            if skipped:
                participant.jitter.skip(skipped)
            if not participant.audible:
                continue
            pcm = participant.jitter.pop()
            levels[participant.user_id] = level(pcm) if pcm is not None else 0.0
            if pcm is not None:
                frames[participant.user_id] = pcm
        sink = self.speaker_sink
        if sink is not None:
            try:
                sink.speakers(index, frames, levels)
            except Exception:  # a failing observer never costs the mix
                log.exception("speaker sink of %s failed", self.space_id)
                self.speaker_sink = None
        current = mix(frames)
        self.last_mix = current
        if self.on_mixed is not None:
            self.on_mixed(index, current)
        self._levels.add(levels)
        if self.mix_sinks:
            self._feed_sinks(index, current.full)
        timestamp = (index * FRAME_SAMPLES) & 0xFFFFFFFF
        evidence = self.evidence
        if self._listening or self.recorder is not None or evidence is not None or self.mix_taps:
            payload = self._listener_encoder.encode(current.full)
            for tap in self.mix_taps:
                try:
                    tap(payload, timestamp)
                except Exception:  # a failing tap never costs the mix
                    log.exception("a mix tap of %s failed", self.space_id)
            if self._listening:
                self.listener_packets += self._fanout.send(payload, timestamp)
            if self.recorder is not None:  # the same packets, not re-encoded
                self.recorder.write(payload)
            if evidence is not None:  # the same packets again
                try:
                    evidence.tick(index, payload, levels)
                except Exception:  # evidence never costs the mix
                    log.exception("evidence buffer of %s failed; dropped", self.space_id)
                    self.evidence = None
        for participant in stage:
            if participant.out is None:
                continue
            if participant.encoder is None:
                participant.encoder = OpusEncoder(complexity=SPEAKER_ENCODER_COMPLEXITY)
            payload = participant.encoder.encode(current.minus(participant.user_id))
            try:
                participant.out.send(payload, timestamp)
            except (OSError, ConnectionError):
                self._spawn(self.remove(participant.user_id))

    def _feed_sinks(self, index: int, full: Pcm) -> None:
        for sink in list(self.mix_sinks):
            try:
                sink.write(index, full)
            except Exception:
                log.exception("a mix sink of %s failed; it is dropped", self.space_id)
                self.mix_sinks.remove(sink)


async def close_participant(participant: Participant) -> None:
    """Close one connection and its socket tap; safe to call twice."""
    participant.closed = True
    rtp_in, participant.rtp_in = participant.rtp_in, None
    if rtp_in is not None:
        rtp_in.close()
    # Shielded: cancelling a second closer would cancel aiortc's shared "closed" future
    # and make the first closer fail.
    with contextlib.suppress(Exception):
        await asyncio.shield(participant.pc.close())
