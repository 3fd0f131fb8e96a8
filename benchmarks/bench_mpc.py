"""Cost of the MPC law per 50 ms tick: the whole controller step (reference geometry, QP update, OSQP solve).

Run on one core:  taskset -c 1 uv run python benchmarks/bench_mpc.py
The expert drives every suite route in closed loop with `controller=mpc` (embedded simulator, no camera) while
every MPC call is recorded; the calls are then replayed, in order, through fresh controllers with no time budget
(the same warm starts, so the same solves) and only the MPC is timed. Reported: the closed-loop pass as it ran
(with its fallbacks) and the replays, per tick the fastest of `--repeats` passes (on a shared machine the slower
passes measure the other users). Writes benchmarks/results/bench_mpc.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import osqp

from controller.meta_action import MetaActionController, MetaActionControllerConfig
from controller.mpc import MPCCommand, MPCController, TrackingReference
from planner.config import from_mapping
from scenarios import list_suite, load_scenario
from sim.builders import backend_factory, planner_factory
from sim.core import EgoState, RoadMap
from sim.runner import ClosedLoopRunner, PlannerSetup, RunnerConfig

REPO = Path(__file__).resolve().parents[1]


class RecordingMPC(MPCController):
    """Records every call in order, so the run can be replayed through a fresh controller."""

    def __init__(self, *args: Any) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        super().__init__(*args)

    def step(self, ego: EgoState, ref: TrackingReference, dt: float) -> MPCCommand | None:
        self.calls.append(("step", (ego, ref, dt)))
        return super().step(ego, ref, dt)

    def applied(self, accel: float, pedal_accel: float, steer_angle: float) -> None:
        self.calls.append(("applied", (accel, pedal_accel, steer_angle)))
        super().applied(accel, pedal_accel, steer_angle)


def drive_suite(config: MetaActionControllerConfig, routes: list[str]) -> list[RecordingMPC]:
    recorders: list[RecordingMPC] = []

    def make_controller(road_map: RoadMap) -> MetaActionController:
        controller = MetaActionController(road_map, config)
        controller.mpc = RecordingMPC(config.mpc, config.longitudinal, config.wheelbase_m, config.max_steer_rad)
        recorders.append(controller.mpc)
        return controller

    make_planner, privileged, name = planner_factory({"name": "expert"})
    make_backend, backend_name = backend_factory({"name": "embedded", "render": False})
    setup = PlannerSetup(make_planner, name=name)
    runner = ClosedLoopRunner(make_backend, setup, make_controller, RunnerConfig(), (), privileged, backend_name)
    for route in routes:
        outcome = runner.run(load_scenario(route), route)
        print(f"  {route}: {outcome.status.value}, {outcome.ticks} ticks", flush=True)
    setup.caller.close()
    return recorders


def replay(recorders: list[RecordingMPC], config: MetaActionControllerConfig) -> tuple[list[float], list[float]]:
    """Per-tick MPC step times (ms) of one pass over every recorded route without a time budget: wall clock, and
    this thread's CPU time (which preemption by other processes does not inflate)."""
    unbounded = replace(config.mpc, time_budget_ms=1e6)
    wall: list[float] = []
    cpu: list[float] = []
    for recorder in recorders:
        mpc = MPCController(unbounded, config.longitudinal, config.wheelbase_m, config.max_steer_rad)
        for method, args in recorder.calls:
            if method == "step":
                w0, c0 = time.perf_counter(), time.thread_time()
                mpc.step(*args)
                wall.append((time.perf_counter() - w0) * 1000.0)
                cpu.append((time.thread_time() - c0) * 1000.0)
            else:
                mpc.applied(*args)
    return wall, cpu


def percentiles(values: list[float] | np.ndarray) -> dict[str, float]:
    arr = np.asarray(values, dtype=float)
    return {q: round(float(np.percentile(arr, p)), 4) for q, p in (("p50", 50), ("p90", 90), ("p99", 99))} | {
        "max": round(float(arr.max()), 4),
        "mean": round(float(arr.mean()), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--routes", nargs="*", default=None, help="suite routes (default: all)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "bench_mpc.json"))
    args = parser.parse_args()
    routes = args.routes or list_suite()
    config = from_mapping(MetaActionControllerConfig, {"law": "mpc"})
    load_before = os.getloadavg()
    print(f"closed loop, {len(routes)} routes (expert planner, controller=mpc)", flush=True)
    recorders = drive_suite(config, routes)
    closed_tick = [t for r in recorders for t in r.tick_ms]
    closed_solve = [t for r in recorders for t in r.solve_ms]
    passes = []
    for k in range(args.repeats):
        print(f"replay {k + 1}/{args.repeats}", flush=True)
        passes.append(replay(recorders, config))
    best_wall = np.min(np.array([wall for wall, _ in passes]), axis=0)
    best_cpu = np.min(np.array([cpu for _, cpu in passes]), axis=0)
    fallbacks = {key: sum(r.fallbacks[key] for r in recorders) for key in recorders[0].fallbacks}
    result = {
        "benchmark": "MPC law per tick (controller/mpc.py)",
        "command": "taskset -c 1 uv run python benchmarks/bench_mpc.py",
        "cpu_affinity": sorted(os.sched_getaffinity(0)),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "machine": platform.machine(),
        "python": platform.python_version(),
        "osqp": osqp.__version__,
        "horizon_steps": config.mpc.horizon_steps,
        "step_s": config.mpc.step_s,
        "tick_s": 0.05,
        "routes": len(routes),
        "mpc_ticks": len(closed_tick),
        "closed_loop": {
            "tick_ms": percentiles(closed_tick),
            "osqp_solve_ms": percentiles(closed_solve),
            "fallbacks": fallbacks,
            "inaccurate": sum(r.inaccurate for r in recorders),
            "iterations_mean": round(float(np.mean([i for r in recorders for i in r.iterations])), 2),
        },
        f"replay_fastest_of_{args.repeats}": {"tick_ms": percentiles(best_wall), "tick_cpu_ms": percentiles(best_cpu)},
        "replay_each_pass_tick_ms": [percentiles(wall) for wall, _ in passes],
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
