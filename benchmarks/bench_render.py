"""Rendering speed of the embedded simulator on one core: the front camera (480x270) in every suite scene, with the
scenery's distant level of detail on and off in the same run; the busy benchmark town by weather and by frame size,
the BEV, and a review-video frame (overlays and H.264 encoding) at 960 and 480 px wide.

    uv run python benchmarks/bench_render.py [--scenes truck_with_cones,jaywalker] [--repeats 3]

All 61 suite scenes take about half an hour on this project's 2-core development machine; `--scenes` picks some.

World states are recorded first (the real backend stepped without a camera, ego at a steady throttle), then only
rendering is timed: ms per frame over the recorded frames, `--repeats` passes, min / median / max. "lod_off" builds
the same towns with every tile in full detail (what the scenery drew before it had a far level), so the ratio is
the saving on identical states. The pixel difference the far level makes is reported per scene as well (share of
pixels that change by more than 16 of 255 in any channel). Writes benchmarks/results/bench_render.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_common import machine_info, spread, write_result

from scenarios import list_suite, load_scenario
from sim.core import WEATHER_PRESETS, CameraConfig, VehicleControl, WorldState
from sim.embedded import scenery
from sim.embedded.backend import EmbeddedBackend
from sim.embedded.bev import BevRenderer
from sim.embedded.camera import CameraRenderer
from sim.overlay import Hud, compose_frame
from sim.video import FfmpegWriter

BUSY_TOWN = {
    "name": "bench_busy_town",
    "description": "3x3 signalised grid with dense traffic and pedestrians",
    "map": {"name": "grid", "rows": 3, "cols": 3, "lanes": 2, "block_m": 90},
    "seed": 11,
    "route": {"maneuvers": ["straight", "left", "straight"], "length_m": 400},
    "ego": {"speed": 8.0},
    "traffic": {"vehicles": 24, "pedestrians": 10},
}
NO_LOD_M = 1e7


def record(scenario: Any, ticks: int, every: int) -> tuple[EmbeddedBackend, list[WorldState]]:
    backend = EmbeddedBackend(render=False)
    backend.load(scenario, 0)
    states = []
    for tick in range(ticks):
        backend.step(VehicleControl(throttle=0.35))
        if tick % every == 0:
            states.append(backend.ground_truth())
    return backend, states


def render_pass(renderer: CameraRenderer, states: list[WorldState]) -> tuple[float, list[np.ndarray]]:
    """ms per frame over the recorded states, and the frames."""
    t0 = time.perf_counter()
    frames = [renderer.render(w.ego, w.actors, w.lights) for w in states]
    return (time.perf_counter() - t0) / len(states) * 1000.0, frames


def timed_passes(
    renderer: CameraRenderer, states: list[WorldState], repeats: int
) -> tuple[list[float], list[np.ndarray]]:
    """A warm-up frame, then `repeats` timed passes: ms per frame of each, and the last pass's frames."""
    render_pass(renderer, states[:1])
    passes, frames = [], []
    for _ in range(repeats):
        ms, frames = render_pass(renderer, states)
        passes.append(ms)
    return passes, frames


def camera(backend: EmbeddedBackend, weather: str, lod_m: float) -> CameraRenderer:
    """A renderer whose town is built afresh with the far level of detail from `lod_m` metres."""
    default = scenery.LOD_NEAR_M
    scenery.clear_scenery_cache()
    scenery.LOD_NEAR_M = lod_m
    try:
        return CameraRenderer(backend.network, CameraConfig(), weather)
    finally:
        scenery.LOD_NEAR_M = default
        scenery.clear_scenery_cache()


def suite_scene(name: str, repeats: int) -> dict[str, Any]:
    scenario = load_scenario(name)
    weather = getattr(scenario, "weather", "clear_noon")
    backend, states = record(scenario, 160, 4)
    renderers = {"on": camera(backend, weather, scenery.LOD_NEAR_M), "off": camera(backend, weather, NO_LOD_M)}
    times: dict[str, list[float]] = {"on": [], "off": []}
    frames: dict[str, list[np.ndarray]] = {}
    try:
        for renderer in renderers.values():
            render_pass(renderer, states[:1])  # warm-up
        # Passes alternate between the two so that a slow spell of a shared machine hits both alike.
        for _ in range(repeats):
            for key, renderer in renderers.items():
                ms, frames[key] = render_pass(renderer, states)
                times[key].append(ms)
    finally:
        for renderer in renderers.values():
            renderer.close()
        backend.close()
    changed = [
        float((np.abs(a.astype(np.int16) - b).max(axis=-1) > 16).mean())
        for a, b in zip(frames["off"], frames["on"], strict=True)
    ]
    scene = {
        "ms_per_frame": spread(times["on"], 2),
        "ms_per_frame_lod_off": spread(times["off"], 2),
        "speedup": round(statistics.median(times["off"]) / statistics.median(times["on"]), 2),
        "pixels_changed_pct": round(100 * statistics.mean(changed), 3),
        "actors_mean": round(statistics.mean(len(w.actors) for w in states), 1),
        "frames": len(states),
    }
    print(name, scene, flush=True)
    return scene


