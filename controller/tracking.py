"""How closely the car follows the reference the meta-action controller builds: the box centre's lateral offset from
that tick's reference path, split by what the reference was doing (a curve, a lane change, a straight)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

CURVE_CURVATURE = 0.01  # 1/m: a reference tighter than a 100 m radius counts as a curve (junction turns, bends)


@dataclass
class ErrorStats:
    ticks: int = 0
    sum_sq: float = 0.0
    max_abs: float = 0.0

    def add(self, error_m: float) -> None:
        self.ticks += 1
        self.sum_sq += error_m * error_m
        self.max_abs = max(self.max_abs, abs(error_m))

    def summary(self) -> dict[str, float | int]:
        rms = math.sqrt(self.sum_sq / self.ticks) if self.ticks else 0.0
        return {"ticks": self.ticks, "rms_m": round(rms, 4), "max_m": round(self.max_abs, 4)}


@dataclass
class TrackingLog:
    """Every tick's lateral error, in total and per kind of reference (a lane change wins over a curve)."""

    all: ErrorStats = field(default_factory=ErrorStats)
    curve: ErrorStats = field(default_factory=ErrorStats)
    lane_change: ErrorStats = field(default_factory=ErrorStats)
    straight: ErrorStats = field(default_factory=ErrorStats)

    def add(self, error_m: float, curvature: float, lane_change: bool) -> None:
        self.all.add(error_m)
        if lane_change:
            self.lane_change.add(error_m)
        elif abs(curvature) >= CURVE_CURVATURE:
            self.curve.add(error_m)
        else:
            self.straight.add(error_m)

    def summary(self) -> dict[str, dict[str, float | int]]:
        return {name: getattr(self, name).summary() for name in ("all", "curve", "lane_change", "straight")}
