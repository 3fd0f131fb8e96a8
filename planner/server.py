"""One planner for many routes: a server owns the model and answers the plan requests of every route in flight with
one batched `plan_batch` call, so the model loads once and its batches are as wide as the routes driven at once.

Route workers (other processes on this machine) reach it through `RemotePlanner`, a planner like any other:
`start_route` and `end_route` tell the server which clients are driving, `plan` sends the input and waits for the
plan. The server answers a round as soon as every client in a route has a request waiting (routes advance in
lockstep: they all plan at the same simulated times), when `max_batch` requests wait, or `gather_s` after the first
request of the round, so a client busy elsewhere (writing its video, loading its next route) delays the others by
that much at most.

Batching changes only float rounding: a batched decision can differ from the one-at-a-time decision where the
model's two best tokens are tied to rounding (measured in benchmarks/bench_planner_server.py).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from multiprocessing import Pipe
from multiprocessing.connection import Client, Connection, Listener, wait
from typing import Any

from planner.config import ConfigError
from planner.interface import Plan, Planner, PlannerContext, PlannerInput

logger = logging.getLogger("planner.server")

TARGET = "planner.server:connect"  # the `_target_` of the planner config route workers get
GATHER_S = 0.5


def can_batch(planner: Planner) -> bool:
    return callable(getattr(planner, "plan_batch", None))


def plan_all(planner: Planner, inputs: Sequence[PlannerInput]) -> list[Plan]:
    if can_batch(planner):
        return list(planner.plan_batch(inputs))  # type: ignore[attr-defined]
    return [planner.plan(x) for x in inputs]


@dataclass
class _Client:
    conn: Connection
    label: str = ""
    in_route: bool = False
    request: tuple[int, PlannerInput] | None = None  # (request id, input) waiting for its plan
    since: float = 0.0  # when that request came


@dataclass
class ServerStats:
    widths: list[int] = field(default_factory=list)  # decisions per round
    planning_s: float = 0.0  # wall time inside the planner
    first_round: float | None = None  # time.monotonic() of the first and the last round
    last_round: float | None = None

    def as_dict(self) -> dict[str, float]:
        rounds, decisions = len(self.widths), sum(self.widths)
        return {
            "rounds": rounds,
            "decisions": decisions,
            "mean_batch": round(decisions / rounds, 3) if rounds else 0.0,
            "planning_s": round(self.planning_s, 3),
            "serving_s": round((self.last_round or 0.0) - (self.first_round or 0.0), 3),
        }


class PlannerServer:
    """Serves `planner` to clients connecting at `address`, a Unix socket in a directory only this user may enter.
    Hand `client_config()` to the workers as their planner config; `close()` it when the run ends."""

    def __init__(self, planner: Planner, max_batch: int = 8, gather_s: float = GATHER_S) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self.planner = planner
        self.max_batch = max_batch
        self.gather_s = gather_s
        self._folder = tempfile.mkdtemp(prefix="planner-server-")  # mode 0700
        self.address = os.path.join(self._folder, "socket")
        self._listener = Listener(self.address, family="AF_UNIX")
        self._wake_recv, self._wake_send = Pipe(duplex=False)
        self._lock = threading.Lock()
        self._joining: list[Connection] = []
        self._closed = threading.Event()
        self.stats = ServerStats()
        self.routes_in_flight = 0  # clients in a route, as the server last counted them
        self._threads = [
            threading.Thread(target=self._accept, name="planner-server-accept", daemon=True),
            threading.Thread(target=self._serve, name="planner-server", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def client_config(self) -> dict[str, Any]:
        return {
            "_target_": TARGET,
            "address": self.address,
            "name": self.planner.name,
            "uses_image": bool(getattr(self.planner, "uses_image", True)),
        }

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        with contextlib.suppress(OSError):
            self._wake_send.send_bytes(b"x")
        # Unblock accept(): a connection that finds the server closing is dropped at once.
        with contextlib.suppress(OSError):
            Client(self.address, family="AF_UNIX").close()
        for thread in self._threads:
            thread.join(timeout=5.0)
        self._listener.close()
        for conn in (self._wake_recv, self._wake_send):
            conn.close()
        shutil.rmtree(self._folder, ignore_errors=True)

    def __enter__(self) -> PlannerServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- threads ---------------------------------------------------------------------------------------------
    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn = self._listener.accept()
            except OSError:  # the listener closed
                if self._closed.is_set():
                    return
                continue
            if self._closed.is_set():
                conn.close()
                return
            with self._lock:
                self._joining.append(conn)
            with contextlib.suppress(OSError):
                self._wake_send.send_bytes(b"x")

    def _serve(self) -> None:
        clients: dict[Connection, _Client] = {}
        try:
            while not self._closed.is_set():
                with self._lock:
                    for conn in self._joining:
                        clients[conn] = _Client(conn)
                    self._joining.clear()
                waiting = [c for c in clients.values() if c.request is not None]
                timeout = None
                if waiting:
                    oldest = min(c.since for c in waiting)
                    in_route = [c for c in clients.values() if c.in_route]
                    full = all(c.request is not None for c in in_route) or len(waiting) >= self.max_batch
                    if full or time.monotonic() >= oldest + self.gather_s:
                        self._answer(sorted(waiting, key=lambda c: (c.since, c.label))[: self.max_batch])
                        continue
                    timeout = max(0.0, oldest + self.gather_s - time.monotonic())
                for ready in wait([self._wake_recv, *clients], timeout):
                    if ready is self._wake_recv:
                        self._wake_recv.recv_bytes()
                    else:
                        self._receive(clients, clients[ready])  # type: ignore[index]
                self.routes_in_flight = sum(c.in_route for c in clients.values())
        finally:
            for conn in clients:
                conn.close()

    def _receive(self, clients: dict[Connection, _Client], client: _Client) -> None:
        try:
            kind, *payload = client.conn.recv()
        except (EOFError, OSError):  # the worker left (or died): its route no longer holds a round back
            client.conn.close()
            del clients[client.conn]
            return
        if kind == "start":
            client.in_route, client.label = True, str(payload[0])
        elif kind == "end":
            client.in_route = False
        elif kind == "plan":
            client.in_route = True
            client.request = (int(payload[0]), payload[1])
            client.since = time.monotonic()

    def _answer(self, batch: list[_Client]) -> None:
        requests = [c.request for c in batch if c.request is not None]  # every client of a round has one
        start = time.perf_counter()
        try:
            plans: list[Any] = plan_all(self.planner, [planner_input for _, planner_input in requests])
            replies = [("plan", plan) for plan in plans]
        except Exception as err:  # the planner failed: every route of the round gets the error, the server goes on
            logger.exception("planner server: plan_batch failed")
            replies = [("error", f"{type(err).__name__}: {err}")] * len(batch)
        self.stats.planning_s += time.perf_counter() - start
        self.stats.first_round = self.stats.first_round or time.monotonic()
        self.stats.last_round = time.monotonic()
        self.stats.widths.append(len(batch))
        for client, (request_id, _), reply in zip(batch, requests, replies, strict=True):
            client.request = None
            with contextlib.suppress(OSError):
                client.conn.send((request_id, *reply))


class RemotePlannerError(RuntimeError):
    """The server's planner failed on this input (its message says how)."""


