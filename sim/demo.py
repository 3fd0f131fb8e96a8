"""`make demo`: the planner this project ships and the privileged expert on the same three suite routes.

    python sim/demo.py [--out outputs/demo] [--scenarios red_light_stop truck_with_cones jaywalker] [--model DIR]

Both drive with review videos; the two runs go side by side on two worker processes. Prints a table of both
results with the video paths, and writes an A/B review page (`sim.report`) beside them.
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

DEMO_SCENARIOS = ("red_light_stop", "truck_with_cones", "jaywalker")
PLANNERS: dict[str, dict[str, Any]] = {
    "expert": {"name": "expert"},
    "planner": {"name": "vlm", "device": "cpu", "batch_size": 1, "max_new_tokens": 24},  # the shipped checkpoint
}


def drive(label: str, scenarios: list[str], out: str, model: str | None = None) -> list[dict[str, Any]]:
    """One planner over the demo routes (in a worker process); the results of each route."""
    from planner.config import from_mapping
    from scenarios import load_scenario
    from sim.builders import RunRouteConfig
    from sim.suite import RouteJob, run_jobs, write_summary

    planner = {**PLANNERS[label], "model": model} if model and label == "planner" else PLANNERS[label]
    settings = {"planner": planner, "progress": False, "workers": 1}  # the two planners already run side by side
    config = from_mapping(RunRouteConfig, settings, "demo")
    root = Path(out) / label
    loaded = [(name, load_scenario(name)) for name in scenarios]  # names from the suite, or scenario files
    jobs = [RouteJob(name, scenario, root / scenario.name) for name, scenario in loaded]
    results = run_jobs(jobs, config, planner["name"], log=lambda *_: None)
    write_summary(root, results)
    return results


def table(expert: list[dict[str, Any]], planner: list[dict[str, Any]], out: Path) -> str:
    lines = [
        "| scenario | expert DS | planner DS | planner status | planner video |",
        "|---|---:|---:|---|---|",
    ]
    for e, p in zip(expert, planner, strict=True):
        video = out / "planner" / p["scenario"] / str(p.get("video") or "-")
        lines.append(
            f"| {p['scenario']} | {e['driving_score']:.1f} | {p['driving_score']:.1f} | {p['status']} | {video} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="outputs/demo")
    parser.add_argument("--scenarios", nargs="+", default=list(DEMO_SCENARIOS))
    parser.add_argument("--model", help="a planner checkpoint instead of the shipped one (models/planner-cpu)")
    args = parser.parse_args(argv)
    out = Path(args.out).resolve()
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        runs = {label: pool.submit(drive, label, args.scenarios, str(out), args.model) for label in PLANNERS}
        results = {label: future.result() for label, future in runs.items()}
    print(table(results["expert"], results["planner"], out))
    from sim.report import write_comparison

    page = write_comparison(out / "expert", out / "planner", out / "compare" / "report.html")
    print(f"review pages: {out / 'expert' / 'report.html'}, {out / 'planner' / 'report.html'}; side by side: {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
