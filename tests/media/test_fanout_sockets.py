"""FanOut over plain UDP sockets with real libsrtp sessions (no aiortc): the packets it
builds, and what it does when a listener's sends fail."""

from __future__ import annotations

import os
import socket
from collections.abc import Hashable, Iterator

import pytest
from pylibsrtp import Policy, Session

from tests.media.fanout_engines import INLINE, fanout_for
from townhall.media.fanout import MAX_FAILED_ROUNDS
from townhall.media.rtp_out import RtpOut, SendPath


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


def srtp_pair() -> tuple[Session, Session]:
    key = os.urandom(30)
    tx = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND))
    rx = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_INBOUND))
    return tx, rx


def out_to(address: tuple[str, int], sender: socket.socket, tx: Session, ssrc: int) -> RtpOut:
    return RtpOut(
        ssrc=ssrc,
        payload_type=111,
        protect=tx.protect,
        protect_rtcp=tx.protect_rtcp,
        path=SendPath(sender.sendto, address, raw_socket=True),
        cname="test",
        session=tx,
    )


@pytest.mark.parametrize("engine", INLINE)
def test_packets_decrypt_to_the_rtp_the_fanout_means(
    sockets: list[socket.socket], engine: str
) -> None:
    receiver = udp(sockets, bind=True)
    tx, rx = srtp_pair()
    out = out_to(receiver.getsockname(), udp(sockets), tx, ssrc=0x11223344)
    first_sequence = out.sequence_number
    fanout = fanout_for(engine)
    fanout.add("a", out)
    payloads = [bytes([i]) * (60 + i) for i in range(5)]
    for index, payload in enumerate(payloads):
        assert fanout.send(payload, 1_000_000 + index * 960, marker=index == 0) == 1
    for index, payload in enumerate(payloads):
        plain = rx.unprotect(receiver.recv(2048))
        assert plain[0] == 0x80
        assert plain[1] == (0x80 | 111 if index == 0 else 111)
        assert int.from_bytes(plain[2:4], "big") == (first_sequence + index) & 0xFFFF
        assert int.from_bytes(plain[4:8], "big") == 1_000_000 + index * 960
        assert int.from_bytes(plain[8:12], "big") == 0x11223344
        assert plain[12:] == payload


@pytest.mark.parametrize("engine", INLINE)
def test_lasting_send_errors_drop_a_listener_transient_ones_do_not(
    sockets: list[socket.socket], engine: str
) -> None:
    receiver = udp(sockets, bind=True)
    good_tx, good_rx = srtp_pair()
    bad_tx, _ = srtp_pair()
    dropped: list[tuple[Hashable, BaseException]] = []
    fanout = fanout_for(engine, on_drop=lambda key, exc: dropped.append((key, exc)))
    fanout.add("good", out_to(receiver.getsockname(), udp(sockets), good_tx, ssrc=1))
    # Broadcast without SO_BROADCAST: every send fails with EACCES, a non-fatal errno.
    fanout.add("refused", out_to(("255.255.255.255", 9), udp(sockets), bad_tx, ssrc=2))
    for index in range(MAX_FAILED_ROUNDS - 1):
        assert fanout.send(b"\x01" * 80, index * 960) == 1
    assert "refused" in fanout and not dropped
    assert fanout.packets_lost_send_errors == MAX_FAILED_ROUNDS - 1
    fanout.send(b"\x01" * 80, MAX_FAILED_ROUNDS * 960)
    assert fanout.keys() == ["good"]
    assert [key for key, _ in dropped] == ["refused"]
    assert isinstance(dropped[0][1], PermissionError)
    for _ in range(MAX_FAILED_ROUNDS):
        assert good_rx.unprotect(receiver.recv(2048))[12:] == b"\x01" * 80


@pytest.mark.parametrize("engine", INLINE)
def test_closed_socket_drops_the_listener_at_once(
    sockets: list[socket.socket], engine: str
) -> None:
    receiver = udp(sockets, bind=True)
    tx, _ = srtp_pair()
    sender = udp(sockets)
    dropped: list[Hashable] = []
    fanout = fanout_for(engine, on_drop=lambda key, exc: dropped.append(key))
    fanout.add("a", out_to(receiver.getsockname(), sender, tx, ssrc=3))
    sender.close()
    assert fanout.send(b"\x02" * 50, 0) == 0
    assert dropped == ["a"] and len(fanout) == 0
