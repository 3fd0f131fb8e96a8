"""The training page: loss and reward curves of each SFT / GRPO stage of a run, the closed-loop driving score at
each evaluation, and the evaluation videos.

It reads what the trainers already write: TensorBoard event files (`<stage>/runs/**/events.out.tfevents.*`, TRL's
default `report_to`) and TRL's `trainer_state.json` `log_history` (in `<stage>/` or its newest `checkpoint-*/`),
taking whichever reaches the later step. A stage is `run_dir` itself or any folder below it (two levels at most)
holding such files, so a pipeline that trains `sft/`, `dagger_1/` and `grpo/` under one run folder gets one section
per stage. Closed-loop evaluations are `sim/run_route.py` output folders (a suite or a single route), passed as
`{step: folder}` or found as `<run_dir>/closed_loop/<name ending in the step>/` (e.g. `closed_loop/step-200`).

    from sim.report import write_training_report
    write_training_report("outputs/pipeline", evaluations={0: "outputs/pipeline/eval/sft", 200: ...})
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.report.figures import curves_figure, figure_json
from sim.report.pages import REPORT_FILE, write_page
from sim.report.runs import ReportError, Run, load_run, relative_url

EVALUATIONS_DIR = "closed_loop"
STATE_FILE = "trainer_state.json"
EVENTS_GLOB = "events.out.tfevents.*"
MAX_DEPTH = 2
# Trainer summary keys logged once at the end, and the epoch counter: not curves.
SUMMARY_KEYS = frozenset(
    {"train_runtime", "train_samples_per_second", "train_steps_per_second", "total_flos", "train_loss", "epoch"}
)
SHOWN_FIRST = ("kl", "entropy", "grad_norm")  # of the other scalars, these are drawn; the rest a legend click away
SKIP_DIRS = frozenset({"final", "runs", EVALUATIONS_DIR})

Series = dict[str, list[tuple[float, float]]]


@dataclass(frozen=True)
class Stage:
    name: str
    folder: Path
    series: Series
    source: str  # which file the curves came from
    started: float  # modification time of its first log file: stages are shown in the order they ran

    @property
    def last_step(self) -> float:
        return max((points[-1][0] for points in self.series.values() if points), default=0.0)

    def figures(self) -> list[tuple[str, str]]:
        """(figure id suffix, figure JSON) for the loss, reward and other curves that exist."""
        groups: dict[str, Series] = {"loss": {}, "rewards": {}, "other": {}}
        for name, points in sorted(self.series.items()):
            group = "loss" if "loss" in name else "rewards" if name.startswith("reward") else "other"
            groups[group][name] = points
        figures = []
        for group, series in groups.items():
            if not series:
                continue
            hidden = [n for n in series if n.endswith("std")]
            if group == "other":  # many scales on one axis: a few shown, the rest a legend click away
                shown = [n for n in SHOWN_FIRST if n in series] or list(series)[:1]
                hidden = [n for n in series if n not in shown]
            fig = curves_figure(f"{self.name}: {group}", series, hidden=hidden)
            figures.append((group, figure_json(fig)))
        return figures


@dataclass(frozen=True)
class Evaluation:
    step: int
    run: Run
    report_url: str | None = None
    videos: list[dict[str, Any]] = field(default_factory=list)


def log_history_series(history: list[Mapping[str, Any]]) -> Series:
    """Scalars per name from TRL's log_history (step-keyed entries; eval entries carry an `eval_` prefix)."""
    series: Series = {}
    for entry in history:
        step = entry.get("step")
        if not isinstance(step, int | float):
            continue
        for name, value in entry.items():
            if name == "step" or name in SUMMARY_KEYS:
                continue
            if isinstance(value, int | float) and not isinstance(value, bool):
                series.setdefault(name, []).append((float(step), float(value)))
    return series


def read_trainer_state(folder: Path) -> tuple[Series, str, float] | None:
    """The log_history of `folder/trainer_state.json`, or of the newest checkpoint's when the run saved no final
    state (Trainer writes it with every checkpoint)."""
    candidates = [folder / STATE_FILE, *folder.glob(f"checkpoint-*/{STATE_FILE}")]
    best: tuple[int, Path, list[Any]] | None = None
    for path in candidates:
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        history = state.get("log_history") if isinstance(state, dict) else None
        if isinstance(history, list):
            step = int(state.get("global_step") or 0)
            if best is None or step > best[0]:
                best = (step, path, history)
    if best is None:
        return None
    first = min(p.stat().st_mtime for p in candidates if p.is_file())
    return log_history_series(best[2]), best[1].relative_to(folder).as_posix(), first


