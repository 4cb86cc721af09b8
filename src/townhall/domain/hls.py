"""Rules of the HLS endpoints: blocking-reload queries, media names, what may be waited for.

Pure: the window's position comes in, a decision goes out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from townhall.domain.errors import BadRequest, NotFound

MAX_NUMBER = 10**9
_NAME = re.compile(r"^(0|[1-9][0-9]{0,9})(?:\.(0|[1-9][0-9]{0,2}))?\.m4s$")
_NUMBER = re.compile(r"^(0|[1-9][0-9]{0,9})$")


@dataclass(frozen=True)
class Blocking:
    """A blocking playlist reload: wait for part `part` (None: the whole segment) of `msn`."""

    msn: int
    part: int | None


def _number(value: str, field: str) -> int:
    if not _NUMBER.match(value) or int(value) > MAX_NUMBER:
        raise BadRequest("bad_hls_query", f"{field} must be a whole number", field=field)
    return int(value)


def parse_blocking(msn: str | None, part: str | None, parts_per_segment: int) -> Blocking | None:
    """The `_HLS_msn` / `_HLS_part` query, or None for a plain playlist request."""
    if msn is None:
        if part is not None:
            raise BadRequest("bad_hls_query", "_HLS_part needs _HLS_msn", field="_HLS_part")
        return None
    number = _number(msn, "_HLS_msn")
    index = None if part is None else _number(part, "_HLS_part")
    if index is not None and index >= parts_per_segment:
        raise BadRequest(
            "bad_hls_query",
            f"_HLS_part must be below {parts_per_segment} (parts per segment)",
            field="_HLS_part",
        )
    return Blocking(number, index)


def check_reachable(request: Blocking, last_msn: int) -> None:
    """A reload for more than two segments past the playlist's last one is refused."""
    if request.msn > last_msn + 2:
        raise BadRequest(
            "hls_msn_too_far",
            f"segment {request.msn} is more than two segments past the live edge ({last_msn})",
            field="_HLS_msn",
        )


def parse_media_name(name: str, parts_per_segment: int) -> tuple[int, int | None]:
    """`12.m4s` (segment 12) or `12.3.m4s` (part 3 of segment 12)."""
    found = _NAME.match(name)
    if found is None:
        raise NotFound("no_such_media", "media names look like 12.m4s or 12.3.m4s")
    msn = int(found.group(1))
    part = None if found.group(2) is None else int(found.group(2))
    if part is not None and part >= parts_per_segment:
        raise NotFound("no_such_media", f"segments have {parts_per_segment} parts")
    return msn, part


def check_media_wait(
    msn: int, part: int | None, first_msn: int, next_position: tuple[int, int]
) -> bool:
    """May a request for this segment/part wait for it? NotFound when it expired or lies
    beyond the next segment; True when it is not produced yet but close enough."""
    if msn < first_msn:
        raise NotFound("hls_expired", "that part is older than the live window")
    next_msn, next_part = next_position
    if msn > next_msn + 1:
        raise NotFound("hls_not_produced", "that part lies beyond the live edge")
    return (msn, part if part is not None else 0) >= (next_msn, next_part)
