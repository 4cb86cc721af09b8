"""Events and presence shared between API nodes: in memory, or Redis for many nodes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from townhall.bus.base import (
    Bus,
    BusUnavailable,
    Subscription,
    SubscriptionClosed,
    SubscriptionLagged,
)
from townhall.bus.events import Event, EventFormatError
from townhall.bus.memory import MemoryBus

if TYPE_CHECKING:
    from townhall.config import Settings

__all__ = [
    "Bus",
    "BusUnavailable",
    "Event",
    "EventFormatError",
    "MemoryBus",
    "Subscription",
    "SubscriptionClosed",
    "SubscriptionLagged",
    "create_bus",
]


def create_bus(settings: Settings) -> Bus:
    """The Redis bus when settings.redis_url is set, else the in-memory one."""
    ttl = settings.presence_ttl_seconds
    if settings.redis_url:
        from townhall.bus.redis import RedisBus

        return RedisBus(settings.redis_url, prefix=settings.redis_prefix, presence_ttl=ttl)
    return MemoryBus(presence_ttl=ttl)