def read_tensorboard(folder: Path) -> tuple[Series, str, float] | None:
    """Scalars of every event file under `folder/runs/`, `train/x` named `x` and `eval/x` named `eval_x` as in
    log_history; a later file (a resumed run) overrides the steps it repeats."""
    files = sorted((folder / "runs").rglob(EVENTS_GLOB), key=lambda p: p.stat().st_mtime) if folder.is_dir() else []
    if not files:
        return None
    logging.getLogger("tensorboard").setLevel(logging.ERROR)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    merged: dict[str, dict[float, float]] = {}
    for path in files:
        accumulator = EventAccumulator(str(path), size_guidance={"scalars": 0})
        accumulator.Reload()
        for tag in accumulator.Tags().get("scalars", []):
            name = tag.removeprefix("train/")
            name = f"eval_{name.removeprefix('eval/')}" if name.startswith("eval/") else name
            if name in SUMMARY_KEYS:
                continue
            for event in accumulator.Scalars(tag):
                merged.setdefault(name, {})[float(event.step)] = float(event.value)
    series = {name: sorted(points.items()) for name, points in merged.items() if points}
    return (series, "runs/ (TensorBoard)", files[0].stat().st_mtime) if series else None


def read_stage(folder: Path, name: str) -> Stage | None:
    found = [s for s in (read_tensorboard(folder), read_trainer_state(folder)) if s is not None]
    if not found:
        return None
    series, source, _ = max(found, key=lambda s: max((p[-1][0] for p in s[0].values() if p), default=0.0))
    return Stage(name, folder, series, source, min(s[2] for s in found))


def find_stages(run_dir: Path) -> list[Stage]:
    stages = []
    folders = [run_dir]
    for depth in range(MAX_DEPTH):
        below = [
            d
            for parent in folders
            if len(parent.relative_to(run_dir).parts) == depth
            for d in sorted(parent.iterdir())
            if d.is_dir() and d.name not in SKIP_DIRS and not d.name.startswith(("checkpoint-", "."))
        ]
        folders.extend(below)
    for folder in folders:
        name = folder.relative_to(run_dir).as_posix()
        stage = read_stage(folder, run_dir.name if name == "." else name)
        if stage is not None:
            stages.append(stage)
    return sorted(stages, key=lambda stage: stage.started)


def find_evaluations(run_dir: Path) -> dict[int, Path]:
    """`<run_dir>/closed_loop/<...N>/` folders by the step N their name ends in."""
    found: dict[int, Path] = {}
    root = run_dir / EVALUATIONS_DIR
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        match = re.search(r"(\d+)$", folder.name)
        if folder.is_dir() and match:
            found[int(match.group(1))] = folder
    return found


def _evaluation(step: int, folder: Path, page_dir: Path) -> Evaluation:
    run = load_run(folder)
    report = run.root / REPORT_FILE
    videos = [
        {
            "name": route.name,
            "url": relative_url(route.video, page_dir),
            "status": route.results.get("status"),
            "driving_score": route.results.get("driving_score"),
        }
        for route in run.routes
        if route.video is not None
    ]
    return Evaluation(step, run, relative_url(report, page_dir) if report.is_file() else None, videos)


def write_training_report(
    run_dir: str | Path,
    evaluations: Mapping[int, str | Path] | None = None,
    out: str | Path | None = None,
    title: str | None = None,
) -> Path:
    """Write `<run_dir>/report.html` (or `out`) for a training run and return its path.

    `evaluations` maps a training step to a closed-loop output folder (`sim/run_route.py output_dir=...`); without
    it, `<run_dir>/closed_loop/*<step>/` folders are used. Raises ReportError when the run has neither training
    logs nor evaluations."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ReportError(f"{run_dir}: not a directory")
    out = Path(out) if out else run_dir / REPORT_FILE
    stages = find_stages(run_dir)
    folders = {int(k): Path(v) for k, v in (evaluations or find_evaluations(run_dir)).items()}
    evals = [_evaluation(step, folder, out.parent) for step, folder in sorted(folders.items())]
    if not stages and not evals:
        raise ReportError(
            f"{run_dir}: no training logs ({STATE_FILE}, TensorBoard events under runs/) and no closed-loop "
            f"evaluations ({EVALUATIONS_DIR}/<step>/)"
        )
    closed_loop = None
    if evals:
        series = {
            name: [(float(e.step), float(e.run.summary.get(key, 0.0)) * scale) for e in evals]
            for name, key, scale in (
                ("driving score", "driving_score", 1.0),
                ("route completion", "route_completion", 1.0),
                ("success rate (%)", "success_rate", 100.0),
            )
        }
        closed_loop = figure_json(curves_figure("closed-loop evaluation (mean over routes)", series))
    return write_page(
        "training.html.j2",
        out,
        title=title or f"Training: {run_dir.name}",
        run_dir=run_dir,
        stages=stages,
        evaluations=evals,
        closed_loop=closed_loop,
    )
