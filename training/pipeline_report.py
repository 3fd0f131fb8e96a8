"""The pipeline's report: what each stage cost and gained, offline (AlphaDrive's Table 1 layout) and in closed loop.

Writes `report.json` (the pipeline state plus the tables), `report.md`, `curves.png` (training loss and closed-loop
driving score per step, every training stage) and one HTML page per training stage (`sim.report`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from planner.actions import PATH_ACTIONS, SPEED_ACTIONS

log = logging.getLogger(__name__)
TRAINING_STAGES = ("sft", "dagger", "grpo")


def _is_training(name: str) -> bool:
    return name.rstrip("0123456789") in TRAINING_STAGES


def _pct(value: Any) -> str:
    return "n/a" if value is None else f"{100.0 * float(value):.1f}"


def cost_table(stages: Mapping[str, Any]) -> str:
    lines = [
        "| stage | wall time (min) | optimisation steps | training samples/s | result |",
        "|---|---:|---:|---:|---|",
    ]
    for name, result in stages.items():
        rate = result.get("train_samples_per_second")
        if name.startswith("eval_"):
            what = "closed-loop and offline evaluation"
        elif "samples" in result:
            what = f"{result['samples']} samples in the dataset"
        else:
            what = f"planner {Path(result.get('model', '')).parent.name}"
        lines.append(
            f"| {name} | {float(result.get('seconds', 0.0)) / 60:.1f} | {result.get('steps', '-')} | "
            f"{'-' if rate is None else f'{rate:.1f}'} | {what} |"
        )
    return "\n".join(lines) + "\n"


def offline_table(evals: Mapping[str, Any]) -> str:
    """One row per evaluated planner, in the columns of AlphaDrive's Table 1 (planning F1 per class, accuracy)."""
    words = [*SPEED_ACTIONS, *PATH_ACTIONS]
    header = ["planner", *[f"{w.replace('_', ' ').title()} F1" for w in words], "Planning Acc.", "parse failures"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" + "---:|" * (len(header) - 1)]
    for name, result in evals.items():
        planning = (result.get("offline") or {}).get("planning")
        if not planning:
            continue
        cells = [_pct(planning.get(f"f1/{w}")) for w in words]
        cells += [_pct(planning.get("accuracy")), _pct(planning.get("parse_failure_rate"))]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def closed_loop_table(evals: Mapping[str, Any]) -> str:
    lines = [
        "| planner | suite DS | RC | IS | success | collisions | red lights | held-out DS | held-out RC | "
        "held-out collisions |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, result in evals.items():
        suite, heldout = result.get("suite") or {}, result.get("heldout") or {}
        if not suite:
            continue
        infractions = suite.get("infractions", {}) or {}
        lines.append(
            f"| {name} | {suite['driving_score']:.1f} | {suite['route_completion']:.1f} | "
            f"{suite['infraction_penalty']:.3f} | {100 * suite['success_rate']:.0f}% | {suite['collisions']} | "
            f"{infractions.get('red_light', 0)} | "
            + (
                f"{heldout['driving_score']:.1f} | {heldout['route_completion']:.1f} | {heldout['collisions']} |"
                if heldout
                else "- | - | - |"
            )
        )
    return "\n".join(lines) + "\n"


def write_curves(root: Path, stages: Mapping[str, Any]) -> Path | None:
    """Training loss and closed-loop driving score against the optimisation step, one line per training stage."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    training = {name: r for name, r in stages.items() if _is_training(name)}
    if not training:
        return None
    fig, (loss_ax, ds_ax) = plt.subplots(1, 2, figsize=(11, 4))
    for name, result in training.items():
        losses = result.get("loss_curve") or []
        if losses:
            loss_ax.plot([p[0] for p in losses], [p[1] for p in losses], label=name, linewidth=1)
        closed = result.get("closed_loop") or []
        if closed:
            ds_ax.plot([c["step"] for c in closed], [c["driving_score"] for c in closed], marker="o", label=name)
    loss_ax.set(title="training loss", xlabel="step", ylabel="loss")
    ds_ax.set(title="closed-loop driving score (training routes)", xlabel="step", ylabel="DS", ylim=(0, 100))
    for ax in (loss_ax, ds_ax):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    fig.tight_layout()
    path = root / "curves.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(root: Path, state: Mapping[str, Any]) -> Path:
    stages = state.get("stages", {})
    evals = {name.removeprefix("eval_"): r for name, r in stages.items() if name.startswith("eval_")}
    curves = write_curves(root, stages)
    for name in stages:
        if _is_training(name) and (root / name).is_dir():
            _training_page(root / name)
    parts = [
        "# Pipeline report\n",
        f"Run directory: `{root}`. Every number below comes from this run's files (`pipeline.json`).\n",
        "## Stages\n",
        cost_table(stages),
        "## Closed loop (embedded simulator)\n",
        "Suite: the scenarios of `eval.suite`; held-out: procedural routes on towns and seeds collection never "
        "draws.\n",
        closed_loop_table(evals),
        "## Offline, validation split (AlphaDrive Table 1 layout, x100)\n",
        offline_table(evals),
    ]
    if curves is not None:
        parts += ["## Training curves\n", f"![curves]({curves.name})\n"]
    (root / "report.md").write_text("\n".join(parts), encoding="utf-8")
    tables = {"closed_loop": closed_loop_table(evals), "offline": offline_table(evals), "cost": cost_table(stages)}
    path = root / "report.json"
    path.write_text(json.dumps({**state, "tables": tables}, indent=1, default=str) + "\n", encoding="utf-8")
    return path


def _training_page(stage_dir: Path) -> None:
    from sim.report import write_training_report

    try:
        write_training_report(stage_dir)
    except Exception as err:  # the page is secondary to the run's results: never lose a run over it
        log.warning("no report.html for %s: %s", stage_dir, err)
