"""The motion labeller on synthetic trajectories with known meta-actions, and the agreement report."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from planner.config import ConfigError
from training.labeling import (
    LabelConfig,
    Trajectory,
    agreement,
    dataset_agreement,
    label_at,
    label_times,
    load_label_config,
)

DT = 0.05


def drive(
    duration: float,
    speed: Callable[[np.ndarray], np.ndarray],
    yaw_rate: Callable[[np.ndarray], np.ndarray] = lambda t: np.zeros_like(t),
    shift: Callable[[np.ndarray], np.ndarray] = lambda t: np.zeros_like(t),
    junction: Callable[[np.ndarray], np.ndarray] | None = None,
    with_lateral: bool = False,
    heading: float = 0.3,
) -> Trajectory:
    """Integrate a unicycle along a reference path (speed and yaw rate profiles) and add a lateral shift to its left
    (a lane change); `heading` rotates everything so nothing depends on the world axes."""
    t = np.arange(0.0, duration + 1e-9, DT)
    v = speed(t)
    ref_yaw = heading + np.concatenate([[0.0], np.cumsum(yaw_rate(t)[:-1] * DT)])
    rx = np.concatenate([[0.0], np.cumsum(v[:-1] * np.cos(ref_yaw[:-1]) * DT)])
    ry = np.concatenate([[0.0], np.cumsum(v[:-1] * np.sin(ref_yaw[:-1]) * DT)])
    d = shift(t)
    x, y = rx - d * np.sin(ref_yaw), ry + d * np.cos(ref_yaw)
    ds = np.gradient(d, t)
    yaw = ref_yaw + np.arctan2(ds, np.maximum(v, 0.1))
    flags = None if junction is None else junction(t).astype(bool)
    lateral = (1.75 + d) if with_lateral else None
    valid = None if not with_lateral else np.ones_like(t, dtype=bool) if flags is None else ~flags
    return Trajectory(t, x, y, yaw, v, lateral, valid, flags)


def const(value: float) -> Callable[[np.ndarray], np.ndarray]:
    return lambda t: np.full_like(t, value)


def smoothstep(start: float, duration: float, size: float) -> Callable[[np.ndarray], np.ndarray]:
    def f(t: np.ndarray) -> np.ndarray:
        u = np.clip((t - start) / duration, 0.0, 1.0)
        return size * (3 * u**2 - 2 * u**3)

    return f


def label(traj: Trajectory, i: int = 0, **config: float) -> str:
    action = label_at(traj, i, LabelConfig(**config))
    assert action is not None
    return str(action)


@pytest.mark.parametrize(
    ("speed", "expected"),
    [
        (const(10.0), "KEEP"),
        (lambda t: 6.0 + 1.0 * t, "ACCELERATE"),
        (lambda t: 0.0 + 1.5 * t, "ACCELERATE"),  # pulling away from a standstill
        (lambda t: 12.0 - 1.0 * t, "DECELERATE"),
        (lambda t: np.maximum(0.0, 8.0 - 3.0 * t), "STOP"),  # stops within the window
        (lambda t: np.maximum(0.0, 9.0 - 2.5 * t), "STOP"),  # still rolling at 3 s, stopped a moment later
        (const(0.0), "STOP"),  # standing and staying
        (lambda t: 10.0 + 0.2 * t, "KEEP"),  # small drift is no action
    ],
)
def test_speed_labels_from_the_speed_profile(speed: Callable, expected: str) -> None:
    assert label(drive(5.0, speed)).split(", ")[0] == expected


def test_speed_thresholds_come_from_the_config() -> None:
    traj = drive(5.0, lambda t: 10.0 + 0.5 * t)  # +1.5 m/s over 3 s
    assert label(traj).startswith("ACCELERATE")
    assert label(traj, accel_delta=2.0).startswith("KEEP")


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_turn_through_a_junction(sign: float) -> None:
    turn_rate = sign * (math.pi / 2) / 2.5  # 90 degrees in 2.5 s
    traj = drive(
        5.0,
        const(6.0),
        yaw_rate=lambda t: np.where((t > 0.3) & (t < 2.8), turn_rate, 0.0),
        junction=lambda t: (t > 0.2) & (t < 3.0),
    )
    assert label(traj) == ("KEEP, LEFT_TURN" if sign > 0 else "KEEP, RIGHT_TURN")
    no_flags = Trajectory(traj.t, traj.x, traj.y, traj.yaw, traj.speed)  # geometry alone still sees 90 degrees
    assert label(no_flags).endswith("LEFT_TURN" if sign > 0 else "RIGHT_TURN")


def test_a_bend_outside_junctions_is_straight() -> None:
    bend = lambda t: np.where(t < 3.0, math.radians(40.0) / 3.0, 0.0)  # noqa: E731
    assert label(drive(5.0, const(10.0), yaw_rate=bend, junction=lambda t: t < 0)) == "KEEP, STRAIGHT"
    assert label(drive(5.0, const(10.0), yaw_rate=bend)) == "KEEP, STRAIGHT"  # under the no-junction threshold


@pytest.mark.parametrize(("size", "expected"), [(3.5, "LEFT_CHANGE"), (-3.5, "RIGHT_CHANGE"), (0.4, "STRAIGHT")])
@pytest.mark.parametrize("with_lateral", [True, False])
def test_lane_changes_from_lateral_offsets_or_geometry(size: float, expected: str, with_lateral: bool) -> None:
    traj = drive(5.0, const(10.0), shift=smoothstep(0.2, 2.5, size), with_lateral=with_lateral)
    assert label(traj) == f"KEEP, {expected}"


def test_a_lane_change_in_a_bend_is_told_from_the_bend_alone() -> None:
    bend = lambda t: np.full_like(t, math.radians(15.0) / 3.0)  # noqa: E731
    assert label(drive(5.0, const(10.0), yaw_rate=bend)) == "KEEP, STRAIGHT"
    assert label(drive(5.0, const(10.0), yaw_rate=bend, shift=smoothstep(0.2, 2.5, 3.5))) == "KEEP, LEFT_CHANGE"


def test_stopped_before_a_turn_reads_the_path_further_ahead_when_asked() -> None:
    wait_then_turn = drive(
        12.0,
        lambda t: np.where(t < 4.0, 0.0, np.minimum(5.0, 2.0 * (t - 4.0))),
        yaw_rate=lambda t: np.where((t > 5.5) & (t < 8.5), (math.pi / 2) / 3.0, 0.0),
        junction=lambda t: (t > 5.0) & (t < 9.0),
    )
    assert label(wait_then_turn) == "STOP, STRAIGHT"  # 3 s of standing shows no path
    assert label(wait_then_turn, path_lookahead_m=15.0) == "STOP, LEFT_TURN"


def test_no_label_without_enough_future_and_times_map_to_samples() -> None:
    traj = drive(4.0, const(10.0))
    assert label_at(traj, 0) is not None
    assert label_at(traj, len(traj) - 10) is None  # half a second of log left
    assert label_at(traj, len(traj) - 10, LabelConfig(min_coverage=0.1)) is not None
    labels = label_times(traj, [0.0, 0.5, 3.9, 10.0])
    assert [a is None for a in labels] == [False, False, True, True]


def test_trajectory_validation() -> None:
    with pytest.raises(ValueError, match="increasing"):
        Trajectory(np.array([0.0, 0.0]), np.zeros(2), np.zeros(2), np.zeros(2), np.zeros(2))
    with pytest.raises(ValueError, match="shape"):
        Trajectory(np.arange(3.0), np.zeros(3), np.zeros(3), np.zeros(3), np.zeros(2))


def test_config_file_and_strict_keys(tmp_path: Path) -> None:
    assert load_label_config() == LabelConfig()  # conf/labeling/default.yaml holds the defaults
    bad = tmp_path / "bad.yaml"
    bad.write_text("horizon_s: 3.0\nstop_sped: 0.5\n")
    with pytest.raises(ConfigError, match="stop_sped"):
        load_label_config(bad)


def test_agreement_overall_and_per_class(tmp_path: Path) -> None:
    reference = ["STOP, STRAIGHT", "KEEP, STRAIGHT", "KEEP, LEFT_TURN", "ACCELERATE, STRAIGHT"]
    motion = ["STOP, STRAIGHT", "KEEP, STRAIGHT", "DECELERATE, LEFT_TURN", "KEEP, STRAIGHT"]
    report = agreement(reference, motion)
    assert report["n"] == 4
    assert report["speed_accuracy"] == 0.5 and report["path_accuracy"] == 1.0 and report["joint_accuracy"] == 0.5
    assert report["speed"]["KEEP"]["recall"] == 0.5 and report["speed"]["KEEP"]["precision"] == 0.5
    assert report["speed_confusion"]["ACCELERATE"] == {"KEEP": 1}
    rows = [
        {"speed_action": r.split(", ")[0], "path_action": r.split(", ")[1], "motion_action": m, "on_policy": i < 2}
        for i, (r, m) in enumerate(zip(reference, motion, strict=True))
    ] + [{"speed_action": "KEEP", "path_action": "STRAIGHT", "motion_action": "", "on_policy": True}]
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert dataset_agreement(tmp_path)["n"] == 4
    assert dataset_agreement(tmp_path, on_policy_only=True)["joint_accuracy"] == 1.0


def test_agreement_relabels_from_stored_pose_logs(tmp_path: Path) -> None:
    from training.rollout import trajectory_bytes

    traj = drive(6.0, lambda t: np.maximum(0.0, 9.0 - 3.0 * t))  # brakes to a stop
    (tmp_path / "trajectories").mkdir()
    (tmp_path / "trajectories" / "ep.npz").write_bytes(trajectory_bytes(traj))
    rows = [
        {"episode": "ep", "time": 0.0, "speed_action": "STOP", "path_action": "STRAIGHT", "motion_action": ""},
        {"episode": "ep", "time": 5.0, "speed_action": "STOP", "path_action": "STRAIGHT", "motion_action": ""},
    ]
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "ep.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert dataset_agreement(tmp_path)["n"] == 0  # nothing stored
    report = dataset_agreement(tmp_path, config=LabelConfig())
    assert report["n"] == 1 and report["joint_accuracy"] == 1.0  # the second sample has no 3 s future
    assert dataset_agreement(tmp_path, config=LabelConfig(horizon_s=0.5))["n"] == 2
