"""`townhall bot speak` and `townhall bot listen` end to end against a real server."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.support.server import running_server
from townhall.client.media import dominant_frequencies, read_wav, rms, write_wav

BOT = [sys.executable, "-m", "townhall.cli", "bot"]


def _tone(path: Path, freq: float, seconds: float) -> Path:
    t = np.arange(int(48000 * seconds)) / 48000
    write_wav(path, (np.sin(2 * np.pi * freq * t) * 0.3 * 32767).astype(np.int16))
    return path


def _account(base: str, handle: str) -> str:
    r = httpx.post(
        base + "/api/v1/auth/signup",
        json={"handle": handle, "display_name": handle, "password": "correct horse"},
    )
    assert r.status_code == 201, r.text
    session = r.json()["token"]
    r = httpx.post(
        base + "/api/v1/me/tokens",
        json={"name": "bot"},
        headers={"Authorization": f"Bearer {session}"},
    )
    assert r.status_code == 201, r.text
    return str(r.json()["token"])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    with running_server(tmp_path / "data") as base:
        yield base


def test_bot_speaks_and_another_bot_hears_it(server: str, tmp_path: Path) -> None:
    host = _account(server, "hostbot")
    fan = _account(server, "fanbot")
    r = httpx.post(
        server + "/api/v1/spaces",
        json={"title": "Bot test", "visibility": "public"},
        headers={"Authorization": f"Bearer {host}"},
    )
    assert r.status_code == 201, r.text
    space = r.json()["id"]
    wav = _tone(tmp_path / "a440.wav", 440, 2.0)
    out = tmp_path / "heard.wav"
    common = ["--server", server, "--space", space]
    speaker = subprocess.Popen(
        [
            *BOT,
            "speak",
            *common,
            "--token",
            host,
            "--wav",
            str(wav),
            "--loop",
            "--seconds",
            "12",
            "--stay",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ,
    )
    try:
        listener = subprocess.run(
            [*BOT, "listen", *common, "--token", fan, "--seconds", "5", "--out", str(out)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert listener.returncode == 0, listener.stderr
        assert "recorded" in listener.stdout
    finally:
        speaker.terminate()
        speaker.communicate(timeout=30)
    pcm = read_wav(out)
    assert len(pcm) > 48000 * 3
    tail = pcm[-48000 * 2 :]
    assert rms(tail) > 0.05  # full scale is 1.0
    assert abs(dominant_frequencies(tail)[0] - 440) < 15


def test_bot_errors_are_clear(server: str, tmp_path: Path) -> None:
    token = _account(server, "errbot")
    base = ["--server", server, "--space", "nosuchspace1"]
    r = subprocess.run(
        [
            *BOT,
            "listen",
            *base,
            "--token",
            "th_bogus",
            "--seconds",
            "1",
            "--out",
            str(tmp_path / "x.wav"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1 and "invalid_token" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run(
        [
            *BOT,
            "listen",
            *base,
            "--token",
            token,
            "--seconds",
            "1",
            "--out",
            str(tmp_path / "x.wav"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1 and "404" in r.stderr
    r = subprocess.run(
        [*BOT, "speak", *base, "--token", token, "--wav", str(tmp_path / "missing.wav")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "no such file" in r.stderr
    r = subprocess.run([*BOT, "speak", "--server", server], capture_output=True, text=True)
    assert r.returncode == 2 and "required" in r.stderr
