"""Throughput of the embedded simulator where runs spend their time: loading a route, driving the expert in closed
loop, and the per-actor cost of a tick.

    taskset -c 1 uv run python benchmarks/bench_throughput.py [--repeats 5] [--parts load,expert,ticks]

Measures, each over `--repeats` runs (min / median / max):
(1) route load and env reset with the camera on: the first in a process (town scenery built) against later ones in
    the same town (scenery from the per-process cache), and a load without camera for reference;
(2) the expert driving suite routes through the route driver (sim/route_task.py), with video off (the camera is then
    left off), with video off but the camera forced on (what every expert run did before frames were rendered on
    demand) and with video on: ticks/s, x real time, frames rendered and the driving score of each;
(3) the cost of a tick (step + ground truth with its actors read + events, as the runner uses them) at
    20/50/100/200 NPC vehicles and at 25/50/100 pedestrians (beside 20 vehicles), in the 4x4 town of bench_sim.py,
    and the cost per actor.
The load average of the machine is written beside the numbers: on a shared machine they are upper bounds.
results/bench_throughput_before.json is this script run against the tree of commit 1644507 (before the scenery
cache, frames on demand and the vectorised pedestrians), with `clear_scenery_cache` and `ExpertPlanner.uses_image`
stubbed, since that code has neither.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from bench_common import machine_info, spread, write_result
from bench_sim import _scenario as town_scenario  # the benchmark town: one home

from planner.expert import ExpertPlanner
from scenarios import load_scenario
from sim.core import VehicleControl
from sim.embedded import scenery
from sim.embedded.backend import EmbeddedBackend
from sim.embedded.camera import CameraRenderer

LOAD_SCENARIOS = ("truck_with_cones", "red_light_stop_night")
ROUTES = ("truck_with_cones", "red_light_stop")
VEHICLE_COUNTS = (0, 20, 50, 100, 200)
PEDESTRIAN_COUNTS = (25, 50, 100)
PEDESTRIAN_BASE_VEHICLES = 20


def timed(fn: Callable[..., Any], *args: Any) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


# ---- (1) route load and env reset ---------------------------------------------------------------------------
def bench_load(repeats: int) -> dict[str, Any]:
    from sim.env import DriveEnv

    out: dict[str, Any] = {}
    for name in LOAD_SCENARIOS:
        scenario = load_scenario(name)
        first, later, blind, reset_first, reset_later = [], [], [], [], []
        for r in range(repeats):
            scenery.clear_scenery_cache()
            backend = EmbeddedBackend(render=True)
            first.append(timed(backend.load, scenario, r))
            later.append(timed(backend.load, scenario, r + 100))  # same town, another run seed
            backend.close()
            no_camera = EmbeddedBackend(render=False)
            blind.append(timed(no_camera.load, scenario, r))
            scenery.clear_scenery_cache()
            env = DriveEnv(config={"scenarios": [name], "sim": {"name": "embedded", "render": True}})
            reset_first.append(timed(functools.partial(env.reset, seed=r)))
            reset_later.append(timed(functools.partial(env.reset, seed=r + 100)))
            env.close()
        out[name] = {
            "load_first_s": spread(first),
            "load_later_s": spread(later),
            "load_without_camera_s": spread(blind),
            "env_reset_first_s": spread(reset_first),
            "env_reset_later_s": spread(reset_later),
        }
    return out


# ---- (2) the expert in closed loop -----------------------------------------------------------------------------
@contextlib.contextmanager
def counted_frames() -> Iterator[dict[str, int]]:
    counts = {"frames": 0}
    render = CameraRenderer.render

    def counting(self: CameraRenderer, *args: Any, **kwargs: Any) -> Any:
        counts["frames"] += 1
        return render(self, *args, **kwargs)

    CameraRenderer.render = counting  # type: ignore[method-assign]
    try:
        yield counts
    finally:
        CameraRenderer.render = render  # type: ignore[method-assign]


@contextlib.contextmanager
def expert_looks(looks: bool) -> Iterator[None]:
    before = ExpertPlanner.uses_image
    ExpertPlanner.uses_image = looks  # type: ignore[misc]
    try:
        yield
    finally:
        ExpertPlanner.uses_image = before  # type: ignore[misc]


def drive_expert(name: str, video: bool, out_dir: Path) -> dict[str, Any]:
    from sim.builders import RunRouteConfig
    from sim.route_task import RouteDriver, RouteJob
    from sim.stop import StopRequest
    from sim.video import VideoConfig

    config = RunRouteConfig(scenario=name, planner={"name": "expert"}, video=VideoConfig(enabled=video), progress=False)
    driver = RouteDriver(config)
    try:
        with counted_frames() as counts:
            start = time.perf_counter()
            results = driver.drive(RouteJob(name, load_scenario(name), out_dir), StopRequest())
            wall = time.perf_counter() - start
    finally:
        driver.close()
    return {"wall_s": wall, "results": results, "frames": counts["frames"]}


MODES = {
    "no_video": {"video": False, "looks": False},
    "no_video_camera_forced_on": {"video": False, "looks": True},
    "video": {"video": True, "looks": False},
}


def bench_expert(repeats: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        drive_expert(ROUTES[0], False, Path(tmp) / "warm_up")  # imports and first-use costs, once per process
        for name in ROUTES:
            out[name] = {}
            for mode, spec in MODES.items():
                runs = []
                for r in range(repeats):
                    with expert_looks(spec["looks"]):
                        runs.append(drive_expert(name, spec["video"], Path(tmp) / f"{name}_{mode}_{r}"))
                res = runs[0]["results"]
                ticks = int(res["ticks"])
                sim_time = ticks * float(res["dt"])
                walls = [run["wall_s"] for run in runs]
                out[name][mode] = {
                    "wall_s": spread(walls),
                    "ticks": ticks,
                    "sim_time_s": round(sim_time, 3),
                    "ticks_per_s": spread([ticks / w for w in walls], 1),
                    "x_real_time": spread([sim_time / w for w in walls], 2),
                    "frames_rendered": runs[0]["frames"],
                    "status": res["status"],
                    "route_completion": res["route_completion"],
                    "driving_score": res["driving_score"],
                    "infractions": sorted(i["type"] for i in res["infractions"]),
                }
    return out


# ---- (3) tick cost per actor ---------------------------------------------------------------------------------------
def run_ticks(backend: EmbeddedBackend, ticks: int) -> None:
    hold = VehicleControl(brake=1.0)  # the ego waits at its start; everything else moves
    for _ in range(ticks):
        backend.step(hold)
        for _ in backend.ground_truth().actors:  # read, as the runner's route criteria do every tick
            pass
        backend.events()


def tick_ms(counts: list[tuple[int, int]], repeats: int, ticks: int) -> dict[tuple[int, int], list[float]]:
    """Milliseconds per tick at each (vehicles, pedestrians). The repeats go round-robin over the counts, so that a
    burst of other work on the machine is spread over all of them instead of spoiling one."""
    backends = {}
    for vehicles, pedestrians in counts:
        backend = EmbeddedBackend(render=False)
        backend.load(town_scenario(vehicles, pedestrians), 0)
        run_ticks(backend, 50)
        backends[(vehicles, pedestrians)] = backend
    out: dict[tuple[int, int], list[float]] = {count: [] for count in counts}
    for _ in range(repeats):
        for count, backend in backends.items():
            out[count].append(timed(run_ticks, backend, ticks) / ticks * 1e3)
    for backend in backends.values():
        backend.close()
    return out


def per_actor(times: dict[int, list[float]], base: float, word: str) -> dict[str, Any]:
    """Tick time at each count, its excess over the base per actor, and the marginal cost from the previous count
    (a per-actor cost that grew with the count would be a superlinear term). Per-actor costs use the fastest repeat,
    the one least disturbed by other work on the machine."""
    out: dict[str, Any] = {}
    previous: tuple[int, float] | None = None
    for n, values in times.items():
        best = min(values)
        row: dict[str, Any] = {"tick_ms": spread(values)}
        if n:
            row[f"us_per_{word}"] = round((best - base) / n * 1e3, 2)
        if previous is not None and n > previous[0]:
            row[f"marginal_us_per_{word}"] = round((best - previous[1]) / (n - previous[0]) * 1e3, 2)
        out[str(n)] = row
        previous = (n, best)
    return out


def bench_ticks(repeats: int, ticks: int) -> dict[str, Any]:
    counts = [(n, 0) for n in VEHICLE_COUNTS] + [(PEDESTRIAN_BASE_VEHICLES, n) for n in PEDESTRIAN_COUNTS]
    times = tick_ms(counts, repeats, ticks)
    vehicles = {n: times[(n, 0)] for n in VEHICLE_COUNTS}
    base_p = vehicles[PEDESTRIAN_BASE_VEHICLES]
    pedestrians = {0: base_p} | {n: times[(PEDESTRIAN_BASE_VEHICLES, n)] for n in PEDESTRIAN_COUNTS}
    return {
        "vehicles": per_actor(vehicles, min(vehicles[0]), "vehicle"),
        f"pedestrians_beside_{PEDESTRIAN_BASE_VEHICLES}_vehicles": per_actor(pedestrians, min(base_p), "pedestrian"),
        "ticks_per_repeat": ticks,
        "what": "step + ground_truth (actors read) + events per tick, ego held at its start, 4x4 town of bench_sim.py",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--ticks", type=int, default=200, help="ticks per timed repeat of the tick-cost part")
    parser.add_argument("--parts", default="load,expert,ticks", help="comma-separated subset of load,expert,ticks")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "bench_throughput.json")
    parser.add_argument("--label", default="", help="what code was measured, written into the JSON")
    args = parser.parse_args()
    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(affinity) > 1:  # one core, as `taskset -c N` would
        os.sched_setaffinity(0, {affinity[0]})
        affinity = affinity[:1]
    parts = set(args.parts.split(","))
    result: dict[str, Any] = {
        "machine": machine_info(affinity),
        "label": args.label,
        "note": "a shared development machine: other jobs ran beside this one (see the load averages)",
        "repeats": args.repeats,
    }
    if "load" in parts:
        result["route_load"] = bench_load(args.repeats)
    if "expert" in parts:
        result["expert_closed_loop"] = bench_expert(args.repeats)
    if "ticks" in parts:
        result["tick_cost"] = bench_ticks(args.repeats, args.ticks)
    write_result(result, args.out)


if __name__ == "__main__":
    main()
