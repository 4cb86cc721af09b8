"""The C fan-out (townhall.media.native): which loop runs here, its rounds on the fan-out
thread (the caller never waits for them), rows applied between rounds, and the product
path through it. Real libsrtp sessions and UDP sockets; real aiortc clients on loopback."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import sysconfig
import threading
from collections.abc import Hashable, Iterator
from pathlib import Path

import pytest
from pylibsrtp import Policy, Session

from tests.media.fanout_engines import NEEDS_C
from tests.media.room_helpers import join
from townhall.client.media import (
    MediaClient,
    Samples,
    ToneTrack,
    band_rms,
    dominant_frequencies,
    rms,
)
from townhall.config import Settings
from townhall.media import internals, native
from townhall.media.fanout import MAX_FAILED_ROUNDS, FanOut
from townhall.media.rtp_out import RtpOut, SendPath
from townhall.media.server import MediaServer

SPACE = "room-native0"
SECOND = 48_000


def test_which_fanout_loop_runs_here() -> None:
    """Where a compiler and Python's headers exist, `make setup` must have built the C loop."""
    reason = native.unavailable_reason()
    headers = Path(sysconfig.get_paths()["include"], "Python.h").exists()
    if shutil.which("cc") is None or not headers:
        pytest.skip(f"no C compiler or Python.h here: the Python fan-out loop runs ({reason})")
    assert native.available(), f"a compiler is here but the C fan-out does not run: {reason}"
    assert FanOut().engine == "c"


@pytest.fixture
def sockets() -> Iterator[list[socket.socket]]:
    made: list[socket.socket] = []
    yield made
    for sock in made:
        sock.close()


def udp(made: list[socket.socket], bind: bool = False) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if bind:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(2)
    made.append(sock)
    return sock


def listener(
    made: list[socket.socket], receiver: socket.socket, ssrc: int
) -> tuple[RtpOut, Session]:
    key = os.urandom(30)
    tx = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND))
    rx = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_INBOUND))
    guarded = native.GuardedSession(tx) if native.available() else tx
    sender = udp(made)
    out = RtpOut(
        ssrc=ssrc,
        payload_type=111,
        protect=guarded.protect,
        protect_rtcp=guarded.protect_rtcp,
        path=SendPath(sender.sendto, receiver.getsockname(), raw_socket=True, sock=sender),
        cname="test",
        session=tx,
    )
    return out, rx


def sequence(rx: Session, data: bytes) -> int:
    return int.from_bytes(rx.unprotect(data)[2:4], "big")


