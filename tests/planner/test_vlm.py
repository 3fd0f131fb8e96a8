from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from planner.actions import MetaAction
from planner.config import ConfigError
from planner.interface import Planner, PlannerInput
from planner.vlm import VLLMBackend, VLMPlanner, VLMPlannerConfig, build_vlm_planner


def frame_input(value: int = 0) -> PlannerInput:
    return PlannerInput(image=np.full((270, 480, 3), value, np.uint8), speed=5.0, navigation="Turn left", time=0.0)


class ScriptedBackend:
    """Returns prepared candidate lists, one per conversation, and records the batch sizes it saw."""

    def __init__(self, outputs: list[list[str]]) -> None:
        self.outputs = list(outputs)
        self.batches: list[int] = []

    def generate(self, messages: list[list[dict[str, Any]]], images: list[Any]) -> list[list[str]]:
        self.batches.append(len(messages))
        assert all(m[-1]["content"][0]["type"] == "image" for m in messages)
        return [self.outputs.pop(0) for _ in messages]


def test_unparseable_output_falls_back_and_is_counted() -> None:
    backend = ScriptedBackend([["gibberish"], ["<think> red light </think> <answer> STOP, STRAIGHT </answer>"]])
    planner = VLMPlanner(VLMPlannerConfig(fallback_speed="STOP", fallback_path="STRAIGHT"), backend=backend)
    bad, good = planner.plan_batch([frame_input(), frame_input()])
    assert bad.fallback and bad.action == MetaAction("STOP", "STRAIGHT") and bad.raw_text == "gibberish"
    assert not good.fallback and good.reasoning == "red light"
    stats = planner.stats
    assert stats["decisions"] == 2 and stats["fallbacks"] == 1 and stats["fallback_rate"] == 0.5
    assert good.latency_ms > 0


def test_majority_vote_and_first_valid() -> None:
    texts = [
        "<answer> KEEP, STRAIGHT </answer>",
        "<answer> STOP, LEFT_TURN </answer>",
        "nonsense",
        "<answer> STOP, LEFT_TURN </answer>",
    ]
    config = {"do_sample": True, "num_candidates": 4}
    majority = VLMPlanner(VLMPlannerConfig(**config), backend=ScriptedBackend([texts]))
    first = VLMPlanner(VLMPlannerConfig(**config, selection="first_valid"), backend=ScriptedBackend([texts]))
    assert majority.plan(frame_input()).action == MetaAction("STOP", "LEFT_TURN")
    assert first.plan(frame_input()).action == MetaAction("KEEP", "STRAIGHT")
    assert majority.stats["invalid_candidate_rate"] == 0.25


def test_batches_are_split_by_batch_size() -> None:
    backend = ScriptedBackend([["<answer> KEEP, STRAIGHT </answer>"]] * 5)
    planner = VLMPlanner(VLMPlannerConfig(batch_size=2), backend=backend)
    assert len(planner.plan_batch([frame_input()] * 5)) == 5
    assert backend.batches == [2, 2, 1]


def test_config_rejects_unknown_and_bad_values() -> None:
    with pytest.raises(ConfigError, match="max_new_token"):
        build_vlm_planner({"max_new_token": 8})
    with pytest.raises(ConfigError, match="fallback_speed"):
        build_vlm_planner({"fallback_speed": "BRAKE"})
    with pytest.raises(ConfigError, match="do_sample"):
        build_vlm_planner({"num_candidates": 3})


def test_vllm_missing_gives_clear_error() -> None:
    pytest.importorskip("torch")
    try:
        import vllm  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="vllm"):
            VLLMBackend(VLMPlannerConfig(backend="vllm"))
    else:
        pytest.skip("vllm is installed")


def test_real_tiny_model_plans_a_batch(tiny_model: Path) -> None:
    planner = build_vlm_planner({"model": str(tiny_model), "max_new_tokens": 8, "batch_size": 3, "device": "cpu"})
    assert isinstance(planner, Planner)
    plans = planner.plan_batch([frame_input(v) for v in (0, 100, 200)])
    assert len(plans) == 3
    # A random-weight model rarely writes a valid answer; whatever it wrote, the planner returned an action.
    assert all(isinstance(p.action, MetaAction) for p in plans)
    assert planner.stats["fallbacks"] == sum(p.fallback for p in plans)
    assert all(p.raw_text is not None for p in plans)


def test_sampling_is_seeded(tiny_model: Path) -> None:
    config = {"model": str(tiny_model), "max_new_tokens": 8, "do_sample": True, "num_candidates": 2, "seed": 3}
    first = build_vlm_planner(config).plan(frame_input(50))
    second = build_vlm_planner(config).plan(frame_input(50))
    assert first.facts["candidates"] == second.facts["candidates"]
