"""Browser tests: a real townhall server, Debian's Chromium driven by Playwright, one browser
per fake microphone (a WAV tone), and console errors that fail the test."""

from __future__ import annotations

import contextlib
import os
import re
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pytest

from tests.support.server import running_server

CHROMIUM = Path("/usr/bin/chromium")
SAMPLE_RATE = 48_000
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

if not CHROMIUM.exists():
    pytest.skip(
        "Debian's Chromium is not installed at /usr/bin/chromium (apt-get install chromium)",
        allow_module_level=True,
    )

playwright_sync = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
# The machine is shared: give page updates a generous bound (every wait stays bounded).
playwright_sync.expect.set_options(timeout=10_000)


def write_tone(path: Path, freq: float, seconds: float = 10.0, amplitude: float = 0.5) -> Path:
    """A 48 kHz mono 16-bit sine; a whole number of periods so that looping is seamless."""
    periods = round(freq * seconds)
    n = round(periods * SAMPLE_RATE / freq)
    t = np.arange(n) / SAMPLE_RATE
    pcm = (amplitude * 32767 * np.sin(2 * np.pi * freq * t)).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(pcm.tobytes())
    return path


@pytest.fixture(scope="session")
def tones(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    d = tmp_path_factory.mktemp("tones")
    return {f: write_tone(d / f"tone-{f}.wav", f) for f in (440, 660)}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real `townhall serve` process per test module, on loopback."""
    data = tmp_path_factory.mktemp("web") / "data"
    env = {"TOWNHALL_MEDIA_ADDRESSES": "127.0.0.1"}
    with running_server(data, env) as base:
        yield base


@pytest.fixture(scope="module")
def playwright() -> Iterator[Any]:
    # Per module, not per session: the sync API keeps an event loop running while it lives,
    # which would break asyncio tests that a worker runs after the browser tests.
    with playwright_sync.sync_playwright() as p:
        yield p


BASE_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--allow-loopback-in-peer-connection",
]


@dataclass
class ConsoleLog:
    """Console errors and uncaught exceptions of every page; `allow` exempts known ones."""

    errors: list[str] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=list)

    def allow(self, pattern: str) -> None:
        self.allowed.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.allowed)]


@pytest.fixture
def console() -> ConsoleLog:
    return ConsoleLog()


@dataclass
class Browsers:
    playwright: Any
    console: ConsoleLog
    tones: dict[int, Path]
    launched: list[Any] = field(default_factory=list)

    def launch(
        self, tone: int | Path | None = None, *, fake_ui: bool = True, fake_device: bool = True
    ) -> Any:
        """A Chromium process; with `tone` (a frequency, or a WAV file's path), its fake
        microphone plays that WAV in a loop."""
        args = list(BASE_FLAGS)
        if fake_ui:
            args.append("--use-fake-ui-for-media-stream")
        if fake_device:
            args.append("--use-fake-device-for-media-stream")
        if tone is not None:
            wav = tone if isinstance(tone, Path) else self.tones[tone]
            args.append(f"--use-file-for-fake-audio-capture={wav}")
        browser = self.playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=args
        )
        self.launched.append(browser)
        return browser

    def page(
        self, browser: Any, base: str, *, width: int = 1280, height: int = 800, mobile: bool = False
    ) -> Any:
        """A fresh context (own cookies) and page, with console errors collected."""
        context = browser.new_context(
            base_url=base,
            viewport={"width": width, "height": height},
            is_mobile=mobile,
            has_touch=mobile,
            device_scale_factor=1,
        )
        context.set_default_timeout(15_000)
        page = context.new_page()
        page.on(
            "console",
            lambda msg: (
                self.console.errors.append(f"console: {msg.text}") if msg.type == "error" else None
            ),
        )
        page.on("pageerror", lambda exc: self.console.errors.append(f"pageerror: {exc}"))
        page.on("request", self._only_own_server)
        return page

    def _only_own_server(self, request: Any) -> None:
        """The client loads nothing from other hosts: every request goes to our server."""
        parts = urlsplit(request.url)
        if parts.scheme in ("data", "blob"):
            return
        if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            self.console.errors.append(f"request to another host: {request.url}")


@pytest.fixture
def browsers(playwright: Any, console: ConsoleLog, tones: dict[int, Path]) -> Iterator[Browsers]:
    b = Browsers(playwright, console, tones)
    yield b
    for browser in b.launched:
        with contextlib.suppress(Exception):  # already gone
            browser.close()
    bad = console.unexpected()
    assert not bad, "console errors in the page:\n" + "\n".join(bad)


@pytest.fixture
def screenshot(tmp_path: Path) -> Callable[..., Path]:
    """Save a screenshot: into a temp folder, or into docs/screenshots (tracked, shown by
    the README) only when TOWNHALL_SCREENSHOTS=1, as `make screenshots` sets it."""
    folder = SCREENSHOTS if os.environ.get("TOWNHALL_SCREENSHOTS") == "1" else tmp_path

    def save(page: Any, name: str, full_page: bool = True) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        page.screenshot(path=str(path), full_page=full_page)
        return path

    return save
