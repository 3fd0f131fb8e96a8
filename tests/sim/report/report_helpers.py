"""Results folders for the report tests: hand-written results.json files (for what real runs rarely produce, or
fields a later version adds) and real closed-loop runs of suite scenarios."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from hydra import compose, initialize_config_dir

from sim.run_route import drive
from sim.video import FfmpegWriter

REPO = Path(__file__).resolve().parents[3]


def results(scenario: str, **overrides: Any) -> dict[str, Any]:
    """A results.json as sim/results.py writes it (the keys the report reads), with overrides."""
    base: dict[str, Any] = {
        "scenario": scenario,
        "tags": ["traffic_light", "basic"],
        "status": "Completed",
        "success": True,
        "route_completion": 100.0,
        "infraction_penalty": 1.0,
        "driving_score": 100.0,
        "collisions": 0,
        "infractions": [],
        "infraction_counts": {},
        "duration_s": 4.0,
        "plan_period": 0.5,
        "planner": "expert",
        "backend": "embedded",
        "planner_latency_ms": {"count": 8, "mean": 1.0, "p50": 1.0, "p95": 2.0, "max": 3.0},
        "fallbacks": 0,
        "meta_actions": [
            {"time": 0.5 * i, "action": "KEEP, STRAIGHT", "reasoning": "clear road", "fallback": False}
            for i in range(8)
        ],
        "speed_trace": {"time": [0.0, 2.0, 4.0], "speed_mps": [5.0, 6.0, 7.0]},
        "video": None,
    }
    return {**base, **overrides}


def write_route(folder: Path, data: dict[str, Any], video_s: float | None = None) -> Path:
    """results.json into `folder`; with `video_s`, also a real H.264 review.mp4 that long (10 fps)."""
    folder.mkdir(parents=True, exist_ok=True)
    if video_s is not None:
        writer = FfmpegWriter(folder / "review.mp4", 64, 48, fps=10.0)
        for i in range(round(video_s * 10)):
            writer.write(np.full((48, 64, 3), (i * 7) % 256, dtype=np.uint8))
        writer.close()
        data = {**data, "video": "review.mp4"}
    (folder / "results.json").write_text(json.dumps(data), encoding="utf-8")
    return folder


def drive_suite(out: Path, planner: str, scenarios: list[str], single: bool = False) -> Path:
    """Real closed-loop runs of suite scenarios (camera and review video on, at a small video size) through
    sim/run_route.py's entry point; a suite of copied scenario files, or one route when `single`."""
    suite = out.parent / f"{out.name}_scenarios"
    suite.mkdir(parents=True, exist_ok=True)
    for name in scenarios:
        shutil.copy(REPO / "scenarios" / "suite" / f"{name}.yaml", suite / f"{name}.yaml")
    spec = str(suite / f"{scenarios[0]}.yaml") if single else str(suite)
    overrides = [f"scenario={spec}", f"planner={planner}", f"output_dir={out}", "progress=false", "video.width=320"]
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("run_route", overrides=overrides)
    drive(cfg)
    return out
