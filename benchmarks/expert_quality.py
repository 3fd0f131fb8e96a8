"""How well the expert drives and how learnable its labels are, per suite route: DS, comfort, peak jerk and label
flips while it follows a lead vehicle.

    uv run python benchmarks/expert_quality.py --out benchmarks/results/expert_quality.json
    uv run python benchmarks/expert_quality.py --results outputs/suite_expert --out /tmp/q.json   # an existing run

Flips per minute count changes between ACCELERATE and DECELERATE (either way) among decisions whose deciding cause
was the lead vehicle, per minute of such decisions: a settled follower says KEEP and flips rarely.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir

REPO = Path(__file__).resolve().parents[1]


def run_suite(out: Path, overrides: list[str]) -> None:
    from sim.run_route import drive

    fixed = ["scenario=suite", "planner=expert", "video.enabled=false", "sim.render=false", "progress=false"]
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("run_route", overrides=[*fixed, f"output_dir={out}", *overrides])
    drive(cfg)


def following_flips(timeline: list[dict[str, Any]], plan_period: float) -> tuple[int, float]:
    """(ACCELERATE <-> DECELERATE flips, minutes) over the decisions made because of a lead vehicle."""
    flips, decisions, last = 0, 0, None
    for entry in timeline:
        if (entry.get("facts") or {}).get("decision") != "lead_vehicle":
            last = None
            continue
        decisions += 1
        speed = entry["action"].split(",")[0].strip()
        if speed in ("ACCELERATE", "DECELERATE"):
            if last is not None and speed != last:
                flips += 1
            last = speed
    return flips, decisions * plan_period / 60.0


def route_row(results: dict[str, Any]) -> dict[str, Any]:
    flips, minutes = following_flips(results.get("meta_actions", []), float(results.get("plan_period") or 0.5))
    comfort = results.get("comfort", {})
    return {
        "scenario": results["scenario"],
        "status": results["status"],
        "driving_score": results["driving_score"],
        "collisions": results.get("collisions", 0),
        "comfort_ratio": comfort.get("comfort_ratio"),
        "smoothness": comfort.get("smoothness"),
        "max_abs_jerk": comfort.get("max_abs_jerk"),
        "max_abs_jerk_outside_emergency": comfort.get("max_abs_jerk_outside_emergency"),
        "max_abs_lon_accel": comfort.get("max_abs_lon_accel"),
        "hidden_cause_labels": sum(
            1 for e in results.get("meta_actions", []) if (e.get("facts") or {}).get("cause_visible") is False
        ),
        "labels": len(results.get("meta_actions", [])),
        "following_minutes": round(minutes, 2),
        "following_flips_per_min": round(flips / minutes, 2) if minutes > 0 else None,
    }


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| scenario | DS | comfort ratio | smoothness | max jerk (m/s^3) | outside emergencies | following flips/min |"
    ]
    lines.append("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        flips = "-" if r["following_flips_per_min"] is None else f"{r['following_flips_per_min']:.1f}"
        lines.append(
            f"| {r['scenario']} | {r['driving_score']:.1f} | {r['comfort_ratio']:.3f} | {r['smoothness']:.2f} | "
            f"{r['max_abs_jerk']:.1f} | {r['max_abs_jerk_outside_emergency'] or 0.0:.1f} | {flips} | "
            f"{r['hidden_cause_labels']} of {r['labels']} |"
        )
    n = len(rows)
    minutes = sum(r["following_minutes"] for r in rows)
    per_min = [r["following_flips_per_min"] * r["following_minutes"] for r in rows if r["following_flips_per_min"]]
    lines.append(
        f"| **mean** ({n}) | {sum(r['driving_score'] for r in rows) / n:.1f} | "
        f"{sum(r['comfort_ratio'] for r in rows) / n:.3f} | {sum(r['smoothness'] for r in rows) / n:.2f} | "
        f"{max(r['max_abs_jerk'] for r in rows):.1f} (max) | "
        f"{max(r['max_abs_jerk_outside_emergency'] or 0.0 for r in rows):.1f} (max) | "
        f"{(sum(per_min) / minutes) if minutes else 0.0:.1f} | "
        f"{sum(r['hidden_cause_labels'] for r in rows)} of {sum(r['labels'] for r in rows)} |"
    )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, help="analyse this suite output instead of running the suite")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "expert_quality.json")
    parser.add_argument("overrides", nargs="*", help="run_route overrides, e.g. controller=mpc")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.results
        if root is None:
            root = Path(tmp) / "suite"
            run_suite(root, args.overrides)
        rows = [route_row(json.loads(p.read_text())) for p in sorted(root.glob("*/results.json"))]
    report = {"machine": platform.node(), "overrides": args.overrides, "routes": rows, "table": table(rows)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(report["table"])
    print(report["table"])


if __name__ == "__main__":
    main()
