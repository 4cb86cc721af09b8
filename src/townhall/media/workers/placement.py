"""Where each space's connections go among the workers (pure bookkeeping, no I/O).

A space's first connection picks its origin: the live worker with the fewest
connections (or, when the origin is gone, one of the space's edges, which then takes
over the mixing and keeps its listeners). Speakers always connect to the origin;
listeners too until it holds `listeners_per_worker` of the space's listeners, then to an
edge: preferably one the space already has, then the least loaded worker. An edge gets
the origin's encoded mix once (`new_relays` says which relays to start).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass


@dataclass
class _Seated:
    worker: int
    on_stage: bool
    token: int


@dataclass(frozen=True)
class Seat:
    """Where one offer goes."""

    worker: int
    origin: int
    edge: bool
    previous: int | None  # the worker of the member's connection this offer replaces
    new_relays: tuple[int, ...]  # edges the origin must start relaying to
    token: int


class Placement:
    def __init__(self, workers: int, listeners_per_worker: int) -> None:
        self.workers = workers
        self.listeners_per_worker = listeners_per_worker
        self.origins: dict[str, int] = {}
        self.edges: dict[str, set[int]] = {}
        self.seats: dict[str, dict[int, _Seated]] = {}
        self._tokens = itertools.count(1)

    def load(self, worker: int) -> int:
        """Connections on a worker (all spaces)."""
        return sum(1 for seats in self.seats.values() for s in seats.values() if s.worker == worker)

    def _listeners_on(self, space_id: str, worker: int, except_user: int | None = None) -> int:
        return sum(
            1
            for user_id, s in self.seats.get(space_id, {}).items()
            if s.worker == worker and not s.on_stage and user_id != except_user
        )

    def place(self, space_id: str, user_id: int, on_stage: bool, alive: set[int]) -> Seat | None:
        if not alive:
            return None
        seats = self.seats.setdefault(space_id, {})
        edges = self.edges.setdefault(space_id, set())
        previous = seats[user_id].worker if user_id in seats else None
        new_relays: list[int] = []
        origin = self.origins.get(space_id)
        if origin is None or origin not in alive:
            taking_over = sorted(e for e in edges if e in alive)
            origin = min(taking_over or sorted(alive), key=self.load)
            self.origins[space_id] = origin
            edges.discard(origin)
            new_relays = sorted(e for e in edges if e in alive)
        worker = origin
        if not on_stage and self._listeners_on(space_id, origin, user_id) >= (
            self.listeners_per_worker
        ):
            others = sorted(alive - {origin})
            if others:

                def preference(w: int) -> tuple[bool, bool, int]:
                    full = self._listeners_on(space_id, w, user_id) >= self.listeners_per_worker
                    return (full, w not in edges, self.load(w))

                worker = min(others, key=preference)
        edge = worker != origin
        if edge and worker not in edges:
            edges.add(worker)
            new_relays.append(worker)
        token = next(self._tokens)
        seats[user_id] = _Seated(worker, on_stage, token)
        return Seat(worker, origin, edge, previous, tuple(new_relays), token)

    def unseat(self, space_id: str, user_id: int, worker: int, token: int) -> None:
        """An offer failed: forget its seat (unless a newer offer took it meanwhile)."""
        seat = self.seats.get(space_id, {}).get(user_id)
        if seat is not None and seat.worker == worker and seat.token == token:
            del self.seats[space_id][user_id]

    def gone(self, space_id: str, user_id: int, worker: int) -> None:
        seat = self.seats.get(space_id, {}).get(user_id)
        if seat is not None and seat.worker == worker:
            del self.seats[space_id][user_id]

    def worker_of(self, space_id: str, user_id: int) -> int | None:
        seat = self.seats.get(space_id, {}).get(user_id)
        return seat.worker if seat is not None else None

    def origin_of(self, space_id: str) -> int | None:
        return self.origins.get(space_id)

    def set_on_stage(self, space_id: str, user_id: int, on_stage: bool) -> int | None:
        seat = self.seats.get(space_id, {}).get(user_id)
        if seat is None:
            return None
        seat.on_stage = on_stage
        return seat.worker

    def listeners(self, space_id: str, except_user: int | None = None) -> int:
        return sum(
            1
            for user_id, s in self.seats.get(space_id, {}).items()
            if not s.on_stage and user_id != except_user
        )

    def room_closed(self, space_id: str, worker: int) -> list[tuple[int, int]]:
        """A worker's room of the space closed; returns the relays to stop (origin, edge)."""
        seats = self.seats.get(space_id, {})
        for user_id in [u for u, s in seats.items() if s.worker == worker]:
            del seats[user_id]
        stop: list[tuple[int, int]] = []
        edges = self.edges.get(space_id, set())
        if self.origins.get(space_id) == worker:
            del self.origins[space_id]
        elif worker in edges:
            edges.discard(worker)
            origin = self.origins.get(space_id)
            if origin is not None:
                stop.append((origin, worker))
        self._tidy(space_id)
        return stop

    def worker_lost(
        self, worker: int
    ) -> tuple[dict[str, tuple[set[int], set[int]]], list[tuple[str, int, int]]]:
        """A worker died: (members to move per space: on stage, listeners; relays to stop:
        space, origin, edge)."""
        moved: dict[str, tuple[set[int], set[int]]] = {}
        stop: list[tuple[str, int, int]] = []
        for space_id in list(self.seats):
            seats = self.seats[space_id]
            gone = {u: s.on_stage for u, s in seats.items() if s.worker == worker}
            for user_id in gone:
                del seats[user_id]
            if gone:
                moved[space_id] = (
                    {u for u, stage in gone.items() if stage},
                    {u for u, stage in gone.items() if not stage},
                )
            if self.origins.get(space_id) == worker:
                del self.origins[space_id]
            edges = self.edges.get(space_id, set())
            if worker in edges:
                edges.discard(worker)
                origin = self.origins.get(space_id)
                if origin is not None:
                    stop.append((space_id, origin, worker))
            self._tidy(space_id)
        return moved, stop

    def _tidy(self, space_id: str) -> None:
        if not self.seats.get(space_id) and space_id not in self.origins:
            self.seats.pop(space_id, None)
            self.edges.pop(space_id, None)
