"""Samples per second of `Drive-v0`: one environment in this process against `sim.env.make_vector_env` with one and
two worker processes, on the whole 2-core machine.

    uv run python benchmarks/bench_vector_env.py [--steps 200] [--repeats 3]

Each configuration takes `--steps` samples (vector steps x environments) with seeded random meta-actions over a few
suite scenarios, camera images in every observation (the default `images: every_step`), episodes ending and
autoresetting as they come. The clock starts after the first reset (worker start-up and the first scenery build are
a one-off). Reported per configuration over `--repeats` runs (min / median / max) with the speed-up of the median
against the single environment. Writes benchmarks/results/bench_vector_env.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_common import machine_info, spread, write_result

from sim.env import DriveEnv, make_vector_env

SCENARIOS = ("red_light_stop", "truck_with_cones", "jaywalker", "cut_in")
CONFIG: dict[str, Any] = {"scenarios": list(SCENARIOS)}


def single(steps: int, seed: int) -> float:
    env = DriveEnv(config=CONFIG)
    env.action_space.seed(seed)
    env.reset(seed=seed)
    start = time.perf_counter()
    for _ in range(steps):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()
    wall = time.perf_counter() - start
    env.close()
    return steps / wall


def vectorised(num_envs: int, steps: int, seed: int) -> float:
    env = make_vector_env(num_envs, CONFIG)
    try:
        env.action_space.seed(seed)
        env.reset(seed=seed)
        start = time.perf_counter()
        for _ in range(steps // num_envs):
            env.step(env.action_space.sample())  # autoreset: an ended episode restarts on the next step
        wall = time.perf_counter() - start
    finally:
        env.close()
    return (steps // num_envs) * num_envs / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "bench_vector_env.json")
    args = parser.parse_args()
    result: dict[str, Any] = {
        "machine": machine_info(sorted(os.sched_getaffinity(0))),
        "note": "a shared development machine (see the load averages); the whole machine, not one pinned core",
        "scenarios": list(SCENARIOS),
        "steps": args.steps,
        "repeats": args.repeats,
    }
    rates: dict[str, list[float]] = {"one_env": [], "vector_1": [], "vector_2": []}
    for repeat in range(args.repeats):  # configurations interleaved, so a neighbour's load spreads over all of them
        rates["one_env"].append(single(args.steps, repeat))
        rates["vector_1"].append(vectorised(1, args.steps, repeat))
        rates["vector_2"].append(vectorised(2, args.steps, repeat))
        print({k: round(v[-1], 2) for k, v in rates.items()}, flush=True)
    base = float(np.median(rates["one_env"]))
    result["samples_per_s"] = {k: spread(v, 2) for k, v in rates.items()}
    result["speedup_of_median_vs_one_env"] = {k: round(float(np.median(v)) / base, 3) for k, v in rates.items()}
    write_result(result, args.out)


if __name__ == "__main__":
    main()
