"""PID + pure pursuit, PID + Stanley and MPC side by side on the whole suite, for one or more planners.

    uv run python benchmarks/compare_controllers.py                        # the expert and the constant planner
    uv run python benchmarks/compare_controllers.py --planner grpo "planner=vlm planner.model=<checkpoint>"

Each (planner, controller) pair is one `sim/run_route.py scenario=suite` run under `--out` (rerunning resumes and
skips finished routes); the table is built from the routes' results.json: mean driving score and success, the box
centre's lateral offset from the controller's reference (RMS over all ticks, on curves, in lane changes; max over
the suite), the largest |jerk| (suite and per-route mean), the comfort ratio (mean over routes), and for MPC the
per-tick solver time (median of the routes' p50; the largest route p99, which bounds the suite's p99 from above)
and the fallbacks to PID. Writes <report>.json and <report>.md.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CONTROLLERS: dict[str, str] = {
    "PID + pure pursuit": "controller=default controller.lateral=pure_pursuit",
    "PID + Stanley": "controller=default controller.lateral=stanley",
    "MPC": "controller=mpc",
}
DEFAULT_PLANNERS = [("expert", "planner=expert"), ("constant", "planner=constant")]


def slug(text: str) -> str:
    return "_".join("".join(c if c.isalnum() else " " for c in text.lower()).split())


def run_suite(planner: str, controller: str, out: Path, extra: Sequence[str]) -> int:
    cmd = [sys.executable, "sim/run_route.py", "scenario=suite", *shlex.split(planner), *shlex.split(controller)]
    # one route at a time: the solver times are measured in closed loop, and a second route would compete for the core
    cmd += ["video.enabled=false", "progress=false", "workers=1", f"output_dir={out}", *extra]
    print("$", shlex.join(cmd), flush=True)
    return subprocess.run(cmd, cwd=REPO, check=False).returncode


def pooled_rms(parts: Sequence[dict[str, Any]]) -> float:
    ticks = sum(p["ticks"] for p in parts)
    return math.sqrt(sum(p["rms_m"] ** 2 * p["ticks"] for p in parts) / ticks) if ticks else 0.0


def aggregate(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One table row from a suite's per-route results.json files."""
    n = len(results)
    reports = [r.get("controller") or {} for r in results]
    tracking = [rep.get("tracking", {}) for rep in reports]
    row: dict[str, Any] = {
        "routes": n,
        "driving_score": round(sum(r["driving_score"] for r in results) / n, 2),
        "success_rate": round(sum(bool(r.get("success")) for r in results) / n, 3),
        "collisions": sum(r.get("collisions", 0) for r in results),
    }
    for kind in ("all", "curve", "lane_change"):
        parts = [t[kind] for t in tracking if kind in t]
        row[f"lateral_rms_m_{kind}"] = round(pooled_rms(parts), 4)
        row[f"lateral_max_m_{kind}"] = round(max((p["max_m"] for p in parts), default=0.0), 4)
        row[f"ticks_{kind}"] = sum(p["ticks"] for p in parts)
    jerks = [r["comfort"]["max_abs_jerk"] for r in results]
    row["max_jerk"] = round(max(jerks), 2)
    row["mean_route_max_jerk"] = round(sum(jerks) / n, 2)
    row["comfort_ratio"] = round(sum(r["comfort"]["comfort_ratio"] for r in results) / n, 4)
    mpc = [rep["mpc"] for rep in reports if rep.get("mpc")]
    if mpc:
        p50 = sorted(m["tick_ms"]["p50"] for m in mpc)
        row["solver_tick_ms_p50"] = round(p50[len(p50) // 2], 3)
        row["solver_tick_ms_p99"] = round(max(m["tick_ms"]["p99"] for m in mpc), 3)
        row["mpc_ticks"] = sum(m["ticks"] for m in mpc)
        row["fallbacks"] = sum(m["fallback_total"] for m in mpc)
        row["fallbacks_by_reason"] = {key: sum(m["fallbacks"][key] for m in mpc) for key in mpc[0]["fallbacks"]}
    return row


def read_suite(out: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(out.glob("*/results.json"))]


def markdown(table: dict[str, dict[str, dict[str, Any]]]) -> str:
    lines = [
        "| planner | controller | DS | success | lateral RMS / max (m) | curves RMS | lane changes RMS | max jerk "
        "(m/s^3) | mean route max jerk | comfort ratio | solver p50 / p99 (ms/tick) | fallbacks |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for planner, rows in table.items():
        for controller, r in rows.items():
            solver = f"{r['solver_tick_ms_p50']:.2f} / {r['solver_tick_ms_p99']:.2f}" if "mpc_ticks" in r else "-"
            fallbacks = f"{r['fallbacks']} of {r['mpc_ticks']}" if "mpc_ticks" in r else "-"
            lines.append(
                f"| {planner} | {controller} | {r['driving_score']:.1f} | {100 * r['success_rate']:.0f}% | "
                f"{r['lateral_rms_m_all']:.3f} / {r['lateral_max_m_all']:.3f} | {r['lateral_rms_m_curve']:.3f} | "
                f"{r['lateral_rms_m_lane_change']:.3f} | {r['max_jerk']:.1f} | {r['mean_route_max_jerk']:.1f} | "
                f"{r['comfort_ratio']:.3f} | {solver} | {fallbacks} |"
            )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--planner",
        nargs=2,
        action="append",
        metavar=("LABEL", "OVERRIDES"),
        help='e.g. --planner grpo "planner=vlm planner.model=ckpt" (repeatable; default: expert and constant)',
    )
    parser.add_argument("--controllers", nargs="*", choices=sorted(CONTROLLERS), default=list(CONTROLLERS))
    parser.add_argument("--out", default="outputs/controller_comparison", help="run directories (resumable)")
    parser.add_argument("--report", default=None, help="path prefix of the .json/.md report (default: OUT/comparison)")
    parser.add_argument("extra", nargs="*", help="overrides for every run, e.g. sim=carla sim.host=...")
    args = parser.parse_args()
    planners = args.planner or DEFAULT_PLANNERS
    out = Path(args.out)
    table: dict[str, dict[str, dict[str, Any]]] = {}
    runs: dict[str, dict[str, str]] = {}
    for label, spec in planners:
        for controller in args.controllers:
            run_dir = out / slug(label) / slug(controller)
            code = run_suite(spec, CONTROLLERS[controller], run_dir, args.extra)
            if code == 2:
                print(f"error: bad input for {label} / {controller}; see above", file=sys.stderr)
                return 2
            results = read_suite(run_dir)
            if not results:
                print(f"error: no results under {run_dir}", file=sys.stderr)
                return 1
            table.setdefault(label, {})[controller] = aggregate(results)
            runs.setdefault(label, {})[controller] = f"{spec} {CONTROLLERS[controller]}"
    report = Path(args.report) if args.report else out / "comparison"
    report.parent.mkdir(parents=True, exist_ok=True)
    data = {"command": shlex.join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]), "runs": runs, "table": table}
    report.with_suffix(".json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    report.with_suffix(".md").write_text(markdown(table), encoding="utf-8")
    print(markdown(table))
    print(f"-> {report.with_suffix('.json')} and {report.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
