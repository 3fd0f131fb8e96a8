"""Ship a planner the pipeline trained: its checkpoint files and a model card (data, recipe, metrics, the command).

    python -m training.model_card outputs/pipeline_cpu models/planner-cpu [--stage grpo] [--checkpoint DIR]

The card is written from the run's `pipeline.json`, so every number in it comes from that run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from training.pipeline_report import closed_loop_table, offline_table

KEEP = ("*.json", "*.safetensors", "*.jinja", "*.txt", "merges.txt", "vocab.json")
MAX_BYTES = 30 * 1024 * 1024


def last_trained_stage(state: Mapping[str, Any]) -> str:
    stages = [name for name in state["stages"] if name.rstrip("0123456789") in ("sft", "dagger", "grpo")]
    if not stages:
        raise ValueError("the run has no trained planner yet")
    return stages[-1]


def ship(
    run_dir: Path,
    dest: Path,
    stage: str | None = None,
    command: str = "",
    checkpoint: Path | None = None,
    evaluations: tuple[Path, ...] = (),
) -> Path:
    """Copy the planner of `stage` (default: the last trained one; `checkpoint`: one of its intermediate
    checkpoints instead of its final model) into `dest` with a README model card."""
    state = json.loads((run_dir / "pipeline.json").read_text(encoding="utf-8"))
    stage = stage or last_trained_stage(state)
    source = checkpoint or Path(state["stages"][stage]["model"])
    files = sorted({p for pattern in KEEP for p in source.glob(pattern)})
    size = sum(p.stat().st_size for p in files)
    if size > MAX_BYTES:
        raise ValueError(
            f"{source}: {size / 2**20:.1f} MB is over the {MAX_BYTES / 2**20:.0f} MB a shipped planner may have"
        )
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for path in files:
        shutil.copy2(path, dest / path.name)
    name = stage if checkpoint is None else f"{stage} ({checkpoint.name})"
    for path in evaluations:  # evaluations of this planner made outside the run (a pipeline.json-like file)
        extra = json.loads(path.read_text(encoding="utf-8"))["stages"]
        state["stages"].update((k, v) for k, v in extra.items() if k.startswith("eval_"))
    (dest / "README.md").write_text(card(state, name, size, command), encoding="utf-8")
    return dest


def card(state: Mapping[str, Any], stage: str, size: int, command: str) -> str:
    names = list(state["stages"])
    shipped = stage.split(" ")[0]
    upto = names[: names.index(shipped) + 1] if shipped in names else names  # what the shipped planner went through
    stages = {n: state["stages"][n] for n in upto}
    config = state.get("config", {})
    evals = {name.removeprefix("eval_"): r for name, r in state["stages"].items() if name.startswith("eval_")}
    data = [f"- {name}: {r['samples']} samples in the dataset after it" for name, r in stages.items() if "samples" in r]
    trained = [
        f"- {name}: {r.get('steps')} steps, {float(r.get('seconds', 0)) / 60:.1f} min"
        for name, r in stages.items()
        if "steps" in r
    ]
    tiny = (config.get("sft", {}).get("model") or {}).get("tiny_size")
    return "\n".join(
        [
            f"# Planner: `{stage}` stage of a `training/pipeline.py` run",
            "",
            "A Qwen2-VL (the transformers classes, a small configuration built offline by `planner/tiny.py`"
            + (f", preset `{tiny}`" if tiny else "")
            + ") that reads one 480x270 front-camera image, the ego speed and a navigation instruction and answers "
            "`<answer> SPEED, PATH </answer>`. It was trained from random weights, on CPU, in the embedded simulator "
            "only: it has never seen a real road or CARLA. `sim/run_route.py planner=vlm` drives it when no "
            "`planner.model` is given.",
            "",
            f"Checkpoint size: {size / 2**20:.1f} MB.",
            "",
            "## Reproduce",
            "",
            f"    {command or 'uv run python training/pipeline.py'}",
            f"    uv run python -m training.model_card <output_dir> models/planner-cpu --stage {shipped}"
            + (f" --checkpoint <output_dir>/{shipped}/{stage.split('(')[1].rstrip(')')}" if "(" in stage else ""),
            "",
            "## Data (training/collect.py; every sample labelled by the privileged expert)",
            "",
            *data,
            "",
            "## Recipe",
            "",
            *trained,
            "",
            "## Closed loop (embedded simulator, leaderboard-2.0 scoring)",
            "",
            closed_loop_table(evals),
            "## Offline, validation split (x100)",
            "",
            offline_table(evals),
            "## Limits",
            "",
            "- Embedded simulator only; no claim about CARLA or real images.",
            "- A few million parameters trained for about an hour on two CPU cores. Compare the tables above with "
            "the always-ACCELERATE planner (`planner=constant`) on the same routes before trusting any decision it "
            "makes: a planner that has not learnt to read lights, leads and pedestrians scores like it.",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("dest", type=Path)
    parser.add_argument("--stage", help="default: the last trained stage")
    parser.add_argument("--command", default="", help="the command that produced the run, for the card")
    parser.add_argument("--checkpoint", type=Path, help="an intermediate checkpoint of the stage instead of its final")
    parser.add_argument("--evaluations", type=Path, nargs="*", default=(), help="state files with eval_* stages")
    args = parser.parse_args(argv)
    try:
        path = ship(args.run_dir, args.dest, args.stage, args.command, args.checkpoint, tuple(args.evaluations))
    except (OSError, KeyError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
