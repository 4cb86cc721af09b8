"""Captions from the media plane: real aiortc speakers, the real worker process, the tap.

A bot speaks a recorded sentence (CMU ARCTIC a0007, as shipped by pysptk; see
tests/data/) and the worker's final text carries most of its words, attributed to the
speaker; two speakers in turn get their own captions; a space without captions sends the
worker nothing; a dead worker is started again while the mix goes on."""

from __future__ import annotations

import asyncio
import os
import re
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.media.room_helpers import join
from townhall.captions.supervisor import CaptionsWorker, Utterance
from townhall.captions.tap import CaptionsTap
from townhall.client.media import MediaClient, ScheduleTrack, read_wav
from townhall.media.room import MediaRoom
from townhall.media.server import MediaServer

# Real-time speech through the mixer into a recogniser: run one at a time, after the rest.
pytestmark = pytest.mark.serial

DATA = Path(__file__).resolve().parent.parent / "data"
SENTENCE = "and you always want to see it in the superlative degree"


def words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def share_of_words(heard: str, said: str = SENTENCE) -> float:
    expected = words(said)
    got = set(words(heard))
    return sum(1 for w in expected if w in got) / len(expected)


@dataclass
class Texts:
    items: list[tuple[Utterance, str, bool]] = field(default_factory=list)
    states: list[bool] = field(default_factory=list)

    async def on_text(self, utterance: Utterance, text: str, final: bool) -> None:
        self.items.append((utterance, text, final))

    async def on_state(self, up: bool) -> None:
        self.states.append(up)

    def finals(self) -> list[tuple[Utterance, str]]:
        return [(u, t) for u, t, final in self.items if final and t]

    def said_by(self, user_id: int) -> str:
        return " ".join(t for u, t in self.finals() if u.user_id == user_id)

    async def wait_words(self, user_id: int, share: float = 0.5, timeout: float = 40.0) -> str:
        """What a speaker said (their final captions), once most of the sentence is there."""
        for _ in range(int(timeout / 0.1)):
            if share_of_words(self.said_by(user_id)) >= share:
                return self.said_by(user_id)
            await asyncio.sleep(0.1)
        raise AssertionError(f"user {user_id}: {self.said_by(user_id)!r} ({self.items})")

    async def wait_finals(self, count: int, timeout: float = 40.0) -> list[tuple[Utterance, str]]:
        for _ in range(int(timeout / 0.1)):
            if len(self.finals()) >= count:
                return self.finals()
            await asyncio.sleep(0.1)
        raise AssertionError(f"{len(self.finals())} final captions of {count}: {self.items}")


@pytest.fixture
async def captions(media: MediaServer) -> AsyncIterator[tuple[CaptionsWorker, Texts]]:
    texts = Texts()
    worker = CaptionsWorker("pocketsphinx", None, texts.on_text, texts.on_state)
    worker.start()

    def tap(room: MediaRoom, language: str) -> CaptionsTap:
        return CaptionsTap(room.space_id, language, worker)

    media.captions_sinks = tap
    try:
        await worker.wait_up(60)
        yield worker, texts
    finally:
        await worker.stop()


def sentence() -> ScheduleTrack:
    return ScheduleTrack([(1.0, read_wav(DATA / "arctic_a0007.wav"))])


async def test_a_speakers_sentence_becomes_a_final_caption_with_their_id(
    media: MediaServer, clients: list[MediaClient], captions: tuple[CaptionsWorker, Texts]
) -> None:
    _, texts = captions
    await join(media, "cap1", 7, clients, on_stage=True, track=sentence())
    media.set_captions("cap1", True, "en")
    assert media.captioned("cap1")
    await texts.wait_words(7)
    finals = texts.finals()
    assert {u.user_id for u, _ in finals} == {7}
    assert {u.space_id for u, _ in finals} == {"cap1"}
    start = min(u.started_at for u, _ in finals)
    end = max(u.ended_at or 0 for u, _ in finals)
    assert 2.5 < end - start < 6.5  # the 4 s sentence, not the silence around it


async def test_two_speakers_in_turn_are_attributed(
    media: MediaServer, clients: list[MediaClient], captions: tuple[CaptionsWorker, Texts]
) -> None:
    _, texts = captions
    clip = read_wav(DATA / "arctic_a0007.wav")
    await join(media, "cap2", 1, clients, on_stage=True, track=ScheduleTrack([(1.0, clip)]))
    await join(media, "cap2", 2, clients, on_stage=True, track=ScheduleTrack([(7.0, clip)]))
    media.set_captions("cap2", True, "en")
    await texts.wait_words(1, 0.4)
    await texts.wait_words(2, 0.4)
    finals = texts.finals()
    assert {u.user_id for u, _ in finals} == {1, 2}
    first_end = max(u.ended_at or 0 for u, _ in finals if u.user_id == 1)
    second_start = min(u.started_at for u, _ in finals if u.user_id == 2)
    assert first_end <= second_start  # in turn, each line with its own speaker


async def test_a_space_without_captions_sends_the_worker_nothing(
    media: MediaServer, clients: list[MediaClient], captions: tuple[CaptionsWorker, Texts]
) -> None:
    worker, texts = captions
    await join(media, "cap3", 1, clients, on_stage=True, track=sentence())
    room = media.room("cap3")
    assert room is not None
    media.set_captions("cap3", True, "en")
    media.set_captions("cap3", False, "en")
    assert room.speaker_sink is None and not media.captioned("cap3")
    ticks = room.clock.ticks
    while room.clock.ticks < ticks + 300:  # 6 s: the sentence is said meanwhile
        await asyncio.sleep(0.1)
    assert worker.opened == 0 and worker.sent == 0
    assert texts.items == []


async def test_a_killed_worker_is_restarted_and_the_mix_goes_on(
    media: MediaServer, clients: list[MediaClient], captions: tuple[CaptionsWorker, Texts]
) -> None:
    worker, texts = captions
    await join(media, "cap4", 1, clients, on_stage=True, track=sentence())
    media.set_captions("cap4", True, "en")
    room = media.room("cap4")
    assert room is not None and worker.process is not None
    first = worker.process.pid
    os.kill(first, signal.SIGKILL)
    for _ in range(100):
        if texts.states[-1:] == [False]:
            break
        await asyncio.sleep(0.05)
    assert texts.states[-1:] == [False] and not worker.up
    ticks = room.clock.ticks
    await worker.wait_up(60)
    assert worker.process.pid != first and worker.restarts == 1
    assert room.clock.ticks > ticks
    assert texts.states[-1] is True
