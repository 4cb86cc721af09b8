"""Start and stop the bench server process (bench/server.py) from a benchmark driver."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from bench.signalling import Channel

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class ServerProcess:
    process: asyncio.subprocess.Process
    port: int
    pid: int
    channel: Channel


@contextlib.asynccontextmanager
async def bench_server(*args: str, timeout: float = 60.0) -> AsyncIterator[ServerProcess]:
    """Run `python -m bench.server ARGS` and connect to it; stop it on exit."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.server",
        *args,
        cwd=str(ROOT),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), timeout)
        words = line.decode().split()
        if len(words) != 3 or words[0] != "READY":
            raise RuntimeError(f"bench server did not start: {line!r}")
        port, pid = int(words[1]), int(words[2])
        channel = await Channel.connect("127.0.0.1", port)
        try:
            yield ServerProcess(process=process, port=port, pid=pid, channel=channel)
        finally:
            with contextlib.suppress(Exception):
                await channel.request({"op": "quit"}, timeout=10)
            await channel.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
