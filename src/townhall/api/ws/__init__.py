"""The WebSocket transport (`/api/v1/ws`): one connection per client, its subscriptions to
spaces, replay on reconnect, presence and pushes (`client`), frames paced per node
(`pacing`) and written straight to the connection's transport (`wire`). The protocol is
docs/EVENTS.md; the router (`api/routers/ws.py`) only hands the socket over."""

from townhall.api.ws.client import LiveClient, event_text, serve_client

__all__ = ["LiveClient", "event_text", "serve_client"]
