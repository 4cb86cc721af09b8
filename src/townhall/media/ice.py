"""ICE settings for the media plane: which host addresses to gather, which servers to use.

aioice gathers every interface address except loopback. townhall decides instead:
the configured `TOWNHALL_MEDIA_ADDRESSES` (loopback in local runs and tests).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import aioice.ice
from aiortc import RTCConfiguration, RTCIceServer

_addresses: list[str] | None = None
_stock_get_host_addresses = aioice.ice.get_host_addresses


def _configured_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    if _addresses is None:
        return _stock_get_host_addresses(use_ipv4, use_ipv6)
    return [a for a in _addresses if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]


def use_host_addresses(addresses: Iterable[str] | None) -> None:
    """Gather ICE host candidates on exactly these addresses (None: aioice's own choice).

    Process-wide: it applies to the server's and to in-process clients' connections.
    """
    global _addresses
    _addresses = list(addresses) if addresses is not None else None
    aioice.ice.get_host_addresses = _configured_host_addresses


def rtc_configuration(ice_servers: list[dict[str, Any]]) -> RTCConfiguration:
    """An RTCConfiguration with exactly these servers (never aiortc's public STUN default)."""
    return RTCConfiguration(
        iceServers=[
            RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
            for s in ice_servers
        ]
    )
