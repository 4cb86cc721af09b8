"""Captions in Chromium: a host whose microphone says a recorded sentence (CMU ARCTIC
a0007, see tests/data/) in a recorded space; a listener sees the "Captions on" badge and
the host's words appear in the captions area under the host's name, may hide them for
themself, and sees the badge go when the host turns captions off; after the end the
replay page shows the transcript beside the player and a click on a line seeks there."""

from __future__ import annotations

import re
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import expect

from tests.support.server import running_server
from tests.web.flows import confirm_in_page, open_app, signup, unique
from townhall.client.media import read_wav

pytestmark = [pytest.mark.browser, pytest.mark.serial]

DATA = Path(__file__).resolve().parents[1] / "data"
WORDS = re.compile(r"\b(you|always|want|see|it|superlative|degree)\b", re.IGNORECASE)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real server with its captions engine on (the suite's servers have it off)."""
    data = tmp_path_factory.mktemp("captions-web") / "data"
    env = {"TOWNHALL_MEDIA_ADDRESSES": "127.0.0.1", "TOWNHALL_CAPTIONS_ENGINE": "pocketsphinx"}
    with running_server(data, env) as base:
        yield base


@pytest.fixture(scope="module")
def sentence_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sentence, then 2 s of silence (Chromium's fake microphone loops the file)."""
    pcm = np.concatenate([read_wav(DATA / "arctic_a0007.wav"), np.zeros(96_000, np.int16)])
    path = tmp_path_factory.mktemp("mic") / "sentence.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(48_000)
        w.writeframes(pcm.tobytes())
    return path


def test_a_listener_sees_the_speakers_words(browsers: Any, server: str, sentence_wav: Path) -> None:
    speaking = browsers.launch(sentence_wav)
    quiet = browsers.launch()
    host = browsers.page(speaking, server)
    fan = browsers.page(quiet, server, width=390, height=844, mobile=True)  # a phone
    signup(host, unique("cap"), "Cora Captioner")
    signup(fan, unique("fan"), "Lee Listener")

    host.get_by_role("link", name="Start a space").click()
    host.get_by_label("Title").fill("Captioned talk")
    host.get_by_label("Record this space").check()
    host.get_by_role("button", name="Start space now").click()
    host.wait_for_url("**/#/space/*")
    space_id = host.url.split("#/space/")[1]
    host.get_by_role("button", name="Unmute").click()
    expect(host.get_by_role("button", name="Mute", exact=True)).to_be_visible()

    open_app(fan, f"/space/{space_id}")
    fan.get_by_role("button", name="Join space").click()
    expect(fan.locator(".cc-pill")).to_have_text("Captions on")
    area = fan.get_by_role("region", name="Captions").locator("div.captions")
    expect(area).to_have_attribute("aria-live", "polite")
    line = area.locator("p.caption:not(.partial)").filter(has_text=WORDS).first
    expect(line).to_be_visible(timeout=45_000)
    expect(line.locator("strong")).to_have_text("Cora Captioner: ")

    # The listener's own toggle hides them (for them only), and shows them again.
    fan.get_by_role("button", name="Hide captions").click()
    expect(area).to_be_hidden()
    expect(host.locator("div.captions")).to_be_visible()
    fan.get_by_role("button", name="Show captions").click()
    expect(area).to_be_visible()

    # The host turns captions off: everyone's badge goes, and is told.
    expect(fan.get_by_role("button", name="Turn captions off")).to_have_count(0)  # host only
    host.get_by_role("button", name="Turn captions off").click()
    expect(fan.locator(".cc-pill")).to_be_hidden()
    expect(fan.locator("#announcer")).to_contain_text("Captions are off")
    expect(fan.get_by_text("Captions are off for this space.")).to_be_visible()

    host.get_by_role("button", name="End space").click()
    confirm_in_page(host, "End space")
    expect(host.locator(".room-banner.ended")).to_contain_text("This space has ended")

    # The replay: the transcript beside the player; a click on a line seeks there.
    transcript = fan.get_by_role("region", name="Transcript")
    expect(transcript).to_be_visible(timeout=20_000)
    first = transcript.locator(".transcript-line").filter(has_text=WORDS).first
    expect(first).to_be_visible()
    fan.wait_for_function(
        "() => { const a = document.querySelector('audio.replay');"
        " return a && a.readyState >= 1 && a.duration > 1; }",
        timeout=15_000,
    )
    at = int(first.get_attribute("data-at") or "0")
    first.get_by_role("button").click()
    fan.wait_for_function(
        f"() => Math.abs(document.querySelector('audio.replay').currentTime - {at / 1000}) < 1.5",
        timeout=10_000,
    )
    expect(first).to_have_class(re.compile(r"\bcurrent\b"))

    # A clip of the first 20 s: its own page with its audio and its words.
    fan.get_by_label("Clip from (s)").fill("0")
    fan.get_by_label("for (s)").fill("20")
    fan.get_by_role("button", name="Make a clip").click()
    fan.wait_for_url("**/#/clip/*")
    expect(fan.get_by_role("heading", name="Clip of “Captioned talk”")).to_be_visible()
    expect(fan.locator("audio.clip-audio")).to_have_count(1)
    expect(fan.locator(".clip-words li").filter(has_text=WORDS).first).to_be_visible()
