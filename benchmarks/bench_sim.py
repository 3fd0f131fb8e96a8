"""Speed of the embedded simulator, on one core, next to highway-env and MetaDrive, the same work on both sides.

    uv run --with highway-env --with metadrive-simulator python benchmarks/bench_sim.py [--seconds 3] [--repeats 5]

Two levels, each at 10, 20 and 50 NPC vehicles, one 20 Hz tick per call:
- physics: ours `backend.step` (NPC behaviour, integration, collision and infraction checks) against highway-env's
  `road.act(); road.step(dt)` (its IDM/MOBIL behaviour, integration and collision checks: what its `env.step` runs
  per simulation frame) and MetaDrive's `engine.step(1)`;
- full step with an observation: ours `step` + `ground_truth()` (every actor's state) + `events()` against
  highway-env's `env.step` (its kinematics observation, reward and termination included).
Plus camera frames per second at 480x270 in a busy town. Each number is ticks (or frames) per second over `--seconds`,
repeated `--repeats` times: min / median / max, with same-run ratios of the medians. A simulator that is not
installed, or cannot start here (MetaDrive fetches its assets at first start), is skipped with the reason.
Targets (not tests): embedded physics >= 10x highway-env physics at 20 vehicles.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_common import machine_info, spread, write_result

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


def _repeated(fn: Callable[[], None], seconds: float, repeats: int) -> dict[str, float]:
    return spread([_rate(fn, seconds) for _ in range(repeats)], 1)


def bench_embedded(seconds: float, repeats: int) -> dict[str, dict[str, dict[str, float]]]:
    out: dict[str, dict[str, dict[str, float]]] = {"physics": {}, "full_step": {}}
    hold = VehicleControl(brake=1.0)  # the ego waits at its start; NPCs drive around it
    for n in COUNTS:
        b = EmbeddedBackend(render=False)
        b.load(_scenario(n, 0), 0)

        def full(b: EmbeddedBackend = b) -> None:
            b.step(hold)
            world = b.ground_truth()
            list(world.actors)  # every actor's state, as a kinematics consumer reads it
            list(b.events())

        out["physics"][str(n)] = _repeated(lambda b=b: b.step(hold), seconds, repeats)
        out["full_step"][str(n)] = _repeated(full, seconds, repeats)
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


def bench_highway_env(seconds: float, repeats: int) -> dict[str, object]:
    try:
        import gymnasium as gym
        import highway_env  # noqa: F401
    except ImportError:
        msg = "highway-env is not installed: run `uv run --with highway-env python benchmarks/bench_sim.py`"
        print(f"NOTE: {msg}", file=sys.stderr)
        return {"skipped": msg}
    out: dict[str, dict[str, object]] = {"physics": {}, "full_step": {}}
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

        out["full_step"][str(n)] = _repeated(step, seconds, repeats)
        env.reset(seed=0)

        def physics(road=env.unwrapped.road) -> None:
            road.act()
            road.step(1 / 20)

        out["physics"][str(n)] = _repeated(physics, seconds, repeats)
        env.close()
    return out


def bench_metadrive(seconds: float, repeats: int) -> dict[str, object]:
    try:
        from metadrive.envs import MetaDriveEnv
    except ImportError:
        return {"skipped": "metadrive-simulator is not installed: add `--with metadrive-simulator`"}
    env = MetaDriveEnv(
        {
            "use_render": False,
            "num_scenarios": 1,
            "start_seed": 0,
            "log_level": 50,
            "traffic_density": 0.3,
            "decision_repeat": 1,
            "physics_world_step_size": 0.05,
            "horizon": 10**6,
        }
    )
    try:
        env.reset()
    except Exception as err:  # its first start downloads assets, even without a camera
        env.close()
        return {"skipped": f"MetaDriveEnv could not start: {type(err).__name__}: {str(err).splitlines()[0][:160]}"}
    vehicles = len(env.engine.traffic_manager.spawned_objects)
    physics = _repeated(lambda: env.engine.step(1), seconds, repeats)
    env.close()
    return {"physics": {"vehicles": vehicles, "ticks_per_s": physics}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per number and repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "bench_sim.json")
    args = parser.parse_args()
    cpus = sorted(os.sched_getaffinity(0))[:1]
    os.sched_setaffinity(0, set(cpus))  # one core, whatever numpy or Panda3D would like
    result: dict[str, object] = {"machine": machine_info(cpus), "dt_s": 0.05, "repeats": args.repeats}
    emb = bench_embedded(args.seconds, args.repeats)
    hw = bench_highway_env(args.seconds, args.repeats)
    result |= {
        "embedded_ticks_per_s": emb,
        "highway_env_ticks_per_s": hw,
        "metadrive_ticks_per_s": bench_metadrive(args.seconds, args.repeats),
        "camera": bench_camera(args.seconds),
    }
    if "physics" in hw:
        result["speedup_vs_highway_env"] = {
            level: {n: round(emb[level][n]["median"] / hw[level][n]["median"], 2) for n in emb[level]}  # type: ignore[index]
            for level in ("physics", "full_step")
        }
    write_result(result, args.out)


if __name__ == "__main__":
    main()
