"""Every private attribute of aiortc, aioice and pylibsrtp that townhall reaches, in one place.

The media plane's fast paths (`rtp_out`, `rtp_in`, `srtp_fast`) and ICE address choice
(`ice`) need a few things these libraries do not make public. Each is read here, through
`private()`, which raises `AiortcInternalsError` naming what moved and the versions this was
written for (the pins below, also in constraints.txt). tests/media/test_internals.py checks
each accessor on a real connected peer connection, so an upgrade that moves one fails there
first.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import socket
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, cast

import aioice
import aioice.ice
import aiortc
import pylibsrtp
from aiortc import RTCRtpSender, RTCRtpTransceiver

try:
    from pylibsrtp import _binding as _srtp_binding
except ImportError:  # pragma: no cover - a pylibsrtp without its cffi binding module
    _srtp_binding = None

PINNED = {"aiortc": "1.16.0", "aioice": "0.13.0", "pylibsrtp": "1.0.0"}


class AiortcInternalsError(RuntimeError):
    """aiortc/aioice/pylibsrtp internals are not what this module was written for."""


def installed_versions() -> dict[str, str]:
    return {
        "aiortc": aiortc.__version__,
        "aioice": aioice.__version__,
        "pylibsrtp": pylibsrtp.__version__,
    }


def private(obj: object, name: str) -> Any:
    """`obj.name`, or an error that says which internal moved."""
    try:
        return getattr(obj, name)
    except AttributeError:
        raise AiortcInternalsError(
            f"{type(obj).__name__}.{name} is missing: townhall.media.internals was written "
            f"for {PINNED} (installed: {installed_versions()})"
        ) from None


# -- ICE (aioice) ------------------------------------------------------------------------


def ice_connection(ice_transport: Any) -> Any:
    """The aioice `Connection` behind an `RTCIceTransport`."""
    return private(ice_transport, "_connection")


def nominated_pair(ice_transport: Any) -> Any | None:
    """The selected candidate pair of component 1 (RTP), or None before ICE completes."""
    return private(ice_connection(ice_transport), "_nominated").get(1)


def ice_protocols(ice_transport: Any) -> list[Any]:
    """The datagram protocols (one per local socket) of an ICE transport."""
    return list(private(ice_connection(ice_transport), "_protocols"))


def udp_socket(transport: Any) -> socket.socket | None:
    """The plain UDP socket of an asyncio datagram transport (None: not a plain socket,
    e.g. a TURN relay)."""
    sock = getattr(transport, "_sock", None)
    if isinstance(sock, socket.socket) and sock.type == socket.SOCK_DGRAM:
        return sock
    return None


_gather_on: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "townhall_gather_on", default=None
)
_process_default: list[str] | None = None
_stock_get_host_addresses = aioice.ice.get_host_addresses


def _host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    chosen = _gather_on.get()
    if chosen is None:
        chosen = _process_default
    if chosen is None:
        return list(_stock_get_host_addresses(use_ipv4, use_ipv6))
    return [a for a in chosen if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]


def _install_host_addresses() -> None:
    """aioice reads `get_host_addresses` from its module when it gathers: route it through
    `_host_addresses` once; what it returns is decided per context (`gathering_on`)."""
    aioice.ice.get_host_addresses = _host_addresses


@contextlib.contextmanager
def gathering_on(addresses: Iterable[str] | None) -> Iterator[None]:
    """ICE gathering inside this block (this task and tasks it starts) uses exactly these
    host addresses (None: the process default)."""
    token = _gather_on.set(list(addresses) if addresses is not None else None)
    try:
        yield
    finally:
        _gather_on.reset(token)


def set_default_host_addresses(addresses: Iterable[str] | None) -> None:
    """Host addresses for gathering that no `gathering_on` block scopes (clients, bots)."""
    global _process_default
    _process_default = list(addresses) if addresses is not None else None


# -- RTP sender, transceiver, DTLS (aiortc) -------------------------------------------------


def negotiated_codecs(transceiver: RTCRtpTransceiver) -> list[Any]:
    return list(private(transceiver, "_codecs"))


def rtp_history(sender: RTCRtpSender) -> dict[int, Any]:
    """The stock sender's last RTP packets by sequence number (it keeps 128)."""
    return dict(private(sender, "_RTCRtpSender__rtp_history"))


@dataclass(frozen=True)
class SenderTasks:
    """The stock sender's RTP and RTCP loops: started/exited events and their tasks."""

    started_rtp: asyncio.Event
    started_rtcp: asyncio.Event
    exited_rtp: asyncio.Event
    exited_rtcp: asyncio.Event
    tasks: tuple[asyncio.Task[Any] | None, ...]


