"""Rendering speed of the embedded simulator: front-camera frames/s at 480x270 and BEV frames/s, in a busy town.

Run on one core:  taskset -c 0 uv run python benchmarks/bench_render.py
World states are recorded first (stepping the real backend without a camera), then only rendering is timed.
Writes benchmarks/results/bench_render.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from sim.core import WEATHER_PRESETS, CameraConfig, VehicleControl, WorldState
from sim.embedded.backend import EmbeddedBackend
from sim.embedded.bev import BevRenderer
from sim.embedded.camera import CameraRenderer

SCENARIO = {
    "name": "bench_busy_town",
    "description": "3x3 signalised grid with dense traffic and pedestrians",
    "map": {"name": "grid", "rows": 3, "cols": 3, "lanes": 2, "block_m": 90},
    "seed": 11,
    "route": {"maneuvers": ["straight", "left", "straight"], "length_m": 400},
    "ego": {"speed": 8.0},
    "traffic": {"vehicles": 24, "pedestrians": 10},
}


def record(frames: int) -> tuple[EmbeddedBackend, list[WorldState]]:
    backend = EmbeddedBackend(render=False)
    backend.load(SCENARIO, SCENARIO["seed"])
    states = []
    for _ in range(frames):
        backend.step(VehicleControl(throttle=0.35))
        states.append(backend.ground_truth())
    return backend, states


def time_camera(backend: EmbeddedBackend, states: list[WorldState], weather: str, repeats: int) -> dict[str, float]:
    t0 = time.perf_counter()
    renderer = CameraRenderer(backend.network, CameraConfig(), weather)
    build_s = time.perf_counter() - t0
    renderer.render(states[0].ego, states[0].actors, states[0].lights)  # warm-up
    passes = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for w in states:
            renderer.render(w.ego, w.actors, w.lights)
        passes.append(time.perf_counter() - t0)
    renderer.close()
    passes.sort()
    return {
        "fps": round(len(states) / passes[0], 1),  # fastest pass: the machine is shared, slow passes are contention
        "fps_median": round(len(states) / passes[len(passes) // 2], 1),
        "build_s": round(build_s, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5, help="timed passes over the recorded frames")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "bench_render.json")
    args = parser.parse_args()

    backend, states = record(args.frames)
    n_actors = [len(w.actors) for w in states]
    camera = {w: time_camera(backend, states, w, args.repeats) for w in WEATHER_PRESETS}
    bev = BevRenderer(backend.network, 256, 60.0)
    bev.render(states[0])
    bev_passes = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        for w in states:
            bev.render(w)
        bev_passes.append(time.perf_counter() - t0)
    bev_fps = len(states) / min(bev_passes)
    network = backend.network
    backend.close()

    result = {
        "benchmark": "embedded rendering",
        "command": "taskset -c 0 uv run python benchmarks/bench_render.py",
        "cpu_affinity": sorted(os.sched_getaffinity(0)),
        "machine": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "scene": {
            "map": SCENARIO["map"],
            "lanes": len(network.lanes),
            "buildings": len(network.buildings),
            "lights": len(network.lights),
            "actors_mean": round(sum(n_actors) / len(n_actors), 1),
            "frames": len(states),
        },
        "camera_480x270_fps": camera["clear_noon"]["fps"],
        "camera_by_weather": camera,
        "bev_256px_fps": round(bev_fps, 1),
        "target_camera_fps": 200,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
