"""Real nginx (Debian's package) running deploy/nginx/townhall.conf on a free loopback
port in front of a townhall server, for the cache test and the crowd benchmark."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.server import free_port

CONF = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "townhall.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

# What the shipped file says that a loopback test must say differently.
_REPLACE = {
    "proxy_cache_path /var/cache/nginx/townhall": "proxy_cache_path {cache}",
    "server 127.0.0.1:8080;": "server 127.0.0.1:{origin};",
    "listen 443 ssl http2;": "listen 127.0.0.1:{port} backlog=4096;",
}
_DROP = ("listen [::]:443", "ssl_certificate")


def nginx_reason() -> str | None:
    if not os.path.exists(NGINX):
        return "nginx is not installed (apt-get install nginx)"
    return None


def loopback_config(origin: int, port: int, cache: Path) -> str:
    """The shipped configuration with the loopback port, origin and cache dir."""
    text = CONF.read_text()
    for old, new in _REPLACE.items():
        if old not in text:
            raise AssertionError(f"deploy/nginx/townhall.conf no longer has {old!r}")
        text = text.replace(old, new.format(origin=origin, port=port, cache=cache))
    return "\n".join(line for line in text.splitlines() if not line.strip().startswith(_DROP))


@dataclass
class Nginx:
    base: str
    access_log: Path
    # `$connection $msec $status "$request_uri" $upstream_cache_status $upstream_response_time`
    timing_log: Path | None = None

    def log_lines(self) -> list[str]:
        return self.access_log.read_text().splitlines() if self.access_log.exists() else []


@contextmanager
def running_nginx(
    origin_base: str,
    workdir: Path,
    workers: int = 1,
    timing_log: bool = False,
    port: int | None = None,
) -> Iterator[Nginx]:
    """nginx on `port` (a free one by default) in front of `origin_base`."""
    origin = int(origin_base.rsplit(":", 1)[1])
    port = port or free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    for sub in ("cache", "body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (workdir / sub).mkdir(exist_ok=True)
    (workdir / "townhall.conf").write_text(loopback_config(origin, port, workdir / "cache"))
    user = "user root;" if os.geteuid() == 0 else ""
    timing = (
        'log_format timing \'$connection $msec $status "$request_uri"'
        " $upstream_cache_status $upstream_response_time';"
        f" access_log {workdir}/timing.log timing;"
        if timing_log
        else ""
    )
    (workdir / "nginx.conf").write_text(
        f"""{user}
daemon off;
worker_processes {workers};
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{ worker_connections 8192; }}
http {{
    log_format origin '$upstream_addr $upstream_cache_status $status "$request_uri"';
    access_log {workdir}/access.log origin;
    {timing}
    client_body_temp_path {workdir}/body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    include {workdir}/townhall.conf;
}}
"""
    )
    proc = subprocess.Popen(
        [NGINX, "-p", str(workdir), "-c", str(workdir / "nginx.conf")],
        stdout=subprocess.DEVNULL,
        stderr=open(workdir / "stderr.log", "wb"),  # noqa: SIM115
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    "nginx exited: "
                    + (workdir / "stderr.log").read_text()
                    + (workdir / "error.log").read_text()
                )
            try:
                with socket.create_connection(("127.0.0.1", port), 0.2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("nginx did not start") from None
                time.sleep(0.05)
        yield Nginx(
            f"http://127.0.0.1:{port}",
            workdir / "access.log",
            workdir / "timing.log" if timing_log else None,
        )
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
