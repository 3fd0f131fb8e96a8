"""SFT warm-up for the VLM planner with TRL's SFTTrainer (the first stage of the AlphaDrive recipe).

    python training/sft.py                                    # tiny-cpu preset: tiny model + synthetic data, CPU
    accelerate launch --config_file conf/accelerate/deepspeed_zero2.yaml training/sft.py train/sft=qwen2vl-2b \\
        train.sft.data.path=data/metaad train.sft.output_dir=outputs/sft-2b

Targets are `<think> ... </think> <answer> ... </answer>` (reasoning distilled from a teacher) or the answer alone
(`with_reasoning=false`); with `completion_only_loss` only the assistant reply is trained. The final model and
processor are saved to `<output_dir>/final`, the directory GRPO starts from.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from planner.config import from_mapping, to_dict
from planner.vlm import load_processor
from training.common import DataSource, ModelSource, model_checkpoint, resolve_data, run_dir, trainer_kwargs
from training.dataset import to_sft_format

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SFTRunConfig:
    model: ModelSource = field(default_factory=ModelSource)
    data: DataSource = field(default_factory=DataSource)
    output_dir: str | None = None  # None: the Hydra run directory
    resume_from_checkpoint: str | None = None  # a checkpoint dir, or "latest"
    seed: int = 0
    with_reasoning: bool = True  # target = thinking + solution; false: solution only
    completion_only_loss: bool = True
    max_length: int | None = None  # tokens, prompt included; None: no truncation
    learning_rate: float = 2e-5
    lr_scheduler_type: str = "cosine"
    warmup_steps: float = 0.03  # int: steps; float in [0, 1): fraction of training
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    per_device_train_batch_size: int = 4
    gradient_accumulation_steps: int = 1
    max_steps: int = -1
    num_train_epochs: float = 1.0
    bf16: bool = False
    eval_steps: int | None = None  # evaluate the validation loss every N steps; None: no evaluation
    deepspeed: str | None = None
    logging_steps: int = 1
    save_steps: int = 100
    save_total_limit: int | None = 2
    report_to: tuple[str, ...] = ("tensorboard",)
    dataloader_num_workers: int = 0
    extra: dict[str, Any] = field(default_factory=dict)  # any further SFTConfig field, passed through verbatim


def build_sft_config(run: SFTRunConfig, output_dir: Path) -> Any:
    from trl import SFTConfig

    kwargs: dict[str, Any] = {
        **trainer_kwargs(run, output_dir),
        "completion_only_loss": run.completion_only_loss,
        "max_length": run.max_length,
        "per_device_eval_batch_size": run.per_device_train_batch_size,
        "eval_strategy": "steps" if run.eval_steps else "no",
        "eval_steps": run.eval_steps,
    }
    kwargs.update(run.extra)
    return SFTConfig(**kwargs)


def build_trainer(run: SFTRunConfig, output_dir: Path, callbacks: list[Any] | None = None) -> Any:
    from trl import SFTTrainer

    output_dir.mkdir(parents=True, exist_ok=True)
    args = build_sft_config(run, output_dir)
    model_path = model_checkpoint(run.model, output_dir, "train.sft.model.path")
    data = resolve_data(run.data, output_dir)
    processor = load_processor(model_path, run.model.min_pixels, run.model.max_pixels)
    eval_dataset = None
    if run.eval_steps and "validation" in data:
        eval_dataset = to_sft_format(data["validation"], run.with_reasoning)
    return SFTTrainer(
        model=model_path,
        args=args,
        train_dataset=to_sft_format(data["train"], run.with_reasoning),
        eval_dataset=eval_dataset,
        processing_class=processor,
        callbacks=callbacks,
    )


def train(run: SFTRunConfig, output_dir: Path | None = None, callbacks: list[Any] | None = None) -> Any:
    """Build and run the trainer; saves the final model and processor to `<output_dir>/final`. Returns the trainer."""
    output_dir = output_dir or run_dir(run.output_dir)
    trainer = build_trainer(run, output_dir, callbacks)
    resume = None if not run.resume_from_checkpoint else run.resume_from_checkpoint
    trainer.train(resume_from_checkpoint=True if resume == "latest" else resume)
    trainer.save_model(str(output_dir / "final"))
    record_answer_budget(output_dir / "final", trainer.train_dataset, trainer.processing_class)
    return trainer


def record_answer_budget(final: Path, train_dataset: Any, processor: Any, headroom: int = 8) -> int:
    """Write the longest training target (in tokens, plus `headroom` and the end token) as `max_new_tokens` in the
    checkpoint's generation config: a planner then generates what an answer in this mode can need and no more (an
    answer-only model about 20 tokens, not 128)."""
    from transformers import GenerationConfig

    tokenizer = getattr(processor, "tokenizer", processor)
    if "completion" not in train_dataset.column_names:
        return 0
    texts = [m[-1]["content"] for m in train_dataset["completion"]]
    contents = [t if isinstance(t, str) else " ".join(c.get("text", "") for c in t) for t in texts]
    if not contents:
        return 0
    longest = max(len(ids) for ids in tokenizer(contents, add_special_tokens=False)["input_ids"])
    config = GenerationConfig.from_pretrained(final)
    config.max_new_tokens = longest + 1 + headroom
    config.save_pretrained(final)
    return config.max_new_tokens


def main() -> None:
    from sim.cli import hydra_entry

    def _main(cfg: Any) -> None:
        run = from_mapping(SFTRunConfig, cfg.train.sft, "train.sft")
        log.info("SFT run config: %s", to_dict(run))
        trainer = train(run)
        log.info("finished: %s", trainer.state.log_history[-1:])

    hydra_entry("sft", _main)


if __name__ == "__main__":
    main()
