"""Rules for the people who run an instance: roles, registration, sanctions, the word list.

Instance staff (admins and moderators) may act on any space and any account; hosts keep
their powers inside their own spaces. A moderator never acts on an admin and never grants
roles; nobody can lock the instance out by removing its last admin.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from townhall.domain.errors import Forbidden, Invalid, Unauthorized

TERM_MAX = 64
TERMS_MAX = 1000
INVITE_DAYS_DEFAULT = 7
INVITE_DAYS_MAX = 90
REASON_MAX = 500
SUSPEND_HOURS_MAX = 24 * 365


class InstanceRole(StrEnum):
    MEMBER = "member"
    MODERATOR = "moderator"
    ADMIN = "admin"


class RegistrationMode(StrEnum):
    OPEN = "open"
    INVITE = "invite"
    CLOSED = "closed"


class ReportAction(StrEnum):
    """What a moderator may do about a report (or a person, or a space)."""

    DISMISS = "dismiss"
    WARN = "warn"
    END_SPACE = "end_space"
    REMOVE_RECORDING = "remove_recording"
    SUSPEND = "suspend"
    BAN = "ban"
    RESTORE = "restore"


def is_staff(role: str) -> bool:
    return role in (InstanceRole.MODERATOR, InstanceRole.ADMIN)


def check_staff(role: str) -> None:
    if not is_staff(role):
        raise Forbidden("staff_only", "only the instance's moderators and admins may do this")


def check_admin(role: str) -> None:
    if role != InstanceRole.ADMIN:
        raise Forbidden("admin_only", "only the instance's admins may do this")


def check_may_grant(actor_role: str, target_role: str, new_role: InstanceRole, admins: int) -> None:
    """May an actor give `new_role` to someone who has `target_role`? (`admins`: how many.)"""
    check_admin(actor_role)
    if target_role == InstanceRole.ADMIN and new_role != InstanceRole.ADMIN and admins <= 1:
        raise Forbidden("last_admin", "the instance's last admin cannot be removed")


def check_may_act_on(actor_id: int, actor_role: str, target_id: int, target_role: str) -> None:
    """May staff member `actor_id` sanction account `target_id`?"""
    check_staff(actor_role)
    if actor_id == target_id:
        raise Forbidden("act_on_self", "you cannot take this action on your own account")
    if target_role == InstanceRole.ADMIN and actor_role != InstanceRole.ADMIN:
        raise Forbidden("target_is_admin", "a moderator cannot act on an admin")
    if target_role == InstanceRole.ADMIN:
        raise Forbidden("target_is_admin", "remove their admin role first")


# -- registration ------------------------------------------------------------------


def check_may_sign_up(mode: RegistrationMode, *, has_invite: bool, by_admin: bool) -> None:
    """Registration modes: open to all, by invite code, or by admins only (closed: the
    code must be one an admin made; the caller checks whose code it is)."""
    if by_admin or mode == RegistrationMode.OPEN or has_invite:
        return
    if mode == RegistrationMode.INVITE:
        raise Forbidden(
            "invite_required", "sign-up on this instance needs an invite code", "invite"
        )
    raise Forbidden(
        "registration_closed",
        "this instance does not take new sign-ups; an admin can invite you",
        "invite",
    )


@dataclass(frozen=True)
class InviteState:
    expires_at: datetime
    used: bool


def check_invite(invite: InviteState | None, now: datetime) -> None:
    if invite is None:
        raise Invalid("invite_invalid", "that invite code is not valid", "invite")
    if invite.used:
        raise Invalid("invite_used", "that invite code has already been used", "invite")
    if invite.expires_at <= now:
        raise Invalid("invite_expired", "that invite code has expired", "invite")


def check_invite_quota(quota: int, open_codes: int) -> None:
    if open_codes >= quota:
        raise Forbidden(
            "invite_quota",
            f"you may have {quota} unused invite codes at a time"
            if quota
            else "you cannot create invite codes",
        )


def check_invite_days(days: int) -> int:
    if not 1 <= days <= INVITE_DAYS_MAX:
        raise Invalid(
            "invalid_days", f"an invite lasts 1 to {INVITE_DAYS_MAX} days", "expires_in_days"
        )
    return days


def check_account_age(created_at: datetime, now: datetime, min_age_seconds: float) -> None:
    """New accounts wait before raising a hand or hosting (slows raids)."""
    if min_age_seconds > 0 and now - created_at < timedelta(seconds=min_age_seconds):
        wait = timedelta(seconds=min_age_seconds) - (now - created_at)
        minutes = max(1, int(wait.total_seconds() // 60) + 1)
        raise Forbidden(
            "account_too_new",
            f"new accounts can speak or host after a while; try again in {minutes} min",
        )


# -- sanctions ---------------------------------------------------------------------


@dataclass(frozen=True)
class Standing:
    """An account's sanctions, as stored."""

    banned: bool
    suspended_until: datetime | None

    def suspended(self, now: datetime) -> bool:
        return self.suspended_until is not None and self.suspended_until > now

    def may_sign_in(self, now: datetime) -> bool:
        return not self.banned and not self.suspended(now)


def check_may_sign_in(standing: Standing, now: datetime) -> None:
    if standing.banned:
        raise Unauthorized("account_banned", "this account has been banned from this instance")
    if standing.suspended(now):
        assert standing.suspended_until is not None
        until = standing.suspended_until.strftime("%Y-%m-%d %H:%M UTC")
        raise Unauthorized("account_suspended", f"this account is suspended until {until}")


def check_suspend_hours(hours: float | None) -> float:
    if hours is None or not 0 < hours <= SUSPEND_HOURS_MAX:
        raise Invalid(
            "invalid_hours",
            f"a suspension lasts more than 0 and at most {SUSPEND_HOURS_MAX} h",
            "hours",
        )
    return hours


def check_reason(reason: str) -> str:
    cleaned = " ".join(reason.split())
    if len(cleaned) > REASON_MAX:
        raise Invalid("reason_too_long", f"a reason has at most {REASON_MAX} characters", "reason")
    return cleaned


# -- the word list -----------------------------------------------------------------


def normalize(text: str) -> str:
    """Case- and accent-insensitive form that terms are matched in."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def check_term(term: str) -> str:
    cleaned = " ".join(normalize(term).split())
    if not cleaned:
        raise Invalid("term_required", "a term must not be empty", "term")
    if len(cleaned) > TERM_MAX:
        raise Invalid("term_too_long", f"a term has at most {TERM_MAX} characters", "term")
    return cleaned


def find_term(text: str, terms: list[str]) -> str | None:
    """The first listed term that `text` contains as whole words, or None.

    Whole words only, so that a listed word inside an innocent longer word (the
    "Scunthorpe problem") is not a match.
    """
    haystack = " ".join(normalize(text).split())
    for term in terms:
        if re.search(rf"(?<!\w){re.escape(term)}(?!\w)", haystack):
            return term
    return None


def check_words(field: str, text: str, terms: list[str]) -> None:
    """Refuse a title, topic, name or bio that contains a listed term."""
    if find_term(text, terms) is not None:
        raise Invalid(
            "blocked_term",
            f"this {field.replace('_', ' ')} contains a term this instance does not allow",
            field,
        )
