"""The planner server: one planner answers the routes in flight in batched rounds, over real sockets."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from planner.actions import MetaAction
from planner.interface import Plan, PlannerContext, PlannerInput
from planner.server import PlannerServer, RemotePlanner, RemotePlannerError, connect
from sim.core import Route

SPEEDS = ("KEEP", "ACCELERATE", "DECELERATE", "STOP")


class BatchRecorder:
    """Answers each input from its speed (so a reply can be matched to its request) and records batch widths."""

    name = "recorder"
    uses_image = True

    def __init__(self, fail_on_speed: float | None = None, delay_s: float = 0.0) -> None:
        self.batches: list[int] = []
        self.fail_on_speed = fail_on_speed
        self.delay_s = delay_s

    def plan(self, planner_input: PlannerInput) -> Plan:
        return self.plan_batch([planner_input])[0]

    def plan_batch(self, inputs: Sequence[PlannerInput]) -> list[Plan]:
        self.batches.append(len(inputs))
        time.sleep(self.delay_s)
        if any(x.speed == self.fail_on_speed for x in inputs):
            raise RuntimeError("the model broke")
        return [Plan(MetaAction(SPEEDS[int(x.speed) % 4], "STRAIGHT"), raw_text=f"speed {x.speed}") for x in inputs]


def planner_input(speed: float) -> PlannerInput:
    return PlannerInput(image=np.zeros((4, 6, 3), np.uint8), speed=speed, navigation="Follow the road", time=0.0)


def context(name: str) -> PlannerContext:
    route = Route(points=np.array([[0.0, 0.0], [10.0, 0.0]]), lane_ids=("a", "a"))
    return PlannerContext(name, route, road_map=None, dt=0.05)  # type: ignore[arg-type]


def client(server: PlannerServer) -> RemotePlanner:
    return connect(server.client_config())


def until_in_flight(server: PlannerServer, routes: int) -> None:
    """Wait until the server has heard every start and end sent so far."""
    deadline = time.monotonic() + 30.0
    while server.routes_in_flight != routes:
        assert time.monotonic() < deadline, f"{server.routes_in_flight} routes in flight, expected {routes}"
        time.sleep(0.01)


def test_routes_in_flight_are_answered_in_one_round_each_with_its_own_plan() -> None:
    recorder = BatchRecorder()
    with PlannerServer(recorder, max_batch=8, gather_s=30.0) as server:  # rounds close on "all routes waiting" only
        clients = [client(server) for _ in range(3)]
        for k, c in enumerate(clients):
            c.start_route(context(f"route_{k}"))
        until_in_flight(server, 3)
        with ThreadPoolExecutor(3) as pool:
            for step in range(4):
                speeds = [float(k + 4 * step) for k in range(3)]
                plans = list(pool.map(lambda c, v: c.plan(planner_input(v)), clients, speeds))
                assert [p.raw_text for p in plans] == [f"speed {v}" for v in speeds]
        assert recorder.batches == [3, 3, 3, 3]
        assert server.stats.as_dict()["decisions"] == 12
        for c in clients:
            c.close()


@pytest.mark.parametrize("leaves", ["ends its route", "disconnects"])
def test_a_client_that_left_holds_no_round_back(leaves: str) -> None:
    with PlannerServer(BatchRecorder(), max_batch=8, gather_s=30.0) as server:
        driving, other = client(server), client(server)
        driving.start_route(context("driving"))
        other.start_route(context("other"))
        if leaves == "ends its route":
            other.end_route()
        else:
            other.close()  # a worker that died mid-route
        until_in_flight(server, 1)
        start = time.monotonic()
        assert driving.plan(planner_input(1.0)).action.speed == "ACCELERATE"
        assert time.monotonic() - start < 10.0  # not the 30 s gather bound
        driving.close()
        other.close()


def test_a_busy_client_delays_a_round_by_the_gather_time_at_most() -> None:
    with PlannerServer(BatchRecorder(), max_batch=8, gather_s=0.3) as server:
        driving, busy = client(server), client(server)
        driving.start_route(context("driving"))
        busy.start_route(context("busy"))  # in a route, but never asks
        until_in_flight(server, 2)
        start = time.monotonic()
        driving.plan(planner_input(0.0))
        assert 0.2 <= time.monotonic() - start < 10.0
        driving.close()
        busy.close()


def test_rounds_are_capped_at_max_batch() -> None:
    recorder = BatchRecorder(delay_s=0.05)
    with PlannerServer(recorder, max_batch=2, gather_s=30.0) as server:
        clients = [client(server) for _ in range(5)]
        for k, c in enumerate(clients):
            c.start_route(context(f"route_{k}"))
        until_in_flight(server, 5)

        def one_plan(k: int, c: RemotePlanner) -> Plan:
            plan = c.plan(planner_input(float(k)))
            c.end_route()  # a route that got its last plan no longer holds the next rounds back
            return plan

        with ThreadPoolExecutor(5) as pool:
            plans = list(pool.map(one_plan, range(5), clients))
        assert [p.raw_text for p in plans] == [f"speed {float(k)}" for k in range(5)]
        assert max(recorder.batches) == 2 and sum(recorder.batches) == 5
        for c in clients:
            c.close()


def test_a_planner_failure_reaches_the_routes_of_that_round_and_the_server_goes_on() -> None:
    with PlannerServer(BatchRecorder(fail_on_speed=3.0), max_batch=8, gather_s=0.1) as server:
        c = client(server)
        c.start_route(context("route"))
        with pytest.raises(RemotePlannerError, match="RuntimeError: the model broke"):
            c.plan(planner_input(3.0))
        assert c.plan(planner_input(1.0)).action.speed == "ACCELERATE"
        c.close()


def test_a_late_reply_to_an_abandoned_call_is_not_taken_for_the_next_one() -> None:
    recorder = BatchRecorder(delay_s=0.5)
    with PlannerServer(recorder, max_batch=8, gather_s=0.05) as server:
        c = client(server)
        c.start_route(context("route"))
        abandoned = threading.Thread(target=c.plan, args=(planner_input(0.0),), daemon=True)
        abandoned.start()  # as the runner's watchdog would leave a call that ran over its time
        time.sleep(0.1)
        assert c.plan(planner_input(1.0)).raw_text == "speed 1.0"
        abandoned.join(timeout=5.0)
        c.close()


def test_the_client_config_names_the_served_planner_and_a_closed_server_is_unreachable() -> None:
    server = PlannerServer(BatchRecorder(), max_batch=4)
    config = server.client_config()
    remote = connect(config)
    assert (remote.name, remote.uses_image) == ("recorder", True)
    remote.close()
    server.close()
    with pytest.raises(ConnectionError, match="planner server at"):
        connect(config)


@pytest.mark.slow
def test_a_suite_on_local_workers_shares_one_served_model(tiny_model: Path, tmp_path: Path) -> None:
    """Three routes in three worker processes; the model lives in this process and answers them in batches."""
    from planner.config import from_mapping
    from scenarios import load_scenario
    from sim.builders import RunRouteConfig
    from sim.suite import RouteJob, run_jobs

    planner = {"name": "vlm", "model": str(tiny_model), "device": "cpu", "batch_size": 4, "max_new_tokens": 8}
    settings = {"planner": planner, "video": {"enabled": False}, "progress": False, "timeout_s": 4.0, "workers": 3}
    config = from_mapping(RunRouteConfig, settings, "test")
    names = ("red_light_stop", "jaywalker", "truck_with_cones")
    jobs = [RouteJob(n, load_scenario(n), tmp_path / n) for n in names]
    said: list[str] = []
    results = run_jobs(jobs, config, "vlm", log=said.append)

    served = next(line for line in said if line.startswith("planner server:") and "decisions in" in line)
    decisions = int(served.split()[2])
    batches = int(served.split("decisions in ")[1].split()[0])
    assert [r["scenario"] for r in results] == list(names)
    per_route = [r["planner_latency_ms"]["count"] for r in results]
    assert all(n >= 8 for n in per_route)  # 4 s of driving at a plan every 0.5 s
    assert decisions == sum(per_route)
    assert batches < decisions  # routes shared rounds
    assert all(r["planner"] == "vlm" for r in results)
