"""Closed-loop driving metrics: CARLA leaderboard 2.0 route completion, infraction penalty and driving score, plus
Bench2Drive-style success and comfort.

The coefficients are data: `PENALTY_COEFFICIENTS` multiplies the penalty once per event; `PERCENTAGE_PENALTIES`
scales with an event's `details["percentage"]` as the leaderboard does ("increases": the share of the route driven
outside the route lanes; "decreases": the ego's speed as a percentage of the surrounding traffic's).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.core import Infraction, InfractionType

PENALTY_COEFFICIENTS: Mapping[InfractionType, float] = {
    InfractionType.COLLISION_PEDESTRIAN: 0.50,
    InfractionType.COLLISION_VEHICLE: 0.60,
    InfractionType.COLLISION_STATIC: 0.65,
    InfractionType.RED_LIGHT: 0.70,
    InfractionType.STOP_SIGN: 0.80,
    InfractionType.SCENARIO_TIMEOUT: 0.70,
}
PERCENTAGE_PENALTIES: Mapping[InfractionType, tuple[float, str]] = {
    InfractionType.OUTSIDE_ROUTE_LANES: (0.0, "increases"),
    InfractionType.MIN_SPEED: (0.7, "decreases"),
}
# Events that end a route in the leaderboard; they cost no coefficient but stop route completion where they happen.
ROUTE_ENDING: frozenset[InfractionType] = frozenset({InfractionType.ROUTE_DEVIATION, InfractionType.BLOCKED})
COLLISIONS: frozenset[InfractionType] = frozenset(
    {InfractionType.COLLISION_PEDESTRIAN, InfractionType.COLLISION_VEHICLE, InfractionType.COLLISION_STATIC}
)

# Bench2Drive / nuPlan comfort bounds: a tick is comfortable when every quantity is inside its bounds.
COMFORT_BOUNDS: Mapping[str, tuple[float, float]] = {
    "lon_accel": (-4.05, 2.40),  # m/s^2
    "lat_accel": (-4.89, 4.89),  # m/s^2
    "jerk": (-4.13, 4.13),  # m/s^3
    "yaw_rate": (-0.95, 0.95),  # rad/s
    "yaw_accel": (-1.93, 1.93),  # rad/s^2
}


def infraction_factor(infraction: Infraction) -> float:
    """The multiplicative penalty of one event (1.0 for events without a coefficient)."""
    if infraction.type in PENALTY_COEFFICIENTS:
        return PENALTY_COEFFICIENTS[infraction.type]
    if infraction.type in PERCENTAGE_PENALTIES:
        value, kind = PERCENTAGE_PENALTIES[infraction.type]
        pct = min(100.0, max(0.0, float(infraction.details.get("percentage", 0.0))))
        share = pct / 100.0 if kind == "increases" else 1.0 - pct / 100.0
        return 1.0 - (1.0 - value) * share
    return 1.0


def infraction_penalty(infractions: Iterable[Infraction]) -> float:
    return math.prod(infraction_factor(i) for i in infractions)


def route_completion(progress_m: float, route_length_m: float) -> float:
    """Percent of the route driven, in [0, 100]."""
    if route_length_m <= 0:
        raise ValueError(f"route length must be positive, got {route_length_m}")
    return 100.0 * min(1.0, max(0.0, progress_m / route_length_m))


def driving_score(completion_pct: float, penalty: float) -> float:
    return completion_pct * penalty


def is_success(completion_pct: float, infractions: Iterable[Infraction], completion_tol: float = 1.0) -> bool:
    """Bench2Drive: the route is completed in time with no infraction that costs points."""
    costly = [i for i in infractions if infraction_factor(i) < 1.0 or i.type in ROUTE_ENDING]
    return completion_pct >= 100.0 - completion_tol and not costly


def comfort(times: Sequence[float], speeds: Sequence[float], yaws: Sequence[float]) -> dict[str, float]:
    """Fraction of comfortable ticks and the largest magnitude of each comfort quantity."""
    t = np.asarray(times, dtype=float)
    if len(t) < 4:
        return {"comfort_ratio": 1.0, **{f"max_abs_{k}": 0.0 for k in COMFORT_BOUNDS}}
    v = np.asarray(speeds, dtype=float)
    yaw = np.unwrap(np.asarray(yaws, dtype=float))
    lon_accel = np.gradient(v, t)
    yaw_rate = np.gradient(yaw, t)
    series = {
        "lon_accel": lon_accel,
        "lat_accel": v * yaw_rate,
        "jerk": np.gradient(lon_accel, t),
        "yaw_rate": yaw_rate,
        "yaw_accel": np.gradient(yaw_rate, t),
    }
    ok = np.ones(len(t), dtype=bool)
    for name, (lo, hi) in COMFORT_BOUNDS.items():
        ok &= (series[name] >= lo) & (series[name] <= hi)
    return {"comfort_ratio": float(ok.mean()), **{f"max_abs_{k}": float(np.abs(s).max()) for k, s in series.items()}}


@dataclass(frozen=True)
class RouteScore:
    route_completion: float  # percent
    infraction_penalty: float  # in (0, 1]
    driving_score: float  # percent
    success: bool
    collisions: int

    @classmethod
    def compute(cls, progress_m: float, route_length_m: float, infractions: Sequence[Infraction]) -> RouteScore:
        rc = route_completion(progress_m, route_length_m)
        penalty = infraction_penalty(infractions)
        return cls(
            route_completion=rc,
            infraction_penalty=penalty,
            driving_score=driving_score(rc, penalty),
            success=is_success(rc, infractions),
            collisions=sum(i.type in COLLISIONS for i in infractions),
        )


def infraction_counts(infractions: Iterable[Infraction]) -> dict[str, int]:
    return dict(Counter(i.type.value for i in infractions))


def summarize(results: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Suite summary over per-route `results.json` dicts: mean DS, RC, IS, success rate, infraction totals."""
    if not results:
        return {"routes": 0}
    totals: Counter[str] = Counter()
    for r in results:
        totals.update(Counter(i["type"] for i in r.get("infractions", [])))
    n = len(results)
    return {
        "routes": n,
        "driving_score": sum(r["driving_score"] for r in results) / n,
        "route_completion": sum(r["route_completion"] for r in results) / n,
        "infraction_penalty": sum(r["infraction_penalty"] for r in results) / n,
        "success_rate": sum(bool(r.get("success")) for r in results) / n,
        "collisions": sum(totals[t.value] for t in COLLISIONS),
        "infractions": dict(totals),
        "failed_routes": [r["scenario"] for r in results if str(r.get("status", "")).startswith("Failed")],
    }
