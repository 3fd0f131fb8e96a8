"""One collection episode: drive a scenario in `sim.env.DriveEnv` with a behaviour policy, label every kept step with
the expert (and with the motion labeller from what happened next), explain it with a teacher, and commit it.

Commit order (each step atomic): the episode's images (a temporary folder renamed into place), then its shard
(`<split>/<key>.jsonl`, written to a temporary name and `os.replace`d) and its pose log `trajectories/<key>.npz`, then
its record `episodes/<key>.json`, which marks the episode done. An interrupted episode leaves no record and is redone
from scratch on resume, rewriting the same files, so no sample is ever duplicated or truncated.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml
from PIL import Image

from planner.actions import MetaAction, format_answer
from planner.interface import PlannerInput
from planner.prompt import build_prompt
from sim.env import DriveEnv, action_of
from training.behavior import EXPERT, BehaviorPolicy, load_learner
from training.labeling import Trajectory, label_times
from training.procedural import random_scenario
from training.reasoning import Teacher, TeacherInput, make_teacher, teacher_stats

if TYPE_CHECKING:
    from training.collect import CollectConfig

EPISODES_DIR = "episodes"
IMAGES_DIR = "images"
SCENARIO_FILE = "scenario.yaml"  # beside an episode's images when its states are kept (snapshots)
TRAJECTORIES_DIR = "trajectories"


@dataclass(frozen=True)
class Episode:
    key: str  # unique; names the shard, the image folder and the record
    source: str  # "suite", "family" or "procedural"
    seed: int  # the run seed (procedural: also the town seed; family: the variant seed); decides the split
    split: str
    scenario: str | None = None  # suite name or YAML path (source "suite"), family name (source "family")
    weather: str | None = None  # overrides the scenario's weather
    towns: tuple[str, ...] | None = None  # family: draw in these towns only


def trajectory_bytes(traj: Trajectory) -> bytes:
    buffer = io.BytesIO()
    arrays = {k: getattr(traj, k) for k in ("t", "x", "y", "yaw", "speed", "lateral", "lateral_valid", "in_junction")}
    np.savez_compressed(buffer, **{k: v for k, v in arrays.items() if v is not None})
    return buffer.getvalue()


def stable_unit(*parts: Any) -> float:
    """A number in [0, 1) fixed by `parts` on every machine and Python version."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class LoadFailure(RuntimeError):
    """The episode's scenario could not be built (recorded as a failed episode, not retried on resume)."""


def _load(env: DriveEnv, episode: Episode, config: CollectConfig) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """Reset on the episode's scenario; procedural towns that cannot host a draw get simpler draws."""
    if episode.source == "suite":
        scenario = env.resolve_scenario(episode.scenario)
        if episode.weather:
            scenario = scenario.model_copy(update={"weather": episode.weather})
        try:
            obs, info = env.reset(options={"scenario": scenario, "seed": episode.seed})
        except Exception as err:
            raise LoadFailure(f"{type(err).__name__}: {err}") from err
        return scenario, obs, info
    if episode.source == "family":
        from scenarios.families import instantiate

        try:
            scenario = instantiate(str(episode.scenario), episode.seed, episode.towns)
            obs, info = env.reset(options={"scenario": scenario, "seed": scenario.seed})
        except Exception as err:
            raise LoadFailure(f"{type(err).__name__}: {err}") from err
        return scenario, obs, info
    errors = []
    for variant, lights, actors in (
        (0, True, True),
        (0, False, True),
        (1, True, True),
        (1, False, False),
        (2, False, False),
    ):
        data = random_scenario(episode.seed, config.sources.procedural, variant, lights, actors)
        try:
            obs, info = env.reset(options={"scenario": data, "seed": episode.seed})
            return data, obs, info
        except Exception as err:  # a draw the town cannot host: try the next one
            errors.append(f"{type(err).__name__}: {err}")
    raise LoadFailure("no procedural draw could be loaded: " + " | ".join(errors))


def _save_image(image: np.ndarray, path: Path, config: CollectConfig) -> None:
    if config.image_format == "png":
        Image.fromarray(image).save(path, compress_level=config.png_compress_level)
    else:
        Image.fromarray(image).save(path, quality=config.jpeg_quality)


def _keep_probability(action: MetaAction, balance: dict[str, float]) -> float:
    return balance.get(action.speed, 1.0) * balance.get(action.path, 1.0)


