"""Offline evaluation of a planner on a dataset split, reported like Table 1 of the AlphaDrive paper.

    python training/evaluate.py planner.model=outputs/grpo/<run>/final
    python training/evaluate.py planner.model=Qwen/Qwen2-VL-2B-Instruct eval.data.path=data/metaad

Writes `metrics.json`, `predictions.jsonl` and `table.md` into the run directory. Greedy decoding by default
(the planner config decides), seeded, so two runs give the same numbers. Accuracy and F1 are computed on the raw
model output: an unparseable answer counts as wrong (the planner's fallback action gets no credit).

`eval.protocol`: `standard` (default: set-based accuracy and F1 on the parsed answer) or `alphadrive` (the released
AlphaDrive evaluation: sampled decoding, substring matches over the whole output, reasoning included), to compare
with the paper's table; the two give different numbers for the same model.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from planner.actions import PATH_ACTIONS, SPEED_ACTIONS
from planner.checkpoints import resolve_model
from planner.config import ConfigError, from_mapping, to_dict
from planner.interface import Plan, PlannerInput
from planner.metrics import alphadrive_planning_metrics, planning_metrics, reasoning_metrics
from planner.vlm import VLMPlanner, VLMPlannerConfig
from training.common import DataSource, data_root, resolve_data, run_dir
from training.dataset import SPLITS, split_files

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalConfig:
    data: DataSource = field(default_factory=DataSource)
    split: str = "validation"
    max_samples: int | None = None
    output_dir: str | None = None  # None: the Hydra run directory
    seed: int = 0
    meteor: bool = True  # needs Java; reported as missing otherwise
    label: str | None = None  # row label in the table; default: the model path
    protocol: Literal["standard", "alphadrive"] = "standard"  # see the module doc
    progress: bool = True  # a progress bar over the samples (stderr)

    def __post_init__(self) -> None:
        if self.protocol not in PLANNING_PROTOCOLS:
            raise ValueError(f"protocol must be one of {sorted(PLANNING_PROTOCOLS)}, got {self.protocol!r}")


PLANNING_PROTOCOLS = {"standard": planning_metrics, "alphadrive": alphadrive_planning_metrics}


def planner_inputs(rows: Sequence[dict[str, Any]]) -> list[PlannerInput]:
    return [
        PlannerInput(
            image=np.asarray(row["image"].convert("RGB")),
            speed=float(row["speed"]),
            navigation=str(row["navigation"]),
            time=0.0,
        )
        for row in rows
    ]


def evaluate_planner(
    planner: Any,
    dataset: Any,
    batch_size: int = 8,
    meteor: bool = True,
    protocol: str = "standard",
    progress: bool = False,
) -> dict[str, Any]:
    """Run `planner` (with `plan_batch`, or `plan`) over `dataset` rows; return metrics and per-sample records."""
    from tqdm import tqdm

    plans: list[Plan] = []
    with tqdm(total=len(dataset), unit="sample", desc="inference", disable=not progress, mininterval=0.5) as bar:
        for start in range(0, len(dataset), batch_size):
            rows = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
            inputs = planner_inputs(rows)
            batch = planner.plan_batch(inputs) if hasattr(planner, "plan_batch") else [planner.plan(x) for x in inputs]
            plans.extend(batch)
            bar.update(len(batch))
            bar.set_postfix(fallbacks=sum(p.fallback for p in plans), refresh=False)
    predictions = [p.raw_text or "" for p in plans]
    references = [dataset[i]["solution"] for i in range(len(dataset))]
    thinking = [dataset[i]["thinking"] or "" for i in range(len(dataset))]
    records = [
        {
            "index": i,
            "scenario": dataset[i]["scenario"],
            "prediction": predictions[i],
            "reference": references[i],
            "action": str(plans[i].action),
            "fallback": plans[i].fallback,
            "latency_ms": plans[i].latency_ms,
        }
        for i in range(len(plans))
    ]
    results: dict[str, Any] = {
        "samples": len(plans),
        "protocol": protocol,
        "planning": PLANNING_PROTOCOLS[protocol](predictions, references),
        "reasoning": reasoning_metrics(predictions, thinking, meteor=meteor),
        "fallback_rate": sum(p.fallback for p in plans) / len(plans) if plans else 0.0,
    }
    if hasattr(planner, "stats"):
        results["planner_stats"] = planner.stats
    return {"results": results, "records": records}


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100.0 * value:.2f}"


def render_table(results: dict[str, Any], label: str) -> str:
    """Markdown in the shape of AlphaDrive's Table 1: per-class F1 (speed, path), accuracy, reasoning scores."""
    planning, reasoning = results["planning"], results["reasoning"]
    speed = [a.replace("_", " ").title() for a in SPEED_ACTIONS]
    path = [a.replace("_", " ").title() for a in PATH_ACTIONS]
    header = ["Method", *[f"{s} F1" for s in speed], *[f"{p} F1" for p in path], "Planning Acc."]
    header += ["BLEU-4", "CIDEr", "METEOR"]
    row = [label, *[_pct(planning[f"f1/{a}"]) for a in SPEED_ACTIONS + PATH_ACTIONS], _pct(planning["accuracy"])]
    row += [_pct(reasoning["BLEU-4"]), _pct(reasoning["CIDEr"]), _pct(reasoning["METEOR"])]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        "| " + " | ".join(row) + " |",
        "",
        f"All numbers x100. {results['samples']} samples; speed macro-F1 {_pct(planning['macro_f1/speed'])}, "
        f"path macro-F1 {_pct(planning['macro_f1/path'])}, parse failures {_pct(planning['parse_failure_rate'])}%.",
        f"Planning protocol: {results.get('protocol', 'standard')}"
        + (
            " (AlphaDrive's released evaluation: sampled decoding, substring matches over the whole output)."
            if results.get("protocol") == "alphadrive"
            else " (set-based, on the parsed answer)."
        ),
    ]
    if reasoning.get("METEOR") is None and reasoning.get("METEOR_error"):
        lines.append(f"METEOR not computed: {reasoning['METEOR_error']}.")
    return "\n".join(lines) + "\n"


