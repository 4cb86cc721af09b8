"""Across two `townhall serve` processes sharing Redis: a token revoked and a block made
through one node cut the WebSocket and the media connection held on the other."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
import pytest

from tests.api.test_multinode import Node, _signup, two_nodes  # noqa: F401  (fixture)
from tests.api.test_sessions_end import _closed, _cut_off, _hears_soon
from tests.api.test_ws import WsClient
from townhall.client.media import MediaClient, ToneTrack, connect, http_answer

pytestmark = [pytest.mark.redis, pytest.mark.serial]


async def test_revocation_and_a_block_on_one_node_cut_connections_on_the_other(
    two_nodes: tuple[str, str],  # noqa: F811
) -> None:
    base_a, base_b = two_nodes
    sockets: list[WsClient] = []
    calls: list[MediaClient] = []
    async with (
        httpx.AsyncClient(base_url=f"http://{base_a}", timeout=10) as http_a,
        httpx.AsyncClient(base_url=f"http://{base_b}", timeout=10) as http_b,
    ):
        _, host_token = await _signup(http_a, "host")
        fan_id, fan_token = await _signup(http_b, "fan")
        host_on_a, fan_on_a = Node(http_a, host_token), Node(http_a, fan_token)
        host_on_b, fan_on_b = Node(http_b, host_token), Node(http_b, fan_token)
        bot = await fan_on_b.post("/api/v1/me/tokens", name="bot")
        try:
            sid = (await host_on_a.post("/api/v1/spaces", title="Two", visibility="public"))["id"]
            await host_on_a.post(f"/api/v1/spaces/{sid}/unmute")
            await fan_on_b.post(f"/api/v1/spaces/{sid}/join")
            fan_ws = await WsClient.open(base_b, fan_token)
            bot_ws = await WsClient.open(base_b, bot["token"])
            sockets += [fan_ws, bot_ws]
            for ws in (fan_ws, bot_ws):
                assert (await ws.subscribe(sid))[-1]["type"] == "subscribed"
            # The room's audio lives on B: the host speaks there, the fan listens there.
            speaker = await connect(
                http_answer(http_b, sid, host_on_b.headers), track=ToneTrack(440)
            )
            ear = await connect(http_answer(http_b, sid, fan_on_b.headers))
            calls += [speaker, ear]
            await asyncio.gather(speaker.wait_connected(), ear.wait_connected())
            assert await _hears_soon(ear, 440)

            # Revoked through A: the bot's socket on B closes, the fan's stays.
            r = await http_a.delete(f"/api/v1/me/tokens/{bot['id']}", headers=fan_on_a.headers)
            assert r.status_code == 204
            code, got = await _closed(bot_ws)
            assert code == 4401 and got[-1]["error"]["code"] == "session_ended"
            assert await _hears_soon(ear, 440)
            await fan_ws.ping()

            # Blocked through A: on B the fan's events and audio stop, actions are refused.
            await host_on_a.post("/api/v1/users/fan/block")
            got = await fan_ws.recv_until(lambda m: m["type"] == "unsubscribed")
            assert got[-1] == {"type": "unsubscribed", "space_id": sid, "reason": "no_access"}
            assert {"user_id": fan_id, "reason": "no_access"} in [m.get("data") for m in got]
            await _cut_off(ear)
            r = await http_b.post(
                f"/api/v1/spaces/{sid}/react", headers=fan_on_b.headers, json={"emoji": "👏"}
            )
            assert r.status_code == 403, r.text
        finally:
            for ws in sockets:
                await ws.close()
            for call in calls:
                with contextlib.suppress(Exception):
                    await call.close()
