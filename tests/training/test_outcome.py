"""Outcome rewards through the real simulator: from one saved state, what each candidate action leads to."""

from __future__ import annotations

import json

import pytest

from planner.actions import MetaAction
from sim.env import DriveEnv
from training.outcome import TERMS, OutcomeConfig, outcome_reward, rollout_terms

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


def test_grpo_outcome_rewards_score_a_group_from_its_saved_state(tmp_path) -> None:
    """Collected rows with snapshots drive each completion from the sample's state; one reward function per term,
    failures counted; the group's rewards do not depend on the order it is scored in."""
    from planner.config import from_mapping
    from training.collect import CollectConfig, collect
    from training.dataset import load_planning_dataset
    from training.outcome_rewards import OutcomeScorer, make_outcome_reward_functions

    settings = {"output_dir": str(tmp_path), "workers": 1, "snapshots": True, "max_steps": 40, "progress": False,
                "sim": {"render": True, "camera": {"width": 96, "height": 54}},
                "sources": {"suite": ["red_light_stop"], "suite_seeds": 1, "procedural_episodes": 0}}  # fmt: skip
    collect(from_mapping(CollectConfig, settings, "collect"), log=lambda *_: None)
    rows = [r for split in load_planning_dataset(tmp_path).values() for r in split]

    def red_ahead(r: dict) -> bool:
        light = json.loads(r["facts"]).get("light") or {}
        return light.get("state") == "red" and 15.0 < light.get("distance", 0.0) < 40.0

    row = next(r for r in rows if red_ahead(r))
    group = ["<answer> STOP, STRAIGHT </answer>", "<answer> ACCELERATE, STRAIGHT </answer>", "nonsense"]
    scorer = OutcomeScorer(tmp_path, OutcomeConfig(), workers=0)
    functions, weights = make_outcome_reward_functions(scorer)
    columns = {"snapshot": [row["snapshot"]] * 3, "scenario_file": [row["scenario_file"]] * 3,
               "run_seed": [row["run_seed"]] * 3}  # fmt: skip
    by_term = {f.__name__: f(group, **columns) for f in functions}
    assert set(by_term) == {f"outcome/{t}" for t in TERMS} | {"outcome/failed"}
    total = [sum(w * by_term[f.__name__][i] for f, w in zip(functions, weights, strict=True)) for i in range(3)]
    assert total[0] > total[1]  # stopping for the red light beats running it
    assert scorer.unparsed == 1 and scorer.failed == 0 and by_term["outcome/failed"] == [0.0, 0.0, 0.0]
    reversed_scorer = OutcomeScorer(tmp_path, OutcomeConfig(), workers=1)  # and in a worker process
    try:
        again = {f.__name__: f(group[::-1], **columns) for f in make_outcome_reward_functions(reversed_scorer)[0]}
    finally:
        reversed_scorer.close()
    assert all(again[name] == values[::-1] for name, values in by_term.items())
    missing = {**columns, "snapshot": ["images/nowhere.snap"] * 3}
    assert make_outcome_reward_functions(scorer)[0][-1](group, **missing) == [1.0, 1.0, 1.0] and scorer.failed > 0
