"""HLS from media workers: the origin packages, the API serves.

A worker's HLS packager publishes into a hub whose relay is the channel
(`ChannelHlsRelay`): each init segment, part and end goes to the API, which publishes it
into its own hub (`replay_into`), so the API's HLS routes serve it as if packaged there
(and, with Redis, the API's hub relays it on to the other nodes as usual).
"""

from __future__ import annotations

import base64

from townhall.media.hls.hub import HlsHub
from townhall.media.hls.window import HlsWindow, PartRecord
from townhall.media.workers.wire import ChannelLike, HlsEnd, HlsPart, HlsStart


class ChannelHlsRelay:
    """The `HlsRelay` of a worker's hub: everything to the API."""

    def __init__(self, channel: ChannelLike) -> None:
        self._channel = channel

    def start_stream(self, space_id: str, stream: str, init: bytes) -> None:
        self._channel.send(
            HlsStart(space_id=space_id, stream=stream, init=base64.b64encode(init).decode())
        )

    def publish_part(self, space_id: str, record: PartRecord) -> None:
        self._channel.send(
            HlsPart(
                space_id=space_id,
                stream=record.stream,
                msn=record.msn,
                index=record.index,
                duration=record.duration,
                segment_start=record.segment_start,
                data=base64.b64encode(record.data).decode(),
            )
        )

    def end_stream(self, space_id: str, stream: str) -> None:
        self._channel.send(HlsEnd(space_id=space_id, stream=stream))

    async def mirror(self, space_id: str) -> HlsWindow | None:
        return None  # the worker serves nothing itself

    async def close(self) -> None:
        return None


def replay_into(hub: HlsHub, message: HlsStart | HlsPart | HlsEnd) -> None:
    """Publish a worker's HLS message into the API's hub."""
    if isinstance(message, HlsStart):
        hub.start_stream(message.space_id, message.stream, base64.b64decode(message.init))
    elif isinstance(message, HlsPart):
        record = PartRecord(
            stream=message.stream,
            msn=message.msn,
            index=message.index,
            duration=message.duration,
            segment_start=message.segment_start,
            data=base64.b64decode(message.data),
        )
        hub.publish_part(message.space_id, record)
    else:
        hub.end_stream(message.space_id, message.stream)
