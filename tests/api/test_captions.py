"""Captions over the API, on SQLite and PostgreSQL: the host's switch and language, the
transcript of an ended space (JSON and WebVTT; who may see it; the host deletes it; it
goes with the account), and searching what was said (ranked, private spaces hidden, any
query text answered with results or a 422).

Transcript lines here are stored through the store layer the way the captioner stores
final captions; tests/test_captions_e2e.py has them recognised from a speaking bot."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.test_spaces_support import Spaces, error, events
from townhall.store import captions as store


@pytest.fixture
def sp(client: httpx.AsyncClient) -> Spaces:
    return Spaces(client)


async def said(app: Any, space_id: str, user_id: int, *lines: tuple[int, str]) -> None:
    async with app.state.db.session() as session:
        for start, text in lines:
            await store.add_line(session, space_id, user_id, start, start + 1500, start, text)


async def ended_space_with_words(
    app: Any, sp: Spaces, host: Any, *lines: tuple[int, str], **create: Any
) -> str:
    sid: str = (await sp.create(host, **create))["id"]
    await said(app, sid, host.id, *lines)
    await sp.ok(host, sid, "end")
    return sid


@pytest.mark.captions
async def test_the_hosts_switch_and_language(app: Any, sp: Spaces, make_user: Any) -> None:
    host, fan = await make_user("host"), await make_user("fan")
    space = await sp.create(host)
    sid = space["id"]
    assert space["captions"] == {"on": True, "language": "en", "clips": True}
    got = (await sp.get(fan, sid, "captions")).json()
    assert got["available"] is True and got["on"] is True and got["languages"] == ["en"]

    error(await sp.post(fan, sid, "captions", {"on": False}), 403, "host_only")
    off = await sp.ok(host, sid, "captions", {"on": False})
    assert off["on"] is False
    assert (await sp.get(fan, sid)).json()["captions"]["on"] is False
    error(await sp.post(host, sid, "captions", {"language": "fr"}), 422, "language_unsupported")
    error(await sp.post(host, sid, "captions", {"language": "e1"}), 422, "invalid_language")
    r = await sp.post(host, sid, "captions", {"on": "yes"})
    assert r.status_code == 422
    await sp.ok(host, sid, "captions", {"on": True, "clips": False})
    changes = [e.data for e in await events(app, sid) if e.type == "captions.changed"]
    assert changes == [
        {"on": False, "language": "en", "clips": True, "by": host.id},
        {"on": True, "language": "en", "clips": False, "by": host.id},
    ]
    await sp.ok(host, sid, "end")
    error(await sp.post(host, sid, "captions", {"on": False}), 409, "space_not_live")


async def test_an_instance_without_an_engine_has_captions_off(sp: Spaces, make_user: Any) -> None:
    host = await make_user("host")
    space = await sp.create(host)
    assert space["captions"]["on"] is False
    got = (await sp.get(host, space["id"], "captions")).json()
    assert got["available"] is False and got["languages"] == []
    error(await sp.post(host, space["id"], "captions", {"on": True}), 409, "captions_unavailable")


async def test_transcript_after_the_end_as_json_and_webvtt(
    app: Any, sp: Spaces, make_user: Any
) -> None:
    host = await make_user("host", "Ann <Host>")
    sid = (await sp.create(host))["id"]
    await said(app, sid, host.id, (61_250, "welcome to the budget hearing"), (2_000, "hello"))
    error(await sp.get(host, sid, "transcript"), 409, "space_not_ended")
    await sp.ok(host, sid, "end")

    body = (await sp.get(host, sid, "transcript")).json()
    assert body["space_id"] == sid
    assert [(line["start_ms"], line["text"]) for line in body["lines"]] == [
        (2_000, "hello"),
        (61_250, "welcome to the budget hearing"),
    ]
    assert body["lines"][0]["user"]["id"] == host.id
    assert body["lines"][1]["end_ms"] == 62_750 and body["lines"][1]["replay_ms"] == 61_250

    r = await sp.get(host, sid, "transcript?format=vtt")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/vtt")
    assert r.text.splitlines() == [
        "WEBVTT",
        "",
        "1",
        "00:00:02.000 --> 00:00:03.500",
        "<v Ann &lt;Host&gt;>hello",
        "",
        "2",
        "00:01:01.250 --> 00:01:02.750",
        "<v Ann &lt;Host&gt;>welcome to the budget hearing",
    ]
    assert (await sp.get(host, sid, "transcript?format=srt")).status_code == 422


async def test_a_private_transcript_is_for_those_who_may_see_the_space(
    app: Any, client: httpx.AsyncClient, sp: Spaces, make_user: Any
) -> None:
    host, guest, stranger = (
        await make_user("host"),
        await make_user("guest"),
        await make_user("stranger"),
    )
    sid = await ended_space_with_words(
        app,
        sp,
        host,
        (1_000, "the secret plan"),
        visibility="private",
        guest_ids=[guest.id],
    )
    error(await sp.get(stranger, sid, "transcript"), 404, "space_not_found")
    error(await sp.get(stranger, sid, "transcript?format=vtt"), 404, "space_not_found")
    assert (await sp.get(guest, sid, "transcript")).json()["lines"][0]["text"] == "the secret plan"

    r = await client.delete(f"/api/v1/spaces/{sid}/transcript", headers=guest.headers)
    error(r, 403, "host_only")
    r = await client.delete(f"/api/v1/spaces/{sid}/transcript", headers=host.headers)
    assert r.status_code == 204
    assert (await sp.get(guest, sid, "transcript")).json()["lines"] == []


async def test_search_finds_what_was_said_and_hides_private_spaces(
    app: Any, client: httpx.AsyncClient, sp: Spaces, make_user: Any
) -> None:
    host, guest, stranger = (
        await make_user("host"),
        await make_user("guest"),
        await make_user("stranger"),
    )
    public = await ended_space_with_words(
        app,
        sp,
        host,
        (4_000, "first we talk about parking"),
        (9_000, "the city budget for the libraries, budgets everywhere"),
        title="Town meeting",
    )
    secret = await ended_space_with_words(
        app,
        sp,
        host,
        (3_000, "the budget of the secret garden"),
        visibility="private",
        guest_ids=[guest.id],
    )
    live = await sp.create(host, title="Budget live now")

    async def search(who: Any, q: str) -> httpx.Response:
        return await client.get("/api/v1/search", params={"q": q}, headers=who.headers)

    found = (await search(stranger, "budgets")).json()  # stemmed: budget / budgets
    assert [r["space"]["id"] for r in found["results"]] == [public]
    line = found["results"][0]["line"]
    assert line["start_ms"] == 9_000 and "city budget" in line["text"]
    assert line["user"]["id"] == host.id and line["replay_ms"] == 9_000
    as_guest = (await search(guest, "budget")).json()
    assert {r["space"]["id"] for r in as_guest["results"]} == {public, secret}
    assert [s["id"] for s in as_guest["live"]] == [live["id"]]  # by its title
    assert (await search(stranger, "secret garden")).json()["results"] == []
    both = (await search(guest, "garden budget")).json()["results"]
    assert [r["space"]["id"] for r in both] == [secret]
    assert (await search(stranger, "nothing like this")).json()["results"] == []

    for nasty in [
        '"',
        "budget*",
        "NEAR(budget city)",
        "budget AND OR",
        "'; drop table x",
        "-x:y",
        "(((",
        "^budget",
        "city + budget",
        "{budget}",
        "日本語",
    ]:
        r = await search(stranger, nasty)
        assert r.status_code in (200, 422), (nasty, r.status_code, r.text)
        if r.status_code == 422:
            assert r.json()["error"]["field"] == "q"
    assert [x["space"]["id"] for x in (await search(stranger, "budget*")).json()["results"]] == [
        public
    ]
    error(await search(stranger, ""), 422, "empty_query")
    error(await search(stranger, "  ()*  "), 422, "empty_query")
    error(await search(stranger, "budget " * 40), 422, "query_too_long")
    r = await client.get("/api/v1/search", params={"q": "x" * 5000}, headers=stranger.headers)
    assert r.status_code == 422
    r = await client.get("/api/v1/search", headers=stranger.headers)
    assert r.status_code == 422
    assert (await client.get("/api/v1/search", params={"q": "budget"})).status_code == 401


async def test_transcripts_go_with_the_account(
    app: Any, client: httpx.AsyncClient, sp: Spaces, make_user: Any
) -> None:
    host, speaker, reader = (
        await make_user("host"),
        await make_user("speaker"),
        await make_user("reader"),
    )
    sid = (await sp.create(host))["id"]
    await said(app, sid, host.id, (1_000, "the zebra crossing"))
    await said(app, sid, speaker.id, (5_000, "a giraffe appears"))
    await sp.ok(host, sid, "end")
    other = await ended_space_with_words(app, sp, speaker, (1_000, "giraffe zebra"))

    async def hits(q: str) -> list[str]:
        r = await client.get("/api/v1/search", params={"q": q}, headers=reader.headers)
        return [x["space"]["id"] for x in r.json()["results"]]

    assert set(await hits("giraffe")) == {sid, other}
    r = await client.request(
        "DELETE", "/api/v1/me", json={"password": "correct horse"}, headers=speaker.headers
    )
    assert r.status_code == 204, r.text
    assert await hits("giraffe") == []  # their own space, and their lines in the host's
    assert await hits("zebra") == [sid]
    lines = (await sp.get(reader, sid, "transcript")).json()["lines"]
    assert [line["text"] for line in lines] == ["the zebra crossing"]

    r = await client.request(
        "DELETE", "/api/v1/me", json={"password": "correct horse"}, headers=host.headers
    )
    assert r.status_code == 204
    assert await hits("zebra") == []
    async with app.state.db.session() as session:
        assert await store.lines_of(session, sid) == []
