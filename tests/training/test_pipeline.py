"""training/pipeline.py: stages run once, resume after an interruption, and the report shows every stage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hydra import compose, initialize_config_dir

from planner.config import ConfigError, from_mapping
from training.dataset import load_planning_dataset
from training.pipeline import Pipeline, PipelineConfig, load_pipeline_config, merged
from training.rl_compare import CompareConfig, run_comparison

REPO = Path(__file__).resolve().parents[2]
SHORT_ROAD = {
    "name": "short_road",
    "description": "A short straight road with a light ahead: the planner must start and keep going.",
    "map": {"name": "arterial", "lanes": 2, "length_m": 400, "junctions": 1},
    "seed": 1,
    "route": {"start": [30.0, -5.25, 0.0], "maneuvers": [], "length_m": 60},
    "ego": {"speed": 4.0},
    "criteria": {"timeout_s": 6},
}
OUTCOME = {"weights": {"speed": 0.0, "path": 0.0, "format": 0.0}, "outcome_scale": 1.0,
           "outcome": {"horizon_s": 1.0, "expert_horizon_s": 0.5}}  # fmt: skip


def test_a_finished_stage_is_recorded_and_not_run_again(tmp_path: Path) -> None:
    calls: list[str] = []

    def work(out: Path) -> dict[str, Any]:
        calls.append(out.name)
        return {"value": 1}

    first = Pipeline(PipelineConfig(output_dir=str(tmp_path)))
    first.stage("collect", work)
    again = Pipeline(PipelineConfig(output_dir=str(tmp_path)))  # a rerun of the same command
    assert again.stage("collect", work)["value"] == 1 and calls == ["collect"]
    state = json.loads((tmp_path / "pipeline.json").read_text())
    assert state["stages"]["collect"]["value"] == 1 and "seconds" in state["stages"]["collect"]


def test_presets_compose_into_the_typed_config_and_typos_are_refused() -> None:
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cpu = load_pipeline_config(compose("pipeline"))
        gpu = load_pipeline_config(compose("pipeline", overrides=["pipeline=gpu"]))
    assert cpu.dagger.rounds >= 1 and cpu.grpo.run and cpu.eval.heldout_routes > 0
    assert gpu.sft["model"]["path"] == "Qwen/Qwen2-VL-2B-Instruct" and gpu.dagger.rounds > cpu.dagger.rounds
    with pytest.raises(ConfigError, match="dagger"):
        from_mapping(PipelineConfig, {"dagger": {"roundz": 1}}, "pipeline")
    assert merged({"a": {"b": 1, "c": 2}}, {"a": {"c": 3}}) == {"a": {"b": 1, "c": 3}}


@pytest.mark.slow
def test_the_whole_loop_at_toy_scale_then_a_rerun_does_nothing(tmp_path: Path) -> None:
    road = tmp_path / "short_road.yaml"
    road.write_text(yaml.safe_dump(SHORT_ROAD), encoding="utf-8")
    planner = {"device": "cpu", "max_new_tokens": 12}
    config = {
        "output_dir": str(tmp_path / "run"),
        "collect": {"workers": 1, "max_steps": 16, "sources": {"suite": [str(road)], "suite_seeds": 2,
                                                             "procedural_episodes": 1}},
        "sft": {"model": {"tiny_size": "test"}, "with_reasoning": False, "learning_rate": 1e-3,
                "per_device_train_batch_size": 4, "max_steps": 4, "save_steps": 2, "report_to": ["tensorboard"]},
        "dagger": {"rounds": 1, "collect": {"sources": {"suite": [str(road)], "suite_seeds": 1,
                                                        "procedural_episodes": 0}}, "sft": {"max_steps": 2}},
        "grpo": {"enabled": True, "run": {"num_generations": 2, "per_device_train_batch_size": 2,
                                          "max_completion_length": 12, "max_steps": 2, "save_steps": 2,
                                          "reward": {**OUTCOME, "outcome_workers": 0}},
                 "collect": {"sources": {"suite": [str(road)], "suite_seeds": 1, "procedural_episodes": 0}}},
        "train_eval": {"every_steps": 2, "scenarios": [str(road)]},
        "eval": {"suite": [str(road)], "heldout_routes": 1, "planner": planner, "stages": ["sft", "grpo"]},
    }  # fmt: skip
    pipeline = Pipeline(from_mapping(PipelineConfig, config, "pipeline"))
    state = pipeline.run()
    stages = state["stages"]
    assert list(stages) == [
        "collect", "sft", "collect_round1", "dagger1", "collect_grpo", "grpo", "eval_sft", "eval_grpo"
    ]  # fmt: skip
    states = load_planning_dataset(tmp_path / "run" / "grpo_states")
    assert all(r["snapshot"] for split in states.values() for r in split)  # outcome GRPO drives from saved states
    assert stages["collect_round1"]["rounds"] == {"0": pytest.approx(stages["collect"]["samples"]), "1": stages[
        "collect_round1"]["rounds"]["1"]}  # fmt: skip
    assert stages["sft"]["closed_loop"] and stages["sft"]["closed_loop"][0]["step"] == 2  # evaluated while training
    assert (tmp_path / "run" / "sft" / "closed_loop" / "step-2" / "summary.json").is_file()
    assert list((tmp_path / "run" / "sft").rglob("events.out.tfevents.*"))
    for name in ("eval_sft", "eval_grpo"):
        assert stages[name]["suite"]["routes"] == 1 and stages[name]["heldout"]["routes"] == 1
        assert "accuracy" in stages[name]["offline"]["planning"]
    run = tmp_path / "run"
    report = (run / "report.md").read_text()
    assert "| eval_grpo | " in report and "| sft | " in report and "| grpo | " in report and "Planning Acc." in report
    assert (run / "curves.png").stat().st_size > 0 and (run / "report.json").is_file()
    before = (run / "pipeline.json").read_text()
    Pipeline(from_mapping(PipelineConfig, config, "pipeline")).run()  # resume: everything is done
    assert json.loads((run / "pipeline.json").read_text())["stages"] == json.loads(before)["stages"]

    # GRPO arms from the run's DAgger planner: the same states and steps for each, one table
    compare = {
        "from_run": str(run), "output_dir": str(tmp_path / "compare"), "arms": ["start", "outcome_bc"],
        "grpo": {"run": config["grpo"]["run"], "collect": config["grpo"]["collect"]},
        "arm_overrides": {"outcome_bc": {"reward": {**OUTCOME, "outcome_workers": 0}, "bc_weight": 0.5}},
        "multimodality": {"states": 3, "samples": 2, "workers": 0},
    }  # fmt: skip
    result = run_comparison(from_mapping(CompareConfig, compare, "rl_compare"))
    assert result["start"]["stage"] == "dagger1"
    assert list(result["stages"]) == [
        "eval_start", "collect_states", "grpo_outcome_bc", "eval_outcome_bc", "multimodality"
    ]  # fmt: skip
    modes = result["stages"]["multimodality"]
    assert modes["states_scored"] == 3 and modes["multi_answer_states"] <= 3
    assert set(modes["planners"]) in (set(), {"start", "outcome_bc"})
    assert "eval_dagger1" not in stages and result["stages"]["eval_start"]["suite"]["routes"] == 1  # evaluated here
    table = (tmp_path / "compare" / "report.md").read_text()
    assert "| start | " in table and "| outcome_bc | " in table
    assert result["stages"]["grpo_outcome_bc"]["steps"] == 2 and result["stages"]["grpo_outcome_bc"]["reward_curve"]


def test_the_comparison_preset_composes_and_bad_arms_are_refused() -> None:
    from training.rl_compare import load_compare_config

    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cpu = load_compare_config(compose("rl_compare"))
    assert set(cpu.arms) == {"start", "label", "outcome", "outcome_bc", "rl_only"} and cpu.grpo.outcome is False
    assert cpu.arm_overrides["outcome"]["reward"]["outcome_scale"] > 0 and cpu.arm_overrides["outcome_bc"]["bc_weight"]
    with pytest.raises(ConfigError, match="arms: unknown"):
        from_mapping(CompareConfig, {"from_run": "x", "arms": ["start", "ppo"]}, "rl_compare")
    with pytest.raises(ConfigError, match="arm_overrides: no settings"):
        from_mapping(CompareConfig, {"from_run": "x", "arms": ["label"]}, "rl_compare")
