"""The learned planner in closed loop on the whole machine: routes driven one after another in one process, on two
worker processes that each load the model (what a suite did before the planner server), and on worker processes
that share one served model whose decisions are batched (`planner_server`, planner/server.py).

    uv run python benchmarks/bench_planner_server.py [--repeats 2] [--arms one_process,own_models,server]

Every arm drives the same routes with the shipped planner (models/planner-cpu, `planner=vlm` without a model) and
video off unless the arm says otherwise, through `sim.suite.run_jobs` as `sim/run_route.py` does. Reported per arm
over `--repeats` runs (min / median / max): the wall time of the whole run (worker start-up and model loads
included), the simulated time driven, x real time (simulated / wall), and for the served arms the planner server's
own counts: batches, mean batch width, time inside the model, and x real time over its serving window (first to
last batch: the rate once every worker is up). Also checks the served decisions against unbatched ones: the same
route's meta-actions with and without the server. torch and transformers are imported before the clock starts:
they are a one-off of the process, not of the planner. Writes benchmarks/results/bench_planner_server.json.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from bench_common import machine_info, spread, write_result

ROUTES = (
    "cut_in",
    "green_light_go",
    "jaywalker",
    "pedestrian_crossing",
    "red_light_stop",
    "t_junction",
    "truck_with_cones",
    "unprotected_left_turn",
)
PLANNER = {"name": "vlm", "device": "cpu"}
ARMS: dict[str, dict[str, Any]] = {
    "one_process": {"workers": 1, "planner_server": False},
    "own_models": {"workers": 2, "planner_server": False},
    "server": {"workers": 8, "planner_server": True},
    "server_video": {"workers": 8, "planner_server": True, "video": {"enabled": True}},
}


def drive(arm: dict[str, Any], routes: Sequence[str], out: Path) -> dict[str, Any]:
    from planner.config import from_mapping
    from scenarios import load_scenario
    from sim.builders import RunRouteConfig
    from sim.suite import RouteJob, run_jobs

    settings = {"planner": PLANNER, "progress": False, "resume": False, "video": {"enabled": False}, **arm}
    config = from_mapping(RunRouteConfig, settings, "bench")
    jobs = [RouteJob(name, load_scenario(name), out / name) for name in routes]
    said: list[str] = []
    start = time.perf_counter()
    results = run_jobs(jobs, config, "vlm", log=said.append)
    wall = time.perf_counter() - start
    sim_s = sum(r["duration_s"] for r in results)
    row: dict[str, Any] = {
        "wall_s": wall,
        "sim_s": sim_s,
        "x_real_time": sim_s / wall,
        "decisions": sum(r["planner_latency_ms"]["count"] for r in results),
        "driving_score": statistics.mean(r["driving_score"] for r in results),
        "actions": {r["scenario"]: [m["action"] for m in r["meta_actions"]] for r in results},
    }
    served = _server_stats()
    if served:
        row.update(served)
        row["x_real_time_serving"] = sim_s / served["serving_s"] if served["serving_s"] else None
    return row


_SERVERS: list[Any] = []


def _record_servers() -> None:
    """Keep a handle on each planner server run_jobs starts, to read its counts after the run."""
    from planner import server as planner_server
    from sim import suite

    def recorded(*args: Any, **kwargs: Any) -> Any:
        made = planner_server.serve_planner(*args, **kwargs)
        _SERVERS.append(made)
        return made

    suite.serve_planner = recorded  # type: ignore[attr-defined]


def _server_stats() -> dict[str, Any] | None:
    if not _SERVERS:
        return None
    stats = _SERVERS.pop().stats.as_dict()
    _SERVERS.clear()
    return {
        "batches": stats["rounds"],
        "mean_batch": stats["mean_batch"],
        "planning_s": stats["planning_s"],
        "serving_s": stats["serving_s"],
    }


def agreement(runs: dict[str, list[dict[str, Any]]], reference: str) -> dict[str, Any] | None:
    """How many decisions each arm shares with the reference arm's first run, route by route (up to the shorter)."""
    if reference not in runs:
        return None
    ref = runs[reference][0]["actions"]
    out = {}
    for arm, rows in runs.items():
        if arm == reference:
            continue
        same = total = 0
        for scenario, actions in rows[0]["actions"].items():
            pairs = list(zip(actions, ref.get(scenario, []), strict=False))
            same += sum(a == b for a, b in pairs)
            total += len(pairs)
        out[arm] = {"same": same, "compared": total}
    return out


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    keys = [k for k, v in rows[0].items() if isinstance(v, int | float) and v is not None]
    out: dict[str, Any] = {k: spread([float(r[k]) for r in rows], 3) for k in keys}
    out["runs"] = len(rows)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--arms", default=",".join(ARMS), help=f"comma-separated subset of {','.join(ARMS)}")
    parser.add_argument("--routes", default=",".join(ROUTES))
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "bench_planner_server.json")
    args = parser.parse_args()
    import torch  # noqa: F401  (a one-off of the process: see the module docstring)
    import transformers  # noqa: F401

    _record_servers()
    arms = args.arms.split(",")
    routes = args.routes.split(",")
    result: dict[str, Any] = {
        "machine": machine_info(sorted(os.sched_getaffinity(0))),
        "note": "a shared development machine (see the load averages); the whole machine, not one pinned core",
        "routes": routes,
        "planner": PLANNER,
        "arms": {a: ARMS[a] for a in arms},
    }
    runs: dict[str, list[dict[str, Any]]] = {a: [] for a in arms}
    work = Path(tempfile.mkdtemp(prefix="bench_planner_server_"))
    try:
        for repeat in range(args.repeats):  # arms interleaved, so a neighbour's load spreads over all of them
            for arm in arms:
                row = drive(ARMS[arm], routes, work / f"{arm}_{repeat}")
                runs[arm].append(row)
                print(f"{arm} run {repeat}: {row['x_real_time']:.2f}x real time, {row['wall_s']:.1f} s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result["results"] = {arm: summarise(rows) for arm, rows in runs.items()}
    result["decisions_same_as_one_process"] = agreement(runs, "one_process")
    write_result(result, args.out, result["results"])


if __name__ == "__main__":
    main()
