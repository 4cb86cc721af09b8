"""Evidence with the media plane in worker processes: a real `townhall serve` with one
media worker, a host speaking a tone over WebRTC, a listener's report: the worker's ring
buffer becomes the report's evidence (requests and results over the bus relay), checked
on the signal and served to staff only."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.ogg import decode_ogg
from tests.support.server import server_process
from townhall.client.media import ToneTrack, connect, dominant_frequencies, http_answer
from townhall.media.ice import use_host_addresses

pytestmark = [pytest.mark.serial]


async def _signup(http: httpx.AsyncClient, handle: str) -> dict[str, str]:
    r = await http.post(
        "/api/v1/auth/signup",
        json={"handle": handle, "display_name": handle.title(), "password": "correct horse"},
    )
    assert r.status_code == 201, r.text
    http.cookies.clear()
    return {"Authorization": f"Bearer {r.json()['token']}"}


async def test_a_media_worker_keeps_the_evidence_of_a_report(tmp_path: Path) -> None:
    use_host_addresses(["127.0.0.1"])
    data = tmp_path / "data"
    env = {
        "TOWNHALL_MEDIA_WORKERS": "1",
        "TOWNHALL_MEDIA_ADDRESSES": "127.0.0.1",
        "TOWNHALL_EVIDENCE_AFTER_SECONDS": "2",
    }
    with contextlib.ExitStack() as stack:
        base, _proc = await asyncio.to_thread(stack.enter_context, server_process(data, env))
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            host, fan, mod = [await _signup(http, h) for h in ("host", "fan", "mod")]
            granted = await asyncio.to_thread(
                subprocess.run,
                [
                    sys.executable,
                    "-m",
                    "townhall.cli",
                    "admin",
                    "grant",
                    "mod",
                    "--role",
                    "moderator",
                    "--data-dir",
                    str(data),
                ],
                capture_output=True,
                timeout=60,
                check=False,
            )
            assert granted.returncode == 0, granted.stderr
            r = await http.post(
                "/api/v1/spaces", json={"title": "W", "visibility": "public"}, headers=host
            )
            sid = r.json()["id"]
            assert (await http.post(f"/api/v1/spaces/{sid}/unmute", headers=host)).is_success
            assert (await http.post(f"/api/v1/spaces/{sid}/join", headers=fan)).is_success
            speaker = await connect(http_answer(http, sid, host), track=ToneTrack(440))
            try:
                await speaker.wait_connected()
                await asyncio.sleep(2.0)
                r = await http.post(
                    f"/api/v1/spaces/{sid}/report", json={"reason": "x"}, headers=fan
                )
                assert r.status_code == 201, r.text
                evidence: dict[str, Any] = {}
                deadline = asyncio.get_running_loop().time() + 20
                while evidence.get("status") != "ready":
                    assert asyncio.get_running_loop().time() < deadline, evidence
                    await asyncio.sleep(0.2)
                    queue = (await http.get("/api/v1/admin/reports", headers=mod)).json()
                    evidence = queue["groups"][0]["evidence"][0]
            finally:
                await speaker.close()
            got = await http.get(evidence["url"], headers=mod)
            assert got.status_code == 200
            assert (await http.get(evidence["url"], headers=fan)).status_code == 403
            pcm, duration = decode_ogg(got.content)
            assert 2.5 < duration < 8.0, duration
            assert dominant_frequencies(pcm[-48_000:], 1)[0] == pytest.approx(440, abs=10)
            assert {t["handle"] for t in evidence["timeline"]} == {"host"}
