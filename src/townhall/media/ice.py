"""ICE settings for the media plane: which host addresses to gather, which servers to use.

aioice gathers every interface address except loopback. townhall decides instead: the
media server gathers on the configured `TOWNHALL_MEDIA_ADDRESSES` (loopback in local runs
and tests) inside `gathering_on(...)`, which holds for its own answers only; clients and
bots in the same process choose theirs with `use_host_addresses` (their process default).
"""

from __future__ import annotations

from collections.abc import Iterable

from aiortc import RTCConfiguration, RTCIceServer

from townhall.config import IceServer
from townhall.media.internals import gathering_on, set_default_host_addresses

__all__ = ["gathering_on", "rtc_configuration", "use_host_addresses"]


def use_host_addresses(addresses: Iterable[str] | None) -> None:
    """Gather ICE host candidates on exactly these addresses (None: aioice's own choice)
    wherever no `gathering_on` block says otherwise (the media server always does)."""
    set_default_host_addresses(addresses)


def rtc_configuration(ice_servers: Iterable[IceServer]) -> RTCConfiguration:
    """An RTCConfiguration with exactly these servers (never aiortc's public STUN default)."""
    return RTCConfiguration(
        iceServers=[
            RTCIceServer(urls=s.urls, username=s.username, credential=s.credential)
            for s in ice_servers
        ]
    )
