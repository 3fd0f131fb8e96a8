"""Closed-loop driving metrics: route completion, infraction penalty and driving score as a scoring protocol
(`sim.protocols`: CARLA leaderboard 2.0 / 2.1, Bench2Drive) computes them, plus Bench2Drive-style success and
comfort.

The coefficients are data (the protocol's `multiply` and `add` tables); this module only does the arithmetic the
leaderboard's statistics manager does with them.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.core import Infraction, InfractionType
from sim.protocols import DEFAULT_PROTOCOL, PenaltyEntry, ScoringProtocol, get_protocol

COLLISIONS: frozenset[InfractionType] = frozenset(
    {InfractionType.COLLISION_PEDESTRIAN, InfractionType.COLLISION_VEHICLE, InfractionType.COLLISION_STATIC}
)

# Bench2Drive / nuPlan comfort bounds: a sample is comfortable when every quantity is inside its bounds.
COMFORT_BOUNDS: Mapping[str, tuple[float, float]] = {
    "lon_accel": (-4.05, 2.40),  # m/s^2
    "lat_accel": (-4.89, 4.89),  # m/s^2
    "jerk": (-4.13, 4.13),  # m/s^3, longitudinal
    "jerk_magnitude": (-8.37, 8.37),  # m/s^3, of the acceleration vector's magnitude
    "yaw_rate": (-0.95, 0.95),  # rad/s
    "yaw_accel": (-1.93, 1.93),  # rad/s^2
}
# How Bench2Drive's smoothness tool derives them: samples 0.1 s apart, Savitzky-Golay window 7, order 2, and a
# route's smoothness is the share of its 2 s segments (20 samples) that are comfortable throughout.
COMFORT_SAMPLE_S, COMFORT_WINDOW, COMFORT_SEGMENT = 0.1, 7, 20
EMERGENCY_PAD_S = 1.0


def _amount(infraction: Infraction, entry: PenaltyEntry) -> float:
    if entry.amount == "once":
        return 1.0
    share = min(100.0, max(0.0, float(infraction.details.get("percentage", 0.0)))) / 100.0
    return share if entry.amount == "share" else 1.0 - share


def infraction_penalty(infractions: Iterable[Infraction], protocol: ScoringProtocol | None = None) -> float:
    """The route's penalty in (0, 1]: product of the `multiply` factors over 1 + the sum of the `add` values."""
    protocol = protocol or get_protocol(DEFAULT_PROTOCOL)
    product, added = 1.0, 0.0
    for infraction in infractions:
        if infraction.type in protocol.multiply:
            entry = protocol.multiply[infraction.type]
            product *= 1.0 - (1.0 - entry.value) * _amount(infraction, entry)
        elif infraction.type in protocol.add:
            entry = protocol.add[infraction.type]
            added += entry.value * _amount(infraction, entry)
    return product / (1.0 + added)


def route_completion(progress_m: float, route_length_m: float, spacing_m: float = 1.0) -> float:
    """Percent of the route passed, as the leaderboard counts it: the last route point (one every `spacing_m`,
    plus the end) the ego has passed, rounded to 2 decimals; 100 once the whole route is driven."""
    if route_length_m <= 0:
        raise ValueError(f"route length must be positive, got {route_length_m}")
    if progress_m >= route_length_m:
        return 100.0
    passed = math.floor(max(0.0, progress_m) / spacing_m + 1e-9) * spacing_m
    return round(100.0 * passed / route_length_m, 2)


def route_complete(completion_pct: float, distance_to_end_m: float, protocol: ScoringProtocol) -> bool:
    """The leaderboard's end of a route: more than `completion_pct` passed and close to the last route point."""
    return completion_pct > protocol.completion_pct and distance_to_end_m < protocol.completion_distance_m


def driving_score(completion_pct: float, penalty: float) -> float:
    return completion_pct * penalty


def is_success(completed: bool, infractions: Iterable[Infraction], protocol: ScoringProtocol) -> bool:
    """Bench2Drive: the route is completed with no infraction at all, except the ones the protocol ignores."""
    return completed and not any(i.type not in protocol.success_ignores for i in infractions)


