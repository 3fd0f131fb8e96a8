"""Meta-actions from motion (MetaAD style): what the vehicle actually did in the next few seconds of a pose log.

Works on any trajectory (simulator logs or real driving logs): arrays of time, x, y, yaw and speed, optionally a
lane-consistent lateral position (metres left, comparable within one road, so lane changes show as jumps of about a
lane width) and per-sample junction flags. Without them the path is read from the geometry alone.

Speed: the profile over `horizon_s`: coming to (or staying at) a standstill is STOP, a gain or loss beyond the
thresholds ACCELERATE / DECELERATE, anything else KEEP. Path: a heading change through a junction is a turn, a
lateral shift across lanes with little heading change a lane change, anything else STRAIGHT.

    python -m training.labeling <dataset dir>     # agreement of the stored motion labels with the expert's
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from planner.actions import PATH_ACTIONS, SPEED_ACTIONS, MetaAction
from planner.config import from_mapping

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "conf" / "labeling" / "default.yaml"


@dataclass(frozen=True)
class LabelConfig:
    horizon_s: float = 3.0  # future window both labels are read from
    min_coverage: float = 1.0  # fraction of the horizon the log must cover, else no label
    stop_speed: float = 0.5  # m/s: at or below counts as standing still
    stop_extrapolate_s: float = 1.0  # a stop the end-of-window deceleration reaches within this also counts as STOP
    accel_delta: float = 1.0  # m/s gained over the window for ACCELERATE ...
    accel_delta_rel: float = 0.1  # ... or this fraction of the start speed, whichever is larger
    decel_delta: float = 1.0
    decel_delta_rel: float = 0.1
    turn_yaw_deg: float = 30.0  # heading change through a junction that makes a turn
    turn_yaw_no_junction_deg: float = 50.0  # without junction flags, a turn needs this much
    lane_change_m: float = 1.2  # lateral shift across lanes for a lane change
    lane_change_max_yaw_deg: float = 25.0  # more heading change than this is a curve or a turn, not a lane change
    path_lookahead_m: float = 0.0  # read the path over at least this distance (slow or stopped cars), ...
    path_max_horizon_s: float = 8.0  # ... looking at most this far ahead

    def __post_init__(self) -> None:
        for name in ("horizon_s", "stop_speed", "turn_yaw_deg", "turn_yaw_no_junction_deg", "lane_change_m"):
            if not getattr(self, name) > 0:
                raise ValueError(f"LabelConfig.{name} must be positive, got {getattr(self, name)}")
        if not 0.0 < self.min_coverage <= 1.0:
            raise ValueError(f"LabelConfig.min_coverage must be in (0, 1], got {self.min_coverage}")
        if self.path_max_horizon_s < self.horizon_s:
            raise ValueError("LabelConfig.path_max_horizon_s must be >= horizon_s")


def load_label_config(path: str | Path = DEFAULT_CONFIG) -> LabelConfig:
    return from_mapping(LabelConfig, yaml.safe_load(Path(path).read_text(encoding="utf-8")), str(path))


@dataclass(frozen=True, eq=False)
class Trajectory:
    """One vehicle's pose log. `lateral` and `lateral_valid`, `in_junction` are optional."""

    t: np.ndarray  # s, strictly increasing
    x: np.ndarray  # m
    y: np.ndarray  # m
    yaw: np.ndarray  # rad, counter-clockwise
    speed: np.ndarray  # m/s
    lateral: np.ndarray | None = None  # m left, lane-consistent within a road
    lateral_valid: np.ndarray | None = None  # where `lateral` means something (on a lane, outside junctions)
    in_junction: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.t)
        for name in ("t", "x", "y", "yaw", "speed", "lateral", "lateral_valid", "in_junction"):
            value = getattr(self, name)
            if value is None:
                continue
            array = np.asarray(value, dtype=bool if name in ("lateral_valid", "in_junction") else np.float64)
            if array.shape != (n,):
                raise ValueError(f"Trajectory.{name} must have shape ({n},), got {array.shape}")
            object.__setattr__(self, name, array)
        if n and np.any(np.diff(self.t) <= 0):
            raise ValueError("Trajectory.t must be strictly increasing")

    def __len__(self) -> int:
        return len(self.t)

    @classmethod
    def concatenate(cls, parts: Sequence[dict[str, np.ndarray]]) -> Trajectory:
        """From the per-step dicts a simulator log gives (keys t, x, y, yaw, speed, lateral, on_lane, in_junction)."""

        def cat(key: str) -> np.ndarray | None:
            return np.concatenate([p[key] for p in parts]) if parts and all(key in p for p in parts) else None

        lateral_valid = cat("on_lane")
        junction = cat("in_junction")
        if lateral_valid is not None and junction is not None:
            lateral_valid = lateral_valid & ~junction
        columns = {k: cat(k) for k in ("t", "x", "y", "yaw", "speed")}
        return cls(**columns, lateral=cat("lateral"), lateral_valid=lateral_valid, in_junction=junction)  # type: ignore[arg-type]


