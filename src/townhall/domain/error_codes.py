"""Every error code the API and the live socket answer with, its HTTP status, its meaning.

Errors leave the API as `{"error": {"code", "message", "field"?}}` (WebSocket: `{"type":
"error", "code", "message"}`); `code` is stable and machine-readable, `message` is for
people and may change. This catalogue is the one list of codes: tests/domain/
test_error_codes.py fails when code raises one that is not here (or with another status),
and docs/ERRORS.md is rendered from it (`make docs`).
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """A code, with the HTTP `statuses` it answers (none: only on the live socket) and
    its `meaning`. A few codes answer two statuses where they always have (kept so)."""

    statuses: tuple[int, ...]
    meaning: str

    def __new__(cls, value: str, statuses: tuple[int, ...], meaning: str) -> ErrorCode:
        member = str.__new__(cls, value)
        member._value_ = value
        member.statuses = statuses
        member.meaning = meaning
        return member

    account_banned = "account_banned", (401,), "this account has been banned from this instance"
    account_deleted = "account_deleted", (), "the account was deleted; the socket closes (4401)"
    account_gone = "account_gone", (409,), "the reported account no longer exists"
    account_suspended = "account_suspended", (401,), "this account is suspended until …"
    account_too_new = (
        "account_too_new",
        (403,),
        "new accounts can speak or host after a while; try again in … min",
    )
    act_on_self = "act_on_self", (403,), "you cannot take this action on your own account"
    admin_only = "admin_only", (403,), "only the instance's admins may do this"
    already_in_role = "already_in_role", (409,), "that person is already …"
    already_invited = "already_invited", (409,), "that person already has a pending invitation"
    already_on_stage = "already_on_stage", (409,), "you are already on stage"
    already_reported = (
        "already_reported",
        (409,),
        "you have reported this already; moderators will look",
    )
    bad_authorization = "bad_authorization", (401,), "Authorization must be 'Bearer <token>'"
    bad_credentials = "bad_credentials", (401,), "wrong handle or password"
    bad_direction = "bad_direction", (422,), "the audio stream must be sendrecv or recvonly"
    bad_hls_query = "bad_hls_query", (400,), "… must be a whole number"
    bad_request = "bad_request", (400,), "the request cannot be understood"
    bad_sdp = "bad_sdp", (422,), "sdp must be a non-empty string"
    bad_sdp_type = "bad_sdp_type", (422,), 'type must be "offer"'
    binary_frame = "binary_frame", (), "send JSON in text frames"
    block_self = "block_self", (422,), "you cannot block yourself"
    blocked = "blocked", (403,), "this user has blocked you"
    blocked_by_cohost = "blocked_by_cohost", (403,), "a co-host of this space has blocked you"
    blocked_by_host = "blocked_by_host", (403,), "the host has blocked you"
    blocked_term = "blocked_term", (422,), "this … contains a term this instance does not allow"
    bus_closed = "bus_closed", (), "the server is shutting down; reconnect"
    cannot_act_on_host = "cannot_act_on_host", (403,), "nobody can do that to the host"
    cannot_remove_self = "cannot_remove_self", (409,), "you cannot remove yourself; leave instead"
    cannot_unmute_others = "cannot_unmute_others", (403,), "nobody can unmute someone else"
    captions_unavailable = "captions_unavailable", (409,), "this instance has no captions engine"
    clip_not_found = "clip_not_found", (404,), "no such clip"
    clip_too_long = "clip_too_long", (422,), "a clip is at most 60 seconds"
    clip_too_short = "clip_too_short", (422,), "a clip is at least 1 second"
    clips_off = "clips_off", (403,), "the host turned clips off for this space"
    cohost_limit = "cohost_limit", (409,), "a space has at most … co-hosts"
    conflict = "conflict", (409,), "the request does not fit the current state"
    database_unavailable = (
        "database_unavailable",
        (503,),
        "the database is not answering; try again shortly",
    )
    empty_query = "empty_query", (422,), "search for at least one word"
    error = "error", (), "an HTTP error without a more specific code"
    evidence_not_found = "evidence_not_found", (404,), "no such evidence, or it is not ready yet"
    follow_self = "follow_self", (422,), "you cannot follow yourself"
    forbidden = "forbidden", (403,), "not allowed"
    forbidden_origin = (
        "forbidden_origin",
        (403,),
        "a cookie-authenticated request from a page of another site",
    )
    hand_already_raised = "hand_already_raised", (409,), "your hand is already raised"
    hand_not_raised = "hand_not_raised", (409,), "your hand is not raised"
    handle_taken = "handle_taken", (409,), "that handle is taken"
    hls_expired = "hls_expired", (404,), "that part is older than the live window"
    hls_msn_too_far = (
        "hls_msn_too_far",
        (400,),
        "segment … is more than two segments past the live edge (…)",
    )
    hls_not_produced = "hls_not_produced", (404,), "the stream ended before that part"
    hls_not_ready = "hls_not_ready", (503,), "that part did not come in time; retry"
    hls_not_started = "hls_not_started", (404,), "the space's audio has not started yet"
    hls_stream_gone = "hls_stream_gone", (404,), "that stream is over; reload the playlist"
    hls_token_expired = "hls_token_expired", (403,), "the HLS token expired: ask for a new URL"
    hls_token_invalid = "hls_token_invalid", (403,), "the HLS token is malformed"
    hls_token_required = "hls_token_required", (403,), "this space is private: use your signed URL"
    host_cannot_step_down = (
        "host_cannot_step_down",
        (403,),
        "the host cannot step down; hand the host role over",
    )
    host_only = "host_only", (403,), "only the host may change the captions settings"
    ids_or_all = "ids_or_all", (422,), 'send either {"ids": [...]} or {"all": true}'
    internal = "internal", (500,), "an unexpected error (logged on the server)"
    invalid = (
        "invalid",
        (422,),
        "the request does not match the schema (the message and `details` name the fields)",
    )
    invalid_bio = "invalid_bio", (422,), "bio must be at most … characters"
    invalid_cursor = "invalid_cursor", (422,), "cursor is not one this API gave out"
    invalid_days = "invalid_days", (422,), "an invite lasts 1 to … days"
    invalid_display_name = "invalid_display_name", (422,), "display name must not be empty"
    invalid_handle = (
        "invalid_handle",
        (422,),
        "handle must be 3 to 15 characters: letters, digits or underscore",
    )
    invalid_hours = "invalid_hours", (422,), "a suspension lasts more than 0 and at most … h"
    invalid_invite_role = "invalid_invite_role", (422,), "invite people as speaker or cohost"
    invalid_json = "invalid_json", (422,), "message is not valid JSON"
    invalid_language = "invalid_language", (422,), "language is a two-letter code like en"
    invalid_last_seq = "invalid_last_seq", (), "last_seq must be a non-negative integer"
    invalid_message = "invalid_message", (), "message must be a JSON object"
    invalid_password = "invalid_password", (422,), "password must be … to … characters"
    invalid_role = "invalid_role", (422,), "role is one of the listed values"
    invalid_space_id = "invalid_space_id", (), "space_id must be a space's id string"
    invalid_span = "invalid_span", (422,), "a clip ends after it starts (ms, from 0)"
    invalid_speaker_policy = (
        "invalid_speaker_policy",
        (422,),
        "speaker_policy is one of the listed values",
    )
    invalid_state = "invalid_state", (422,), "state is live or scheduled"
    invalid_token = "invalid_token", (401,), "the token is unknown, revoked or expired"
    invalid_visibility = "invalid_visibility", (422,), "visibility is one of the listed values"
    invite_expired = "invite_expired", (422,), "that invite code has expired"
    invite_invalid = "invite_invalid", (422,), "that invite code is not valid"
    invite_not_found = "invite_not_found", (404,), "no such unused invite code of yours"
    invite_quota = (
        "invite_quota",
        (403,),
        "you may hold only so many unused invite codes at a time (your quota)",
    )
    invite_required = "invite_required", (403,), "sign-up on this instance needs an invite code"
    invite_used = "invite_used", (422,), "that invite code has already been used"
    lagged = "lagged", (), "some notifications were not pushed: list them"
    language_unsupported = (
        "language_unsupported",
        (422,),
        "the captions engine (…) has no …; it knows: …",
    )
    last_admin = "last_admin", (403,), "the instance's last admin cannot be removed"
    media_closed = "media_closed", (409,), "the media server is shutting down"
    media_error = "media_error", (503,), "a media worker failed while answering: offer again"
    media_full = "media_full", (503,), "every media node is at its capacity: retry shortly"
    media_unavailable = (
        "media_unavailable",
        (503,),
        "no media worker or node is running or it did not answer: retry shortly",
    )
    member_not_found = "member_not_found", (404,), "that person is not in this space"
    method_not_allowed = "method_not_allowed", (405,), "the route does not take this method"
    moderators_only = "moderators_only", (403,), "only the host and co-hosts may …"
    no_audio = "no_audio", (422,), "the offer has no audio stream"
    no_invitation = "no_invitation", (409,), "you have no pending invitation"
    no_opus = "no_opus", (422,), "the audio stream must offer the Opus codec"
    no_recording = "no_recording", (409,), "this space has no recording"
    no_such_media = "no_such_media", (404,), "media names look like 12.m4s or 12.3.m4s"
    no_such_segment = "no_such_segment", (404,), "the replay has no segment of that number"
    not_a_cohost = "not_a_cohost", (409,), "the host role can only go to a co-host"
    not_a_participant = "not_a_participant", (404,), "that person was not in this space"
    not_found = "not_found", (404,), "no such route or resource"
    not_in_space = "not_in_space", (403, 409), "join the live space before listening"
    not_live = "not_live", (409,), "the space is not live"
    not_on_stage = "not_on_stage", (409,), "you are not on stage"
    not_scheduled = "not_scheduled", (409,), "reminders are for scheduled spaces"
    not_signed_in = "not_signed_in", (401,), "sign in first (bearer token or session cookie)"
    overloaded = "overloaded", (503,), "the server is too busy right now; try again shortly"
    own_space = "own_space", (409,), "you host this space"
    promotion_needs_invitation = (
        "promotion_needs_invitation",
        (403,),
        "people come on stage only by accepting an invitation or an approved hand",
    )
    query_too_long = "query_too_long", (422,), "a search is at most … characters"
    rate_limited = "rate_limited", (429,), "too many …; try again in … s"
    reaction_rate_limited = "reaction_rate_limited", (429,), "too many reactions at once; slow down"
    reason_required = "reason_required", (422,), "say why you report this"
    reason_too_long = "reason_too_long", (422,), "a reason has at most … characters"
    recording_not_found = "recording_not_found", (404,), "this space has no recording to clip"
    registration_closed = (
        "registration_closed",
        (403,),
        "this instance does not take new sign-ups; an admin can invite you",
    )
    removed_from_space = "removed_from_space", (403,), "you were removed from this space"
    replay_version_gone = "replay_version_gone", (404,), "that replay is gone: reload its playlist"
    report_not_found = "report_not_found", (404,), "no such report"
    report_rate_limited = "report_rate_limited", (429,), "too many reports at once; try again later"
    report_resolved = "report_resolved", (409,), "this report is already …"
    resync_failed = (
        "resync_failed",
        (),
        "the socket could not catch up a space; reconnect with last_seq",
    )
    schedule_in_past = "schedule_in_past", (422,), "scheduled_for must be in the future"
    schedule_needs_timezone = (
        "schedule_needs_timezone",
        (422,),
        "scheduled_for needs a timezone offset",
    )
    schedule_too_far = "schedule_too_far", (422,), "a space can be scheduled at most … days ahead"
    sdp_too_large = "sdp_too_large", (422,), "sdp is larger than … bytes"
    session_ended = (
        "session_ended",
        (),
        "the credential was signed out or revoked; the socket closes (4401)",
    )
    space_ended = "space_ended", (409,), "the space is …"
    space_full = "space_full", (409,), "the space is full (… listeners at most)"
    space_gone = "space_gone", (409,), "the reported space no longer exists"
    space_is_public = (
        "space_is_public",
        (409,),
        "anyone may join a public space; no guest list needed",
    )
    space_not_ended = "space_not_ended", (409,), "history is shown once the space has ended"
    space_not_found = "space_not_found", (404,), "no such space"
    space_not_live = "space_not_live", (404, 409), "the space is not live"
    speaker_policy_followed = (
        "speaker_policy_followed",
        (403,),
        "only people the host follows may ask to speak in this space",
    )
    speaker_policy_invited = (
        "speaker_policy_invited",
        (403,),
        "only people the host invites may speak in this space",
    )
    staff_only = "staff_only", (403,), "only the instance's moderators and admins may do this"
    stage_full = "stage_full", (409,), "the stage is full (… people at most)"
    stage_locked = "stage_locked", (409,), "the hosts have locked the stage: no new raised hands"
    superseded = "superseded", (409,), "a newer connection of this user replaced this one"
    target_is_admin = "target_is_admin", (403,), "a moderator cannot act on an admin"
    term_listed = "term_listed", (409,), "that term is already on the list"
    term_not_found = "term_not_found", (404,), "no such term"
    term_required = "term_required", (422,), "a term must not be empty"
    term_too_long = "term_too_long", (422,), "a term has at most … characters"
    title_required = "title_required", (422,), "a title is required"
    title_too_long = "title_too_long", (422,), "a title has at most … characters"
    token_not_found = "token_not_found", (404,), "no such token"
    too_large = "too_large", (413,), "messages are at most … characters"
    too_many_guests = "too_many_guests", (422,), "at most … guests at once"
    too_many_ids = "too_many_ids", (422,), "at most … ids at once"
    too_many_offers = "too_many_offers", (429,), "too many connections are being set up"
    too_many_streams = "too_many_streams", (422,), "offer exactly one audio stream and nothing else"
    too_many_subscriptions = "too_many_subscriptions", (), "at most … spaces"
    too_many_terms = "too_many_terms", (409,), "the list holds at most … terms"
    too_many_topics = "too_many_topics", (422,), "a space has at most … topics"
    topic_empty = "topic_empty", (422,), "a topic cannot be empty"
    topic_too_long = "topic_too_long", (422,), "a topic has at most … characters"
    unauthorized = "unauthorized", (401,), "credentials are missing or not valid"
    unavailable = (
        "unavailable",
        (503,),
        "the service is not available; try again after `Retry-After` seconds",
    )
    unknown_op = "unknown_op", (), "op must be one of subscribe, unsubscribe, ping"
    unknown_reaction = "unknown_reaction", (422,), "a reaction is one of: …"
    unknown_user = "unknown_user", (422,), "no user with id …"
    unsupported_media_type = (
        "unsupported_media_type",
        (415,),
        "send the request body as JSON with Content-Type: application/json",
    )
    user_not_found = "user_not_found", (404,), "no user @…"
    weak_password = "weak_password", (422,), "a password of only spaces is easy to guess"
    webrtc_full = "webrtc_full", (409,), "the space's WebRTC seats are full: listen over HLS"
    you_blocked = "you_blocked", (409,), "you have blocked this user; unblock them first"


def render_markdown() -> str:
    """docs/ERRORS.md."""
    rows = []
    for code in ErrorCode:
        statuses = ", ".join(map(str, code.statuses)) or "socket"
        rows.append(f"| `{code.value}` | {statuses} | {code.meaning.replace('|', '/')} |")
    return (
        "# Error codes\n\n"
        "<!-- Generated from src/townhall/domain/error_codes.py by `make docs`; "
        "do not edit. -->\n\n"
        'Every error the API answers is `{"error": {"code", "message", "field"?}}`'
        ' with the HTTP status below; on the live WebSocket it is `{"type": "error",'
        ' "code", "message"}` (status "socket": only there). `code` is stable;'
        " `message` is for people and may change; … in a meaning stands for a value filled"
        " in at run time.\n\n"
        "| code | status | meaning |\n|---|---|---|\n" + "\n".join(rows) + "\n"
    )
