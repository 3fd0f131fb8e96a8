"""The closed-loop runner on the real embedded backend: every way a run can end maps to its status, and
results.json reports what happened."""

from __future__ import annotations

import dataclasses
import itertools
import json
import threading
import time
from pathlib import Path

import pytest
from closed_loop_helpers import FaultyBackend, ScriptedPlanner, make_runner, write_scenario

from scenarios import load_scenario
from sim.core import InfractionType
from sim.embedded.backend import EmbeddedBackend
from sim.protocols import get_protocol
from sim.runner import PlannerSetup, RunnerConfig
from sim.status import STATUS_OF, Ending, Status
from sim.watchdog import BoundedCaller, CallTimeout


@pytest.fixture()
def road(tmp_path: Path):
    return load_scenario(write_scenario(tmp_path))


def test_completed_route_writes_leaderboard_results(road, tmp_path: Path) -> None:
    planner = ScriptedPlanner("KEEP, STRAIGHT")
    runner, collector = make_runner(planner, tmp_path / "out", plan_period=0.5)
    outcome = runner.run(road, "straight_road.yaml")
    assert outcome.status is Status.COMPLETED
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results == json.loads(json.dumps(collector.results()))
    assert results["status"] == "Perfect" and results["success"] is True and results["protocol"] == "leaderboard-2.0"
    assert results["route_completion"] == 100.0 and results["driving_score"] == 100.0
    assert results["infraction_penalty"] == 1.0 and results["infractions"] == []
    assert results["scenario"] == "straight_road" and results["seed"] == 3 and results["planner"] == "scripted"
    assert results["route_length_m"] == pytest.approx(95.0, abs=5.0)
    assert results["duration_s"] == pytest.approx(outcome.ticks * 0.05, abs=1e-6)
    # one decision every 0.5 s of simulated time, starting at t = 0
    times = [m["time"] for m in results["meta_actions"]]
    assert times[0] == 0.0 and all(b - a == pytest.approx(0.5) for a, b in itertools.pairwise(times))
    assert results["meta_actions"][0] == {
        "time": 0.0, "action": "KEEP, STRAIGHT", "reasoning": "call 1", "fallback": False,
        "latency_ms": results["meta_actions"][0]["latency_ms"],
    }  # fmt: skip
    assert len(planner.inputs) == len(times) == results["planner_latency_ms"]["count"]
    lat = results["planner_latency_ms"]
    assert 0.0 <= lat["p50"] <= lat["p95"] <= lat["max"] and lat["mean"] > 0.0
    assert results["fallbacks"] == 0 and results["refused_lane_changes"] == 0
    assert 0.0 <= results["comfort"]["comfort_ratio"] <= 1.0
    assert results["error"] is None


def test_camera_planner_never_sees_ground_truth_but_the_expert_does(road) -> None:
    blind, seeing = ScriptedPlanner(), ScriptedPlanner()
    make_runner(blind, timeout_s=1.0)[0].run(road)
    make_runner(seeing, privileged=True, timeout_s=1.0)[0].run(road)
    assert all(x.world is None for x in blind.inputs)
    assert all(x.world is not None for x in seeing.inputs)
    assert blind.inputs[0].image.shape == (270, 480, 3) and blind.inputs[0].navigation


def test_planner_exception_is_agent_crashed(road, tmp_path: Path) -> None:
    runner, _collector = make_runner(ScriptedPlanner(raise_on=3), tmp_path)
    outcome = runner.run(road)
    assert outcome.status is Status.AGENT_CRASHED and outcome.ending is Ending.PLANNER_RUNTIME
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["status"] == "Failed - Agent crashed"
    assert "planner exploded" in results["error"]["message"] and "Traceback" in results["error"]["traceback"]
    assert len(results["meta_actions"]) == 2 and results["duration_s"] == pytest.approx(1.0)
    assert not results["success"]


def test_planner_overrunning_its_timeout_is_agent_crashed(road) -> None:
    planner = ScriptedPlanner(sleep_on=2, sleep_s=3.0)
    runner, collector = make_runner(planner, planner_timeout_s=0.2)
    start = time.perf_counter()
    outcome = runner.run(road)
    assert time.perf_counter() - start < 2.5  # the runner did not wait for the sleeping call
    # the leaderboard's agent watchdog ends such a route "Failed - Agent crashed"; the error says why
    assert outcome.status is Status.AGENT_CRASHED and outcome.ending is Ending.PLANNER_TIMEOUT
    assert collector.results()["error"]["kind"] == "planner_timeout"
    assert "did not return within 0.2 s" in collector.results()["error"]["message"]


def test_simulator_crash_mid_run_keeps_what_happened(road) -> None:
    backends: list[FaultyBackend] = []

    def factory() -> FaultyBackend:
        backends.append(FaultyBackend(EmbeddedBackend(render=False), crash_at=25))
        return backends[-1]

    runner, collector = make_runner(ScriptedPlanner(), backend_factory=factory)
    outcome = runner.run(road)
    assert outcome.status is Status.SIMULATION_CRASHED and outcome.ending is Ending.SIMULATOR_CRASH
    assert outcome.ticks == 25 and backends[0].closed
    results = collector.results()
    assert 0.0 < results["route_completion"] < 100.0 and "lost its world" in results["error"]["message"]


