from __future__ import annotations

import json
import os
import socket
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from process_helpers import Processes

from planner.actions import PATH_ACTIONS, SPEED_ACTIONS, parse_answer
from planner.rewards import (
    RewardConfig,
    diversity_factors,
    format_reward,
    make_reward_functions,
    path_reward,
    set_f1,
    speed_reward,
)

GT = "<answer> STOP, STRAIGHT </answer>"
RIGHT = "<think> red light </think> <answer> STOP, STRAIGHT </answer>"
WRONG_PATH = "<think> x </think> <answer> STOP, LEFT_TURN </answer>"
EVERYTHING = "<answer> KEEP, ACCELERATE, DECELERATE, STOP, STRAIGHT </answer>"
GROUP = [RIGHT] * 4 + [WRONG_PATH, EVERYTHING, "<think> y </think> <answer> KEEP, RIGHT_TURN </answer>", "no idea"]


def test_issue_example_numbers() -> None:
    solutions = [GT] * 8
    speed = speed_reward(GROUP, solutions, group_size=8)
    path = path_reward(GROUP, solutions, group_size=8)
    fmt = format_reward(GROUP, solutions)
    assert speed[:4] == pytest.approx([0.8] * 4) and path[:4] == pytest.approx([0.64] * 4)
    assert (speed[4], path[4], fmt[4]) == pytest.approx((0.875, 0.0, 1.0))
    assert (speed[5], path[5], fmt[5]) == pytest.approx((0.32375, 0.7, 0.0))
    assert fmt[:4] == [1.0] * 4


def test_empty_answers_score_zero() -> None:
    rewards = speed_reward(["", "<think> hmm </think> <answer> </answer>", "no words"], [GT] * 3)
    assert rewards == [0.0, 0.0, 0.0]
    assert path_reward(["", "nothing"], [GT] * 2) == [0.0, 0.0]


def test_shortcut_resistance_every_action_scores_below_the_single_right_one() -> None:
    for truth_speed in SPEED_ACTIONS:
        for truth_path in PATH_ACTIONS:
            gt = f"<answer> {truth_speed}, {truth_path} </answer>"
            all_words = f"<think> t </think> <answer> {', '.join(SPEED_ACTIONS + PATH_ACTIONS)} </answer>"
            right = f"<think> t </think> {gt}"
            for fn in (speed_reward, path_reward):
                # Scored in separate groups so diversity is equal for both.
                assert fn([all_words], [gt])[0] < fn([right], [gt])[0]
    assert set_f1(frozenset(SPEED_ACTIONS), frozenset({"STOP"})) == pytest.approx(0.4)


def test_diversity_penalises_duplicates_with_cap() -> None:
    parsed = [parse_answer(t) for t in GROUP]
    factors = diversity_factors(parsed, group_size=8)
    assert factors[:4] == pytest.approx([0.8] * 4)  # 4/8 capped at 0.2
    assert factors[4:] == pytest.approx([0.875] * 4)
    assert diversity_factors(parsed, group_size=8, cap=0.0) == [1.0] * 8
    with pytest.raises(ValueError, match="groups of 3"):
        diversity_factors(parsed, group_size=3)


def test_groups_are_scored_separately() -> None:
    two_groups = [RIGHT, RIGHT, RIGHT, WRONG_PATH, RIGHT, WRONG_PATH, EVERYTHING, "x"]
    rewards = speed_reward(two_groups, [GT] * 8, group_size=4)
    assert rewards[:3] == pytest.approx([0.8] * 3)  # 3 of 4 identical: capped
    assert rewards[4] == pytest.approx(0.8)  # 1 of 4: 1 - min(0.2, 0.25)
    whole = speed_reward(two_groups, [GT] * 8)
    assert whole[0] == pytest.approx(0.8) and whole[4] == pytest.approx(0.8)


def test_factors_switch_off_for_ablations() -> None:
    no_weight = RewardConfig(use_action_weight=False, use_diversity=False)
    assert speed_reward([RIGHT, RIGHT], [GT, GT], config=no_weight) == [1.0, 1.0]
    no_accuracy = RewardConfig(use_accuracy=False, use_diversity=False)
    assert path_reward([WRONG_PATH], [GT], config=no_accuracy) == [1.0]  # LEFT_TURN weight 1.0, accuracy off
    custom = RewardConfig(
        speed_weights={"ACCELERATE": 1.0, "DECELERATE": 1.0, "STOP": 0.5, "KEEP": 1.0}, diversity_cap=0.0
    )
    assert speed_reward([RIGHT], [GT], config=custom) == [0.5]
    with pytest.raises(ValueError, match="speed_weights"):
        RewardConfig(speed_weights={"STOP": 1.0})


