"""Messages between the API and the media plane about report evidence.

They travel on a user channel no account can have (`EVIDENCE_CHANNEL`, id 0), so no
client ever receives them: the API asks (`EvidenceRequest`, through the outbox, once the
report commits) and the media node that has the space's audio answers (`EvidenceSaved`)
once the file is written.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Final

EVIDENCE_CHANNEL: Final = 0
"""The user-channel id of evidence messages (account ids start at 1)."""

EVIDENCE_REQUESTED: Final = "evidence.requested"
EVIDENCE_SAVED: Final = "evidence.saved"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


@dataclass(frozen=True)
class EvidenceRequest:
    """Keep the space's mix from `at - before` to `at + after` (unix seconds) as
    evidence `evidence_id`."""

    evidence_id: int
    space_id: str
    at: float
    before: float
    after: float

    def to_payload(self) -> dict[str, Any]:
        return {"type": EVIDENCE_REQUESTED, "data": asdict(self)}

    @classmethod
    def from_payload(cls, payload: Any) -> EvidenceRequest | None:
        """The request a channel payload carries, or None for anything else."""
        data = _data(payload, EVIDENCE_REQUESTED)
        if data is None:
            return None
        evidence_id, space_id = data.get("evidence_id"), data.get("space_id")
        at, before, after = (_number(data.get(k)) for k in ("at", "before", "after"))
        if not isinstance(evidence_id, int) or isinstance(evidence_id, bool):
            return None
        if not isinstance(space_id, str) or at is None or before is None or after is None:
            return None
        return cls(evidence_id, space_id, at, max(before, 0.0), max(after, 0.0))


@dataclass(frozen=True)
class EvidenceSaved:
    """Evidence `evidence_id` is written: `<data_dir>/evidence/<id>.ogg` and its
    timeline next to it (`<id>.json`)."""

    evidence_id: int
    space_id: str

    def to_payload(self) -> dict[str, Any]:
        return {"type": EVIDENCE_SAVED, "data": asdict(self)}

    @classmethod
    def from_payload(cls, payload: Any) -> EvidenceSaved | None:
        data = _data(payload, EVIDENCE_SAVED)
        if data is None:
            return None
        evidence_id, space_id = data.get("evidence_id"), data.get("space_id")
        if not isinstance(evidence_id, int) or isinstance(evidence_id, bool):
            return None
        if not isinstance(space_id, str):
            return None
        return cls(evidence_id, space_id)


def _data(payload: Any, type_: str) -> dict[str, Any] | None:
    if not isinstance(payload, dict) or payload.get("type") != type_:
        return None
    data = payload.get("data")
    return data if isinstance(data, dict) else None
