"""The whole learning chain on the test-size tiny model, on CPU: SFT -> GRPO -> evaluate."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch
from safetensors.torch import load_file

from planner.checkpoints import answer_token_budget
from planner.vlm import VLMPlannerConfig
from training import evaluate, grpo, sft
from training.common import DataSource, ModelSource
from training.dataset import completion_text, load_planning_dataset


def weights(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path / "model.safetensors"))


def changed(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> int:
    return sum(not torch.equal(before[k], after[k]) for k in before)


def test_sft_grpo_evaluate_chain(tiny_model: Path, synthetic_data: Path, tmp_path: Path) -> None:
    data = DataSource(path=str(synthetic_data))
    sft_run = sft.SFTRunConfig(
        model=ModelSource(path=str(tiny_model)),
        data=data,
        learning_rate=1e-3,
        per_device_train_batch_size=4,
        max_steps=3,
        save_steps=2,
        report_to=("tensorboard",),
    )
    sft_trainer = sft.train(sft_run, tmp_path / "sft")
    sft_final = tmp_path / "sft" / "final"
    assert changed(weights(tiny_model), weights(sft_final)) > 0
    assert (tmp_path / "sft" / "checkpoint-2").is_dir()
    assert any((tmp_path / "sft" / "runs").rglob("events.out.tfevents.*"))
    losses = [h["loss"] for h in sft_trainer.state.log_history if "loss" in h]
    assert len(losses) == 3 and all(loss > 0 for loss in losses)
    # the checkpoint records how long its answers can be; the planner generates that much and no more
    budget = json.loads((sft_final / "generation_config.json").read_text())["max_new_tokens"]
    tokenizer = sft_trainer.processing_class.tokenizer
    targets = [completion_text(r) for r in load_planning_dataset(synthetic_data)["train"]]
    assert budget == max(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in targets) + 9
    assert answer_token_budget(str(sft_final)) == budget and answer_token_budget(str(tmp_path)) == 128

    grpo_run = grpo.GRPORunConfig(
        model=ModelSource(path=str(sft_final)),
        data=data,
        num_generations=4,
        per_device_train_batch_size=8,
        max_completion_length=12,
        learning_rate=1e-3,
        max_steps=2,
        save_steps=100,
    )
    grpo_trainer = grpo.train(grpo_run, tmp_path / "grpo")
    grpo_final = tmp_path / "grpo" / "final"
    assert changed(weights(sft_final), weights(grpo_final)) > 0
    logged = [h for h in grpo_trainer.state.log_history if "reward" in h]
    assert len(logged) == 2
    for name in ("speed_reward", "path_reward", "format_reward"):
        assert all(f"rewards/{name}/mean" in h for h in logged), name

    planner = VLMPlannerConfig(model=str(grpo_final), max_new_tokens=12, batch_size=4, device="cpu")
    eval_config = evaluate.EvalConfig(data=data, max_samples=4, meteor=False, label="tiny")
    results = evaluate.run(eval_config, planner, tmp_path / "eval")
    assert results["samples"] == 4
    assert 0.0 <= results["planning"]["accuracy"] <= 1.0
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["label"] == "tiny" and "f1/STOP" in metrics["planning"] and "CIDEr" in metrics["reasoning"]
    table = (tmp_path / "eval" / "table.md").read_text()
    assert "| Method | Keep F1 |" in table and "| tiny |" in table
    assert len((tmp_path / "eval" / "predictions.jsonl").read_text().splitlines()) == 4
    again = evaluate.run(eval_config, planner, tmp_path / "eval-again")
    assert again["planning"] == results["planning"]  # greedy and seeded: reproducible
    assert results["protocol"] == "standard" and "set-based" in table
    paper = dataclasses.replace(eval_config, protocol="alphadrive")
    lenient = evaluate.run(paper, planner, tmp_path / "eval-paper")
    assert lenient["protocol"] == "alphadrive" and set(lenient["planning"]) == set(results["planning"])
    assert json.loads((tmp_path / "eval-paper" / "metrics.json").read_text())["config"]["planner"]["do_sample"]


def test_grpo_resumes_from_checkpoint(tiny_model: Path, synthetic_data: Path, tmp_path: Path) -> None:
    run = grpo.GRPORunConfig(
        model=ModelSource(path=str(tiny_model)),
        data=DataSource(path=str(synthetic_data)),
        per_device_train_batch_size=4,
        max_completion_length=6,
        max_steps=2,
        save_steps=1,
        report_to=(),
    )
    grpo.train(run, tmp_path)
    assert (tmp_path / "checkpoint-2").is_dir()
    resumed = grpo.train(
        grpo.GRPORunConfig(**{**run.__dict__, "max_steps": 3, "resume_from_checkpoint": "latest"}), tmp_path
    )
    assert resumed.state.global_step == 3
    steps = [h["step"] for h in resumed.state.log_history if "loss" in h]
    assert steps == [1, 2, 3]  # history restored from checkpoint-2, then one new step
