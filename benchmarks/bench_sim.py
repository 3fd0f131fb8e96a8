"""Speed of the embedded simulator, on one core, next to highway-env.

    uv run --with highway-env python benchmarks/bench_sim.py [--seconds 5] [--out benchmarks/results/bench_sim.json]

Measures (1) world ticks per second without rendering with 10, 20 and 50 NPC vehicles in a 4x4 town, (2) camera
frames per second at 480x270 in a busy town (skipped with a note when the renderer cannot be imported) and
(3) highway-env `highway-v0` steps per second at the same vehicle counts, configured so that one env step is one
20 Hz simulation tick like ours (skipped with a clear note when highway-env is not installed).
Targets (not tests): embedded >= 5x highway-env at 20 vehicles; camera >= 200 fps.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

from scenarios import scenario_from_dict
from sim.core import VehicleControl
from sim.embedded.backend import EmbeddedBackend

COUNTS = (10, 20, 50)
TOWN = {"name": "grid", "rows": 4, "cols": 4, "lanes": 2, "block_m": 90}


def _scenario(vehicles: int, pedestrians: int):
    return scenario_from_dict(
        {
            "name": "bench",
            "description": "speed benchmark",
            "map": TOWN,
            "seed": 1,
            "route": {"maneuvers": ["straight", "left"], "length_m": 100},
            "traffic": {"vehicles": vehicles, "pedestrians": pedestrians},
        }
    )


def _rate(fn: Callable[[], None], seconds: float) -> float:
    for _ in range(20):  # warm-up
        fn()
    n, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(50):
            fn()
        n += 50
    return n / elapsed


def bench_embedded(seconds: float) -> dict[str, float]:
    out = {}
    hold = VehicleControl(brake=1.0)  # the ego waits at its start; NPCs drive around it
    for n in COUNTS:
        b = EmbeddedBackend(render=False)
        b.load(_scenario(n, 0), 0)
        out[str(n)] = round(_rate(lambda b=b: b.step(hold), seconds), 1)
        b.close()
    return out


def bench_camera(seconds: float) -> dict[str, object]:
    try:
        b = EmbeddedBackend(render=True)
        b.load(_scenario(50, 30), 0)
    except (ImportError, RuntimeError) as exc:
        return {"skipped": f"camera renderer unavailable: {exc}"}
    for _ in range(40):
        b.step(VehicleControl(throttle=0.4))
    fps = _rate(lambda: b.observe(), seconds)
    b.close()
    return {"fps_480x270": round(fps, 1), "scene": "4x4 town, 50 vehicles, 30 pedestrians"}


def bench_highway_env(seconds: float) -> dict[str, object]:
    try:
        import gymnasium as gym
        import highway_env  # noqa: F401
    except ImportError:
        msg = "highway-env is not installed: run `uv run --with highway-env python benchmarks/bench_sim.py`"
        print(f"NOTE: {msg}", file=sys.stderr)
        return {"skipped": msg}
    out: dict[str, object] = {}
    for n in COUNTS:
        config = {
            "vehicles_count": n,
            "simulation_frequency": 20,
            "policy_frequency": 20,
            "duration": 10**6,
            "offscreen_rendering": True,
        }
        env = gym.make("highway-v0", config=config)
        env.reset(seed=0)

        def step(env=env) -> None:
            _, _, terminated, truncated, _ = env.step(1)  # IDLE
            if terminated or truncated:
                env.reset()

        out[str(n)] = round(_rate(step, seconds), 1)
        env.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="measuring time per number")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "bench_sim.json")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):  # one core, whatever numpy or Panda3D would like
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    result: dict[str, object] = {
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine()},
        "dt_s": 0.05,
        "embedded_ticks_per_s": bench_embedded(args.seconds),
        "camera": bench_camera(args.seconds),
        "highway_env_ticks_per_s": bench_highway_env(args.seconds),
    }
    hw = result["highway_env_ticks_per_s"]
    emb = result["embedded_ticks_per_s"]
    if isinstance(hw, dict) and "20" in hw:
        result["speedup_at_20"] = round(emb["20"] / hw["20"], 2)  # type: ignore[index]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
