"""Wall time of the 18-route suite with one and two workers, in local processes and on a local Ray, and what Ray
costs: its start-up, the round trip of an empty task, and its overhead per route.

    uv run python benchmarks/bench_fanout.py                       # all four configurations, 3 rounds
    uv run python benchmarks/bench_fanout.py --configs local-2 ray-2 --rounds 1 -- planner=constant

Each configuration is one `sim/run_route.py scenario=suite planner=expert video.enabled=false` process, timed from
start to exit (Python, Ray and worker start-up included), with the CPU time of it and every process it started (user
+ system, sampled; less sensitive than wall time to neighbours on a shared machine) and the peak memory of each of
those processes; the routes' own time comes from their results.json (`wall_time_s`: the closed loop alone).
`local-1` drives every route in that process, one after another (the behaviour before the fan-out); `local-2` on two
worker processes; `ray-1` and `ray-2` on a local Ray given one or two CPUs. The configurations run in rounds, one of
each per round, so a neighbour's load spreads over all of them; each is reported with every round's wall time and
their median. Ray's overhead per route is (median wall of ray-1 - Ray's start-up and shut-down - median wall of
local-1) / routes, and the same in CPU time (Ray's own start and stop measured alone). Extra arguments after `--` go
to every run. Writes benchmarks/results/bench_fanout.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CONFIGS: dict[str, list[str]] = {
    "local-1": ["executor=local", "workers=1"],
    "local-2": ["executor=local", "workers=2"],
    "ray-1": ["executor=ray", "ray.num_cpus=1"],
    "ray-2": ["executor=ray", "ray.num_cpus=2"],
}
BASE = ["scenario=suite", "planner=expert", "video.enabled=false", "progress=false"]


def run_suite(name: str, extra: list[str], out: Path) -> dict[str, Any]:
    cmd = [sys.executable, "sim/run_route.py", *BASE, *CONFIGS[name], f"output_dir={out}", *extra]
    cmd.append(f"hydra.run.dir={out}_hydra")
    load = os.getloadavg()[0]
    with tempfile.TemporaryFile() as log:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        cpu, memory = watch_tree(proc)
        wall = time.perf_counter() - start
        log.seek(0)
        output = log.read().decode(errors="replace")
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed ({proc.returncode}):\n{output[-3000:]}")
    results = [json.loads(p.read_text()) for p in sorted(out.glob("*/results.json"))]
    routes_s = sum(r["wall_time_s"] for r in results)
    return {
        "command": " ".join(cmd[1:-1]),
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "peak_rss_mb_sum": sum(memory.values()),
        "peak_rss_mb": memory,
        "routes": len(results),
        "route_wall_sum_s": round(routes_s, 2),
        "mean_driving_score": round(sum(r["driving_score"] for r in results) / len(results), 3),
        "statuses": sorted({r["status"] for r in results}),
        "load_average_before_after": [round(load, 2), round(os.getloadavg()[0], 2)],
    }


RAY_COSTS = """
import json, time
start = time.perf_counter()
from sim.fanout import RayConfig
from sim.fanout.ray_tasks import connect
connect(RayConfig(num_cpus=2))
import ray
noop = ray.remote(num_cpus=1)(lambda: None)
ray.get(noop.remote())
started = time.perf_counter() - start
start = time.perf_counter()
for _ in range(200):
    ray.get(noop.remote())
round_trip = (time.perf_counter() - start) / 200
start = time.perf_counter()
ray.shutdown()
print(json.dumps({"start_to_first_task_s": round(started, 2), "empty_task_round_trip_ms": round(1000 * round_trip, 2),
                  "shutdown_s": round(time.perf_counter() - start, 2)}))
