"""What a media worker reports about itself (a `StatsRequest`'s reply), and the pool's
view of one worker built from two reports in a row (rates between them)."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel


class SpaceStats(BaseModel):
    edge: bool
    members: int
    listeners: int
    listener_packets: int


class SourceStats(BaseModel):
    """Relayed packets received for one space on an edge, and how many were lost."""

    packets: int
    lost: int


class RelayStats(BaseModel):
    dropped: int
    send_errors: int
    received: dict[str, SourceStats]
    sending: dict[str, list[int | str]]
    """Per space this origin relays: the edge workers (or media nodes) it sends to."""


class WorkerStats(BaseModel):
    """One worker's counters at one moment (`time`: its monotonic clock)."""

    index: int
    node: str = ""  # a media node's id
    pid: int
    cpu_seconds: float
    time: float
    spaces: dict[str, SpaceStats]
    relay: RelayStats


@dataclass(frozen=True)
class WorkerReport:
    """One worker as the pool sees it; the counters stay zero while it does not answer."""

    index: int
    alive: bool
    pid: int = 0
    restarts: int = 0
    node: str = ""  # a media node's id (empty for a worker)
    spaces: dict[str, SpaceStats] = field(default_factory=dict)
    listeners: int = 0
    packets_per_second: float = 0.0
    cpu: float = 0.0
    """Share of one core since the previous report."""
    cpu_seconds: float = 0.0
    listener_packets: int = 0
    relay_received: int = 0
    relay_lost: int = 0
    relay_dropped: int = 0


def report_of(
    index: int, restarts: int, now: WorkerStats, before: WorkerStats | None
) -> WorkerReport:
    """A live worker's report; rates are measured against `before` from the same process."""
    packets = sum(s.listener_packets for s in now.spaces.values())
    rate = cpu = 0.0
    if before is not None and before.pid == now.pid:
        elapsed = max(now.time - before.time, 1e-6)
        old = sum(s.listener_packets for s in before.spaces.values())
        rate = max(packets - old, 0) / elapsed
        cpu = max(now.cpu_seconds - before.cpu_seconds, 0.0) / elapsed
    return WorkerReport(
        index=index,
        node=now.node,
        alive=True,
        pid=now.pid,
        restarts=restarts,
        spaces=now.spaces,
        listeners=sum(s.listeners for s in now.spaces.values()),
        packets_per_second=round(rate, 1),
        cpu=round(cpu, 3),
        cpu_seconds=now.cpu_seconds,
        listener_packets=packets,
        relay_received=sum(r.packets for r in now.relay.received.values()),
        relay_lost=sum(r.lost for r in now.relay.received.values()),
        relay_dropped=now.relay.dropped,
    )
