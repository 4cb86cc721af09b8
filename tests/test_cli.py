"""The `townhall` command line: version, help, db upgrade, serve and its config errors."""

from __future__ import annotations

import asyncio
import os
import resource
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.server import running_server

CLI = [sys.executable, "-m", "townhall.cli"]


def run(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ | (env or {}),
        cwd=cwd,
    )


def test_version_and_help() -> None:
    from townhall import __version__

    r = run("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"townhall {__version__}"
    for args in (["--help"], ["serve", "--help"], ["db", "--help"], ["db", "upgrade", "--help"]):
        r = run(*args)
        assert r.returncode == 0, args
        assert "usage: townhall" in r.stdout
    assert "--data-dir" in run("serve", "--help").stdout
    r = run()
    assert r.returncode == 2 and "usage" in r.stderr


def test_wrong_setting_stops_start_with_its_name(tmp_path: Path) -> None:
    cases = {
        "TOWNHALL_PORT": "eighty",
        "TOWNHALL_DATABASE_URL": "mysql://x",
        "TOWNHALL_REDIS_URL": "http://nope",
        "TOWNHALL_ICE_SERVERS": "[{bad json",
        "TOWNHALL_SECRET_KEY": "short",
        "TOWNHALL_PUBLIC_URL": "talk.example.org",
        "TOWNHALL_MEDIA_ADDRESSES": "127.0.0.1,not-an-ip",
        "TOWNHALL_STAGE_LIMIT": "0",
    }
    for name, value in cases.items():
        r = run("serve", "--data-dir", str(tmp_path / "d"), env={name: value})
        assert r.returncode == 2, (name, r.stderr)
        assert name in r.stderr, (name, r.stderr)
        assert "Traceback" not in r.stderr


def test_serve_refuses_unmigrated_database_then_db_upgrade_fixes_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    r = run("serve", "--data-dir", str(data), "--port", "1")
    assert r.returncode == 2 and "townhall db upgrade" in r.stderr
    r = run("db", "upgrade", "--data-dir", str(data))
    assert r.returncode == 0, r.stderr
    assert (data / "townhall.db").exists()
    r = run("db", "upgrade", "--data-dir", str(data))  # idempotent
    assert r.returncode == 0


def test_serve_keeps_generated_secret_key(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with running_server(data, {"TOWNHALL_LOG_LEVEL": "debug"}) as base:
        assert httpx.get(base + "/healthz").json()["database"] == "up"
        key = (data / "secret_key").read_text()
        assert len(key) >= 32
        r = httpx.post(
            base + "/api/v1/auth/signup",
            json={"handle": "keeper", "display_name": "K", "password": "long enough"},
        )
        assert r.status_code == 201
    with running_server(data, {"TOWNHALL_LOG_LEVEL": "debug"}) as base:
        assert (data / "secret_key").read_text() == key
        r = httpx.post(
            base + "/api/v1/auth/login", json={"handle": "keeper", "password": "long enough"}
        )
        assert r.status_code == 200  # the data survived a restart
    logs = "".join(p.read_text(errors="replace") for p in tmp_path.glob("server-*.log"))
    assert "/api/v1/auth/login" in logs  # the access log was written...
    assert "long enough" not in logs  # ...and the password is in none of it


async def test_tokens_in_urls_never_reach_the_log(tmp_path: Path) -> None:
    import websockets

    data = tmp_path / "data"
    with running_server(data, {"TOWNHALL_LOG_LEVEL": "info"}) as base:
        r = httpx.post(
            base + "/api/v1/auth/signup",
            json={"handle": "logger", "display_name": "L", "password": "long enough"},
        )
        token = r.json()["token"]
        httpx.get(base + "/api/v1/me", params={"token": token})

        async def ws() -> None:
            url = base.replace("http", "ws") + f"/api/v1/ws?token={token}"
            async with websockets.connect(url) as conn:
                await conn.send('{"op":"ping"}')
                await asyncio.wait_for(conn.recv(), 5)

        await ws()
    logs = "".join(p.read_text(errors="replace") for p in tmp_path.glob("server-*.log"))
    assert "/api/v1/ws?token=[redacted]" in logs
    assert token not in logs


def _one_line_error(r: subprocess.CompletedProcess[str], variable: str) -> None:
    assert r.returncode != 0, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert variable in lines[0] and "Traceback" not in r.stderr


def test_unreachable_database_is_one_line_for_upgrade_and_serve_migrate(tmp_path: Path) -> None:
    from tests.support.server import free_port

    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"  # nothing listens there
    env = {"TOWNHALL_DATABASE_URL": url}
    _one_line_error(run("db", "upgrade", "--data-dir", str(tmp_path), env=env), "DATABASE_URL")
    r = run("serve", "--migrate", "--data-dir", str(tmp_path), "--port", "1", env=env)
    _one_line_error(r, "TOWNHALL_DATABASE_URL")
    r = run("serve", "--data-dir", str(tmp_path), "--port", "1", env=env)
    _one_line_error(r, "TOWNHALL_DATABASE_URL")


def test_unreachable_redis_stops_start_with_one_line(tmp_path: Path) -> None:
    from tests.support.server import free_port

    env = {"TOWNHALL_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}  # nothing listens
    r = run("serve", "--migrate", "--data-dir", str(tmp_path), "--port", str(free_port()), env=env)
    _one_line_error(r, "TOWNHALL_REDIS_URL")


def test_the_version_has_one_source() -> None:
    import importlib.metadata

    import townhall

    assert importlib.metadata.version("townhall") == townhall.__version__


def test_a_node_lifts_its_open_files_limit_to_the_hard_one() -> None:
    # A child started with the common soft limit of 1,024 lifts it as `serve` does.
    code = (
        "import resource; from townhall.cli import raise_open_files_limit as r; "
        "s, h = resource.getrlimit(resource.RLIMIT_NOFILE); "
        "resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, h), h)); "
        "print(*r(), resource.getrlimit(resource.RLIMIT_NOFILE)[1])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    before, after, hard = (int(v) for v in done.stdout.split())
    assert before <= 1024
    assert after == hard or hard == resource.RLIM_INFINITY
