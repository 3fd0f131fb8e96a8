"""Outcome rewards through the real simulator: from one saved state, what each candidate action leads to."""

from __future__ import annotations

import pytest

from planner.actions import MetaAction
from sim.env import DriveEnv
from training.outcome import OutcomeConfig, outcome_reward, rollout_terms

CONFIG = OutcomeConfig()


def env_at(scenario: str, until: object, seed: int = 0) -> tuple[DriveEnv, bytes]:
    """Drive with the expert until `until(world)` holds; the env and its snapshot there."""
    env = DriveEnv({"scenarios": [scenario], "sim": {"name": "embedded", "render": False}})
    _, info = env.reset(options={"scenario": scenario, "seed": seed})
    for _ in range(200):
        if until(env.world):
            return env, env.snapshot()
        _, _, terminated, truncated, info = env.step(info["expert_index"])
        assert not (terminated or truncated)
    raise AssertionError("the state was never reached")


def red_light_within(low: float, high: float) -> object:
    def near(world) -> bool:
        stop = world.extras.get("stop_ahead") or {}
        return stop.get("color") == "red" and low < stop.get("distance_m", -1.0) < high

    return near


def score(env: DriveEnv, state: bytes, action: str) -> tuple[float, dict[str, float]]:
    terms = rollout_terms(env, state, MetaAction(*action.split(", ")), CONFIG)
    return outcome_reward(terms, CONFIG), terms


def test_from_a_red_light_state_stop_beats_accelerate_and_scoring_is_repeatable() -> None:
    env, state = env_at("red_light_stop", red_light_within(20.0, 35.0))
    stop, stop_terms = score(env, state, "STOP, STRAIGHT")
    go, go_terms = score(env, state, "ACCELERATE, STRAIGHT")
    assert go_terms["red_light"] == 1.0 and stop_terms["red_light"] == 0.0
    assert stop > go
    assert score(env, state, "ACCELERATE, STRAIGHT") == (go, go_terms)  # the same state gives the same outcome


def test_on_a_clear_road_accelerate_beats_stop() -> None:
    env, state = env_at("green_light_go", lambda w: w.time >= 1.0)
    go, go_terms = score(env, state, "ACCELERATE, STRAIGHT")
    stop, stop_terms = score(env, state, "STOP, STRAIGHT")
    assert go_terms["progress"] > stop_terms["progress"] and go > stop


def test_unknown_terms_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown term"):
        OutcomeConfig(weights={"speeeed": 1.0})