def comfort(
    times: Sequence[float],
    speeds: Sequence[float],
    yaws: Sequence[float],
    emergencies: Sequence[Sequence[float]] = (),
) -> dict[str, float]:
    """Bench2Drive's comfort measures from the ego's speed and yaw: the share of comfortable samples
    (`comfort_ratio`), the share of comfortable 2 s segments (`smoothness`, its Driving Smoothness) and the largest
    magnitude of each quantity. Derivatives are Savitzky-Golay filtered as in its tool, not raw differences (at 20 Hz
    those turn every pedal step into a jerk spike no passenger feels). `emergencies` ([start, end] s of braking
    harder than comfort allows) give `max_abs_jerk_outside_emergency`: the peak where comfort was a choice."""
    from scipy.signal import savgol_filter

    t = np.asarray(times, dtype=float)
    empty = {"comfort_ratio": 1.0, "smoothness": 1.0, **{f"max_abs_{k}": 0.0 for k in COMFORT_BOUNDS}}
    empty["max_abs_jerk_outside_emergency"] = 0.0
    if len(t) < 2 or t[-1] - t[0] < COMFORT_SAMPLE_S * COMFORT_WINDOW:
        return empty
    grid = np.arange(t[0], t[-1] + 1e-9, COMFORT_SAMPLE_S)
    v = np.interp(grid, t, np.asarray(speeds, dtype=float))
    yaw = np.interp(grid, t, np.unwrap(np.asarray(yaws, dtype=float)))

    def derivative(x: np.ndarray) -> np.ndarray:
        return savgol_filter(x, COMFORT_WINDOW, 2, deriv=1, delta=COMFORT_SAMPLE_S)

    lon_accel, yaw_rate = derivative(v), derivative(yaw)
    lat_accel = v * yaw_rate
    series = {
        "lon_accel": lon_accel,
        "lat_accel": lat_accel,
        "jerk": derivative(lon_accel),
        "jerk_magnitude": derivative(np.hypot(lon_accel, lat_accel)),
        "yaw_rate": yaw_rate,
        "yaw_accel": derivative(yaw_rate),
    }
    ok = np.ones(len(grid), dtype=bool)
    for name, (lo, hi) in COMFORT_BOUNDS.items():
        ok &= (series[name] >= lo) & (series[name] <= hi)
    segments = [ok[i : i + COMFORT_SEGMENT] for i in range(0, len(ok) - COMFORT_SEGMENT + 1, COMFORT_SEGMENT)]
    smooth = float(np.mean([seg.all() for seg in segments])) if segments else float(ok.all())
    maxima = {f"max_abs_{k}": float(np.abs(s).max()) for k, s in series.items()}
    chosen = np.ones(len(grid), dtype=bool)
    for start, end in emergencies:  # the onset before and the release after an emergency belong to it
        chosen &= ~((grid >= start - EMERGENCY_PAD_S) & (grid <= end + EMERGENCY_PAD_S))
    jerk = np.abs(series["jerk"])[chosen]
    outside = float(jerk.max()) if len(jerk) else 0.0
    return {
        "comfort_ratio": float(ok.mean()),
        "smoothness": smooth,
        **maxima,
        "max_abs_jerk_outside_emergency": outside,
    }


@dataclass(frozen=True)
class RouteScore:
    route_completion: float  # percent
    infraction_penalty: float  # in (0, 1]
    driving_score: float  # percent
    success: bool
    collisions: int

    @classmethod
    def compute(
        cls,
        progress_m: float,
        route_length_m: float,
        infractions: Sequence[Infraction],
        protocol: ScoringProtocol | None = None,
    ) -> RouteScore:
        protocol = protocol or get_protocol(DEFAULT_PROTOCOL)
        rc = route_completion(progress_m, route_length_m, protocol.route_point_spacing_m)
        penalty = infraction_penalty(infractions, protocol)
        return cls(
            route_completion=rc,
            infraction_penalty=penalty,
            driving_score=driving_score(rc, penalty),
            success=is_success(rc >= 100.0, infractions, protocol),
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
    protocols = sorted({str(r.get("protocol")) for r in results})
    return {
        "routes": n,
        "protocol": protocols[0] if len(protocols) == 1 else protocols,
        "driving_score": sum(r["driving_score"] for r in results) / n,
        "route_completion": sum(r["route_completion"] for r in results) / n,
        "infraction_penalty": sum(r["infraction_penalty"] for r in results) / n,
        "success_rate": sum(bool(r.get("success")) for r in results) / n,
        "collisions": sum(totals[t.value] for t in COLLISIONS),
        "infractions": dict(totals),
        "failed_routes": [r["scenario"] for r in results if str(r.get("status", "")).startswith("Failed")],
        "decisions": sum(int(r.get("planner_latency_ms", {}).get("count", 0)) for r in results),
        "fallbacks": sum(int(r.get("fallbacks", 0)) for r in results),
    }


# Bench2Drive's abilities: every scenario type is tagged with one or more (scenario files' `tags`).
ABILITIES: tuple[str, ...] = ("Merging", "Overtaking", "Emergency_Brake", "Give_Way", "Traffic_Signs")


def per_ability(results: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float | int]]:
    """Bench2Drive-style ability scores: per ability, over the routes tagged with it, the success rate (what
    Bench2Drive reports) and the mean driving score; abilities no route carries are left out."""
    out: dict[str, dict[str, float | int]] = {}
    for ability in ABILITIES:
        routes = [r for r in results if ability in (r.get("tags") or [])]
        if routes:
            out[ability] = {
                "routes": len(routes),
                "success_rate": sum(bool(r.get("success")) for r in routes) / len(routes),
                "driving_score": sum(float(r["driving_score"]) for r in routes) / len(routes),
            }
    return out
