"""`townhall admin ...`: what the operator of an instance does at its command line.

townhall admin grant HANDLE --role admin|moderator|member
townhall admin invite [--days N]      # a code that works even when sign-up is closed
townhall admin staff
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from townhall.config import ConfigError, Settings, load_settings
from townhall.domain.errors import DomainError

T = TypeVar("T")


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if getattr(args, "data_dir", None) is not None:
        overrides["data_dir"] = args.data_dir
    return load_settings(**overrides)


def _in_session(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    from sqlalchemy.ext.asyncio import AsyncSession

    from townhall.store.db import Database

    async def run() -> T:
        db = Database(settings.effective_database_url, schema=settings.database_schema)
        try:
            async with db.session() as session:
                assert isinstance(session, AsyncSession)
                return await work(session)
        except DomainError:
            raise
        except Exception as exc:
            raise ConfigError(f"TOWNHALL_DATABASE_URL: cannot use the database ({exc})") from exc
        finally:
            await db.dispose()

    return asyncio.run(run())


def _fail(exc: DomainError) -> int:
    print(f"townhall: {exc.message}", file=sys.stderr)
    return 1


def cmd_grant(args: argparse.Namespace) -> int:
    from townhall.api.services.staff import roles
    from townhall.domain.staff import InstanceRole

    settings = _settings(args)
    try:
        out = _in_session(
            settings, lambda s: roles.grant(s, None, args.handle, InstanceRole(args.role))
        )
    except DomainError as exc:
        return _fail(exc)
    print(f"@{out.handle} is now {out.role.value}")
    return 0


def cmd_invite(args: argparse.Namespace) -> int:
    from townhall.api.auth_tokens import Tokens
    from townhall.api.services.staff import invites

    settings = _settings(args)
    tokens = Tokens(settings.load_secret_key())
    try:
        out = _in_session(settings, lambda s: invites.create(s, settings, tokens, None, args.days))
    except DomainError as exc:
        return _fail(exc)
    print(out.code)
    print(f"single use, expires {out.expires_at:%Y-%m-%d %H:%M} UTC", file=sys.stderr)
    return 0


def cmd_staff(args: argparse.Namespace) -> int:
    from townhall.store import staff as store

    settings = _settings(args)
    people = _in_session(settings, store.staff)
    for user in people:
        print(f"{user.role:<10} @{user.handle}")
    if not people:
        print("no admins or moderators yet: townhall admin grant HANDLE --role admin")
    return 0


def add_admin_commands(sub: Any) -> None:
    admin = sub.add_parser(
        "admin", help="instance staff and invites", description="Run the instance."
    )
    admin_sub = admin.add_subparsers(dest="admin_command", metavar="COMMAND")

    grant = admin_sub.add_parser(
        "grant",
        help="give an account an instance role",
        description="Make an account an admin or moderator (or a member again).",
    )
    grant.add_argument("handle")
    grant.add_argument("--role", choices=["admin", "moderator", "member"], default="admin")
    grant.add_argument("--data-dir", type=Path, help="folder of the SQLite file and secret key")
    grant.set_defaults(func=cmd_grant)

    invite = admin_sub.add_parser(
        "invite",
        help="print a single-use invite code",
        description="Print an invite code that works in every registration mode.",
    )
    invite.add_argument("--days", type=int, default=7, help="days until it expires (1-90)")
    invite.add_argument("--data-dir", type=Path, help="folder of the SQLite file and secret key")
    invite.set_defaults(func=cmd_invite)

    staff = admin_sub.add_parser("staff", help="list admins and moderators")
    staff.add_argument("--data-dir", type=Path, help="folder of the SQLite file and secret key")
    staff.set_defaults(func=cmd_staff)

    def usage(_args: argparse.Namespace) -> int:
        admin.print_help(sys.stderr)
        return 2

    admin.set_defaults(func=usage)
