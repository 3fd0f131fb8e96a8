"""Each loss switch of a GRPO run reaches the loss: behaviour cloning (and its annealing), the entropy bonus, the KL
coefficient, and per-reward normalisation before summing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from training import grpo
from training.common import DataSource, ModelSource


def trainer_for(tiny_model: Path, synthetic_data: Path, tmp_path: Path, **settings: Any) -> Any:
    run = grpo.GRPORunConfig(
        model=ModelSource(path=str(tiny_model)),
        data=DataSource(path=str(synthetic_data)),
        num_generations=4,
        per_device_train_batch_size=4,
        max_completion_length=8,
        report_to=(),
        **{"beta": 0.0, **settings},
    )
    trainer = grpo.build_trainer(run, tmp_path)
    trainer.model.train()
    trainer.current_gradient_accumulation_steps = 1  # set by the training loop, which these tests stand in for
    return trainer


def one_group(trainer: Any) -> dict[str, Any]:
    inputs = trainer._generate_and_score_completions([trainer.train_dataset[0]] * 4)
    return {**inputs, "advantages": torch.zeros(4)}  # no policy-gradient signal: only the extra terms remain


def test_bc_loss_is_the_expert_answers_nll_and_anneals(tiny_model: Path, synthetic_data: Path, tmp_path: Path) -> None:
    plain = trainer_for(tiny_model, synthetic_data, tmp_path / "plain")
    assert plain.compute_loss(plain.model, one_group(plain)).item() == 0.0

    trainer = trainer_for(tiny_model, synthetic_data, tmp_path / "bc", bc_weight=0.5, bc_anneal_steps=10)
    inputs = one_group(trainer)
    nll = trainer.bc_nll(trainer.model, inputs)
    assert nll.item() > 1.0  # an untrained model does not predict the expert's answer
    loss = trainer.compute_loss(trainer.model, inputs)
    assert loss.item() == pytest.approx(0.5 * nll.item(), rel=1e-4)
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in trainer.model.parameters())

    trainer.state.global_step = 5  # half-way through the annealing
    assert trainer.compute_loss(trainer.model, inputs).item() == pytest.approx(0.25 * nll.item(), rel=1e-4)
    trainer.state.global_step = 10
    assert trainer.compute_loss(trainer.model, inputs).item() == 0.0


def test_entropy_bonus_lowers_the_loss(tiny_model: Path, synthetic_data: Path, tmp_path: Path) -> None:
    trainer = trainer_for(tiny_model, synthetic_data, tmp_path, entropy_coef=0.1)
    loss = trainer.compute_loss(trainer.model, one_group(trainer))
    assert loss.item() < 0.0  # L = L_policy - coef * H, and an untrained model's entropy is high


def test_kl_term_grows_once_the_policy_leaves_the_reference(
    tiny_model: Path, synthetic_data: Path, tmp_path: Path
) -> None:
    trainer = trainer_for(tiny_model, synthetic_data, tmp_path, beta=0.5)
    inputs = one_group(trainer)
    assert inputs["ref_per_token_logps"] is not None
    assert trainer.compute_loss(trainer.model, inputs).item() == pytest.approx(0.0, abs=1e-6)
    with torch.no_grad():
        for p in trainer.model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    assert trainer.compute_loss(trainer.model, inputs).item() > 1e-4


@pytest.mark.parametrize("aggregation", ["sum_then_normalize", "normalize_then_sum"])
def test_reward_aggregation_switch(
    aggregation: str, tiny_model: Path, synthetic_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two rewards on very different scales: summed first, the large one decides the advantages alone; normalised
    first, the small one counts as much."""
    rewards = grpo.RewardSettings(weights={"speed": 1.0, "path": 1.0})
    trainer = trainer_for(tiny_model, synthetic_data, tmp_path, multi_objective_aggregation=aggregation, reward=rewards)
    per_func = torch.tensor([[100.0, 0.0], [0.0, 1.0], [0.0, 0.0], [100.0, 1.0]])
    monkeypatch.setattr(trainer, "_calculate_rewards", lambda *args: per_func)
    advantages = trainer._generate_and_score_completions([trainer.train_dataset[0]] * 4)["advantages"]
    if aggregation == "sum_then_normalize":
        assert advantages[1].item() == pytest.approx(advantages[2].item(), abs=0.05)  # the path reward is lost
    else:
        assert advantages[1].item() > advantages[2].item() + 0.5
        assert advantages[1].item() == pytest.approx(advantages[0].item(), abs=1e-3)  # each reward counts alike
