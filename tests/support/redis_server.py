"""A test's own `redis-server` on a free loopback port, to stop, start, freeze and thaw under
a live server (never the machine's shared Redis)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.server import free_port


class RedisServer:
    """One `redis-server` process without persistence: a restart forgets everything, as a
    Redis that lost its data would."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.directory = directory
        self.port = port or free_port()
        self._proc: subprocess.Popen[bytes] | None = None
        self._starts = 0
        self._frozen = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        assert not self.running
        self.directory.mkdir(parents=True, exist_ok=True)
        self._starts += 1
        log = open(self.directory / f"redis-{self._starts}.log", "wb")  # noqa: SIM115
        self._proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self._proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self._proc.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start in time")
            time.sleep(0.05)

    def freeze(self) -> None:
        """SIGSTOP: connections stay open and nothing answers (a hung Redis)."""
        assert self._proc is not None
        os.kill(self._proc.pid, signal.SIGSTOP)
        self._frozen = True

    def thaw(self) -> None:
        """SIGCONT: it answers again, with everything it had."""
        assert self._proc is not None
        os.kill(self._proc.pid, signal.SIGCONT)
        self._frozen = False

    def stop(self) -> None:
        """Kill the server at once (clients see their connections drop)."""
        if self._proc is None:
            return
        if self._frozen:
            self.thaw()
        self._proc.kill()
        self._proc.wait(10)
        self._proc = None

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False


@contextmanager
def redis_server(directory: Path) -> Iterator[RedisServer]:
    """A running own Redis (skips the test when `redis-server` is not installed)."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer(directory)
    server.start()
    try:
        yield server
    finally:
        server.stop()