def test_trl_style_call_with_chat_completions_and_extra_columns() -> None:
    speed_fn, path_fn, format_fn = make_reward_functions(group_size=2)
    assert [f.__name__ for f in (speed_fn, path_fn, format_fn)] == ["speed_reward", "path_reward", "format_reward"]
    completions = [[{"role": "assistant", "content": RIGHT}], [{"role": "assistant", "content": WRONG_PATH}]]
    kwargs = {"prompts": [[{"role": "user", "content": "p"}]] * 2, "completion_ids": [[1], [2]], "speed": [3.0, 3.0]}
    assert speed_fn(completions=completions, solution=[GT, GT], trainer_state=None, **kwargs) == [0.8, 0.8]
    assert path_fn(completions=completions, solution=[GT, GT], **kwargs) == pytest.approx([0.64, 0.0])
    assert format_fn(completions=completions, solution=[GT, GT], **kwargs) == [1.0, 1.0]
    with pytest.raises(ValueError, match="unknown reward"):
        make_reward_functions(names=("speed", "style"))


answers = st.sampled_from([RIGHT, WRONG_PATH, EVERYTHING, "", "<answer> KEEP, RIGHT_CHANGE </answer>", "garbage"])


@settings(max_examples=60, deadline=None)
@given(st.lists(answers, min_size=1, max_size=12), st.randoms(use_true_random=False))
def test_permuting_a_group_permutes_the_rewards(group: list[str], rng) -> None:
    order = list(range(len(group)))
    rng.shuffle(order)
    shuffled = [group[i] for i in order]
    for fn in (speed_reward, path_reward, format_reward):
        base = fn(group, [GT] * len(group))
        assert fn(shuffled, [GT] * len(group)) == [base[i] for i in order]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(max_size=200), min_size=1, max_size=6))
def test_malformed_completions_never_raise(texts: list[str]) -> None:
    for fn in (speed_reward, path_reward, format_reward):
        rewards = fn(texts, [GT] * len(texts))
        assert len(rewards) == len(texts) and all(0.0 <= r <= 1.0 for r in rewards)


_WORKER = textwrap.dedent(
    """
    import json, os, sys
    import torch.distributed as dist
    from planner.rewards import TorchDistributedGatherer, speed_reward, path_reward
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    group, solutions = json.loads(sys.argv[1])
    half = len(group) // 2
    mine = slice(0, half) if rank == 0 else slice(half, None)
    g = TorchDistributedGatherer()
    out = {
        "speed": speed_reward(group[mine], solutions[mine], group_size=8, gatherer=g),
        "path": path_reward(group[mine], solutions[mine], group_size=8, gatherer=g),
    }
    dist.destroy_process_group()
    with open(sys.argv[2] + f"/{rank}.json", "w") as f:
        json.dump(out, f)
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_group_split_across_two_processes_is_scored_whole(processes: Processes, tmp_path: Path) -> None:
    # Two identical answers sit on different processes: each process alone would see no duplicate.
    group = [RIGHT, WRONG_PATH, EVERYTHING, "x", RIGHT, WRONG_PATH, "y", "<answer> KEEP, STRAIGHT </answer>"]
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()), "WORLD_SIZE": "2"}
    procs = [
        processes.start(
            [sys.executable, "-c", _WORKER, json.dumps([group, [GT] * 8]), str(tmp_path)],
            env={**env, "RANK": str(rank)},
        )
        for rank in range(2)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    parts = [json.loads((tmp_path / f"{r}.json").read_text()) for r in range(2)]
    for name, fn in (("speed", speed_reward), ("path", path_reward)):
        distributed = parts[0][name] + parts[1][name]
        assert distributed == pytest.approx(fn(group, [GT] * 8, group_size=8))
    # The duplicate on the other process is counted: 1 - min(0.2, 2/8), not the 1 - 1/8 of a unique answer.
    assert parts[0]["speed"][0] == pytest.approx(0.8)
