"""What the media plane is doing, for instance staff: `GET /api/v1/admin/media` and
Prometheus `/metrics` (per worker: spaces, listeners, packets/s, CPU, relay loss)."""

from __future__ import annotations

import resource
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from townhall.api.schemas.media import MediaOverview, MediaSpaceOut, MediaWorkerOut
from townhall.domain import staff as rules
from townhall.media.nodes.pool import NodePool
from townhall.media.server import MediaServer
from townhall.media.workers.pool import WorkerPool
from townhall.media.workers.stats import WorkerReport
from townhall.store.models import User


async def overview(media: MediaServer | WorkerPool | NodePool) -> MediaOverview:
    if isinstance(media, NodePool):
        reports = await media.stats()
        return MediaOverview(mode="nodes", workers=[_worker_out(r) for r in reports])
    if isinstance(media, WorkerPool):
        reports = await media.stats()
        return MediaOverview(mode="workers", workers=[_worker_out(r) for r in reports])
    return MediaOverview(mode="in-process", workers=[_in_process(media)])


async def staff_overview(actor: User, media: MediaServer | WorkerPool | NodePool) -> MediaOverview:
    rules.check_staff(actor.role)
    return await overview(media)


def _worker_out(report: WorkerReport) -> MediaWorkerOut:
    return MediaWorkerOut(
        index=report.index,
        node=report.node,
        alive=report.alive,
        pid=report.pid,
        restarts=report.restarts,
        spaces={
            space_id: MediaSpaceOut(
                edge=s.edge,
                members=s.members,
                listeners=s.listeners,
                listener_packets=s.listener_packets,
            )
            for space_id, s in report.spaces.items()
        },
        listeners=report.listeners,
        packets_per_second=report.packets_per_second,
        cpu=report.cpu,
        cpu_seconds=report.cpu_seconds,
        listener_packets=report.listener_packets,
        relay_received=report.relay_received,
        relay_lost=report.relay_lost,
        relay_dropped=report.relay_dropped,
    )


def _in_process(media: MediaServer) -> MediaWorkerOut:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    spaces: dict[str, MediaSpaceOut] = {}
    for space_id in media.space_ids():
        room = media.room(space_id)
        if room is not None:
            spaces[space_id] = MediaSpaceOut(
                edge=False,
                members=len(room.participants),
                listeners=media.webrtc_listeners(space_id),
                listener_packets=room.listener_packets,
            )
    return MediaWorkerOut(
        index=0,
        alive=True,
        spaces=spaces,
        listeners=sum(s.listeners for s in spaces.values()),
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        listener_packets=sum(s.listener_packets for s in spaces.values()),
    )


def prometheus_text(view: MediaOverview) -> bytes:
    """The overview in Prometheus' text format (label `worker`)."""
    registry = CollectorRegistry()

    def gauge(name: str, doc: str) -> GaugeMetricFamily:
        return GaugeMetricFamily(f"townhall_media_{name}", doc, labels=["worker"])

    def counter(name: str, doc: str) -> CounterMetricFamily:
        return CounterMetricFamily(f"townhall_media_{name}", doc, labels=["worker"])

    gauges = {
        "up": gauge("worker_up", "1 while the worker runs"),
        "spaces": gauge("spaces", "live rooms"),
        "listeners": gauge("listeners", "WebRTC listeners"),
        "pps": gauge("packets_per_second", "listener packets sent per second"),
        "cpu": gauge("cpu_ratio", "share of one core"),
    }
    counters = {
        "cpu_seconds": counter("cpu_seconds", "CPU time used"),
        "packets": counter("listener_packets", "listener packets sent"),
        "restarts": counter("worker_restarts", "times the worker was started again"),
        "relay_lost": counter("relay_lost_packets", "relayed packets lost to this edge"),
        "relay_dropped": counter("relay_dropped_packets", "relay packets of unknown sources"),
    }
    for w in view.workers:
        label = [w.node or str(w.index)]  # a media node by its id
        gauges["up"].add_metric(label, 1.0 if w.alive else 0.0)
        gauges["spaces"].add_metric(label, len(w.spaces))
        gauges["listeners"].add_metric(label, w.listeners)
        gauges["pps"].add_metric(label, w.packets_per_second)
        gauges["cpu"].add_metric(label, w.cpu)
        counters["cpu_seconds"].add_metric(label, w.cpu_seconds)
        counters["packets"].add_metric(label, w.listener_packets)
        counters["restarts"].add_metric(label, w.restarts)
        counters["relay_lost"].add_metric(label, w.relay_lost)
        counters["relay_dropped"].add_metric(label, w.relay_dropped)

    class _Snapshot:
        def collect(self) -> Any:
            yield from gauges.values()
            yield from counters.values()

    registry.register(_Snapshot())
    return bytes(generate_latest(registry))
