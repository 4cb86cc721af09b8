"""The aiortc/aioice/pylibsrtp internals townhall reaches, checked on the pinned versions.

Each accessor of `townhall.media.internals` is exercised on a real pair of connected aiortc
peer connections over loopback, so an upgrade that moves one fails here (and names it)
before a fast path breaks. Also: the versions installed are the pins, and ICE host
addresses chosen with `gathering_on` hold only inside that block.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pylibsrtp
import pytest
from aiortc import RTCPeerConnection, RTCRtpSender

from townhall.client.media import ToneTrack
from townhall.media import internals
from townhall.media.ice import gathering_on, rtc_configuration, use_host_addresses

ROOT = Path(__file__).resolve().parents[2]


def _pins() -> dict[str, str]:
    text = (ROOT / "constraints.txt").read_text()
    return dict(re.findall(r"^(aiortc|aioice|pylibsrtp)==(\S+)$", text, re.MULTILINE))


def test_the_installed_versions_are_the_pins_of_the_internals_and_the_constraints() -> None:
    assert internals.installed_versions() == internals.PINNED == _pins()
    declared = (ROOT / "pyproject.toml").read_text()
    for name, version in internals.PINNED.items():
        assert f'"{name}=={version}"' in declared, f"{name} is not pinned in pyproject.toml"


def test_a_missing_internal_is_named() -> None:
    with pytest.raises(internals.AiortcInternalsError, match=r"object\._gone is missing"):
        internals.private(object(), "_gone")


async def _connected_pair() -> tuple[RTCPeerConnection, RTCPeerConnection, RTCRtpSender]:
    """A client sending a tone to a server that answers with a send-recv transceiver."""
    client = RTCPeerConnection(rtc_configuration([]))
    server = RTCPeerConnection(rtc_configuration([]))
    client.addTrack(ToneTrack(440.0))
    await client.setLocalDescription(await client.createOffer())
    await server.setRemoteDescription(client.localDescription)
    server_sender = server.addTrack(ToneTrack(660.0))
    await server.setLocalDescription(await server.createAnswer())
    await client.setRemoteDescription(server.localDescription)
    async with asyncio.timeout(15):
        while not (client.connectionState == server.connectionState == "connected"):
            await asyncio.sleep(0.05)
    return client, server, server_sender


@pytest.fixture
async def pair() -> AsyncIterator[tuple[RTCPeerConnection, RTCPeerConnection, RTCRtpSender]]:
    use_host_addresses(["127.0.0.1"])
    client, server, sender = await _connected_pair()
    try:
        yield client, server, sender
    finally:
        await client.close()
        await server.close()


async def test_every_internal_is_where_the_fast_paths_expect_it(
    pair: tuple[RTCPeerConnection, RTCPeerConnection, RTCRtpSender],
) -> None:
    _client, server, sender = pair
    ice = sender.transport.transport
    selected = internals.nominated_pair(ice)
    assert selected is not None and selected.remote_addr[0] == "127.0.0.1"
    sock = internals.udp_socket(selected.protocol.transport)
    assert sock is not None and sock.type == socket.SOCK_DGRAM
    assert internals.ice_protocols(ice)

    transceiver = next(t for t in server.getTransceivers() if t.sender is sender)
    codecs = internals.negotiated_codecs(transceiver)
    assert codecs and codecs[0].mimeType.lower() == "audio/opus"

    async with asyncio.timeout(10):  # the stock sender sends a few packets, then its history
        while not internals.rtp_history(sender):
            await asyncio.sleep(0.02)
    loops = internals.sender_tasks(sender)
    assert loops.started_rtp.is_set() and loops.started_rtcp.is_set()
    assert all(isinstance(t, asyncio.Task) for t in loops.tasks)
    state = internals.sender_state(sender)
    assert state.ssrc > 0 and state.cname and state.packets > 0 and state.octets > 0

    sent: list[object] = []

    async def keep(packets: list[object]) -> None:
        sent.extend(packets)

    internals.replace_send_rtcp(sender, keep)
    assert sender._send_rtcp is keep

    outbound = internals.outbound_srtp(sender.transport)
    inbound = internals.inbound_srtp(sender.transport)
    assert isinstance(outbound, pylibsrtp.Session) and isinstance(inbound, pylibsrtp.Session)
    assert internals.srtp_binding() is not None
    assert internals.srtp_context(outbound) is not None


async def _gathered_hosts(pc: RTCPeerConnection) -> set[str]:
    pc.addTransceiver("audio", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    return {line.split()[4] for line in sdp.splitlines() if line.startswith("a=candidate:")}


async def test_gathering_on_holds_inside_its_block_only() -> None:
    use_host_addresses(["127.0.0.1"])
    with gathering_on(["::1"]):
        inside = await _gathered_hosts(RTCPeerConnection(rtc_configuration([])))
    outside = await _gathered_hosts(RTCPeerConnection(rtc_configuration([])))
    assert inside == {"::1"}
    assert outside == {"127.0.0.1"}