def _window(traj: Trajectory, i: int, end_t: float) -> np.ndarray:
    return np.arange(i, int(np.searchsorted(traj.t, end_t + 1e-9, side="right")))


def speed_label(traj: Trajectory, i: int, cfg: LabelConfig) -> str | None:
    end_t = traj.t[i] + cfg.horizon_s
    if traj.t[-1] - traj.t[i] < cfg.min_coverage * cfg.horizon_s - 1e-9:
        return None
    end_t = min(end_t, float(traj.t[-1]))
    idx = _window(traj, i, end_t)
    v0 = float(traj.speed[i])
    v_end = float(np.interp(end_t, traj.t, traj.speed))
    if v_end <= cfg.stop_speed or (v0 > cfg.stop_speed and float(traj.speed[idx].min()) <= cfg.stop_speed):
        return "STOP"
    late = traj.t[idx] >= end_t - 1.0
    if late.sum() >= 2:  # deceleration over the last second, extrapolated
        tt, vv = traj.t[idx][late], traj.speed[idx][late]
        decel = -(vv[-1] - vv[0]) / max(tt[-1] - tt[0], 1e-6)
        if decel > 0 and v_end - decel * cfg.stop_extrapolate_s <= cfg.stop_speed:
            return "STOP"
    delta = v_end - v0
    if delta >= max(cfg.accel_delta, cfg.accel_delta_rel * abs(v0)):
        return "ACCELERATE"
    if delta <= -max(cfg.decel_delta, cfg.decel_delta_rel * abs(v0)):
        return "DECELERATE"
    return "KEEP"


def _path_end(traj: Trajectory, i: int, cfg: LabelConfig) -> float:
    end_t = traj.t[i] + cfg.horizon_s
    if cfg.path_lookahead_m > 0:
        travelled = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(traj.x[i:]), np.diff(traj.y[i:])))])
        reach = int(np.searchsorted(travelled, cfg.path_lookahead_m))
        end_t = max(end_t, float(traj.t[i + reach])) if reach < len(travelled) else float(traj.t[-1])
        end_t = min(end_t, traj.t[i] + cfg.path_max_horizon_s)
    return min(end_t, float(traj.t[-1]))


def _lateral_shift(traj: Trajectory, idx: np.ndarray) -> float | None:
    """Change of the lane-consistent lateral position over the first stretch of valid samples, or None."""
    if traj.lateral is None:
        return None
    valid = traj.lateral_valid if traj.lateral_valid is not None else np.ones(len(traj), dtype=bool)
    if not valid[idx[0]]:
        return None
    stop = int(np.argmin(valid[idx])) if not valid[idx].all() else len(idx)
    stretch = idx[:stop]
    return float(traj.lateral[stretch[-1]] - traj.lateral[stretch[0]])


def path_label(traj: Trajectory, i: int, cfg: LabelConfig) -> str | None:
    if traj.t[-1] - traj.t[i] < cfg.min_coverage * cfg.horizon_s - 1e-9:
        return None
    idx = _window(traj, i, _path_end(traj, i, cfg))
    if len(idx) < 2:
        return "STRAIGHT"
    dyaw = float(np.sum(np.remainder(np.diff(traj.yaw[idx]) + math.pi, 2 * math.pi) - math.pi))
    if traj.in_junction is not None:
        turned = bool(traj.in_junction[idx].any()) and abs(dyaw) >= math.radians(cfg.turn_yaw_deg)
    else:
        turned = abs(dyaw) >= math.radians(cfg.turn_yaw_no_junction_deg)
    if turned:
        return "LEFT_TURN" if dyaw > 0 else "RIGHT_TURN"
    if abs(dyaw) > math.radians(cfg.lane_change_max_yaw_deg):
        return "STRAIGHT"
    shift = _lateral_shift(traj, idx)
    if shift is None:
        shift = _geometric_shift(traj, idx)
    if abs(shift) >= cfg.lane_change_m:
        return "LEFT_CHANGE" if shift > 0 else "RIGHT_CHANGE"
    return "STRAIGHT"


def _geometric_shift(traj: Trajectory, idx: np.ndarray) -> float:
    """Lateral displacement of the window's end in the start frame, less what a constant curve would give."""
    i, j = int(idx[0]), int(idx[-1])
    c, s = math.cos(traj.yaw[i]), math.sin(traj.yaw[i])
    dx, dy = traj.x[j] - traj.x[i], traj.y[j] - traj.y[i]
    lateral = -s * dx + c * dy
    length = float(np.sum(np.hypot(np.diff(traj.x[idx]), np.diff(traj.y[idx]))))
    theta = float(np.sum(np.remainder(np.diff(traj.yaw[idx]) + math.pi, 2 * math.pi) - math.pi))
    arc = length * math.sin(theta / 2) ** 2 / (theta / 2) if abs(theta) > 1e-6 else 0.0
    return lateral - arc


def label_at(traj: Trajectory, i: int, config: LabelConfig | None = None) -> MetaAction | None:
    """The meta-action sample `i` of the log leads into; None when the log ends too soon after it."""
    cfg = config or LabelConfig()
    speed, path = speed_label(traj, i, cfg), path_label(traj, i, cfg)
    return None if speed is None or path is None else MetaAction(speed, path)


