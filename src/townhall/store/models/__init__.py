"""Every table, importable from one place (Alembic and repositories use this)."""

from townhall.store.models.accounts import Block, Follow, Token, User

__all__ = ["Block", "Follow", "Token", "User"]