def test_backend_that_cannot_be_built_or_loaded_is_simulation_crashed(road) -> None:
    def broken() -> EmbeddedBackend:
        raise ConnectionError("no simulator at localhost:2000")

    outcome = make_runner(ScriptedPlanner(), backend_factory=broken)[0].run(road)
    assert (outcome.status, outcome.ending) == (Status.SIMULATION_CRASHED, Ending.BACKEND_LOAD)

    class NoLoad(FaultyBackend):
        def load(self, scenario, seed) -> None:
            raise OSError("map assets missing")

    runner, collector = make_runner(ScriptedPlanner(), backend_factory=lambda: NoLoad(EmbeddedBackend(render=False)))
    outcome = runner.run(road)
    assert (outcome.status, outcome.ending) == (Status.SIMULATION_CRASHED, Ending.BACKEND_LOAD)
    assert outcome.ticks == 0 and "map assets missing" in collector.results()["error"]["message"]


def test_planner_setup_failure_is_reported_once_per_route_without_rebuilding(road) -> None:
    calls = []

    def factory():
        calls.append(1)
        raise FileNotFoundError("checkpoint not found: /ckpt")

    setup = PlannerSetup(factory, name="vlm")
    for _ in range(2):
        runner, collector = make_runner(setup)
        outcome = runner.run(road)
        assert outcome.status is Status.AGENT_SETUP
        assert collector.results()["planner"] == "vlm" and "checkpoint not found" in outcome.error["message"]
    assert len(calls) == 1


def test_route_timeout_is_agent_timed_out_without_a_penalty(road) -> None:
    runner, collector = make_runner(ScriptedPlanner("DECELERATE, STRAIGHT"), timeout_s=3.0)
    outcome = runner.run(road)
    assert outcome.status is Status.AGENT_TIMED_OUT and outcome.ending is Ending.ROUTE_TIMEOUT
    results = collector.results()
    assert results["status"] == "Failed - Agent timed out"  # the leaderboard's words for a route timeout
    assert [i["type"] for i in results["infractions"]] == [InfractionType.ROUTE_TIMEOUT.value]
    assert 0.0 < results["route_completion"] < 100.0
    assert results["infraction_penalty"] == 1.0 and results["driving_score"] == results["route_completion"]
    assert results["duration_s"] == pytest.approx(3.0)


def test_bench2drive_tick_budget_ends_the_route(road) -> None:
    runner, collector = make_runner(ScriptedPlanner("STOP, STRAIGHT"), protocol="bench2drive")
    short = dataclasses.replace(get_protocol("bench2drive"), tick_budget=40)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sim.runner.get_protocol", lambda name: short)
        outcome = runner.run(road)
    results = collector.results()
    assert outcome.ending is Ending.TICK_BUDGET and outcome.ticks == 41
    assert results["status"] == "Failed - TickRuntime" and results["protocol"] == "bench2drive"


def test_standing_still_is_blocked(tmp_path: Path) -> None:
    scenario = load_scenario(write_scenario(tmp_path, criteria={"timeout_s": 30, "blocked_s": 1.0}))
    runner, collector = make_runner(ScriptedPlanner("STOP, STRAIGHT"))
    outcome = runner.run(scenario)
    assert outcome.status is Status.BLOCKED
    assert collector.results()["infraction_counts"] == {InfractionType.BLOCKED.value: 1}


def test_route_deviation_event_ends_the_route(road) -> None:
    factory = lambda: FaultyBackend(EmbeddedBackend(render=False), inject=InfractionType.ROUTE_DEVIATION, at=10)  # noqa: E731
    outcome = make_runner(ScriptedPlanner(), backend_factory=factory)[0].run(road)
    assert outcome.status is Status.DEVIATED and outcome.ticks == 10


def test_interrupt_leaves_interrupted_results_and_propagates(road, tmp_path: Path) -> None:
    runner, _ = make_runner(ScriptedPlanner(raise_on=4, error=KeyboardInterrupt()), tmp_path)
    with pytest.raises(KeyboardInterrupt):
        runner.run(road)
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["status"] == "Interrupted" and results["finished"] is False
    assert len(results["meta_actions"]) == 3


def test_every_ending_has_a_status() -> None:
    assert set(STATUS_OF) == set(Ending)
    assert all(STATUS_OF[e].failed for e in Ending if e not in (Ending.ROUTE_COMPLETED, Ending.INTERRUPTED))


def test_watchdog_abandons_an_overrunning_call_and_serves_the_next() -> None:
    caller = BoundedCaller()
    release = threading.Event()
    with pytest.raises(CallTimeout):
        caller.call(release.wait, 0.05, "stuck")
    assert caller.call(lambda: 42, 1.0) == 42 and caller.abandoned == 1
    release.set()
    with pytest.raises(ValueError, match="bad"):
        caller.call(lambda: (_ for _ in ()).throw(ValueError("bad")), 1.0)


def test_runner_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="plan_period"):
        RunnerConfig(plan_period=0.0)
    with pytest.raises(ValueError, match="planner_timeout_s"):
        RunnerConfig(planner_timeout_s=-1.0)
