"""What closed-loop GRPO costs on the simulator side: a snapshot at every decision, and scoring one GRPO group.

    uv run python benchmarks/bench_outcome.py                         # red_light_stop, truck_with_cones, jaywalker
    taskset -c 0 uv run python benchmarks/bench_outcome.py --scenarios red_light_stop

For each scenario the expert drives the route without rendering; at every decision the env is snapshotted (size,
time) and the snapshot restored (time). Then, from states spread along the route, a group of `--group` answers
(the eight meta-actions a tiny planner most often samples, repeated to the group size and de-duplicated as
training/outcome_rewards.py does) is driven for the outcome horizon with the expert handing over after it, in this
process. Writes benchmarks/results/bench_outcome.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from planner.actions import MetaAction
from sim.env import DriveEnv
from training.outcome import OutcomeConfig, rollout_terms

CANDIDATES = [
    MetaAction(s, p)
    for s, p in (
        ("KEEP", "STRAIGHT"),
        ("ACCELERATE", "STRAIGHT"),
        ("DECELERATE", "STRAIGHT"),
        ("STOP", "STRAIGHT"),
        ("KEEP", "LEFT_CHANGE"),
        ("KEEP", "RIGHT_CHANGE"),
        ("ACCELERATE", "LEFT_TURN"),
        ("DECELERATE", "RIGHT_TURN"),
    )
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def bench_scenario(name: str, group: int, states: int, config: OutcomeConfig) -> dict[str, Any]:
    env = DriveEnv({"scenarios": [name], "sim": {"name": "embedded", "render": False}})
    _, info = env.reset(seed=0)
    snapshots: list[bytes] = []
    snap_ms, restore_ms, sizes = [], [], []
    done = False
    while not done:
        t0 = time.perf_counter()
        data = env.snapshot()
        t1 = time.perf_counter()
        env.restore(data)
        t2 = time.perf_counter()
        snap_ms.append(1e3 * (t1 - t0))
        restore_ms.append(1e3 * (t2 - t1))
        sizes.append(len(data))
        snapshots.append(data)
        _, _, terminated, truncated, info = env.step(info["expert_index"])
        done = terminated or truncated
    picks = [snapshots[round(k * (len(snapshots) - 1) / max(1, states - 1))] for k in range(states)]
    answers = [CANDIDATES[k % len(CANDIDATES)] for k in range(group)]
    distinct = list(dict.fromkeys(answers))
    group_s = []
    for state in picks:
        t0 = time.perf_counter()
        for action in distinct:
            rollout_terms(env, state, action, config)
        group_s.append(time.perf_counter() - t0)
    env.close()
    return {
        "decisions": len(snapshots),
        "snapshot_ms": {"p50": round(statistics.median(snap_ms), 2), "p99": round(percentile(snap_ms, 99), 2)},
        "restore_ms": {"p50": round(statistics.median(restore_ms), 2), "p99": round(percentile(restore_ms, 99), 2)},
        "snapshot_kb": {"p50": round(statistics.median(sizes) / 1024, 1), "max": round(max(sizes) / 1024, 1)},
        "group": group,
        "distinct_rollouts_per_group": len(distinct),
        "group_s": {"p50": round(statistics.median(group_s), 3), "max": round(max(group_s), 3)},
        "rollouts_per_s": round(len(distinct) * len(group_s) / sum(group_s), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", nargs="*", default=["red_light_stop", "truck_with_cones", "jaywalker"])
    parser.add_argument("--group", type=int, default=8, help="answers per state (GRPO's num_generations)")
    parser.add_argument("--states", type=int, default=6, help="states per scenario a group is scored from")
    parser.add_argument("--horizon", type=float, default=3.0, help="seconds the answer is held")
    parser.add_argument("--expert-horizon", type=float, default=2.0, help="seconds the expert drives on")
    parser.add_argument("--out", default="benchmarks/results/bench_outcome.json")
    args = parser.parse_args()
    config = OutcomeConfig(horizon_s=args.horizon, expert_horizon_s=args.expert_horizon)
    results = {name: bench_scenario(name, args.group, args.states, config) for name in args.scenarios}
    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores (the shared development machine)",
        "cpus_allowed": len(os.sched_getaffinity(0)),
        "command": "uv run python benchmarks/bench_outcome.py " + " ".join(sys.argv[1:]),
        "horizon_s": args.horizon,
        "expert_horizon_s": args.expert_horizon,
        "load_average": os.getloadavg(),
        "scenarios": results,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
