"""`townhall bot speak|listen`: a scripted participant that plays a WAV or records a space."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from townhall.client.api import Townhall
from townhall.client.errors import ApiError
from townhall.client.media import (
    MediaSession,
    WavTrack,
    dominant_frequencies,
    read_wav,
    rms,
    write_wav,
)
from townhall.domain.roles import STAGE_ROLES
from townhall.media.audio import SAMPLE_RATE
from townhall.media.ice import use_host_addresses


class BotError(Exception):
    """A problem the user can fix; printed without a traceback."""


def _gather_addresses(server: str, addresses: list[str] | None) -> None:
    """Gather ICE candidates on the given addresses; loopback when the server is local."""
    if addresses:
        use_host_addresses(addresses)
        return
    host = urlsplit(server).hostname or ""
    try:
        local = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        local = False
    if local:
        use_host_addresses(["127.0.0.1"])


async def _enter(th: Townhall, space_id: str) -> str:
    """Join the space (idempotent for members) and answer our role in it."""
    snapshot = await th.join(space_id)
    return str((snapshot.get("me") or {}).get("role") or "listener")


async def _follow_moves(th: Townhall, space_id: str, session: MediaSession) -> asyncio.Task[None]:
    """Offer again whenever the server moves this bot (`media.moved`), until cancelled."""
    me = await th.me()
    return asyncio.create_task(th.follow_moves(space_id, session, int(me["id"])))


async def speak(args: argparse.Namespace) -> int:
    wav = Path(args.wav)
    if not wav.is_file():
        raise BotError(f"--wav: no such file: {wav}")
    try:
        length = len(read_wav(wav)) / SAMPLE_RATE
    except Exception as exc:
        raise BotError(f"--wav: cannot read {wav} as a WAV file ({exc})") from exc
    seconds = args.seconds if args.seconds is not None else length
    _gather_addresses(args.server, args.ice_address)
    async with Townhall(args.server, args.token) as th:
        role = await _enter(th, args.space)
        if role not in STAGE_ROLES:
            print(
                f"note: you are a {role} in this space; nobody hears you until a host "
                "invites you up",
                file=sys.stderr,
            )
        session = await th.media_session(args.space, WavTrack(wav, loop=args.loop))
        mover = await _follow_moves(th, args.space, session)
        media = session.client
        assert media is not None
        try:
            await media.wait_connected()
            if role in STAGE_ROLES:
                await th.act(args.space, "unmute")  # everyone comes on stage muted
            print(f"speaking {wav.name} in space {args.space} for {seconds:.1f} s", flush=True)
            await asyncio.sleep(seconds)
        finally:
            mover.cancel()
            await session.close()
            if not args.stay:
                await th.leave(args.space)
    return 0


async def listen(args: argparse.Namespace) -> int:
    if args.seconds <= 0 or args.seconds > 3600:
        raise BotError("--seconds must be between 0 and 3600")
    out = Path(args.out)
    if not out.parent.exists():
        raise BotError(f"--out: folder {out.parent} does not exist")
    _gather_addresses(args.server, args.ice_address)
    async with Townhall(args.server, args.token) as th:
        await _enter(th, args.space)
        session = await th.media_session(args.space)
        mover = await _follow_moves(th, args.space, session)
        try:
            assert session.client is not None
            await session.client.wait_connected()
            started = time.monotonic()
            await asyncio.sleep(args.seconds)
            pcm = session.recorder.samples()
        finally:
            mover.cancel()
            await session.close()
            if not args.stay:
                await th.leave(args.space)
    write_wav(out, pcm)
    peaks = ", ".join(f"{f:.0f} Hz" for f in dominant_frequencies(pcm)[:3]) if len(pcm) else "-"
    print(
        f"recorded {len(pcm) / SAMPLE_RATE:.1f} s of {time.monotonic() - started:.1f} s "
        f"to {out} (rms {rms(pcm):.4f}; strongest {peaks})",
        flush=True,
    )
    return 0


def _run(func: Any) -> Any:
    def main(args: argparse.Namespace) -> int:
        try:
            return int(asyncio.run(func(args)))
        except ApiError as exc:
            print(f"townhall bot: {exc}", file=sys.stderr)
            return 1
        except BotError as exc:
            print(f"townhall bot: {exc}", file=sys.stderr)
            return 2
        except (TimeoutError, ConnectionError) as exc:
            print(f"townhall bot: media connection failed: {exc or 'timed out'}", file=sys.stderr)
            return 1

    return main


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--server", required=True, help="server URL, e.g. http://127.0.0.1:8080")
    p.add_argument("--token", required=True, help="an API token (POST /api/v1/me/tokens)")
    p.add_argument("--space", required=True, help="the space id")
    p.add_argument(
        "--ice-address",
        action="append",
        metavar="ADDR",
        help="local address to gather ICE candidates on (repeatable; loopback for a local server)",
    )
    p.add_argument("--stay", action="store_true", help="do not leave the space at the end")


def add_bot_commands(sub: Any) -> None:
    """Register `townhall bot speak` and `townhall bot listen`."""
    bot = sub.add_parser("bot", help="scripted speaker or listener", description=__doc__)
    bot_sub = bot.add_subparsers(dest="bot_command", metavar="COMMAND")

    sp = bot_sub.add_parser("speak", help="play a WAV file into a space")
    _common(sp)
    sp.add_argument("--wav", required=True, help="the WAV file to play (any rate, mono/stereo)")
    sp.add_argument("--seconds", type=float, help="how long to speak (default: the WAV's length)")
    sp.add_argument("--loop", action="store_true", help="repeat the WAV")
    sp.set_defaults(func=_run(speak))

    li = bot_sub.add_parser("listen", help="record a space to a WAV file")
    _common(li)
    li.add_argument("--seconds", type=float, required=True, help="how long to record")
    li.add_argument("--out", required=True, help="the WAV file to write")
    li.set_defaults(func=_run(listen))

    def usage(_: argparse.Namespace) -> int:
        bot.print_help(sys.stderr)
        return 2

    bot.set_defaults(func=usage)
