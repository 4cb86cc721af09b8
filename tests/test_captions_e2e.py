"""Captions end to end: a real `townhall serve` with its captions worker, a bot speaking
a recorded sentence over WebRTC (CMU ARCTIC a0007, see tests/data/), a listener's
WebSocket getting `caption` events with the speaker's id and most of the words, then the
space ended: its transcript as JSON and WebVTT, and a search finding it by a word said."""

from __future__ import annotations

import asyncio
import contextlib
import re
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import running_server
from townhall.client.api import Townhall
from townhall.client.media import ScheduleTrack, read_wav

pytestmark = pytest.mark.serial  # real-time speech into a recogniser

DATA = Path(__file__).resolve().parent / "data"
SENTENCE = ["and", "you", "always", "want", "to", "see", "it", "in", "the", "superlative", "degree"]


def share(text: str) -> float:
    got = set(re.findall(r"[a-z']+", text.lower()))
    return sum(1 for w in SENTENCE if w in got) / len(SENTENCE)


async def _collect(fan: Townhall, space_id: str, out: list[dict[str, Any]]) -> None:
    async for message in fan.events(space_id):
        if message.get("type") in ("caption", "captions.changed"):
            out.append(message)


async def test_a_bot_is_captioned_live_and_its_words_are_kept_and_found(tmp_path: Path) -> None:
    env = {"TOWNHALL_CAPTIONS_ENGINE": "pocketsphinx"}
    with running_server(tmp_path / "data", env) as base:
        async with Townhall(base) as host, Townhall(base) as fan:
            me = await host.signup("speakerbot", "correct horse", "Speaker Bot")
            await fan.signup("readerbot", "correct horse")
            space = await host.create_space("Words on stage")
            sid = space["id"]
            assert space["captions"]["on"] is True
            await fan.join(sid)
            seen: list[dict[str, Any]] = []
            listener = asyncio.create_task(_collect(fan, sid, seen))
            clip = read_wav(DATA / "arctic_a0007.wav")
            media = await host.connect_media(
                sid, track=ScheduleTrack([(at, clip) for at in (2.0, 8.0, 14.0, 20.0)])
            )
            try:
                await media.wait_connected()
                await host.act(sid, "unmute")
                heard = ""
                for _ in range(400):  # bounded: 40 s
                    finals = [
                        m["data"] for m in seen if m["type"] == "caption" and m["data"]["final"]
                    ]
                    heard = " ".join(d["text"] for d in finals)
                    if share(heard) >= 0.5:
                        break
                    await asyncio.sleep(0.1)
                assert share(heard) >= 0.5, (heard, seen)
                captions = [m["data"] for m in seen if m["type"] == "caption"]
                assert {d["user_id"] for d in captions} == {me["id"]}
                assert any(not d["final"] for d in captions)  # partials came first
                first = next(d for d in captions if d["final"] and d["text"])
                assert 1_000 <= first["start_ms"] < first["end_ms"]
                await host.end(sid)
            finally:
                await media.close()
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await listener
            transcript = await fan.transcript(sid)
            lines = transcript["lines"]
            assert lines and {line["user"]["id"] for line in lines} == {me["id"]}
            assert share(" ".join(line["text"] for line in lines)) >= 0.5
            assert [line["start_ms"] for line in lines] == sorted(
                line["start_ms"] for line in lines
            )
            vtt = await fan.transcript_vtt(sid)
            assert vtt.startswith("WEBVTT\n") and "<v Speaker Bot>" in vtt
            word = next(w for w in ("superlative", "degree", "always", "want") if w in heard)
            found = await fan.search(word)
            assert [r["space"]["id"] for r in found["results"]] == [sid]
            assert word in found["results"][0]["line"]["text"]