def label_times(traj: Trajectory, times: Iterable[float], config: LabelConfig | None = None) -> list[MetaAction | None]:
    """Labels at given times (the nearest log sample at or after each)."""
    out = []
    for t in times:
        i = int(np.searchsorted(traj.t, t - 1e-9))
        out.append(label_at(traj, i, config) if i < len(traj) else None)
    return out


# ---- agreement with another labeller -------------------------------------------------------------------------


def _class_scores(truth: list[str], predicted: list[str], vocabulary: Sequence[str]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for name in vocabulary:
        tp = sum(t == name and p == name for t, p in zip(truth, predicted, strict=True))
        n_true, n_pred = truth.count(name), predicted.count(name)
        recall = tp / n_true if n_true else float("nan")
        precision = tp / n_pred if n_pred else float("nan")
        f1 = 2 * tp / (n_true + n_pred) if n_true + n_pred else float("nan")
        out[name] = {"n": n_true, "predicted": n_pred, "recall": recall, "precision": precision, "f1": f1}
    return out


def agreement(reference: Sequence[str], motion: Sequence[str]) -> dict[str, Any]:
    """How often motion labels match reference labels ("SPEED, PATH" strings), overall and per class.

    Per class, `recall` is the share of the reference's samples of that class the motion label matches."""
    if len(reference) != len(motion):
        raise ValueError(f"{len(reference)} reference labels but {len(motion)} motion labels")
    ref = [tuple(w.strip() for w in r.split(",")) for r in reference]
    mot = [tuple(w.strip() for w in m.split(",")) for m in motion]
    n = len(ref)
    rs, rp = [r[0] for r in ref], [r[1] for r in ref]
    ms, mp = [m[0] for m in mot], [m[1] for m in mot]
    return {
        "n": n,
        "speed_accuracy": sum(a == b for a, b in zip(rs, ms, strict=True)) / n if n else float("nan"),
        "path_accuracy": sum(a == b for a, b in zip(rp, mp, strict=True)) / n if n else float("nan"),
        "joint_accuracy": sum(a == b for a, b in zip(ref, mot, strict=True)) / n if n else float("nan"),
        "speed": _class_scores(rs, ms, SPEED_ACTIONS),
        "path": _class_scores(rp, mp, PATH_ACTIONS),
        "speed_confusion": {
            r: dict(Counter(m for rr, m in zip(rs, ms, strict=True) if rr == r)) for r in SPEED_ACTIONS
        },
        "path_confusion": {r: dict(Counter(m for rr, m in zip(rp, mp, strict=True) if rr == r)) for r in PATH_ACTIONS},
    }


def load_trajectory(path: str | Path) -> Trajectory:
    with np.load(path) as data:
        return Trajectory(**{k: data[k] for k in data.files})


def dataset_agreement(
    root: str | Path, on_policy_only: bool = False, config: LabelConfig | None = None
) -> dict[str, Any]:
    """Agreement of motion labels with the expert labels of a collected dataset (every split).

    Without `config` the stored `motion_action` column is used; with one, every sample is labelled again from its
    episode's stored pose log (`trajectories/<episode>.npz`), e.g. to try other thresholds."""
    root = Path(root)
    reference, motion = [], []
    logs: dict[str, Trajectory] = {}
    for shard in sorted(root.glob("*/*.jsonl")):
        for line in shard.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if on_policy_only and not row.get("on_policy", False):
                continue
            label = row.get("motion_action", "")
            if config is not None:
                episode = row["episode"]
                if episode not in logs:
                    logs[episode] = load_trajectory(root / "trajectories" / f"{episode}.npz")
                relabelled = label_times(logs[episode], [row["time"]], config)[0]
                label = "" if relabelled is None else str(relabelled)
            if label:
                reference.append(f"{row['speed_action']}, {row['path_action']}")
                motion.append(label)
    return agreement(reference, motion)


def format_agreement(report: dict[str, Any]) -> str:
    lines = [
        f"samples {report['n']}: speed {report['speed_accuracy']:.3f}, path {report['path_accuracy']:.3f}, "
        f"both {report['joint_accuracy']:.3f}",
        "class            n    recall  precision  f1",
    ]
    for part in ("speed", "path"):
        for name, s in report[part].items():
            lines.append(f"{name:<14} {s['n']:>5}  {s['recall']:>7.3f}  {s['precision']:>9.3f}  {s['f1']:>5.3f}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Agreement of motion labels with expert labels in a dataset")
    parser.add_argument("dataset", help="dataset root (train/ and validation/ JSON-lines shards)")
    parser.add_argument("--on-policy", action="store_true", help="only samples whose next seconds the expert drove")
    parser.add_argument("--json", action="store_true", help="print the full report as JSON")
    parser.add_argument("--relabel", metavar="YAML", help="label again from the pose logs with these thresholds")
    args = parser.parse_args(argv)
    config = load_label_config(args.relabel) if args.relabel else None
    report = dataset_agreement(args.dataset, args.on_policy, config)
    print(json.dumps(report, indent=2) if args.json else format_agreement(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
