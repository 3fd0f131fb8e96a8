"""The gymnasium environment on the real embedded backend: API conformance, expert labels, rewards, endings."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import yaml
from gymnasium.utils.env_checker import check_env

import sim.env  # noqa: F401  (registers alphadrive/Drive-v0)
from planner.actions import PATH_ACTIONS, SPEED_ACTIONS
from planner.config import ConfigError
from sim.env import ENV_ID, DriveEnv, DriveVectorEnv, action_of, index_of, make_vector_env

SHORT_ROAD = {
    "name": "short_road",
    "description": "A short straight road through a junction held green.",
    "tags": ["test"],
    "map": {"name": "grid", "rows": 3, "cols": 3, "lanes": 1, "block_m": 60, "signalised": 1.0, "curved": 0.0},
    "seed": 3,
    "route": {"maneuvers": ["straight"], "length_m": 30},
    "ego": {"speed": 8.0},
    "lights": [{"junction": 0, "state": "green"}],
    "criteria": {"timeout_s": 30},
}
NO_CAMERA = {"name": "embedded", "render": False}


@pytest.fixture
def short_road(tmp_path: Path) -> str:
    path = tmp_path / "short_road.yaml"
    path.write_text(yaml.safe_dump(SHORT_ROAD), encoding="utf-8")
    return str(path)


def drive_expert(env: gym.Env, seed: int = 0, **reset: object) -> tuple[list[float], list[dict], bool, bool]:
    _, info = env.reset(seed=seed, **reset)
    rewards, infos = [], [info]
    while True:
        _, reward, terminated, truncated, info = env.step(info["expert_index"])
        rewards.append(reward)
        infos.append(info)
        if terminated or truncated:
            return rewards, infos, terminated, truncated


def test_check_env_passes_through_gym_make(short_road: str) -> None:
    env = gym.make(ENV_ID, config={"scenarios": [short_road], "sim": NO_CAMERA}, render_mode="rgb_array")
    check_env(env.unwrapped)
    env.close()


def test_check_env_passes_with_the_camera(short_road: str) -> None:
    sim_config = {"name": "embedded", "render": True, "camera": {"width": 96, "height": 64}}
    env = gym.make(ENV_ID, config={"scenarios": [short_road], "sim": sim_config}, render_mode="rgb_array").unwrapped
    check_env(env)
    obs, _ = env.reset(seed=1)
    assert obs["image"].shape == (64, 96, 3) and obs["image"].dtype == np.uint8
    assert obs["image"].std() > 5.0  # a rendered scene, not the blank frame
    assert np.array_equal(env.render(), obs["image"])
    env.close()


def test_action_encoding_round_trips() -> None:
    for i, speed in enumerate(SPEED_ACTIONS):
        for j, path in enumerate(PATH_ACTIONS):
            action = action_of(np.array([i, j]))
            assert (action.speed, action.path) == (speed, path)
            assert index_of(action).tolist() == [i, j]
    with pytest.raises(ValueError, match="outside"):
        action_of([4, 0])


def test_following_the_expert_completes_the_route_with_full_planning_reward(short_road: str) -> None:
    env = DriveEnv({"scenarios": [short_road], "sim": NO_CAMERA})
    rewards, infos, terminated, truncated = drive_expert(env)
    assert terminated and not truncated
    last = infos[-1]
    assert last["ending"] == "route_completed" and last["route_progress"] == 1.0
    assert set(last["reward_terms"]) == {"speed", "path", "progress", "infractions", "completion"}
    assert last["reward_terms"]["completion"] == 1.0
    for info in infos[1:]:
        speed, path = info["expert"].split(", ")  # label of the returned observation
        assert speed in SPEED_ACTIONS and path in PATH_ACTIONS
        assert info["infractions"] == []
        terms = info["reward_terms"]
        assert terms["speed"] > 0.75 and terms["path"] == pytest.approx(0.8)  # F1 = 1 x the action weight
        ticks = info["trajectory"]
        assert len(ticks["t"]) >= 1 and set(ticks) >= {"x", "y", "yaw", "speed", "lateral", "in_junction"}
        assert np.all(np.diff(ticks["t"]) > 0)
    assert sum(rewards) == pytest.approx(sum(sum(i["reward_terms"].values()) for i in infos[1:]))
    assert "decision" in infos[0]["facts"] and infos[0]["explanation"]
    env.close()


def test_disagreeing_with_the_expert_costs_planning_reward(short_road: str) -> None:
    env = DriveEnv({"scenarios": [short_road], "sim": NO_CAMERA})
    _, info = env.reset(seed=0)
    speed = info["expert"].split(", ")[0]
    wrong = [next(i for i, s in enumerate(SPEED_ACTIONS) if s != speed), PATH_ACTIONS.index("RIGHT_CHANGE")]
    _, _, _, _, info = env.step(np.array(wrong))
    assert info["reward_terms"]["speed"] == 0.0 and info["reward_terms"]["path"] == 0.0
    assert info["executed"].endswith("RIGHT_CHANGE")
    env.close()


def test_running_the_red_light_is_penalised_and_the_expert_is_not() -> None:
    config = {"scenarios": ["red_light_stop"], "sim": NO_CAMERA, "reward": {"infraction_penalties": {"red_light": 3}}}
    env = DriveEnv(config)
    _, info = env.reset(seed=0)
    accelerate = np.array([SPEED_ACTIONS.index("ACCELERATE"), PATH_ACTIONS.index("STRAIGHT")])
    penalties, types = [], []
    for _ in range(40):
        _, _, terminated, truncated, info = env.step(accelerate)
        penalties.append(info["reward_terms"]["infractions"])
        types += [i["type"] for i in info["infractions"]]
        if terminated or truncated:
            break
    assert "red_light" in types and min(penalties) <= -3.0
    _, infos, _, _ = drive_expert(env, seed=0)
    assert not any(i["type"] == "red_light" for info in infos for i in info["infractions"])
    env.close()


def test_timeout_truncates(short_road: str) -> None:
    env = DriveEnv({"scenarios": [short_road], "sim": NO_CAMERA, "timeout_s": 1.0})
    stop = np.array([SPEED_ACTIONS.index("STOP"), 0])
    env.reset(seed=0)
    _, _, terminated, truncated, info = env.step(stop)
    assert not terminated and not truncated
    _, _, terminated, truncated, info = env.step(stop)
    assert truncated and not terminated and info["ending"] == "timeout"
    env.close()


def test_reset_options_pin_scenario_and_seed(short_road: str) -> None:
    env = DriveEnv({"scenarios": ["red_light_stop"], "sim": NO_CAMERA})
    _, info = env.reset(options={"scenario": SHORT_ROAD, "seed": 42})
    assert info["scenario"] == "short_road" and info["seed"] == 42 and info["tags"] == ["test"]
    env.close()


def test_config_typos_are_rejected() -> None:
    with pytest.raises(ConfigError, match="unknown key"):
        DriveEnv({"scenarios": ["red_light_stop"], "sim": NO_CAMERA, "plan_perod": 0.5})
    with pytest.raises(ConfigError, match="terminate_on"):
        DriveEnv({"sim": NO_CAMERA, "terminate_on": ["collision"]})
    with pytest.raises(ConfigError, match="sim"):
        DriveEnv({"sim": {"name": "embedded", "rendr": False}})


def test_vector_env_steps_environments_in_worker_processes(short_road: str) -> None:
    envs = make_vector_env(2, {"scenarios": [short_road], "sim": NO_CAMERA})
    try:
        obs, info = envs.reset(seed=[0, 1])
        assert obs["image"].shape[0] == 2 and obs["speed"].shape == (2, 1)
        obs, reward, _, _, info = envs.step(np.stack(info["expert_index"]))
        assert reward.shape == (2,) and np.all(reward > 0)
        assert len(info["expert"]) == 2
    finally:
        envs.close()


def test_vector_env_survives_episodes_ending_inside_a_step(tmp_path: Path) -> None:
    # Two route lengths, so the episodes end at different steps: one environment's step then runs fewer ticks than the
    # other's, and the step after it autoresets (a one-row trajectory) while the other drives a whole step.
    paths = []
    for length in (30, 60):
        path = tmp_path / f"road_{length}.yaml"
        path.write_text(yaml.safe_dump({**SHORT_ROAD, "route": {"maneuvers": ["straight"], "length_m": length}}))
        paths.append(str(path))
    envs = DriveVectorEnv([lambda p=p: DriveEnv({"scenarios": [p], "sim": NO_CAMERA}) for p in paths], context="spawn")
    try:
        _, info = envs.reset(seed=[0, 1])
        lengths, ended = set(), np.zeros(2, dtype=bool)
        for _ in range(40):
            _, _, terminated, truncated, info = envs.step(np.stack(info["expert_index"]))
            rows = [len(t) for t in info["trajectory"]["t"]]
            lengths.add(tuple(rows))
            ended |= terminated | truncated
            if ended.all():
                break
        assert ended.all()
        assert any(a != b for a, b in lengths), lengths
    finally:
        envs.close()
    assert all(not p.is_alive() for p in envs.processes)


def test_images_on_request_render_the_same_frames_only_when_asked(short_road: str) -> None:
    camera = {"name": "embedded", "render": True, "camera": {"width": 96, "height": 54}}
    every = DriveEnv({"scenarios": [short_road], "sim": camera})
    lazy = DriveEnv({"scenarios": [short_road], "sim": camera, "images": "on_request"})
    a, _ = every.reset(seed=1)
    b, _ = lazy.reset(seed=1)
    action = np.array([SPEED_ACTIONS.index("KEEP"), PATH_ACTIONS.index("STRAIGHT")])
    for step in range(4):
        assert not b["image"].any() and b["image"].shape == a["image"].shape  # black until asked
        assert a["image"].any()
        if step % 2:  # frames skipped on request are never rendered, the next one is still right
            np.testing.assert_array_equal(lazy.frame(), a["image"])
            np.testing.assert_array_equal(lazy.render(), a["image"])
        a, *_ = every.step(action)
        b, *_ = lazy.step(action)
    every.close()
    lazy.close()
    with pytest.raises(ValueError, match="images"):
        DriveEnv({"scenarios": [short_road], "images": "sometimes"})
