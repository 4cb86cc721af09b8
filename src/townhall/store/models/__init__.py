"""Every table, importable from one place (Alembic and repositories use this)."""

from townhall.store.models.accounts import Block, Follow, Token, User
from townhall.store.models.captions import CaptionSettings, TranscriptLine
from townhall.store.models.clips import Clip
from townhall.store.models.evidence import Evidence, EvidenceReport
from townhall.store.models.notifications import Notification
from townhall.store.models.outbox import OutboxEntry, SpaceEventSeq
from townhall.store.models.recordings import Recording
from townhall.store.models.spaces import (
    Space,
    SpaceAttendance,
    SpaceGuest,
    SpaceMember,
    SpaceReminder,
    SpaceRemoval,
    SpaceReport,
    SpaceTopic,
)
from townhall.store.models.staff import AuditRecord, BlockedTerm, Invite

__all__ = [
    "AuditRecord",
    "Block",
    "BlockedTerm",
    "CaptionSettings",
    "Clip",
    "Evidence",
    "EvidenceReport",
    "Follow",
    "Invite",
    "Notification",
    "OutboxEntry",
    "Recording",
    "Space",
    "SpaceAttendance",
    "SpaceEventSeq",
    "SpaceGuest",
    "SpaceMember",
    "SpaceReminder",
    "SpaceRemoval",
    "SpaceReport",
    "SpaceTopic",
    "Token",
    "TranscriptLine",
    "User",
]
