"""Every entry point answers bad input with one line on stderr naming what is wrong, exit 2, no traceback."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml
from closed_loop_helpers import write_scenario
from process_helpers import Processes

REPO = Path(__file__).resolve().parents[2]


def _one_error_line(processes: Processes, tmp_path: Path, script: str, *args: str, env: dict | None = None) -> str:
    import os

    cmd = [sys.executable, script, *args, f"hydra.run.dir={tmp_path / 'hydra'}"]
    done = processes.run(cmd, timeout=180, cwd=REPO, env={**os.environ, **(env or {})})
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2, (done.returncode, done.stderr[-3000:])
    assert "Traceback" not in done.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["plan_period=-1"], "run_route: plan_period must be a positive number of seconds, got -1"),
        (["plan_period=0"], "plan_period must be a positive number of seconds, got 0"),
        (["timeout_s=-5"], "timeout_s must be positive or null, got -5"),
        (["bogus=1"], "run_route: unknown key 'bogus'; valid keys there: controller,"),
        (["+bogus=1"], "run_route: unknown key(s) ['bogus']"),
        (["video.widht=640"], "unknown key 'video.widht'; valid keys there: bev,"),
        (["planner=foo"], "run_route: no config 'planner/foo'; planner can be: constant, expert, vlm"),
        (["scenario=no_such_scenario"], "no_such_scenario"),
    ],
)
def test_run_route_bad_input(processes: Processes, tmp_path: Path, args: list[str], expected: str) -> None:
    line = _one_error_line(processes, tmp_path, "sim/run_route.py", *args, f"output_dir={tmp_path / 'out'}")
    assert expected in line
    assert not (tmp_path / "out").exists()


def test_collect_bad_input(processes: Processes, tmp_path: Path) -> None:
    out = f"output_dir={tmp_path / 'data'}"
    assert "collect: unknown key 'bogus'" in _one_error_line(processes, tmp_path, "training/collect.py", out, "bogus=1")
    line = _one_error_line(processes, tmp_path, "training/collect.py", out, "sources.procedual_episodes=3")
    valid = "valid keys there: families, procedural, procedural_episodes, suite"
    assert f"unknown key 'sources.procedual_episodes'; {valid}" in line
    line = _one_error_line(processes, tmp_path, "training/collect.py", out, "workers=0")
    assert "collect: workers, sample_every and stall_steps must be >= 1" in line
    missing = tmp_path / "missing.yaml"
    line = _one_error_line(processes, tmp_path, "training/collect.py", out, f"sources.suite=[{missing}]")
    assert line == f"error: {missing}: file not found"
    two_by_two = {"name": "grid", "rows": 2, "cols": 2, "lanes": 1, "block_m": 90}
    bad = write_scenario(tmp_path, name="corners", map=two_by_two, route={"maneuvers": ["straight"]})
    line = _one_error_line(processes, tmp_path, "training/collect.py", out, f"sources.suite=[{bad}]")
    assert line.startswith(f"error: {bad}: route: no junction on this map lets a route go straight through it")
    assert not (tmp_path / "data").exists()


@pytest.mark.slow
def test_evaluate_names_a_missing_model_or_split_in_one_line(processes: Processes, tmp_path: Path) -> None:
    from planner.tiny import build_tiny_model

    out = f"eval.output_dir={tmp_path / 'eval'}"
    line = _one_error_line(processes, tmp_path, "training/evaluate.py", out, "planner.model=/nonexistent/ckpt")
    assert "planner.model: /nonexistent/ckpt does not exist" in line
    offline = {"HF_HUB_OFFLINE": "1"}
    hub = "planner.model=Qwen/Qwen2-VL-2B-Instruct"
    line = _one_error_line(processes, tmp_path, "training/evaluate.py", out, hub, env=offline)
    assert "Qwen/Qwen2-VL-2B-Instruct is not in the local Hugging Face cache" in line
    assert "set planner.model to a local checkpoint" in line
    model = build_tiny_model(tmp_path / "tiny", "test")
    args = (out, f"planner.model={model}", "planner.device=cpu", "eval.split=train")
    line = _one_error_line(processes, tmp_path, "training/evaluate.py", *args)
    assert "eval.split: the synthetic dataset has no split 'train'; it has validation" in line


def test_hydra_run_log_holds_what_the_console_showed(processes: Processes, tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, criteria={"timeout_s": 3})
    out = tmp_path / "out"
    cmd = [sys.executable, "sim/run_route.py", f"scenario={scenario}", "planner=constant", "video.enabled=false",
           "progress=false", f"output_dir={out}", f"hydra.run.dir={tmp_path / 'hydra'}"]  # fmt: skip
    done = processes.run(cmd, timeout=180, cwd=REPO)
    assert done.returncode == 0, done.stderr
    for log in (tmp_path / "hydra" / "run_route.log", out / "run_route.log"):
        text = log.read_text()
        assert f"results and videos: {out}" in text and "straight_road: DS" in text, log
    assert f"results and videos: {out}" in done.stdout


def test_collect_exits_nonzero_and_names_each_failed_episode(tmp_path: Path, monkeypatch, capsys) -> None:
    """An episode whose scenario cannot be built is recorded as failed; the command line says which and why."""
    import training.rollout as rollout
    from training.collect import run_cli

    def cannot_load(*_args, **_kwargs):
        raise rollout.LoadFailure("RuntimeError: the town cannot host this draw")

    monkeypatch.setattr(rollout, "_load", cannot_load)
    cfg = {"output_dir": str(tmp_path / "data"), "workers": 1, "progress": False,
           "sources": {"suite": [], "procedural_episodes": 2}, "sim": {"render": False}}  # fmt: skip
    assert run_cli(yaml.safe_load(yaml.safe_dump(cfg))) == 1
    err = capsys.readouterr().err
    assert "failed episode proc-00000: RuntimeError: the town cannot host this draw" in err
    assert "failed episode proc-00001" in err
