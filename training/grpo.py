"""GRPO for the VLM planner with TRL's GRPOTrainer and the planning rewards of `planner.rewards`.

    python training/grpo.py                                   # tiny-cpu preset: tiny model + synthetic data, CPU
    python training/grpo.py train/grpo=qwen2vl-2b train.grpo.model.path=outputs/sft-2b/final \
        train.grpo.data.path=data/metaad
    accelerate launch --config_file conf/accelerate/deepspeed_zero2.yaml training/grpo.py train/grpo=qwen2vl-2b ...

The run config lives under `train.grpo` (conf/train/grpo/base.yaml lists every key with its default; presets
override some). Unknown keys are rejected.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from planner.config import from_mapping, to_dict
from planner.rewards import LocalGatherer, RewardConfig, TorchDistributedGatherer, make_reward_functions
from planner.vlm import load_processor
from training.common import (
    DataSource,
    ModelSource,
    data_root,
    resolve_data,
    resume_argument,
    run_dir,
    start_weights,
    trainer_kwargs,
)
from training.dataset import to_grpo_format

log = logging.getLogger(__name__)
LOSS_TYPES = ("grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo")


@dataclass(frozen=True)
class RewardSettings:
    weights: dict[str, float] = field(default_factory=lambda: {"speed": 1.0, "path": 1.0, "format": 1.0})
    diversity_cap: float = 0.2
    use_accuracy: bool = True
    use_action_weight: bool = True
    use_diversity: bool = True
    speed_weights: dict[str, float] | None = None  # None: AlphaDrive's released action weights
    path_weights: dict[str, float] | None = None
    # Outcome rewards (training/outcome.py): each completion driven from its sample's saved state. 0: off (labels
    # only); the label weights above may be all 0 for outcome alone. Needs data collected with snapshots=true.
    outcome_scale: float = 0.0
    outcome: dict[str, Any] = field(default_factory=dict)  # training/outcome.py OutcomeConfig fields
    outcome_workers: int = 2  # simulator processes that score a batch (0: in the trainer's process)

    def reward_config(self) -> RewardConfig:
        tables = {k: v for k, v in (("speed_weights", self.speed_weights), ("path_weights", self.path_weights)) if v}
        return RewardConfig(
            diversity_cap=self.diversity_cap,
            use_accuracy=self.use_accuracy,
            use_action_weight=self.use_action_weight,
            use_diversity=self.use_diversity,
            **tables,
        )


@dataclass(frozen=True)
class GRPORunConfig:
    model: ModelSource = field(default_factory=ModelSource)
    data: DataSource = field(default_factory=DataSource)
    reward: RewardSettings = field(default_factory=RewardSettings)
    output_dir: str | None = None  # None: the Hydra run directory
    resume_from_checkpoint: str | None = None  # a checkpoint dir, or "latest" for the newest one in output_dir
    seed: int = 0
    # GRPO
    num_generations: int = 4  # group size G
    beta: float = 0.04  # KL coefficient; 0 skips the reference model
    loss_type: str = "dapo"
    epsilon: float = 0.2
    num_iterations: int = 1
    scale_rewards: str = "group"
    temperature: float = 1.0
    top_p: float = 1.0
    max_completion_length: int = 64
    # optimisation
    learning_rate: float = 1e-5
    lr_scheduler_type: str = "constant"
    warmup_steps: float = 0  # int: steps; float in [0, 1): fraction of training
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    per_device_train_batch_size: int = 4
    gradient_accumulation_steps: int = 1
    steps_per_generation: int | None = None
    max_steps: int = -1
    num_train_epochs: float = 1.0
    bf16: bool = False
    # generation backend
    use_vllm: bool = False
    vllm_mode: str = "colocate"
    vllm_gpu_memory_utilization: float = 0.3
    # loss terms beside the policy gradient (training/grpo_trainer.py; TRL's own switches)
    bc_weight: float = 0.0  # behaviour cloning: NLL of the expert's answer, added with this weight
    bc_anneal_steps: int = 0  # the BC weight falls linearly to 0 over these steps (0: constant)
    entropy_coef: float = 0.0  # entropy bonus
    multi_objective_aggregation: str = "sum_then_normalize"  # or normalize_then_sum: each reward normalised first
    # bookkeeping
    deepspeed: str | None = None  # path to a DeepSpeed JSON (or pass it through `accelerate launch --config_file`)
    logging_steps: int = 1
    save_steps: int = 100
    save_total_limit: int | None = 2
    report_to: tuple[str, ...] = ("tensorboard",)
    log_completions: bool = False
    dataloader_num_workers: int = 0
    extra: dict[str, Any] = field(default_factory=dict)  # any further GRPOConfig field, passed through verbatim

    def __post_init__(self) -> None:
        if self.loss_type not in LOSS_TYPES:
            raise ValueError(f"loss_type must be one of {LOSS_TYPES}, got {self.loss_type!r}")
        if self.num_generations < 2:
            raise ValueError(f"num_generations must be >= 2 (a group needs two samples), got {self.num_generations}")
        unknown = set(self.reward.weights) - {"speed", "path", "format"}
        if unknown:
            raise ValueError(f"reward.weights must name rewards among speed/path/format, got {self.reward.weights}")
        if not any(self.reward.weights.values()) and self.reward.outcome_scale <= 0:
            raise ValueError("no reward: give reward.weights (labels) or reward.outcome_scale > 0 (outcomes)")
        if self.multi_objective_aggregation not in ("sum_then_normalize", "normalize_then_sum"):
            raise ValueError("multi_objective_aggregation must be sum_then_normalize or normalize_then_sum")
        if self.bc_weight < 0 or self.bc_anneal_steps < 0:
            raise ValueError("bc_weight and bc_anneal_steps must be >= 0")
        from training.outcome import OutcomeConfig

        OutcomeConfig(**self.reward.outcome)  # unknown terms or bad horizons fail here, not mid-training


def build_grpo_config(run: GRPORunConfig, output_dir: Path, reward_weights: list[float] | None = None) -> Any:
    """TRL GRPOConfig from the run config (`reward_weights`: one per reward function, in order)."""
    from trl import GRPOConfig

    kwargs: dict[str, Any] = {
        **trainer_kwargs(run, output_dir),
        "num_generations": run.num_generations,
        "beta": run.beta,
        "loss_type": run.loss_type,
        "epsilon": run.epsilon,
        "num_iterations": run.num_iterations,
        "scale_rewards": run.scale_rewards,
        "temperature": run.temperature,
        "top_p": run.top_p,
        "max_completion_length": run.max_completion_length,
        "reward_weights": reward_weights if reward_weights is not None else list(run.reward.weights.values()),
        "entropy_coef": run.entropy_coef,
        "multi_objective_aggregation": run.multi_objective_aggregation,
        "steps_per_generation": run.steps_per_generation,
        "use_vllm": run.use_vllm,
        "vllm_mode": run.vllm_mode,
        "vllm_gpu_memory_utilization": run.vllm_gpu_memory_utilization,
        "log_completions": run.log_completions,
    }
    kwargs.update(run.extra)
    return GRPOConfig(**kwargs)


def reward_gatherer() -> Any:
    """Across processes a GRPO group can be split; the diversity factor must then see the whole group."""
    from accelerate import PartialState

    return TorchDistributedGatherer() if PartialState().num_processes > 1 else LocalGatherer()


def reward_weights(run: GRPORunConfig) -> list[float]:
    """One weight per reward function, in the order `build_trainer` passes them: the label rewards of
    `reward.weights`, then (with outcomes on) one per outcome term and the logged failure count (weight 0)."""
    from training.outcome import OutcomeConfig
    from training.outcome_rewards import outcome_weights

    weights = [float(w) for w in run.reward.weights.values()]
    if run.reward.outcome_scale > 0:
        weights += outcome_weights(OutcomeConfig(**run.reward.outcome), run.reward.outcome_scale)
    return weights


def build_trainer(run: GRPORunConfig, output_dir: Path, callbacks: list[Any] | None = None) -> Any:
    from training.grpo_trainer import DrivingGRPOTrainer

    output_dir.mkdir(parents=True, exist_ok=True)
    args = build_grpo_config(run, output_dir, reward_weights(run))  # first: it sets up the process state
    model_path = start_weights(run.model, run.resume_from_checkpoint, output_dir, "train.grpo.model.path")
    data = resolve_data(run.data, output_dir)
    processor = load_processor(
        model_path, run.model.min_pixels, run.model.max_pixels, padding_side="left", truncation_side="left"
    )
    reward_funcs = make_reward_functions(
        run.reward.reward_config(), run.num_generations, reward_gatherer(), names=tuple(run.reward.weights)
    )
    if run.reward.outcome_scale > 0:
        from training.outcome import OutcomeConfig
        from training.outcome_rewards import OutcomeScorer, make_outcome_reward_functions

        scorer = OutcomeScorer(
            data_root(run.data, output_dir), OutcomeConfig(**run.reward.outcome), run.reward.outcome_workers
        )
        reward_funcs += make_outcome_reward_functions(scorer, run.reward.outcome_scale)[0]
    return DrivingGRPOTrainer(
        model=model_path,
        reward_funcs=reward_funcs,
        args=args,
        train_dataset=to_grpo_format(data["train"]),
        processing_class=processor,
        callbacks=callbacks,
        bc_weight=run.bc_weight,
        bc_anneal_steps=run.bc_anneal_steps,
    )


def train(run: GRPORunConfig, output_dir: Path | None = None, callbacks: list[Any] | None = None) -> Any:
    """Build and run the trainer; saves the final model and processor to `<output_dir>/final`. Returns the trainer."""
    output_dir = output_dir or run_dir(run.output_dir)
    trainer = build_trainer(run, output_dir, callbacks)
    trainer.train(resume_from_checkpoint=resume_argument(run.resume_from_checkpoint, output_dir))
    trainer.save_model(str(output_dir / "final"))
    return trainer


def run_config_from_hydra(cfg: Any) -> GRPORunConfig:
    return from_mapping(GRPORunConfig, cfg.train.grpo, "train.grpo")


def main() -> None:
    from sim.cli import hydra_entry

    def _main(cfg: Any) -> None:
        run = run_config_from_hydra(cfg)
        log.info("GRPO run config: %s", to_dict(run))
        trainer = train(run)
        history = [h for h in trainer.state.log_history if "train_runtime" in h]
        log.info("finished: %s", history[-1] if history else trainer.state.log_history[-1:])

    hydra_entry("grpo", _main)


if __name__ == "__main__":
    main()
