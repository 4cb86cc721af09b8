"""The `townhall` command: serve, db, bot."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from townhall import __version__
from townhall.config import ConfigError, Settings, load_settings
from townhall.logs import configure as configure_logging

GRACEFUL_SHUTDOWN_SECONDS = 3


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    for name in ("host", "port", "data_dir"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    return load_settings(**overrides)


async def _reachable(db: Any) -> None:
    """Open one connection, or raise the one-line ConfigError (no traceback)."""
    from sqlalchemy import text

    try:
        async with db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:
        raise ConfigError(f"TOWNHALL_DATABASE_URL: cannot open the database ({exc})") from exc


async def _upgrade(settings: Settings) -> None:
    from townhall.store.db import Database
    from townhall.store.migrate import upgrade

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.effective_database_url, schema=settings.database_schema)
    try:
        await _reachable(db)
        await upgrade(db, settings.database_schema)
    finally:
        await db.dispose()


async def _check_schema(settings: Settings) -> None:
    from townhall.store.db import Database
    from townhall.store.migrate import pending

    db = Database(settings.effective_database_url, schema=settings.database_schema)
    try:
        current, head = await pending(db)
    except Exception as exc:
        raise ConfigError(f"TOWNHALL_DATABASE_URL: cannot open the database ({exc})") from exc
    finally:
        await db.dispose()
    if current != head:
        raise ConfigError(
            f"the database is at migration {current or 'none'}, the code needs {head}: "
            "run `townhall db upgrade` (or start with --migrate)"
        )


async def _check_redis(url: str) -> None:
    from townhall.bus.redis import reachable

    problem = await reachable(url)
    if problem is not None:
        raise ConfigError(f"TOWNHALL_REDIS_URL: cannot reach Redis ({problem})")


WS_MAX_MESSAGE_BYTES = 64 * 1024


def raise_open_files_limit() -> tuple[int, int]:
    """Lift the soft limit on open files to the hard one (the usual default of 1,024
    would cap a node at a few hundred listeners: every media connection holds sockets,
    the C fan-out a second handle of each). Returns the (before, after) soft limits."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if wanted > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError):
            return soft, soft
    return soft, resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from townhall.api.app import create_app

    settings = _settings(args)
    configure_logging(settings.log_level)
    raise_open_files_limit()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if args.migrate:
        asyncio.run(_upgrade(settings))
    asyncio.run(_check_schema(settings))
    if settings.redis_url:
        asyncio.run(_check_redis(settings.redis_url))
    app = create_app(settings)
    print(f"townhall {__version__} on http://{settings.host}:{settings.port}", flush=True)
    # Forwarded headers are handled by the app itself, only from TOWNHALL_TRUSTED_PROXIES
    # (uvicorn would otherwise believe them from 127.0.0.1).
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        log_config=None,
        # SIGTERM: connections get this long to close, then their handlers are
        # cancelled; the app's own shutdown is bounded too (api/app.py), so the whole
        # stays within 10 s and the recordings are finished.
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        proxy_headers=False,
        # A WebSocket message past this closes the socket (1009) before it is buffered;
        # the app's own limit (4096 characters) answers smaller oversized ones.
        ws_max_size=WS_MAX_MESSAGE_BYTES,
        # No permessage-deflate: compressing is per connection, so an event sent to 2,000
        # sockets would be compressed 2,000 times; uncompressed, its text is made once.
        ws_per_message_deflate=False,
        ws="websockets-sansio",  # the protocol api/ws/wire.py writes event frames through
    )
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    settings = _settings(args)
    asyncio.run(_upgrade(settings))
    print("database is up to date")
    return 0


def cmd_media(args: argparse.Namespace) -> int:
    """A media-only node (`townhall.media.nodes.node`)."""
    from townhall.media.nodes.node import NodeOptions, run

    overrides: dict[str, Any] = {"media_addresses": [args.advertise]}
    if args.redis:
        overrides["redis_url"] = args.redis
    if args.data_dir is not None:
        overrides["data_dir"] = args.data_dir
    settings = load_settings(**overrides)
    if not settings.redis_url:
        raise ConfigError("townhall media needs --redis URL (or TOWNHALL_REDIS_URL)")
    if not settings.media_secret:
        raise ConfigError("townhall media needs TOWNHALL_MEDIA_SECRET (shared with the API nodes)")
    configure_logging(settings.log_level)
    raise_open_files_limit()
    asyncio.run(_check_redis(settings.redis_url))
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    options = NodeOptions(
        advertise=args.advertise,
        listen=args.listen or args.advertise,
        port=args.port,
        relay_port=args.port if args.relay_port is None else args.relay_port,
        capacity=args.capacity or settings.media_listeners_per_worker,
        node_id=args.id or "",
    )
    asyncio.run(run(settings, options))
    return 0


def _add_media(sub: Any) -> None:
    media = sub.add_parser(
        "media",
        help="run a media-only node",
        description="Run a media-only node that API nodes find through Redis "
        "(TOWNHALL_MEDIA_SECRET must be the same on every node).",
    )
    media.add_argument("--redis", help="Redis URL shared with the API nodes")
    media.add_argument(
        "--advertise", required=True, help="this machine's address that clients and nodes reach"
    )
    media.add_argument("--listen", help="address to bind (default: the advertised one)")
    media.add_argument("--port", type=int, default=7800, help="control port, TCP (default 7800)")
    media.add_argument("--relay-port", type=int, help="relay port, UDP (default: --port)")
    media.add_argument(
        "--capacity",
        type=int,
        help="connections it takes (default TOWNHALL_MEDIA_LISTENERS_PER_WORKER)",
    )
    media.add_argument("--id", help="node id (default advertise:port)")
    media.add_argument("--data-dir", type=Path, help="folder for report evidence")
    media.set_defaults(func=cmd_media)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="townhall", description="Self-hostable live audio rooms.")
    parser.add_argument("--version", action="version", version=f"townhall {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the server", description="Run the townhall server.")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8080)")
    serve.add_argument("--data-dir", type=Path, help="folder for the SQLite file and secret key")
    serve.add_argument(
        "--migrate", action="store_true", help="apply database migrations before starting"
    )
    serve.set_defaults(func=cmd_serve)

    db = sub.add_parser("db", help="database maintenance", description="Database maintenance.")
    db_sub = db.add_subparsers(dest="db_command", metavar="COMMAND")
    up = db_sub.add_parser(
        "upgrade", help="apply migrations", description="Apply all pending migrations."
    )
    up.add_argument("--data-dir", type=Path, help="folder for the SQLite file")
    up.set_defaults(func=cmd_db_upgrade)
    db.set_defaults(func=lambda _a: _usage(db))

    _add_media(sub)
    _add_bot(sub)
    from townhall.admin_cli import add_admin_commands

    add_admin_commands(sub)
    return parser


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _add_bot(sub: Any) -> None:
    try:
        from townhall.client.bot import add_bot_commands
    except ImportError:
        return
    add_bot_commands(sub)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(func(args) or 0)
    except ConfigError as exc:
        print(f"townhall: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
