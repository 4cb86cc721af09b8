"""Rules for accounts and the follow graph."""

from __future__ import annotations

import re

from zxcvbn import zxcvbn

from townhall.domain.errors import Conflict, Forbidden, Invalid

HANDLE_RE = re.compile(r"^[A-Za-z0-9_]{3,15}$")
DISPLAY_NAME_MAX = 50
BIO_MAX = 160
PASSWORD_MIN = 8
PASSWORD_MAX = 128
# zxcvbn's score (0-4): 2 is "somewhat guessable", safe against throttled online guessing.
PASSWORD_MIN_SCORE = 2
# zxcvbn refuses longer input (and slows down on it); a password this long that is weak
# in its first 72 characters is weak.
_ESTIMATE_CHARS = 72


def handle_key(handle: str) -> str:
    """The form handles are compared in: case-insensitive."""
    return handle.lower()


def check_handle(handle: str) -> str:
    if not HANDLE_RE.fullmatch(handle):
        raise Invalid(
            "invalid_handle",
            "handle must be 3 to 15 characters: letters, digits or underscore",
            "handle",
        )
    return handle


def check_display_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise Invalid("invalid_display_name", "display name must not be empty", "display_name")
    if len(name) > DISPLAY_NAME_MAX:
        raise Invalid(
            "invalid_display_name",
            f"display name must be at most {DISPLAY_NAME_MAX} characters",
            "display_name",
        )
    if any(ch in name for ch in "\x00\r\n"):
        raise Invalid("invalid_display_name", "display name must be one line", "display_name")
    return name


def check_bio(bio: str) -> str:
    if len(bio) > BIO_MAX:
        raise Invalid("invalid_bio", f"bio must be at most {BIO_MAX} characters", "bio")
    if "\x00" in bio:
        raise Invalid("invalid_bio", "bio must not contain NUL characters", "bio")
    return bio


def check_password(password: str, handle: str = "", display_name: str = "") -> str:
    """Long enough, and not guessable: not a common password, keyboard walk, repetition,
    nor the handle or name (the zxcvbn strength estimator decides)."""
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise Invalid(
            "invalid_password",
            f"password must be {PASSWORD_MIN} to {PASSWORD_MAX} characters",
            "password",
        )
    if not password.strip():
        raise Invalid("weak_password", "a password of only spaces is easy to guess", "password")
    own = [w for w in (handle, display_name, *display_name.split()) if w]
    if handle and handle_key(password.strip()) in (handle_key(handle), handle_key(handle) * 2):
        raise Invalid("weak_password", "the password must not be your handle", "password")
    estimate = zxcvbn(password[:_ESTIMATE_CHARS], user_inputs=own)
    if estimate["score"] < PASSWORD_MIN_SCORE:
        feedback = estimate.get("feedback") or {}
        hint = feedback.get("warning") or "it is too easy to guess"
        tips = " ".join(feedback.get("suggestions") or [])
        message = f"choose a stronger password: {hint.rstrip('.')}." + (f" {tips}" if tips else "")
        raise Invalid("weak_password", message, "password")
    return password


def check_follow(
    follower_id: int, followee_id: int, *, blocked_by_followee: bool, blocks_followee: bool
) -> None:
    """May `follower_id` follow `followee_id`?"""
    if follower_id == followee_id:
        raise Invalid("follow_self", "you cannot follow yourself")
    if blocked_by_followee:
        raise Forbidden("blocked", "this user has blocked you")
    if blocks_followee:
        raise Conflict("you_blocked", "you have blocked this user; unblock them first")


def check_block(blocker_id: int, blocked_id: int) -> None:
    if blocker_id == blocked_id:
        raise Invalid("block_self", "you cannot block yourself")
