"""Pieces shared by the training scripts: where the model and the data come from, and the run directory."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from planner.checkpoints import resolve_model

if TYPE_CHECKING:
    from datasets import DatasetDict

DTYPES = ("auto", "float32", "bfloat16", "float16")


@dataclass(frozen=True)
class ModelSource:
    path: str | None = None  # checkpoint dir or hub id (base model or SFT output); None: build a tiny model offline
    tiny_size: str = "test"  # used only when path is None
    dtype: str = "float32"
    attn_implementation: str | None = None  # None: transformers' default (sdpa)
    min_pixels: int | None = None  # image size bounds for the processor; None keeps the checkpoint's
    max_pixels: int | None = None
    gradient_checkpointing: bool = False

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"model.dtype must be one of {DTYPES}, got {self.dtype!r}")
        from planner.tiny import SIZES  # transformers: only once a config is built

        if self.path is None and self.tiny_size not in SIZES:
            raise ValueError(f"model.tiny_size must be one of {sorted(SIZES)}, got {self.tiny_size!r}")

    def init_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"dtype": self.dtype}
        if self.attn_implementation:
            kwargs["attn_implementation"] = self.attn_implementation
        return kwargs


@dataclass(frozen=True)
class DataSource:
    path: str | None = None  # dataset root (train/ and validation/ shards); None: write a synthetic one, or collect
    # With no path: collect this dataset from the simulator under the run dir (training/collect.py CollectConfig
    # keys, e.g. a few suite scenarios with snapshots=true for outcome rewards) instead of the synthetic images.
    collect: dict[str, Any] | None = None
    synthetic_train: int = 32
    synthetic_validation: int = 8
    synthetic_seed: int = 0
    max_train_samples: int | None = None
    max_eval_samples: int | None = None
    drop_hidden_causes: bool = True  # leave out training samples whose label rests on an actor the camera cannot show


def model_checkpoint(source: ModelSource, workdir: Path, field: str = "model.path") -> str:
    """The checkpoint to train from: `path` checked (planner.checkpoints), or a tiny model built under `workdir`."""
    if source.path is not None:
        return resolve_model(source.path, field=field)
    from planner.tiny import build_tiny_model

    target = workdir / f"tiny-{source.tiny_size}"
    if not (target / "config.json").exists():
        build_tiny_model(target, source.tiny_size)
    return str(target)


def resume_checkpoint(resume: str | None, output_dir: Path) -> Path | None:
    """The checkpoint a run resumes from (`latest`: the newest `checkpoint-N` in `output_dir`; or a path)."""
    if not resume:
        return None
    if resume != "latest":
        return Path(resume)
    steps = [(int(p.name.rsplit("-", 1)[1]), p) for p in output_dir.glob("checkpoint-*") if p.name[11:].isdigit()]
    return max(steps)[1] if steps else None


def resume_argument(resume: str | None, output_dir: Path) -> str | bool | None:
    """`Trainer.train(resume_from_checkpoint=...)`: the checkpoint path, or True for `latest` when there is none (the
    trainer then says so), or None."""
    checkpoint = resume_checkpoint(resume, output_dir)
    return str(checkpoint) if checkpoint is not None else (True if resume == "latest" else None)


def start_weights(source: ModelSource, resume: str | None, output_dir: Path, field: str) -> str:
    """Where a training run's weights come from: the checkpoint it resumes, else the configured model.

    With TRL's SFTTrainer the trainer's own resume restored the optimiser, scheduler and step but not the weights: a
    resumed run went on from the initial model (tests/training/test_chain.py). Loading the checkpoint itself through
    `from_pretrained` makes a resumed run continue from the saved weights."""
    checkpoint = resume_checkpoint(resume, output_dir)
    return str(checkpoint) if checkpoint is not None else model_checkpoint(source, output_dir, field)


def data_root(source: DataSource, workdir: Path) -> Path:
    """Where the dataset is; with no path configured, collects it (`collect`) or writes the synthetic one under
    `workdir` the first time."""
    if source.path:
        return Path(source.path)
    if source.collect is not None:
        from planner.config import from_mapping
        from training.collect import CollectConfig, collect

        root = workdir / "collected-data"
        settings = {"progress": False, **source.collect, "output_dir": str(root)}
        collect(from_mapping(CollectConfig, settings, "data.collect"), log=logging.getLogger(__name__).info)
        return root  # collect resumes: a finished collection is only checked
    from training.synthetic import write_synthetic_dataset

    root = workdir / "synthetic-data"
    if not (root / "train").exists():
        write_synthetic_dataset(root, source.synthetic_train, source.synthetic_validation, source.synthetic_seed)
    return root


def resolve_data(source: DataSource, workdir: Path) -> DatasetDict:
    """The dataset splits; writes the synthetic dataset under `workdir` when no path is configured."""
    from training.dataset import load_planning_dataset

    data = load_planning_dataset(data_root(source, workdir))
    if source.drop_hidden_causes and "train" in data and "cause_visible" in data["train"].column_names:
        data["train"] = data["train"].filter(lambda row: row["cause_visible"] is not False, desc="drop hidden causes")
    limits = {"train": source.max_train_samples, "validation": source.max_eval_samples}
    for split, limit in limits.items():
        if limit is not None and split in data and len(data[split]) > limit:
            data[split] = data[split].select(range(limit))
    return data


def run_dir(configured: str | None) -> Path:
    """`configured`, or Hydra's output directory when running under Hydra, or ./outputs."""
    if configured:
        return Path(configured)
    try:
        from hydra.core.hydra_config import HydraConfig

        return Path(HydraConfig.get().runtime.output_dir)
    except (ImportError, ValueError):
        return Path("outputs")


def trainer_kwargs(run: Any, output_dir: Path) -> dict[str, Any]:
    """Arguments that SFT and GRPO runs pass the same way to their TRL config (both are transformers
    TrainingArguments underneath); each builder adds its own."""
    return {
        "output_dir": str(output_dir),
        "seed": run.seed,
        "learning_rate": run.learning_rate,
        "lr_scheduler_type": run.lr_scheduler_type,
        "warmup_steps": run.warmup_steps,
        "weight_decay": run.weight_decay,
        "max_grad_norm": run.max_grad_norm,
        "per_device_train_batch_size": run.per_device_train_batch_size,
        "gradient_accumulation_steps": run.gradient_accumulation_steps,
        "max_steps": run.max_steps,
        "num_train_epochs": run.num_train_epochs,
        "bf16": run.bf16,
        "gradient_checkpointing": run.model.gradient_checkpointing,
        "model_init_kwargs": run.model.init_kwargs(),
        "deepspeed": run.deepspeed,
        "logging_steps": run.logging_steps,
        "save_steps": run.save_steps,
        "save_total_limit": run.save_total_limit,
        "report_to": list(run.report_to),
        "dataloader_num_workers": run.dataloader_num_workers,
        "remove_unused_columns": False,  # GRPO rewards read `solution`; the SFT collator needs `image`
    }