class Hold:
    """Keeps the fan-out thread busy until released: rounds submitted meanwhile wait."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()

    def __enter__(self) -> Hold:
        def hold() -> None:
            self.started.set()
            self.release.wait(10)

        native.FANOUT_THREAD.submit(hold)
        assert self.started.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()


async def wait_for(condition: object, timeout: float = 5.0) -> None:
    assert callable(condition)
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


@NEEDS_C
async def test_the_caller_never_waits_for_a_round_it_hands_to_the_fanout_thread(
    sockets: list[socket.socket],
) -> None:
    receiver = udp(sockets, bind=True)
    receiver.setblocking(False)
    out, rx = listener(sockets, receiver, ssrc=7)
    fanout = FanOut(native_loop=True, threaded=True)
    fanout.add("a", out)
    with Hold():
        # The thread is busy: send() hands the round over and returns at once.
        assert fanout.send(b"\x05" * 60, 960) == 1
        assert fanout.packets_sent == 0
        with pytest.raises(BlockingIOError):
            receiver.recv(2048)
    await wait_for(lambda: fanout.packets_sent == 1)
    receiver.setblocking(True)
    assert rx.unprotect(receiver.recv(2048))[12:] == b"\x05" * 60


@NEEDS_C
async def test_rows_change_between_rounds_and_never_reuse_a_sequence_number(
    sockets: list[socket.socket],
) -> None:
    receiver = udp(sockets, bind=True)
    first, first_rx = listener(sockets, receiver, ssrc=1)
    second, second_rx = listener(sockets, receiver, ssrc=2)
    fanout = FanOut(native_loop=True, threaded=True)
    fanout.add("first", first)
    first_sequence = first.sequence_number
    second_sequence = second.sequence_number
    with Hold():
        fanout.send(b"\x01" * 40, 0)  # round 0: "first" only
        fanout.add("second", second)  # while round 0 waits: from round 1 on
        fanout.send(b"\x02" * 40, 960)  # round 1: both
        assert fanout.remove("first") is first  # before round 2 is handed over
        fanout.send(b"\x03" * 40, 1920)  # round 2: "second" only
        assert fanout.c_rows == 1  # the changes wait for the rounds under way
    await wait_for(lambda: fanout.packets_sent == 4)
    got: dict[int, list[tuple[int, bytes]]] = {1: [], 2: []}
    for _ in range(4):
        data = receiver.recv(2048)
        ssrc = int.from_bytes(data[8:12], "big")
        plain = (first_rx if ssrc == 1 else second_rx).unprotect(data)
        got[ssrc].append((int.from_bytes(plain[2:4], "big"), plain[12:]))
    assert got[1] == [(first_sequence, b"\x01" * 40), (first_sequence + 1, b"\x02" * 40)]
    assert got[2] == [(second_sequence, b"\x02" * 40), (second_sequence + 1, b"\x03" * 40)]
    assert fanout.c_rows == 1
    # The removed out goes on from the next number (a speaker's mix-minus, say).
    assert first.sequence_number == first_sequence + 2
    first.send(b"\x04" * 40, 2880)
    assert sequence(first_rx, receiver.recv(2048)) == first_sequence + 2


@NEEDS_C
async def test_failures_of_rounds_on_the_thread_are_handled_on_the_loop(
    sockets: list[socket.socket],
) -> None:
    receiver = udp(sockets, bind=True)
    good, good_rx = listener(sockets, receiver, ssrc=1)
    dropped: list[tuple[Hashable, BaseException, threading.Thread]] = []
    fanout = FanOut(
        native_loop=True,
        threaded=True,
        on_drop=lambda key, exc: dropped.append((key, exc, threading.current_thread())),
    )
    fanout.add("good", good)
    refused, _ = listener(sockets, receiver, ssrc=2)
    # Broadcast without SO_BROADCAST: every send fails with EACCES (not fatal at once).
    broadcast = SendPath(refused.path.sendto, ("255.255.255.255", 9), True, refused.path.sock)
    refused.path = broadcast
    fanout.add("refused", refused)
    for index in range(MAX_FAILED_ROUNDS):
        fanout.send(b"\x01" * 80, index * 960)
        await asyncio.sleep(0.001)
    await wait_for(lambda: bool(dropped))
    assert [(key, type(exc)) for key, exc, _ in dropped] == [("refused", PermissionError)]
    assert dropped[0][2] is threading.main_thread()
    assert fanout.keys() == ["good"]
    await wait_for(lambda: fanout.c_rows == 1)
    for _ in range(MAX_FAILED_ROUNDS):
        assert good_rx.unprotect(receiver.recv(2048))[12:] == b"\x01" * 80


@NEEDS_C
def test_a_row_keeps_its_own_socket_when_the_original_is_closed(
    sockets: list[socket.socket],
) -> None:
    """A round already running when the socket is closed elsewhere sends on that same
    socket (its dup), never through whatever reuses the descriptor number."""
    receiver = udp(sockets, bind=True)
    out, rx = listener(sockets, receiver, ssrc=9)
    assert out.path.sock is not None and out.session is not None
    original = out.path.sock
    rows = native.NativeRows()
    where = native.destination(original, receiver.getsockname())
    assert where is not None
    row = native.Row(
        key="a",
        out=out,
        session=out.session,
        sock=original,
        context=internals.srtp_context_address(out.session),
        destination=where,
        ssrc=9,
        payload_type=111,
        sequence_offset=100,
        start_round=0,
    )
    rows.add(row)
    original.sendto(b"bind me", receiver.getsockname())  # gives the socket its port
    assert receiver.recv(2048) == b"bind me"
    port = original.getsockname()[1]
    original.close()
    reuser = udp(sockets)  # most likely takes the freed descriptor number
    reuser.bind(("127.0.0.1", 0))
    assert rows.send(b"\x07" * 30, 0, 0, False) == (1, [])
    data, source = receiver.recvfrom(2048)
    assert source[1] == port and source[1] != reuser.getsockname()[1]
    assert rx.unprotect(data)[12:] == b"\x07" * 30
    rows.remove(row, 1)
    assert len(rows) == 0


@NEEDS_C
async def test_connected_outs_protect_under_the_c_fanout_lock() -> None:
    """RtpOut installs the guarded session as aiortc's outbound one (aiortc's own RTCP
    takes the same lock as the C rounds); internals still see the libsrtp session."""
    from tests.media.test_fanout import listeners

    async with listeners(1) as (one,):
        dtls = one.server.getTransceivers()[0].sender.transport
        assert isinstance(internals.private(dtls, "_tx_srtp"), native.GuardedSession)
        assert isinstance(internals.outbound_srtp(dtls), Session)
        assert one.out.session is internals.outbound_srtp(dtls)


# -- the product path: MediaServer rooms ------------------------------------------------

ENGINE_SETTINGS = [pytest.param("auto", marks=NEEDS_C, id="c-threaded"), "python"]
HEARD = 0.05
SILENT = 0.003


async def listen(client: MediaClient, seconds: float = 1.0) -> Samples:
    recorder = client.recorder
    return await recorder.wait_samples(int(seconds * SECOND), after=recorder.mark(), timeout=10)


@pytest.mark.parametrize("fanout_engine", ENGINE_SETTINGS)
async def test_rooms_hear_the_tone_and_silence_and_removal_through_each_loop(
    media_settings: Settings, clients: list[MediaClient], fanout_engine: str
) -> None:
    settings = media_settings.model_copy(update={"fanout_engine": fanout_engine})
    media = MediaServer(settings, None)
    try:
        await join(media, SPACE, 1, clients, on_stage=True, track=ToneTrack(440))
        audience = [await join(media, SPACE, 10 + i, clients, on_stage=False) for i in range(3)]
        room = media.room(SPACE)
        assert room is not None
        fanout = room._fanout
        assert isinstance(fanout, FanOut)
        assert fanout.engine == ("c" if fanout_engine == "auto" else "srtp_fast")
        await asyncio.sleep(0.6)
        for client in audience:
            pcm = await listen(client)
            assert abs(dominant_frequencies(pcm, 1)[0] - 440) <= 8
            assert band_rms(pcm, 440) > HEARD
        if fanout_engine == "auto":
            await wait_for(lambda: fanout.c_rows == 3)

        media.set_muted(SPACE, 1, True)
        await asyncio.sleep(1.0)
        for client in audience:
            assert rms(await listen(client)) < SILENT
        media.set_muted(SPACE, 1, False)

        await media.disconnect(SPACE, 10)
        await audience[0].wait_closed()
        assert fanout.keys() == [11, 12]
        if fanout_engine == "auto":
            await wait_for(lambda: fanout.c_rows == 2)
        sent = fanout.packets_sent
        await asyncio.sleep(0.6)
        for client in audience[1:]:
            assert band_rms(await listen(client), 440) > HEARD
        assert fanout.packets_sent > sent
    finally:
        await media.close()