class RemotePlanner:
    """A planner whose decisions come from a `PlannerServer` in another process."""

    def __init__(self, address: str, name: str, uses_image: bool = True) -> None:
        self.name = name
        self.uses_image = uses_image
        try:
            self._conn = Client(address, family="AF_UNIX")
        except OSError as err:
            raise ConnectionError(f"planner server at {address} cannot be reached: {err}") from err
        self._ids = itertools.count()
        self._lock = threading.Lock()

    def start_route(self, context: PlannerContext) -> None:
        with self._lock:
            self._conn.send(("start", context.scenario))

    def end_route(self) -> None:
        # A plan call the runner gave up on may still hold the connection: then the server learns of the end from
        # this client's next request instead, and holds rounds back by at most its gather time meanwhile.
        if not self._lock.acquire(timeout=1.0):
            return
        try:
            with contextlib.suppress(OSError):
                self._conn.send(("end",))
        finally:
            self._lock.release()

    def plan(self, planner_input: PlannerInput) -> Plan:
        request = next(self._ids)
        with self._lock:
            self._conn.send(("plan", request, replace(planner_input, world=None)))
            while True:
                try:
                    answer, kind, payload = self._conn.recv()
                except EOFError as err:
                    raise ConnectionError("the planner server closed the connection") from err
                if answer == request:  # replies to calls the runner gave up on (timeouts) are dropped
                    break
        if kind == "error":
            raise RemotePlannerError(payload)
        return payload

    def close(self) -> None:
        self._conn.close()


def connect(config: dict[str, Any]) -> RemotePlanner:
    """The planner builder route workers call with `PlannerServer.client_config()`."""
    try:
        return RemotePlanner(str(config["address"]), str(config["name"]), bool(config.get("uses_image", True)))
    except KeyError as err:
        raise ConfigError(f"planner ({TARGET}): missing key {err}") from None


def serve_planner(factory: Callable[[], Planner], max_batch: int, gather_s: float = GATHER_S) -> PlannerServer:
    """Build the planner here (a bad model is reported before any route starts) and serve it."""
    return PlannerServer(factory(), max_batch, gather_s)
