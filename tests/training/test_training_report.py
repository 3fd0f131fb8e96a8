"""The training page on a real tiny run: SFT then GRPO with TRL on the test-size Qwen2-VL, and the GRPO model
driven in closed loop as an evaluation; the page draws what the trainers logged and the evaluation's score."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from sim.report import write_training_report
from sim.run_route import drive
from training import grpo, sft
from training.common import DataSource, ModelSource

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_training_page_from_a_tiny_sft_and_grpo_run(tiny_model: Path, synthetic_data: Path, tmp_path: Path) -> None:
    run = tmp_path / "pipeline"
    data = DataSource(path=str(synthetic_data))
    sft.train(
        sft.SFTRunConfig(model=ModelSource(path=str(tiny_model)), data=data, max_steps=4, save_steps=2), run / "sft"
    )
    grpo.train(
        grpo.GRPORunConfig(
            model=ModelSource(path=str(run / "sft" / "final")),
            data=data,
            per_device_train_batch_size=4,
            max_completion_length=8,
            max_steps=3,
            save_steps=3,
        ),
        run / "grpo",
    )
    overrides = [
        "scenario=green_light_go",
        "planner=vlm",
        f"planner.model={run / 'grpo' / 'final'}",
        "planner.device=cpu",
        "planner.max_new_tokens=12",
        "timeout_s=4",
        "video.width=320",
        "progress=false",
        f"output_dir={run / 'closed_loop' / 'step-3'}",
    ]
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        drive(compose("run_route", overrides=overrides))
    evaluation = json.loads((run / "closed_loop" / "step-3" / "results.json").read_text())

    html = write_training_report(run).read_text()
    assert [h for h in re.findall(r"<h2>([^<]+)</h2>", html) if h in ("sft", "grpo")] == ["sft", "grpo"]
    figures = dict(re.findall(r'<script type="application/json" id="figure-([^"]+)">(.*?)</script>', html, re.DOTALL))
    sft_loss = json.loads(figures["stage1-loss"])["data"]
    assert next(t for t in sft_loss if t["name"] == "loss")["x"] == [1.0, 2.0, 3.0, 4.0]
    rewards = {t["name"]: t for t in json.loads(figures["stage2-rewards"])["data"]}
    assert {"reward", "rewards/speed_reward/mean", "rewards/path_reward/mean", "rewards/format_reward/mean"} <= set(
        rewards
    )
    assert rewards["reward"]["x"] == [1.0, 2.0, 3.0]
    closed = {t["name"]: t for t in json.loads(figures["closed-loop"])["data"]}
    assert closed["driving score"]["x"] == [3.0]
    assert closed["driving score"]["y"] == [pytest.approx(evaluation["driving_score"])]
    assert 'src="closed_loop/step-3/review.mp4"' in html
