"""Captions, transcripts and search: who may switch captions, see or delete a transcript,
what a search query may be, and the WebVTT form of a transcript. No I/O."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from townhall.domain.errors import Conflict, Forbidden, Invalid
from townhall.domain.spaces import SpaceState

LANGUAGE = re.compile(r"^[a-z]{2}$")
MAX_QUERY = 200  # characters
MAX_TERMS = 12


def check_toggle(actor_id: int, host_id: int, state: SpaceState) -> None:
    """Only the host switches captions (or clips), and only before the space ends."""
    if actor_id != host_id:
        raise Forbidden("host_only", "only the host may change the captions settings")
    if state not in (SpaceState.SCHEDULED, SpaceState.LIVE):
        raise Conflict("space_not_live", f"the space is {state.value}; captions are over")


def check_language(language: str, engine: str, languages: Iterable[str]) -> None:
    """The engine must recognise the space's language (an ISO 639-1 code)."""
    if not LANGUAGE.match(language):
        raise Invalid("invalid_language", "language is a two-letter code like en", "language")
    known = sorted(languages)
    if language not in known:
        raise Invalid(
            "language_unsupported",
            f"the captions engine ({engine}) has no {language!r}; it knows: {', '.join(known)}",
            "language",
        )


def check_available(available: bool) -> None:
    if not available:
        raise Conflict("captions_unavailable", "this instance has no captions engine")


def check_transcript(state: SpaceState) -> None:
    """A transcript is read once the space has ended (who may see it is checked first)."""
    if state is not SpaceState.ENDED:
        raise Conflict("space_not_ended", "the transcript is available once the space has ended")


def check_delete_transcript(actor_id: int, host_id: int, state: SpaceState) -> None:
    if actor_id != host_id:
        raise Forbidden("host_only", "only the host may delete the transcript")
    check_transcript(state)


def search_terms(query: str) -> list[str]:
    """The words of a search query: letters and digits only, so that no full-text syntax
    (quotes, operators, parentheses, `NEAR`, `*`, `:`...) ever reaches the database."""
    if len(query) > MAX_QUERY:
        raise Invalid("query_too_long", f"a search is at most {MAX_QUERY} characters", "q")
    terms = [t for t in re.findall(r"\w+", query.lower()) if t.strip("_")]
    if not terms:
        raise Invalid("empty_query", "search for at least one word", "q")
    return list(dict.fromkeys(terms))[:MAX_TERMS]


@dataclass(frozen=True)
class CueLine:
    start_ms: int
    end_ms: int
    speaker: str
    text: str


def _stamp(ms: int) -> str:
    ms = max(0, ms)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(lines: Iterable[CueLine]) -> str:
    """WebVTT with one cue per line, the speaker as the cue's voice (`<v Name>`)."""
    out = ["WEBVTT", ""]
    for i, line in enumerate(lines, 1):
        end = max(line.end_ms, line.start_ms + 1)
        speaker = _escape(line.speaker).replace("\n", " ")
        out += [
            str(i),
            f"{_stamp(line.start_ms)} --> {_stamp(end)}",
            f"<v {speaker}>{_escape(line.text)}",
            "",
        ]
    return "\n".join(out)
