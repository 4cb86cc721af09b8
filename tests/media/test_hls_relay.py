"""The Redis relay of HLS windows: a second hub mirrors what the first packages, and the
mirror survives a Redis restart (this test runs its own redis-server on a free port)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.server import free_port
from townhall.media.hls.hub import HlsHub
from townhall.media.hls.relay import RedisHlsRelay
from townhall.media.hls.window import PartRecord

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server")


@contextlib.contextmanager
def redis_server(port: int, workdir: Path) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with contextlib.closing(
                    __import__("socket").create_connection(("127.0.0.1", port), 0.2)
                ):
                    break
            except OSError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        yield proc
    finally:
        proc.terminate()
        proc.wait(10)


def record(n: int, stream: str = "feed") -> PartRecord:
    msn, index = divmod(n, 4)
    return PartRecord(stream, msn, index, 0.49, 1_700_000_000 + n * 0.49, f"part{n}".encode())


async def until(check: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition never met"
        await asyncio.sleep(0.05)


async def test_a_mirror_follows_the_packaging_node_and_survives_a_redis_restart(
    tmp_path: Path,
) -> None:
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    with redis_server(port, tmp_path) as server:
        producer, consumer = HlsHub(RedisHlsRelay(url, "t:")), HlsHub(RedisHlsRelay(url, "t:"))
        try:
            assert await consumer.window("sp") is None  # nothing packaged yet: 404
            producer.start_stream("sp", "feed", b"INIT")
            for n in range(6):
                producer.publish_part("sp", record(n))
            await asyncio.sleep(0.3)
            mirror = None

            async def mirrored() -> bool:
                nonlocal mirror
                mirror = await consumer.window("sp")
                return mirror is not None and mirror.parts_held == 6

            deadline = asyncio.get_running_loop().time() + 5
            while not await mirrored():
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.1)
            assert mirror is not None and mirror.init == b"INIT"
            assert mirror.part(1, 1) == b"part5"
            # Live: a part published now reaches the mirror and wakes its waiters.
            waiter = asyncio.create_task(mirror.wait(1, 2, timeout=5))
            producer.publish_part("sp", record(6))
            assert await asyncio.wait_for(waiter, 5) is True
            assert mirror.part(1, 2) == b"part6"

            # Redis restarts (empty): parts published meanwhile are dropped, then the
            # producer writes the stream back and the mirror resubscribes and follows.
            server.terminate()
            server.wait(10)
            producer.publish_part("sp", record(7))
            await asyncio.sleep(0.5)
            with redis_server(port, tmp_path):
                n = 8
                deadline = asyncio.get_running_loop().time() + 15
                while mirror.part(*divmod(n - 1, 4)) is None:
                    producer.publish_part("sp", record(n))
                    n += 1
                    assert asyncio.get_running_loop().time() < deadline, "mirror never resumed"
                    await asyncio.sleep(0.2)
                assert await consumer.window("sp") is mirror and mirror.stream == "feed"
                # A new run of the room replaces the stream everywhere.
                producer.start_stream("sp", "feed2", b"INIT2")
                producer.publish_part("sp", record(0, "feed2"))
                await until(lambda: mirror.ended)  # the old stream's waiters are released
                window = await consumer.window("sp")
                assert window is not None and window.stream == "feed2"
                await until(lambda: window.parts_held == 1)
                assert window.init == b"INIT2"
                producer.end_stream("sp", "feed2")
                await until(lambda: window.ended)
        finally:
            await producer.close()
            await consumer.close()
