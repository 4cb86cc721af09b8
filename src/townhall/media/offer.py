"""Checks on a client's SDP offer before any connection is built for it."""

from __future__ import annotations

from aiortc import sdp

from townhall.domain.errors import Invalid

MAX_OFFER_BYTES = 64 * 1024


def check_offer(offer_sdp: object, offer_type: object) -> sdp.SessionDescription:
    """Parse an offer; raise `Invalid` unless it is one audio stream that can carry Opus."""
    if offer_type != "offer":
        raise Invalid("bad_sdp_type", 'type must be "offer"', field="type")
    if not isinstance(offer_sdp, str) or not offer_sdp.strip():
        raise Invalid("bad_sdp", "sdp must be a non-empty string", field="sdp")
    if len(offer_sdp.encode("utf-8", "replace")) > MAX_OFFER_BYTES:
        raise Invalid("sdp_too_large", f"sdp is larger than {MAX_OFFER_BYTES} bytes", "sdp")
    if not offer_sdp.lstrip().startswith("v=0"):
        raise Invalid("bad_sdp", "sdp must start with v=0", field="sdp")
    try:
        parsed = sdp.SessionDescription.parse(offer_sdp)
    except Exception as exc:  # the parser raises many kinds on garbage
        raise Invalid("bad_sdp", f"sdp could not be parsed ({type(exc).__name__})", "sdp") from exc
    audio = [m for m in parsed.media if m.kind == "audio"]
    if not audio:
        raise Invalid("no_audio", "the offer has no audio stream", field="sdp")
    if len(parsed.media) != 1:
        raise Invalid("too_many_streams", "offer exactly one audio stream and nothing else", "sdp")
    media = audio[0]
    if not any(c.mimeType.lower() == "audio/opus" for c in media.rtp.codecs):
        raise Invalid("no_opus", "the audio stream must offer the Opus codec", field="sdp")
    if (media.direction or "sendrecv") not in ("sendrecv", "recvonly"):
        raise Invalid("bad_direction", "the audio stream must be sendrecv or recvonly", "sdp")
    if media.ice is None or not media.ice.usernameFragment or not media.ice.password:
        raise Invalid("bad_sdp", "the offer has no ICE credentials", field="sdp")
    if media.dtls is None or not media.dtls.fingerprints:
        raise Invalid("bad_sdp", "the offer has no DTLS fingerprint", field="sdp")
    return parsed
