"""Real `townhall media` node processes on loopback, registered through the test Redis."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis.asyncio as aioredis

from townhall.media.nodes.registry import NodeEntry, Registry


@contextmanager
def node_process(
    data_dir: Path, redis_url: str, env: dict[str, str], node_id: str, capacity: int
) -> Iterator[subprocess.Popen[bytes]]:
    """Start a media node on free loopback ports (stopped afterwards)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    log = open(data_dir / f"node-{node_id}-{time.monotonic_ns()}.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "townhall.cli",
            "media",
            "--redis",
            redis_url,
            "--advertise",
            "127.0.0.1",
            "--port",
            "0",
            "--capacity",
            str(capacity),
            "--id",
            node_id,
            "--data-dir",
            str(data_dir),
        ],
        env=os.environ | {"TOWNHALL_LOG_LEVEL": "warning"} | env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


async def registered(
    redis_url: str, prefix: str, secret: str, timeout: float = 60.0, count: int = 1
) -> dict[str, NodeEntry]:
    """Wait until `count` nodes are in the registry; returns them."""
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    registry = Registry(client, prefix, secret.encode())
    try:
        deadline = time.monotonic() + timeout
        while True:
            nodes = await registry.alive()
            if len(nodes) >= count:
                return nodes
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(nodes)} of {count} media nodes registered")
            await asyncio.sleep(0.1)
    finally:
        await client.aclose()