def write_report(report: dict[str, Any], label: str, out: Path, config: dict[str, Any]) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {"metrics": out / "metrics.json", "predictions": out / "predictions.jsonl", "table": out / "table.md"}
    paths["metrics"].write_text(json.dumps({"label": label, "config": config, **report["results"]}, indent=2) + "\n")
    paths["predictions"].write_text("".join(json.dumps(r) + "\n" for r in report["records"]))
    paths["table"].write_text(render_table(report["results"], label))
    return paths


def run(eval_config: EvalConfig, planner_config: VLMPlannerConfig, out: Path | None = None) -> dict[str, Any]:
    from transformers import set_seed

    set_seed(eval_config.seed)
    planner_config = dataclasses.replace(planner_config, model=resolve_model(planner_config.model))
    out = out or run_dir(eval_config.output_dir)
    root = data_root(eval_config.data, out)
    present = [s for s in SPLITS if split_files(root, s)[1]] if root.is_dir() else []
    if eval_config.split not in present:
        where = eval_config.data.path or "the synthetic dataset"
        has = f"it has {', '.join(present)}" if present else "it has no split with samples"
        raise ConfigError(f"eval.split: {where} has no split {eval_config.split!r}; {has}")
    data = resolve_data(eval_config.data, out)
    dataset = data[eval_config.split]
    if eval_config.max_samples is not None:
        dataset = dataset.select(range(min(eval_config.max_samples, len(dataset))))
    if eval_config.protocol == "alphadrive":
        planner_config = dataclasses.replace(planner_config, do_sample=True)
    planner = VLMPlanner(planner_config)
    report = evaluate_planner(
        planner, dataset, planner_config.batch_size, eval_config.meteor, eval_config.protocol, eval_config.progress
    )
    label = eval_config.label or planner_config.model
    config = {"eval": to_dict(eval_config), "planner": to_dict(planner_config)}
    paths = write_report(report, label, out, config)
    log.info("wrote %s\n%s", ", ".join(str(p) for p in paths.values()), paths["table"].read_text())
    return report["results"]


def main() -> None:
    from sim.cli import hydra_entry

    def _main(cfg: Any) -> None:
        run(from_mapping(EvalConfig, cfg.eval, "eval"), from_mapping(VLMPlannerConfig, cfg.planner, "planner"))

    hydra_entry("evaluate", _main)


if __name__ == "__main__":
    main()
