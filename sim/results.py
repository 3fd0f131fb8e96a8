"""Per-route results: a collector that turns the run into a leaderboard-style `results.json` scored by the run's
protocol (`sim.protocols`, named in the file), and a writer that
keeps that file current on disk (atomically, periodically), so a run killed at any point leaves a readable file."""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.callbacks import RunCallback, RunContext, RunOutcome, StepInfo, TickInfo
from sim.core import Infraction, WorldState
from sim.criteria import RouteCriteria, scored_infractions
from sim.metrics import RouteScore, comfort, infraction_counts
from sim.protocols import DEFAULT_PROTOCOL, get_protocol
from sim.status import Status, final_status

if TYPE_CHECKING:
    from sim.video import VideoConfig

RESULTS_FILE = "results.json"
SPEED_TRACE_EVERY_S = 0.25  # sampling of the ego speed trace results.json keeps for the report's timeline


def write_json_atomic(path: str | Path, data: Any) -> None:
    """Write JSON next to `path` and move it into place: readers see the old file or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, default=_jsonable)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if hasattr(value, "value"):  # enums
        return value.value
    return str(value)


def read_results(path: str | Path) -> dict[str, Any] | None:
    """A results.json as a dict, or None when it is missing or unreadable."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def latency_summary(latencies_ms: list[float]) -> dict[str, float | int]:
    if not latencies_ms:
        return {"count": 0, "mean": 0.0, "p50": 0.0, "p95": 0.0, "max": 0.0}
    lat = np.asarray(latencies_ms, dtype=float)
    return {
        "count": len(lat),
        "mean": round(float(lat.mean()), 3),
        "p50": round(float(np.percentile(lat, 50)), 3),
        "p95": round(float(np.percentile(lat, 95)), 3),
        "max": round(float(lat.max()), 3),
    }


def speed_trace(times: list[float], speeds: list[float], every_s: float = SPEED_TRACE_EVERY_S) -> dict[str, list]:
    """The ego speed about every `every_s` simulated seconds, the last sample always kept."""
    kept: list[int] = []
    next_t = -math.inf
    for i, t in enumerate(times):
        if t >= next_t - 1e-9:
            kept.append(i)
            next_t = t + every_s
    if times and kept[-1] != len(times) - 1:
        kept.append(len(times) - 1)
    return {"time": [round(times[i], 3) for i in kept], "speed_mps": [round(float(speeds[i]), 3) for i in kept]}


