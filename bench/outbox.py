"""Outbox benchmark: events committed through the outbox -> delivered on the bus.

An in-process app (its lifespan runs the outbox relay) on a fresh SQLite file (or
`--postgres URL`, a fresh schema) with the memory bus (or `--redis URL`, a fresh key
prefix). `--writers` tasks each commit `--commits` transactions of two events into one
live space (as a join does: member.joined + listeners.count); a bus subscriber records,
per event, the time from its transaction's commit returning to its arrival, and checks
that every seq arrives once, in order. Prints events/s, the latency percentiles, and the
process CPU time per event (commit + relay + delivery together).

    python -m bench.outbox --writers 8 --commits 250
    python -m bench.outbox --redis redis://127.0.0.1:6379/15
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from bench.common import summary_ms, write_result
from townhall.api.app import create_app
from townhall.api.services import outbox
from townhall.bus.events import EventData, ListenersCount, MemberJoined, UserRef
from townhall.config import load_settings
from townhall.store.db import Database
from townhall.store.migrate import upgrade


async def run(writers: int, commits: int, redis: str, postgres: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        overrides: dict[str, Any] = {
            "data_dir": Path(tmp),
            "secret_key": "b" * 32,
            "password_time_cost": 1,
            "password_memory_kib": 1024,
        }
        schema = ""
        if postgres:
            schema = "bench_" + uuid.uuid4().hex[:12]
            admin = Database(postgres.replace("postgresql://", "postgresql+asyncpg://", 1))
            async with admin.engine.begin() as conn:
                await conn.execute(text(f"CREATE SCHEMA {schema}"))
            await admin.dispose()
            overrides |= {"database_url": postgres, "database_schema": schema}
        if redis:
            overrides |= {"redis_url": redis, "redis_prefix": f"townhall-bench-{uuid.uuid4().hex}:"}
        settings = load_settings(**overrides)
        db = Database(settings.effective_database_url, schema=settings.database_schema)
        await upgrade(db, settings.database_schema)
        await db.dispose()
        try:
            return await _measure(settings, writers, commits)
        finally:
            if schema:
                admin = Database(postgres.replace("postgresql://", "postgresql+asyncpg://", 1))
                async with admin.engine.begin() as conn:
                    await conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
                await admin.dispose()


async def _measure(settings: Any, writers: int, commits: int) -> dict[str, Any]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50099))
        async with httpx.AsyncClient(transport=transport, base_url="http://b") as http:
            r = await http.post(
                "/api/v1/auth/signup",
                json={"handle": "host", "display_name": "Host", "password": "correct horse"},
            )
            token = r.json()["token"]
            r = await http.post(
                "/api/v1/spaces",
                headers={"Authorization": f"Bearer {token}"},
                json={"title": "Bench", "visibility": "public"},
            )
            sid = r.json()["id"]
        await app.state.outbox.drain()
        bus = app.state.bus
        first = await bus.last_seq(sid) + 1
        total = writers * commits * 2
        committed_at: dict[int, float] = {}
        seqs: list[int] = []
        sub = await bus.subscribe(sid)

        arrived_at: dict[int, float] = {}

        async def read() -> None:
            while len(seqs) < total:
                event = await sub.get(60.0)
                if event.seq >= first:
                    arrived_at.setdefault(event.seq, time.perf_counter())
                    seqs.append(event.seq)

        async def write(w: int) -> None:
            for n in range(commits):
                async with app.state.db.sessions() as session:
                    uid = w * 100_000 + n
                    user = UserRef(id=uid, handle=f"u{uid}", display_name=f"U{uid}")
                    events: list[EventData] = [
                        MemberJoined(user=user, role="listener"),
                        ListenersCount(count=n),
                    ]
                    numbered = await outbox.add_space_events(session, sid, events)
                    await session.commit()
                    done = time.perf_counter()
                    for seq in numbered:
                        committed_at[seq] = done

        reader = asyncio.create_task(read())
        cpu0, t0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(write(w) for w in range(writers)))
        await asyncio.wait_for(reader, 120)
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        await sub.close()
        latencies = [max(0.0, arrived_at[s] - committed_at[s]) for s in committed_at]
    assert seqs == list(range(first, first + total)), "a seq was lost, repeated or reordered"
    return {
        "writers": writers,
        "commits": commits,
        "events": total,
        "events_per_second": round(total / wall, 1),
        "commit_to_delivery_ms": summary_ms(latencies),
        "cpu_ms_per_event": round(cpu * 1000 / total, 3),
        "in_order_exactly_once": True,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--commits", type=int, default=250)
    parser.add_argument("--redis", default="")
    parser.add_argument("--postgres", default="")
    args = parser.parse_args()
    result = asyncio.run(run(args.writers, args.commits, args.redis, args.postgres))
    result |= {"database": "postgresql" if args.postgres else "sqlite"}
    result |= {"bus": "redis" if args.redis else "memory"}
    name = f"outbox-{result['database']}-{result['bus']}"
    print(name, result)
    write_result(name, result)


if __name__ == "__main__":
    main()
