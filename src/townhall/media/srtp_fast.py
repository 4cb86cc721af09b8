"""SRTP protection straight through libsrtp, for the fan-out's tight loop.

`pylibsrtp.Session.protect` costs ~2 µs per packet, mostly Python around one C call: a type
check, a fresh `int *` allocation, two copies. The fan-out protects the same plaintext for
many sessions, so it calls libsrtp's `srtp_protect` itself through pylibsrtp's cffi
binding, with one shared C buffer and one shared length cell (~1 µs).

This reaches into pylibsrtp's private `Session._srtp` and its `_binding` module (through
`townhall.media.internals`); written for pylibsrtp 1.0 (libsrtp 2.x in-place
`srtp_protect(ctx, buf, &len)`). `available()` checks that, and the fan-out falls back to
`Session.protect` when it says no.
"""

from __future__ import annotations

from typing import Any

import pylibsrtp

from townhall.media import internals

BUFFER_SIZE = 1500
# libsrtp's worst-case SRTP trailer (auth tag + MKI), as pylibsrtp reserves it.
MAX_TRAILER = 144


def available() -> bool:
    """True when pylibsrtp exposes libsrtp's in-place `srtp_protect` as expected."""
    return internals.srtp_binding() is not None


def session_context(session: pylibsrtp.Session) -> Any:
    """The `srtp_t` of a session (valid while the session object lives)."""
    return internals.srtp_context(session)


class ProtectBuffer:
    """One C buffer: copy plaintext in, protect in place for a session, read the result."""

    def __init__(self) -> None:
        binding = internals.srtp_binding()
        if binding is None:
            raise RuntimeError("pylibsrtp's libsrtp binding is not the expected one")
        ffi, lib = binding
        self.cdata = ffi.new("char[]", BUFFER_SIZE)
        self.view = memoryview(ffi.buffer(self.cdata))
        self.length = ffi.new("int *")
        self.memmove = ffi.memmove
        self.srtp_protect = lib.srtp_protect

    def protect(self, context: Any, plaintext: bytes | bytearray, size: int) -> memoryview:
        """Protect `plaintext[:size]` with `context`; returns a view valid until the next call."""
        if size > BUFFER_SIZE - MAX_TRAILER:
            raise ValueError("packet is too long")
        self.memmove(self.cdata, plaintext, size)
        self.length[0] = size
        status = self.srtp_protect(context, self.cdata, self.length)
        if status:
            raise pylibsrtp.Error(f"srtp_protect failed with status {status}")
        return self.view[: self.length[0]]


def context_address(session: pylibsrtp.Session) -> int:
    """The `srtp_t` of a session as an integer address, for C."""
    return internals.srtp_context_address(session)
