"""The planning rewards reach the GRPO loss: a group with distinct rewards gives a loss and a gradient."""

from __future__ import annotations

from pathlib import Path

import torch

from planner.rewards import make_reward_functions
from training import grpo
from training.common import DataSource, ModelSource


def group_advantages(rewards: torch.Tensor) -> torch.Tensor:
    return (rewards - rewards.mean()) / (rewards.std() + 1e-4)  # GRPO's group normalisation


def test_distinct_rewards_give_nonzero_loss(tiny_model: Path, synthetic_data: Path, tmp_path: Path) -> None:
    run = grpo.GRPORunConfig(
        model=ModelSource(path=str(tiny_model)),
        data=DataSource(path=str(synthetic_data)),
        num_generations=4,
        per_device_train_batch_size=4,
        max_completion_length=8,
        beta=0.0,
        num_iterations=2,  # the batch is reused once, as in PPO-style GRPO
        report_to=(),
    )
    trainer = grpo.build_trainer(run, tmp_path)
    trainer.model.train()
    trainer.current_gradient_accumulation_steps = 1  # set by the training loop, which this test stands in for
    batch = [trainer.train_dataset[0]] * 4  # one prompt, one group of four
    inputs = trainer._generate_and_score_completions(batch)
    assert inputs["old_per_token_logps"] is not None

    # Rewards of four different answers to the same prompt, scored by our reward functions.
    solution = "<answer> STOP, LEFT_TURN </answer>"
    answers = [
        "<think> red light </think> <answer> STOP, LEFT_TURN </answer>",
        "<think> red light </think> <answer> STOP, STRAIGHT </answer>",
        "<answer> KEEP, LEFT_TURN </answer>",
        "no idea",
    ]
    funcs = make_reward_functions(group_size=4)
    rewards = torch.tensor([sum(vals) for vals in zip(*(f(answers, [solution] * 4) for f in funcs), strict=True)])
    assert len(set(rewards.tolist())) == 4

    params = [p for p in trainer.model.parameters() if p.requires_grad]

    def loss_and_grad(advantages: torch.Tensor) -> tuple[float, float]:
        trainer.model.zero_grad()
        loss = trainer.compute_loss(trainer.model, {**inputs, "advantages": advantages})
        loss.backward()
        return loss.item(), float(sum(p.grad.abs().sum() for p in params if p.grad is not None))

    flat_loss, flat_grad = loss_and_grad(torch.zeros(4))  # identical rewards: nothing to learn
    assert flat_loss == 0.0 and flat_grad == 0.0

    advantages = group_advantages(rewards)
    _, grad = loss_and_grad(advantages)
    assert grad > 0.0
    with torch.no_grad():  # one SGD step, then the second iteration on the same batch
        for p in params:
            if p.grad is not None:
                p -= 0.05 * p.grad
    loss, _ = loss_and_grad(advantages)
    assert loss != 0.0