def sender_tasks(sender: RTCRtpSender) -> SenderTasks:
    return SenderTasks(
        started_rtp=private(sender, "_RTCRtpSender__rtp_started"),
        started_rtcp=private(sender, "_RTCRtpSender__rtcp_started"),
        exited_rtp=private(sender, "_RTCRtpSender__rtp_exited"),
        exited_rtcp=private(sender, "_RTCRtpSender__rtcp_exited"),
        tasks=(
            private(sender, "_RTCRtpSender__rtp_task"),
            private(sender, "_RTCRtpSender__rtcp_task"),
        ),
    )


def replace_send_rtcp(sender: RTCRtpSender, send: Callable[[list[Any]], Awaitable[None]]) -> None:
    """Route the stock sender's own RTCP (SR/SDES/BYE) to `send`."""
    private(sender, "_send_rtcp")
    setattr(sender, "_send_rtcp", send)  # noqa: B010 - a private method, replaced on purpose


@dataclass(frozen=True)
class SenderState:
    ssrc: int
    cname: str
    packets: int
    octets: int


def sender_state(sender: RTCRtpSender) -> SenderState:
    return SenderState(
        ssrc=int(private(sender, "_ssrc")),
        cname=private(sender, "_RTCRtpSender__cname") or "",
        packets=int(private(sender, "_RTCRtpSender__packet_count")),
        octets=int(private(sender, "_RTCRtpSender__octet_count")),
    )


def outbound_srtp(dtls: Any) -> pylibsrtp.Session | None:
    """The DTLS transport's outbound SRTP session (None until DTLS completes), unwrapped
    when `wrap_outbound_srtp` replaced it."""
    value = private(dtls, "_tx_srtp")
    inner = getattr(value, "wrapped_session", None)
    return cast("pylibsrtp.Session | None", inner if inner is not None else value)


def wrap_outbound_srtp(dtls: Any, wrap: Callable[[pylibsrtp.Session], object]) -> None:
    """Make aiortc protect through `wrap(session)` (which has `protect`, `protect_rtcp` and
    `wrapped_session`), once; aiortc calls only those two on `_tx_srtp`."""
    value = private(dtls, "_tx_srtp")
    if isinstance(value, pylibsrtp.Session):
        setattr(dtls, "_tx_srtp", wrap(value))  # noqa: B010 - replaced on purpose


def inbound_srtp(dtls: Any) -> pylibsrtp.Session | None:
    """The DTLS transport's inbound SRTP session (None until DTLS completes)."""
    return cast("pylibsrtp.Session | None", private(dtls, "_rx_srtp"))


# -- libsrtp through pylibsrtp's cffi binding ----------------------------------------------

_EXPECTED_PROTECT = "srtp_err_status_t(*)(struct srtp_ctx_t_ *, void *, int *)"


def srtp_binding() -> tuple[Any, Any] | None:
    """pylibsrtp's (ffi, lib) when `srtp_protect` is libsrtp 2's in-place call, else None."""
    if _srtp_binding is None:
        return None
    ffi, lib = _srtp_binding.ffi, _srtp_binding.lib
    try:
        signature = ffi.getctype(ffi.typeof(lib.srtp_protect))
    except (AttributeError, TypeError):
        return None
    if signature != _EXPECTED_PROTECT or not hasattr(pylibsrtp.Session(), "_srtp"):
        return None
    return ffi, lib


def srtp_context(session: pylibsrtp.Session) -> Any:
    """The `srtp_t` of a session (valid while the session object lives)."""
    return private(session, "_srtp")[0]


def srtp_context_address(session: pylibsrtp.Session) -> int:
    """The `srtp_t` of a session as an address, for C (valid while the session lives)."""
    binding = srtp_binding()
    if binding is None:
        raise AiortcInternalsError("pylibsrtp's libsrtp binding is not the expected one")
    ffi, _ = binding
    return int(ffi.cast("uintptr_t", srtp_context(session)))


def srtp_protect_addresses() -> tuple[int, int] | None:
    """The addresses of libsrtp's `srtp_protect` and `srtp_protect_rtcp` in pylibsrtp's
    binding (None: not the expected binding), for C code that calls them."""
    binding = srtp_binding()
    if binding is None:
        return None
    ffi, lib = binding
    if ffi.getctype(ffi.typeof(lib.srtp_protect_rtcp)) != _EXPECTED_PROTECT:
        return None
    protect = int(ffi.cast("uintptr_t", ffi.addressof(lib, "srtp_protect")))
    protect_rtcp = int(ffi.cast("uintptr_t", ffi.addressof(lib, "srtp_protect_rtcp")))
    return protect, protect_rtcp


_install_host_addresses()