def busy_town(repeats: int) -> dict[str, Any]:
    backend, states = record(BUSY_TOWN, 200, 1)
    by_weather = {}
    for weather in WEATHER_PRESETS:
        renderer = camera(backend, weather, scenery.LOD_NEAR_M)
        passes, _ = timed_passes(renderer, states, repeats)
        renderer.close()
        by_weather[weather] = {"ms_per_frame": spread(passes, 2), "fps": round(1000 / statistics.median(passes), 1)}
    bev = BevRenderer(backend.network, 256, 60.0)
    bev.render(states[0])
    bev_passes = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for w in states:
            bev.render(w)
        bev_passes.append((time.perf_counter() - t0) / len(states) * 1000.0)
    network = backend.network
    sizes, frames = {}, []
    for width, height in ((240, 136), (480, 270), (960, 540)):
        renderer = CameraRenderer(network, CameraConfig(width=width, height=height), "clear_noon")
        passes, shown = timed_passes(renderer, states, repeats)
        frames = shown if width == 480 else frames
        renderer.close()
        sizes[f"{width}x{height}"] = spread(passes, 2)
    video = video_frames(frames, bev.render(states[-1]), repeats)
    backend.close()
    return {
        "map": BUSY_TOWN["map"],
        "lanes": len(network.lanes),
        "buildings": len(network.buildings),
        "actors_mean": round(statistics.mean(len(w.actors) for w in states), 1),
        "frames": len(states),
        "camera_by_weather": by_weather,
        "bev_256px_ms_per_frame": spread(bev_passes, 2),
        "camera_ms_per_frame_by_size": sizes,
        "video_frame": video,
    }


def video_frames(frames: list[np.ndarray], bev: np.ndarray, repeats: int) -> dict[str, Any]:
    """ms per review-video frame at each width: overlay composition, and x264 as the recorder runs it (wall time of
    the writer fed as fast as it takes frames, ffmpeg on the same core)."""
    hud = Hud(12.0, 8.3, "go straight", "KEEP, STRAIGHT", "The light ahead is green.", False, 31.0, [], False)
    out = {}
    for width in (960, 480):
        compose, encode = [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            composed = [compose_frame(f, bev, hud, width) for f in frames]
            compose.append((time.perf_counter() - t0) / len(frames) * 1000.0)
            height = composed[0].shape[0]
            with tempfile.TemporaryDirectory() as tmp:
                t0 = time.perf_counter()
                writer = FfmpegWriter(Path(tmp) / "bench.mp4", width, height, 10.0)
                for frame in composed:
                    writer.write(frame)
                writer.close()
                encode.append((time.perf_counter() - t0) / len(frames) * 1000.0)
        out[f"{width}x{height}"] = {"compose_ms": spread(compose, 2), "encode_ms": spread(encode, 2)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", default=None, help="comma-separated suite scenarios (default: all)")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes over the recorded frames")
    parser.add_argument("--cpu", type=int, default=0, help="the core to pin to")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "bench_render.json")
    args = parser.parse_args()
    os.sched_setaffinity(0, {args.cpu})
    names = args.scenes.split(",") if args.scenes else list_suite()
    result: dict[str, Any] = {
        "benchmark": "embedded rendering",
        "command": "uv run python benchmarks/bench_render.py" + (f" --scenes {args.scenes}" if args.scenes else ""),
        "machine": machine_info([args.cpu]),
        "lod_near_m": scenery.LOD_NEAR_M,
        "suite_scenes": {name: suite_scene(name, args.repeats) for name in names},
    }
    scenes = result["suite_scenes"].values()
    result["suite_summary"] = {
        "ms_per_frame_median_of_scenes": round(statistics.median(s["ms_per_frame"]["median"] for s in scenes), 2),
        "ms_per_frame_lod_off_median_of_scenes": round(
            statistics.median(s["ms_per_frame_lod_off"]["median"] for s in scenes), 2
        ),
        "ms_per_frame_worst_scene": max(s["ms_per_frame"]["median"] for s in scenes),
        "ms_per_frame_lod_off_worst_scene": max(s["ms_per_frame_lod_off"]["median"] for s in scenes),
        "pixels_changed_pct_worst_scene": max(s["pixels_changed_pct"] for s in scenes),
    }
    result["busy_town"] = busy_town(args.repeats)
    write_result(result, args.out, printed={k: result[k] for k in ("suite_summary", "busy_town")})


if __name__ == "__main__":
    main()
