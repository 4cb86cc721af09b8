"""Fixtures for media tests: a real MediaServer on loopback and real aiortc clients."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from townhall.client.media import MediaClient
from townhall.config import Settings, load_settings
from townhall.media.ice import use_host_addresses
from townhall.media.server import MediaServer


@dataclass
class EventLog:
    """Collects what the media server publishes (it accepts any `async publish(event)`)."""

    events: list[Any] = field(default_factory=list)

    async def publish(self, event: Any) -> Any:
        self.events.append(event)
        return event

    def of_type(self, type_: str) -> list[Any]:
        return [e for e in self.events if e.type == type_]


@pytest.fixture
def media_settings(tmp_path: Path) -> Settings:
    use_host_addresses(["127.0.0.1"])
    return load_settings(data_dir=tmp_path, media_addresses=["127.0.0.1"], ice_servers=[])


@pytest.fixture
def event_log() -> EventLog:
    return EventLog()


@pytest.fixture
async def media(media_settings: Settings, event_log: EventLog) -> AsyncIterator[MediaServer]:
    server = MediaServer(media_settings, event_log)
    try:
        yield server
    finally:
        await server.close()


@pytest.fixture
async def clients() -> AsyncIterator[list[MediaClient]]:
    """Clients created by a test; closed at its end."""
    made: list[MediaClient] = []
    try:
        yield made
    finally:
        for client in made:
            await client.close()


class _AsyncioErrors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture(autouse=True)
def no_lost_task_errors(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test that leaves failed-and-never-awaited or destroyed-pending asyncio tasks.

    (Media B's fan-out tests, in this folder too, are left to their own rules.)
    """
    if request.path.name.startswith("test_fanout"):
        yield
        return
    handler = _AsyncioErrors()
    logger = logging.getLogger("asyncio")
    logger.addHandler(handler)
    try:
        yield
        gc.collect()
    finally:
        logger.removeHandler(handler)
    assert not handler.messages, handler.messages
