"""Spaces use cases (being split into modules by concern; see stage.py for now)."""

from townhall.api.services.spaces.stage import *  # noqa: F403
