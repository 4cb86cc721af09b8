"""A real `townhall serve` process on a free loopback port, for tests that need one."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_server(
    data_dir: Path,
    env: dict[str, str] | None = None,
    timeout: float = 60.0,
    port: int | None = None,
) -> Iterator[str]:
    """Start the server (migrating first) and yield its base URL; stop it afterwards.

    Pass `port` to bring a server back on the same address after stopping it."""
    with server_process(data_dir, env, timeout, port) as (base, _proc):
        yield base


@contextmanager
def server_process(
    data_dir: Path,
    env: dict[str, str] | None = None,
    timeout: float = 60.0,
    port: int | None = None,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`running_server`, yielding the process too (its pid, for /proc measurements)."""
    port = port or free_port()
    full_env = (
        os.environ
        | {
            "TOWNHALL_PASSWORD_TIME_COST": "1",
            "TOWNHALL_PASSWORD_MEMORY_KIB": "1024",
            "TOWNHALL_AUTH_RATE_LIMIT": "100000",
            "TOWNHALL_LOG_LEVEL": "warning",
            "TOWNHALL_CAPTIONS_ENGINE": "off",  # tests of captions switch it on
        }
        | (env or {})
    )
    log = open(data_dir.parent / f"server-{port}-{time.monotonic_ns()}.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "townhall.cli",
            "serve",
            "--migrate",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
        ],
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {Path(str(log.name)).read_text()}")
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start in time")
            time.sleep(0.1)
        yield base, proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