class MetricsCollector(RunCallback):
    """Accumulates everything results.json reports; `results()` is valid at any moment of the run."""

    def __init__(self, video: str | Path | None = None, video_config: VideoConfig | None = None) -> None:
        self.video = Path(video) if video else None  # the review video being recorded, if any
        self.video_config = video_config  # how it is recorded: maps simulated time to video time for the report
        self._reset()

    def _reset(self) -> None:
        self.context: RunContext | None = None
        self.outcome: RunOutcome | None = None
        self.route_length = 0.0
        self.progress = 0.0
        self.infractions: list[Infraction] = []  # the backend's and the runner's events
        self.protocol = get_protocol(DEFAULT_PROTOCOL)
        self.criteria: RouteCriteria | None = None
        self.timeline: list[dict[str, Any]] = []
        self.latencies_ms: list[float] = []
        self.times: list[float] = []
        self.speeds: list[float] = []
        self.yaws: list[float] = []
        self.fallbacks = 0
        self.refused_lane_changes = 0
        self.controller: dict[str, Any] | None = None  # the control law's report: tracking error, MPC solver counts
        self.started_wall = time.time()

    def on_start(self, context: RunContext) -> None:
        self._reset()  # one collector may serve several runs
        self.context = context
        self.protocol = context.protocol

    def on_loaded(self, context: RunContext, world: WorldState) -> None:
        self.route_length = world.route.length
        self.progress = max(0.0, world.route_s)
        self.criteria = RouteCriteria(world.route.length, self.protocol, world.route_s)
        self._sample(world)

    def on_tick(self, info: TickInfo) -> None:
        if info.planned and info.plan is not None:
            plan = info.plan
            self.latencies_ms.append(plan.latency_ms)
            self.fallbacks += int(plan.fallback)
            entry: dict[str, Any] = {
                "time": round(info.world.time, 3),
                "action": str(plan.action),
                "reasoning": plan.reasoning,
                "fallback": plan.fallback,
                "latency_ms": round(plan.latency_ms, 3),
            }
            if plan.raw_text is not None:
                entry["raw"] = plan.raw_text  # what the model said, so a fallback can be diagnosed
            if plan.facts:
                entry["facts"] = plan.facts
            self.timeline.append(entry)

    def on_step(self, info: StepInfo) -> None:
        self.progress = info.progress_m
        self.infractions.extend(info.events)
        if self.criteria is not None:
            self.criteria.update(info.world)
        self._sample(info.world)

    def on_end(self, outcome: RunOutcome) -> None:
        self.outcome = outcome
        self.refused_lane_changes = int(outcome.extras.get("refused_lane_changes", 0))
        self.controller = outcome.extras.get("controller")

    def _sample(self, world: WorldState) -> None:
        self.times.append(world.time)
        self.speeds.append(world.ego.speed)
        self.yaws.append(world.ego.yaw)

    def _emergencies(self) -> list[list[float]]:
        intervals = (self.controller or {}).get("emergency_intervals_s") or []
        t0 = self.times[0] if self.times else 0.0  # the controller's clock starts with the drive
        return [[t0 + a, t0 + b] for a, b in intervals]

    def results(self) -> dict[str, Any]:
        ctx, outcome = self.context, self.outcome
        infractions = scored_infractions(self.infractions, self.criteria, final=outcome is not None)
        status = final_status(outcome.status, len(infractions)) if outcome else Status.RUNNING
        scored = self.route_length > 0
        score = RouteScore.compute(self.progress, self.route_length, infractions, self.protocol) if scored else None
        scenario = ctx.scenario if ctx else None
        return {
            "scenario": getattr(scenario, "name", None),
            "scenario_source": ctx.scenario_source if ctx else None,
            "description": getattr(scenario, "description", None),
            "tags": list(getattr(scenario, "tags", []) or []),
            "status": status.value,
            "protocol": self.protocol.name,
            "finished": outcome is not None and status is not Status.INTERRUPTED,
            "success": bool(score and score.success and status.completed),
            "route_completion": round(score.route_completion, 3) if score else 0.0,
            "infraction_penalty": round(score.infraction_penalty, 5) if score else 1.0,
            "driving_score": round(score.driving_score, 3) if score else 0.0,
            "collisions": score.collisions if score else 0,
            "infractions": [i.to_dict() for i in infractions],
            "infraction_counts": infraction_counts(infractions),
            "route_length_m": round(self.route_length, 2),
            "progress_m": round(self.progress, 2),
            "duration_s": round(self.times[-1], 3) if self.times else 0.0,
            "ticks": outcome.ticks if outcome else max(0, len(self.times) - 1),
            "wall_time_s": round(outcome.wall_time_s if outcome else time.time() - self.started_wall, 3),
            "timeout_s": ctx.timeout_s if ctx else None,
            "dt": ctx.dt if ctx else None,
            "plan_period": ctx.plan_period if ctx else None,
            "seed": ctx.seed if ctx else None,
            "planner": ctx.planner_name if ctx else None,
            "backend": ctx.backend_name if ctx else None,
            "planner_latency_ms": latency_summary(self.latencies_ms),
            "fallbacks": self.fallbacks,
            "refused_lane_changes": self.refused_lane_changes,
            "controller": self.controller,
            "comfort": {
                k: round(v, 4) for k, v in comfort(self.times, self.speeds, self.yaws, self._emergencies()).items()
            },
            "mean_speed_mps": round(float(np.mean(self.speeds)), 3) if self.speeds else 0.0,
            "meta_actions": self.timeline,
            "speed_trace": speed_trace(self.times, self.speeds),
            "video": self.video.name if self.video is not None and self.video.exists() else None,
            "video_time_scale": self.video_config.time_scale(ctx.dt) if self.video_config and ctx else 1.0,
            "error": outcome.error if outcome else None,
        }


class ResultsWriter(RunCallback):
    """Writes the collector's results to `path` at the start, every `every_s` wall seconds, and at the end."""

    def __init__(self, collector: MetricsCollector, path: str | Path, every_s: float = 2.0) -> None:
        self.collector = collector
        self.path = Path(path)
        self.every_s = every_s
        self._last = -math.inf

    def write(self) -> None:
        write_json_atomic(self.path, self.collector.results())
        self._last = time.monotonic()

    def on_start(self, context: RunContext) -> None:
        self.write()

    def on_loaded(self, context: RunContext, world: WorldState) -> None:
        self.write()

    def on_step(self, info: StepInfo) -> None:
        if time.monotonic() - self._last >= self.every_s:
            self.write()

    def on_end(self, outcome: RunOutcome) -> None:
        self.write()
