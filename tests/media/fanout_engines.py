"""The fan-out's loops, for tests that must hold on each: the C loop (inline and on the
fan-out thread) where it is built, and the two Python loops (the fallback)."""

from __future__ import annotations

from typing import Any

import pytest

from townhall.media import native
from townhall.media.fanout import FanOut

NEEDS_C = pytest.mark.skipif(
    not native.available(), reason=f"the C fan-out does not run: {native.unavailable_reason()}"
)
C = pytest.param("c", marks=NEEDS_C, id="c")
C_THREADED = pytest.param("c-threaded", marks=NEEDS_C, id="c-threaded")
PYTHON = ["srtp_fast", "pylibsrtp"]
INLINE = [C, *PYTHON]
EVERY = [C, C_THREADED, *PYTHON]


def fanout_for(engine: str, **kwargs: Any) -> FanOut:
    """A FanOut running `engine` ("c", "c-threaded", "srtp_fast" or "pylibsrtp")."""
    fanout = FanOut(
        native_loop=engine.startswith("c"),
        threaded=engine == "c-threaded",
        fast_srtp=engine == "srtp_fast",
        **kwargs,
    )
    assert fanout.engine == engine.removesuffix("-threaded")
    return fanout