def run_episode(episode: Episode, config: CollectConfig, root: str) -> dict[str, Any]:
    """Drive, label, explain and commit one episode; returns its record."""
    started, base = time.perf_counter(), Path(root)
    parent = os.getppid()
    # frames are rendered for the samples kept (and every step when a learner looks at them), not for every step
    images = "every_step" if config.behavior.learner else "on_request"
    env = DriveEnv({"images": images, **dict(config.env), "sim": dict(config.sim)})
    teacher = make_teacher(config.teacher)
    record: dict[str, Any] = {"key": episode.key, "source": episode.source, "seed": episode.seed}
    record["split"] = episode.split
    tmp_dir = base / IMAGES_DIR / f".tmp-{episode.key}-{os.getpid()}"
    try:
        try:
            scenario, obs, info = _load(env, episode, config)
        except LoadFailure as err:
            record.update(status="load_failed", error=str(err)[:2000], samples=0, wall_s=time.perf_counter() - started)
            commit_episode(base, episode, [], tmp_dir, record)
            return record
        tmp_dir.mkdir(parents=True, exist_ok=True)
        if config.snapshots:  # what outcome rewards need to restore a sample's state: its scenario, then each state
            as_dict = scenario if isinstance(scenario, dict) else scenario.model_dump(mode="json", exclude_none=True)
            (tmp_dir / SCENARIO_FILE).write_text(yaml.safe_dump(as_dict, sort_keys=False), encoding="utf-8")
        rows, ticks, perturbed_at = _drive(env, episode, config, teacher, obs, info, tmp_dir, parent)
    finally:
        env.close()
    traj = Trajectory.concatenate(ticks["parts"])
    motion = label_times(traj, [r["time"] for r in rows], config.labeling)
    horizon = config.labeling.horizon_s
    for row, label in zip(rows, motion, strict=True):
        row["motion_action"] = "" if label is None else str(label)
        row["on_policy"] = not any(row["time"] - 1e-6 <= t < row["time"] + horizon for t in perturbed_at)
    name = scenario["name"] if isinstance(scenario, dict) else scenario.name
    tags = list(scenario["tags"] if isinstance(scenario, dict) else scenario.tags) or [episode.source]
    weather = scenario["weather"] if isinstance(scenario, dict) else scenario.weather
    if weather not in tags:
        tags.append(weather)
    for row in rows:
        row.update(scenario=name, seed=episode.seed, tags=tags, weather=weather, source=episode.source)
    record.update(
        status="ok",
        scenario=name,
        tags=tags,
        ending=ticks["ending"],
        infractions=ticks["infractions"],
        steps=ticks["steps"],
        samples=len(rows),
        dropped_balance=ticks["dropped_balance"],
        perturbed_steps=len(perturbed_at),
        teacher=teacher_stats(teacher),
        round=config.round,
        behavior_counts=dict(Counter(r["behavior"] for r in rows)),
        speed_counts=dict(Counter(r["speed_action"] for r in rows)),
        path_counts=dict(Counter(r["path_action"] for r in rows)),
        wall_s=round(time.perf_counter() - started, 2),
    )
    if os.getppid() != parent:  # the collector died: leave the episode for its rerun
        raise SystemExit(1)
    commit_episode(base, episode, [_ordered(r) for r in rows], tmp_dir, record, traj)
    return record


def _drive(
    env: DriveEnv,
    episode: Episode,
    config: CollectConfig,
    teacher: Teacher | None,
    obs: dict[str, Any],
    info: dict[str, Any],
    tmp_dir: Path,
    parent: int,
) -> tuple[list[dict[str, Any]], dict[str, Any], list[float]]:
    rng = np.random.default_rng([episode.seed, 0xBE4])
    learner = load_learner(config.behavior.learner) if config.behavior.learner else None
    policy = BehaviorPolicy(config.behavior, np.random.default_rng([episode.seed, 0xDA6]), learner)
    rows: list[dict[str, Any]] = []
    parts, perturbed_at, infractions = [info["trajectory"]], [], []
    step, stalled, dropped, best = 0, 0, 0, float(info["progress_m"])
    ext = "png" if config.image_format == "png" else "jpg"
    while True:
        image = env.frame() if learner is not None else obs["image"]  # only a learner looks at it here
        seen = PlannerInput(image, float(obs["speed"][0]), str(obs["navigation"]), float(info["time"]))
        executed, behavior = policy.act(info["expert_index"], step, seen)
        expert = MetaAction(*info["expert"].split(", "))
        if step % config.sample_every == 0:
            if rng.random() < _keep_probability(expert, dict(config.balance)):
                state = env.snapshot() if config.snapshots else None
                image = env.frame()
                row = _sample(episode, config, teacher, obs, image, info, expert, executed, step, tmp_dir, ext, state)
                if row is not None:
                    row.update(behavior=behavior, round=config.round)
                    rows.append(row)
            else:
                dropped += 1
        if behavior != EXPERT and not np.array_equal(executed, info["expert_index"]):
            perturbed_at.append(float(info["time"]))
        obs, _, terminated, truncated, info = env.step(executed)
        parts.append(info["trajectory"])
        infractions += [i["type"] for i in info["infractions"]]
        step += 1
        # no route progress for long: standing (blocked) or lost (circling after a failed recovery)
        stalled = 0 if info["progress_m"] > best + 0.5 else stalled + 1
        best = max(best, float(info["progress_m"])) if stalled == 0 else best
        ending = info["ending"] or ("stalled" if stalled >= config.stall_steps else "")
        if config.max_steps is not None and step >= config.max_steps:
            ending = ending or "max_steps"
        if terminated or truncated or ending:
            break
        if os.getppid() != parent:
            raise SystemExit(1)
    summary = {"parts": parts, "ending": ending, "steps": step, "infractions": infractions, "dropped_balance": dropped}
    return rows, summary, perturbed_at


