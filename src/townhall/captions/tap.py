"""The captions tap: a room's `SpeakerSink` that gates each speaker and feeds the worker.

Only speakers whose level says they talk reach the worker (see `gate`), and only while
the space has captions on: a room without a tap sends nothing at all.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from townhall.captions.gate import GateConfig, SpeechGate, Step
from townhall.captions.supervisor import CaptionsWorker, Utterance
from townhall.media.audio import FRAME_SECONDS, Pcm, silence

SILENT = silence().tobytes()


class CaptionsTap:
    def __init__(
        self,
        space_id: str,
        language: str,
        worker: CaptionsWorker,
        *,
        replay_position: Callable[[], int | None] = lambda: None,
        gate: GateConfig | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.space_id = space_id
        self.language = language
        self._worker = worker
        self._replay_position = replay_position
        self._gate_config = gate or GateConfig()
        self._gates: dict[int, SpeechGate] = {}
        self._open: dict[int, Utterance] = {}
        self._clock = clock
        self.closed = False

    def speakers(self, tick: int, frames: Mapping[int, Pcm], levels: Mapping[int, float]) -> None:
        if self.closed:
            return
        now = self._clock()
        for user_id in [u for u in self._open if u not in levels]:  # muted or left the stage
            self._end(user_id, now)
        for user_id, level in levels.items():
            gate = self._gates.get(user_id)
            if gate is None:
                gate = self._gates[user_id] = SpeechGate(self._gate_config)
            pcm = frames.get(user_id)
            step = gate.push(pcm, level)
            if step is Step.IDLE:
                continue
            if step is Step.OPENED:
                started = now - (len(gate.backlog) - 1) * FRAME_SECONDS
                utterance = self._worker.open(self.space_id, user_id, self.language, started)
                if utterance is None:
                    continue
                position = self._replay_position()
                if position is not None:
                    utterance.replay_samples = max(0, position - len(gate.backlog) * 960)
                self._open[user_id] = utterance
                for frame in gate.backlog:
                    self._worker.audio(utterance, frame.tobytes())
                gate.backlog = []
                continue
            utterance_or_none = self._open.get(user_id)
            if utterance_or_none is None:  # opened while the worker was down
                continue
            # A frame the jitter buffer did not have is silence here: dropping it would
            # squeeze the speech and garble what the recogniser hears.
            self._worker.audio(utterance_or_none, pcm.tobytes() if pcm is not None else SILENT)
            if step is Step.CLOSED:
                hangover = gate.config.hangover * FRAME_SECONDS
                self._end(user_id, now - hangover)
        for user_id in [u for u in self._gates if u not in levels]:
            del self._gates[user_id]

    def _end(self, user_id: int, ended_at: float) -> None:
        utterance = self._open.pop(user_id, None)
        if utterance is not None:
            self._worker.close(utterance, ended_at)
        gate = self._gates.get(user_id)
        if gate is not None:
            gate.reset()

    def close(self) -> None:
        if self.closed:
            return
        now = self._clock()
        for user_id in list(self._open):
            self._end(user_id, now)
        self.closed = True
