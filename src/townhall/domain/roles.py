"""Roles in a space and the ordering between them."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """A participant's role. host, cohost and speaker are on stage; listeners are not."""

    HOST = "host"
    COHOST = "cohost"
    SPEAKER = "speaker"
    LISTENER = "listener"


STAGE_ROLES = frozenset({Role.HOST, Role.COHOST, Role.SPEAKER})
MODERATOR_ROLES = frozenset({Role.HOST, Role.COHOST})
_RANK = {Role.LISTENER: 0, Role.SPEAKER: 1, Role.COHOST: 2, Role.HOST: 3}


def is_on_stage(role: Role) -> bool:
    return role in STAGE_ROLES


def is_moderator(role: Role) -> bool:
    return role in MODERATOR_ROLES


def rank(role: Role) -> int:
    """Higher for more powerful roles; used to tell promotions from demotions."""
    return _RANK[role]
