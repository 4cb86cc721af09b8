"""What a use case runs with, in one typed value instead of loose parameters."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from townhall.bus import Bus
from townhall.config import Settings
from townhall.store.models import User


@dataclass(frozen=True)
class Context:
    """The request's transaction, the bus, the settings, and who acts."""

    session: AsyncSession
    bus: Bus
    settings: Settings
    actor: User
