"""Speaking levels from real audio, and joins/leaves that leave nothing behind."""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable

from tests.media.conftest import EventLog
from tests.media.room_helpers import join, server_side_connected
from townhall.client.media import MediaClient, ToneTrack, connect
from townhall.media.server import MediaServer


async def test_levels_follow_the_speakers(
    media: MediaServer, event_log: EventLog, clients: list[MediaClient]
) -> None:
    await join(media, "space-lv", 1, clients, on_stage=True, track=ToneTrack(440, 0.5))
    await join(media, "space-lv", 2, clients, on_stage=True)  # on stage, says nothing
    await join(media, "space-lv", 3, clients, on_stage=False, track=ToneTrack(1000, 0.5))

    def reported() -> list[dict[str, float]]:
        return [e.data["levels"] for e in event_log.of_type("levels") if e.space_id == "space-lv"]

    async def until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
        async with asyncio.timeout(seconds):  # generous: the machine may be loaded
            while not condition():
                await asyncio.sleep(0.05)

    await until(lambda: bool(reported()) and reported()[-1].get("1", 0.0) > 0.5)
    assert all(lv.get("2", 0.0) == 0.0 and "3" not in lv for lv in reported())

    start = len(event_log.events)
    await asyncio.sleep(1.0)  # a steady tone: few or no new reports, never more than 10/s
    assert len(event_log.events) - start <= 10

    media.set_muted("space-lv", 1, True)
    await until(lambda: reported()[-1].get("1") == 0.0)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_joining_and_leaving_200_times_leaks_nothing(media: MediaServer) -> None:
    async def visit(user_id: int, space: str) -> None:
        answer = functools.partial(
            media.answer, space, user_id, on_stage=user_id % 2 == 0, muted=False
        )
        client = await connect(answer, track=ToneTrack(300 + user_id))
        try:
            await client.wait_connected()
            await server_side_connected(media, space, user_id)
        finally:
            if user_id % 3:
                await media.disconnect(space, user_id)
                await client.wait_closed()
            await client.close()

    # Warm up (codec contexts, thread pools) before taking the baseline.
    await visit(0, "space-warm")
    await media.disconnect("space-warm", 0)
    await asyncio.sleep(0.5)
    tasks_before, fds_before = len(asyncio.all_tasks()), open_fds()

    for batch in range(50):  # 200 visits, 4 at a time, over two spaces
        await asyncio.gather(*(visit(batch * 4 + i, f"space-{i % 2}") for i in range(4)))
    for space in ("space-0", "space-1"):
        room = media.room(space)
        if room is not None:
            await media.end_space(space)

    for _ in range(50):  # aiortc finishes closing in the background: bounded wait
        if len(asyncio.all_tasks()) <= tasks_before + 2 and open_fds() <= fds_before + 4:
            break
        await asyncio.sleep(0.1)
    assert media.room("space-0") is None and media.room("space-1") is None
    assert len(asyncio.all_tasks()) <= tasks_before + 2, asyncio.all_tasks()
    assert open_fds() <= fds_before + 4
