"""GRPO throughput of a training preset: completions (samples) per second and seconds per optimiser step.

    uv run python benchmarks/bench_grpo.py                                  # tiny-cpu preset
    uv run python benchmarks/bench_grpo.py train/grpo=tiny-cpu train.grpo.model.tiny_size=small
    uv run python benchmarks/bench_grpo.py train/grpo=qwen2vl-2b train.grpo.data.path=... train.grpo.max_steps=10

Arguments are Hydra overrides of conf/grpo.yaml. The tiny model and synthetic data are built before the clock
starts; the first step (warm-up) is excluded. Writes benchmarks/results/bench_grpo.json.
"""

from __future__ import annotations

import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from hydra import compose, initialize_config_dir
from transformers import TrainerCallback

from planner.config import from_mapping, to_dict
from training.grpo import GRPORunConfig, build_trainer

CONF = str(Path(__file__).resolve().parents[1] / "conf")


class StepClock(TrainerCallback):
    def __init__(self) -> None:
        self.ends: list[float] = []

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.ends.append(time.perf_counter())


def main(overrides: list[str]) -> None:
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(config_name="grpo", overrides=overrides)
    run = from_mapping(GRPORunConfig, cfg.train.grpo, "train.grpo")
    run = GRPORunConfig(**{**run.__dict__, "report_to": (), "save_steps": 10**9})
    with tempfile.TemporaryDirectory() as tmp:
        trainer = build_trainer(run, Path(tmp))
        clock = StepClock()
        trainer.add_callback(clock)
        start = time.perf_counter()
        trainer.train()
        total = time.perf_counter() - start
    steps = len(clock.ends)
    per_step = trainer.args.per_device_train_batch_size * trainer.args.gradient_accumulation_steps
    timed = clock.ends[-1] - clock.ends[0] if steps > 1 else total
    timed_steps = max(steps - 1, 1)
    logs = [h for h in trainer.state.log_history if "reward" in h]
    report = {
        "preset": overrides,
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else platform.processor() or "cpu",
        "torch_threads": torch.get_num_threads(),
        "steps": steps,
        "completions_per_step": per_step,
        "samples_per_s": per_step * timed_steps / timed,
        "seconds_per_step": timed / timed_steps,
        "train_wall_s": total,
        "mean_completion_length": sum(h["completions/mean_length"] for h in logs) / max(len(logs), 1),
        "reward_first_last": [logs[0]["reward"], logs[-1]["reward"]] if logs else None,
        "run_config": to_dict(run),
    }
    out = Path("benchmarks/results/bench_grpo.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "run_config"}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
