"""Which reinforcement signal helps: GRPO arms from one starting checkpoint, same states and steps, one table.

    python training/rl_compare.py from_run=outputs/pipeline_cpu                  # preset rl_compare=cpu
    python training/rl_compare.py from_run=outputs/pipeline_cpu 'arms=[label,outcome]' grpo.run.max_steps=50

From a finished pipeline run (its config, dataset and last SFT/DAgger planner) this collects states with that
planner driving (snapshots kept, every step labelled by the expert), then trains every arm of `arms` with the same
GRPO settings, steps and states, and evaluates each as the pipeline does (suite, held-out routes, validation split):

- `start`: the starting planner itself (SFT/DAgger only); its pipeline evaluation is reused when there is one
- `label`: AlphaDrive's planning rewards against the expert's labels
- `outcome`: every sampled answer driven from its state and scored by what happens (training/outcome.py)
- `outcome_bc`: `outcome` plus the behaviour-cloning term on the expert's answer
- `rl_only`: `outcome` from an untrained model of the same size (AlphaDrive's Table 3 question: RL without SFT)

Arm settings live in `arm_overrides` (conf/rl_compare.yaml). Each arm is a stage recorded in `compare.json`;
rerunning resumes. `report.md` and `report.json` hold the table.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from planner.config import ConfigError, from_mapping, plain
from training.multimodality import MultimodalityConfig
from training.pipeline import EvalConfig, GrpoStageConfig, Pipeline, PipelineConfig, merged

log = logging.getLogger("training.rl_compare")
ARMS = ("start", "label", "outcome", "outcome_bc", "rl_only")
STATE_FILE = "compare.json"


@dataclass(frozen=True)
class CompareConfig:
    from_run: str = ""  # a pipeline run directory (its pipeline.json names its config and planners)
    output_dir: str = "outputs/rl_compare"
    start_stage: str | None = None  # the planner every arm starts from; None: the run's last SFT/DAgger stage
    arms: tuple[str, ...] = ARMS
    grpo: GrpoStageConfig = field(default_factory=GrpoStageConfig)  # shared by every arm (run, collect, learner_prob)
    arm_overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # GRPORunConfig keys per arm
    multimodality: MultimodalityConfig = field(default_factory=MultimodalityConfig)  # states: 0 to skip
    eval: Mapping[str, Any] = field(default_factory=dict)  # overrides of the run's eval settings (e.g. fewer routes)

    def __post_init__(self) -> None:
        if not self.from_run:
            raise ValueError("from_run: give a finished pipeline run directory (python training/pipeline.py ...)")
        unknown = sorted(set(self.arms) - set(ARMS))
        if unknown:
            raise ValueError(f"arms: unknown {unknown}; known: {', '.join(ARMS)}")
        missing = sorted(set(self.arms) - {"start"} - set(self.arm_overrides))
        if missing:
            raise ValueError(f"arm_overrides: no settings for arms {missing}")


def source_run(path: str) -> tuple[PipelineConfig, dict[str, Any]]:
    state_file = Path(path).expanduser() / "pipeline.json"
    if not state_file.exists():
        raise ConfigError(f"from_run: {state_file} does not exist (run training/pipeline.py first)")
    state = json.loads(state_file.read_text())
    return from_mapping(PipelineConfig, state["config"], f"{state_file}: config"), state


def start_stage(state: Mapping[str, Any], wanted: str | None) -> str:
    stages = [s for s in state["stages"] if s == "sft" or s.startswith("dagger")]
    if wanted is not None:
        if wanted not in state["stages"]:
            raise ConfigError(f"start_stage: {wanted!r} is not a finished stage of the run ({', '.join(stages)})")
        return wanted
    if not stages:
        raise ConfigError("from_run: the run has no finished SFT or DAgger stage")
    return stages[-1]


def run_comparison(config: CompareConfig) -> dict[str, Any]:
    base, source_state = source_run(config.from_run)
    stage = start_stage(source_state, config.start_stage)
    start = source_state["stages"][stage]["model"]
    pipeline = Pipeline(
        PipelineConfig(
            output_dir=config.output_dir,
            collect=base.collect,
            sft=base.sft,
            grpo=config.grpo,
            train_eval=base.train_eval,
            eval=from_mapping(EvalConfig, merged(asdict(base.eval), config.eval), "rl_compare.eval"),
        ),
        state_file=STATE_FILE,
    )
    pipeline.data_dir = Path(base.output_dir).expanduser().resolve() / "data"  # offline: the run's validation split
    pipeline.state["start"] = {"from_run": str(config.from_run), "stage": stage, "model": start}
    evals: dict[str, Any] = {}
    models = {"start": start}
    if "start" in config.arms:
        reused = None if config.eval else source_state["stages"].get(f"eval_{stage}")  # same settings only
        evals["start"] = pipeline.stage(
            "eval_start", lambda out: dict(reused) if reused else pipeline.evaluate(start, out)
        )
    if set(config.arms) - {"start"}:
        pipeline.stage("collect_states", lambda out: pipeline.collect_states(1, start))
    for arm in config.arms:
        if arm == "start":
            continue
        overrides = config.arm_overrides[arm]
        arm_start = None if arm == "rl_only" else start
        trained = pipeline.stage(
            f"grpo_{arm}", lambda out, s=arm_start, o=overrides: pipeline.train_grpo(out, s, pipeline.states_dir, o)
        )
        evals[arm] = pipeline.stage(f"eval_{arm}", lambda out, m=trained["model"]: pipeline.evaluate(m, out))
        models[arm] = trained["model"]
    if config.multimodality.states and pipeline.states_dir.exists():
        pipeline.stage("multimodality", lambda out: _multimodality(pipeline, models, config.multimodality))
    write_comparison(pipeline.root, pipeline.state, evals)
    return pipeline.state


def _multimodality(pipeline: Pipeline, models: Mapping[str, str], config: MultimodalityConfig) -> dict[str, Any]:
    from training.dataset import load_planning_dataset
    from training.multimodality import measure
    from training.pipeline import _planner_defaults

    rows = [r for split in load_planning_dataset(pipeline.states_dir).values() for r in split]
    planner = merged(_planner_defaults(), pipeline.config.eval.planner)
    return measure(pipeline.states_dir, rows, models, planner, config)


def multimodality_table(result: Mapping[str, Any]) -> str:
    if not result.get("planners"):
        return f"No state with two or more good answers among {result.get('states_scored', 0)} scored.\n"
    lines = [
        f"{result['multi_answer_states']} of {result['states_scored']} states have two or more good answers "
        f"({result['good_answers_per_multi_state']} on average, of 20). Per planner, over those states:\n",
        "| planner | distinct good answers sampled | good share of samples | parsed share |",
        "|---|---:|---:|---:|",
    ]
    for name, p in result["planners"].items():
        lines.append(f"| {name} | {p['distinct_good_answers']} | {p['good_share']} | {p['parsed_share']} |")
    return "\n".join(lines) + "\n"


def write_comparison(root: Path, state: Mapping[str, Any], evals: Mapping[str, Any]) -> Path:
    from training.pipeline_report import closed_loop_table, cost_table, offline_table

    start = state.get("start", {})
    parts = [
        "# GRPO arms from one starting planner\n",
        f"Start: `{start.get('model')}` (stage `{start.get('stage')}` of `{start.get('from_run')}`). Every arm ran "
        "the same GRPO settings and steps on the same states (collected with the starting planner driving). "
        "Every number comes from this directory's files.\n",
        "## Closed loop (embedded simulator)\n",
        closed_loop_table(evals),
        "## Offline, validation split of the run's dataset (x100)\n",
        offline_table(evals),
        "## Multimodality (training/multimodality.py)\n",
        multimodality_table(state.get("stages", {}).get("multimodality") or {}),
        "## Cost\n",
        cost_table(state.get("stages", {})),
    ]
    (root / "report.md").write_text("\n".join(parts), encoding="utf-8")
    tables = {"closed_loop": closed_loop_table(evals), "offline": offline_table(evals)}
    path = root / "report.json"
    path.write_text(json.dumps({**state, "tables": tables}, indent=1, default=str) + "\n", encoding="utf-8")
    return path


def load_compare_config(cfg: Any) -> CompareConfig:
    data = dict(plain(cfg))
    data.pop("hydra", None)
    data.pop("rl_compare", None)  # the preset group name; its keys are merged at the top level
    return from_mapping(CompareConfig, data, "rl_compare")


def main() -> None:
    from sim.cli import hydra_entry

    def _main(cfg: Any) -> None:
        run_comparison(load_compare_config(cfg))

    hydra_entry("rl_compare", _main)


if __name__ == "__main__":
    main()