"""


def watch_tree(proc: subprocess.Popen, every_s: float = 0.2) -> tuple[float, dict[str, float]]:
    """Wait for `proc`; the CPU time (user + system) it and all its descendants used, and each one's peak resident
    memory (MB, by process title), sampled every `every_s` (Ray's workers are the raylet's children and never
    reaped by the driver, so getrusage would miss them)."""
    import psutil

    root, used, peak, title = psutil.Process(proc.pid), {}, {}, {}
    while proc.poll() is None:
        try:
            family = [root, *root.children(recursive=True)]
        except psutil.Error:
            family = []
        for p in family:
            try:
                times, rss = p.cpu_times(), p.memory_info().rss / 2**20
                name = (p.cmdline() or [p.name()])[0]
            except psutil.Error:
                continue
            used[p.pid] = max(used.get(p.pid, 0.0), times.user + times.system)
            peak[p.pid] = max(peak.get(p.pid, 0.0), rss)
            if name.startswith("ray::") or p.pid not in title:  # a Ray worker's title says what it is
                title[p.pid] = name.rsplit("/", 1)[-1]
        time.sleep(every_s)
    memory = {f"{title[pid]} ({pid})": round(mb) for pid, mb in sorted(peak.items(), key=lambda kv: -kv[1])}
    return sum(used.values()), memory


def ray_costs() -> dict[str, float]:
    """A local Ray with 2 CPUs in a process of its own: start-up (import included) to the first task's answer, an
    empty task's round trip, shut-down, and the CPU time all of it took."""
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen([sys.executable, "-c", RAY_COSTS], cwd=REPO, stdout=log, stderr=subprocess.DEVNULL)
        cpu, _ = watch_tree(proc)
        log.seek(0)
        costs = json.loads(log.read().decode().strip().splitlines()[-1])
    costs["cpu_s"] = round(cpu, 2)
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "bench_fanout.json")
    parser.add_argument("extra", nargs="*", help="overrides for every run (after --)")
    args = parser.parse_args()
    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in args.configs}
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.rounds):
            for name in args.configs:
                out = Path(tmp) / f"{name}-{k}"
                rounds[name].append(run_suite(name, args.extra, out))
                print(name, json.dumps(rounds[name][-1]), flush=True)
                shutil.rmtree(out, ignore_errors=True)
    runs = {
        name: {
            "command": done[0]["command"],
            "routes": done[0]["routes"],
            "wall_s": round(statistics.median(r["wall_s"] for r in done), 2),
            "wall_s_rounds": [r["wall_s"] for r in done],
            "cpu_s": round(statistics.median(r["cpu_s"] for r in done), 2),
            "cpu_s_rounds": [r["cpu_s"] for r in done],
            "peak_rss_mb_sum_rounds": [r["peak_rss_mb_sum"] for r in done],
            "peak_rss_mb_first_round": done[0]["peak_rss_mb"],
            "route_wall_sum_s_rounds": [r["route_wall_sum_s"] for r in done],
            "mean_driving_score_rounds": [r["mean_driving_score"] for r in done],
            "load_average_before_after_rounds": [r["load_average_before_after"] for r in done],
        }
        for name, done in rounds.items()
    }
    report: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores (the shared development machine)",
        "extra": args.extra,
        "rounds": args.rounds,
        "runs": runs,
        "ray": ray_costs(),
    }
    if "local-1" in runs:
        base = runs["local-1"]["wall_s"]
        report["speedup_vs_local_1"] = {k: round(base / r["wall_s"], 2) for k, r in runs.items()}
        if "ray-1" in runs:
            routes, ray = runs["ray-1"]["routes"], report["ray"]
            extra = runs["ray-1"]["wall_s"] - ray["start_to_first_task_s"] - ray["shutdown_s"] - base
            report["ray_overhead_per_route_s"] = round(extra / routes, 3)
            extra_cpu = runs["ray-1"]["cpu_s"] - ray["cpu_s"] - runs["local-1"]["cpu_s"]
            report["ray_overhead_per_route_cpu_s"] = round(extra_cpu / routes, 3)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "runs"}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
