"""The training page from what TRL trainers write: log_history in trainer_state.json (newest checkpoint), TensorBoard
events (preferred when they reach further), stages in the order they ran, closed-loop evaluations by step."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from report_helpers import results, write_route

from sim.report import ReportError, write_training_report
from sim.report.training_page import find_evaluations, find_stages, log_history_series, read_trainer_state


def write_state(folder: Path, steps: int, base: float = 1.0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    history = [{"step": s, "epoch": s / 10, "loss": base / s, "reward": 0.1 * s} for s in range(1, steps + 1)]
    history.append({"step": steps, "train_runtime": 3.0, "train_loss": 0.5, "total_flos": 0.0})
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": steps, "log_history": history}))


def test_log_history_keeps_curves_and_drops_the_run_summary() -> None:
    history = [{"step": 1, "loss": 2.0, "epoch": 0.1}, {"step": 2, "eval_loss": 1.5}, {"train_runtime": 3.0}]
    history.append({"step": 2, "train_loss": 1.9, "total_flos": 0.0, "rewards/format_reward/mean": 1.0})
    assert log_history_series(history) == {
        "loss": [(1.0, 2.0)],
        "eval_loss": [(2.0, 1.5)],
        "rewards/format_reward/mean": [(2.0, 1.0)],
    }


def test_newest_checkpoint_state_and_tensorboard_when_it_reaches_further(tmp_path: Path) -> None:
    from torch.utils.tensorboard import SummaryWriter

    write_state(tmp_path / "sft" / "checkpoint-2", 2)
    write_state(tmp_path / "sft" / "checkpoint-4", 4)
    series, source, _ = read_trainer_state(tmp_path / "sft")
    assert source == "checkpoint-4/trainer_state.json" and [s for s, _ in series["loss"]] == [1, 2, 3, 4]

    write_state(tmp_path / "grpo" / "checkpoint-2", 2)
    writer = SummaryWriter(str(tmp_path / "grpo" / "runs" / "May01"))
    for step in range(1, 7):
        writer.add_scalar("train/loss", 1.0 / step, step)
        writer.add_scalar("train/epoch", step / 10, step)
    writer.add_scalar("eval/loss", 0.7, 6)
    writer.close()
    os.utime(tmp_path / "grpo" / "checkpoint-2" / "trainer_state.json", (2e9, 2e9))  # written after SFT's

    stages = find_stages(tmp_path)
    assert [s.name for s in stages] == ["sft", "grpo"]
    grpo = stages[1]
    assert grpo.source.startswith("runs/") and set(grpo.series) == {"loss", "eval_loss"}
    assert grpo.series["loss"][-1] == (6.0, pytest.approx(1 / 6)) and grpo.last_step == 6


def test_page_has_stage_curves_and_the_closed_loop_score_per_evaluation(tmp_path: Path) -> None:
    run = tmp_path / "pipeline"
    write_state(run / "sft" / "checkpoint-3", 3)
    write_route(run / "closed_loop" / "step-0" / "a", results("a", driving_score=20.0, success=False))
    write_route(run / "closed_loop" / "step-0" / "b", results("b", driving_score=40.0, success=False))
    write_route(run / "closed_loop" / "step-30" / "a", results("a", driving_score=90.0), video_s=0.5)
    (run / "closed_loop" / "notes").mkdir()  # no step in its name: not an evaluation
    assert list(find_evaluations(run)) == [0, 30]

    html = write_training_report(run).read_text()
    figures = dict(re.findall(r'<script type="application/json" id="figure-([^"]+)">(.*?)</script>', html, re.DOTALL))
    closed = json.loads(figures["closed-loop"])
    ds = next(t for t in closed["data"] if t["name"] == "driving score")
    assert ds["x"] == [0.0, 30.0] and ds["y"] == [30.0, 90.0]
    success = next(t for t in closed["data"] if t["name"] == "success rate (%)")
    assert success["y"] == [0.0, 100.0]
    assert {"stage1-loss", "stage1-rewards"} <= set(figures)
    assert re.findall(r'<tr data-step="(\d+)">', html) == ["0", "30"]
    assert 'src="closed_loop/step-30/a/review.mp4"' in html


def test_a_folder_without_logs_or_evaluations_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="no training logs"):
        write_training_report(tmp_path)