def _sample(
    episode: Episode,
    config: CollectConfig,
    teacher: Teacher | None,
    obs: dict[str, Any],
    image: np.ndarray,
    info: dict[str, Any],
    expert: MetaAction,
    executed: np.ndarray,
    step: int,
    tmp_dir: Path,
    ext: str,
    state: bytes | None = None,
) -> dict[str, Any] | None:
    """One dataset row (None when the teacher's reasoning was rejected); `state`: the env's snapshot to keep."""
    speed, navigation = round(float(obs["speed"][0]), 3), str(obs["navigation"])
    thinking = ""
    if teacher is not None:
        seed = int(stable_unit(episode.key, step) * 2**31)
        sample = TeacherInput(expert, info["facts"], speed, navigation, image, seed, info["explanation"])
        text = teacher.explain(sample)
        if text is None:
            return None
        thinking = f"<think> {text} </think>"
    _save_image(image, tmp_dir / f"{step:04d}.{ext}", config)
    extra: dict[str, Any] = {}
    if state is not None:
        (tmp_dir / f"{step:04d}.snap").write_bytes(state)
        extra = {
            "snapshot": f"{IMAGES_DIR}/{episode.key}/{step:04d}.snap",
            "scenario_file": f"{IMAGES_DIR}/{episode.key}/{SCENARIO_FILE}",
            "run_seed": episode.seed,
        }
    return {
        "image": f"{IMAGES_DIR}/{episode.key}/{step:04d}.{ext}",
        "problem": build_prompt(speed, navigation),
        "solution": format_answer(expert),
        "thinking": thinking,
        "speed": speed,
        "navigation": navigation,
        "speed_action": expert.speed,
        "path_action": expert.path,
        "episode": episode.key,
        "step": step,
        "time": round(float(info["time"]), 3),
        "executed_action": str(action_of(executed)),
        "perturbed": bool(str(action_of(executed)) != str(expert)),
        "cause_visible": bool(info["facts"].get("cause_visible", True)),  # False: the label rests on a hidden actor
        "facts": json.dumps(info["facts"], sort_keys=True, default=float),
        **extra,
    }


_ORDER = ("image", "problem", "solution", "thinking", "speed", "navigation", "speed_action", "path_action")
_ORDER += ("scenario", "seed", "tags", "round", "behavior")


def _ordered(row: dict[str, Any]) -> dict[str, Any]:
    return {**{k: row[k] for k in _ORDER}, **{k: v for k, v in row.items() if k not in _ORDER}}


def commit_episode(
    root: Path,
    episode: Episode,
    rows: list[dict[str, Any]],
    tmp_dir: Path,
    record: dict[str, Any],
    trajectory: Trajectory | None = None,
) -> None:
    for split in ("train", "validation"):  # a shard an interrupted attempt may have left
        (root / split / f"{episode.key}.jsonl").unlink(missing_ok=True)
    final = root / IMAGES_DIR / episode.key
    if final.exists():
        shutil.rmtree(final)
    if rows:
        os.replace(tmp_dir, final)
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        write_atomic(root / episode.split / f"{episode.key}.jsonl", text.encode("utf-8"))
    else:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    if trajectory is not None:  # the ego's pose log, to relabel with other thresholds without driving again
        write_atomic(root / TRAJECTORIES_DIR / f"{episode.key}.npz", trajectory_bytes(trajectory))
    write_atomic(root / EPISODES_DIR / f"{episode.key}.json", json.dumps(record, indent=1).encode("utf-8"))
