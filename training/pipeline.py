"""The whole learning loop in one command: collect -> SFT -> DAgger rounds -> GRPO -> closed-loop evaluation -> report.

    python training/pipeline.py                                   # preset pipeline=cpu: about an hour on two cores
    python training/pipeline.py output_dir=outputs/pipe dagger.rounds=1 grpo.enabled=false
    python training/pipeline.py pipeline=gpu sft.model.path=Qwen/Qwen2-VL-2B-Instruct     # a larger model on a GPU

Every stage writes into `<output_dir>/<stage>/` and records itself in `<output_dir>/pipeline.json` when it is done;
rerunning the same command skips finished stages and resumes an interrupted training stage from its last checkpoint.
Data: round 0 is collected with the (perturbed) expert; each DAgger round lets the previous stage's planner drive
(`dagger.learner_prob` of the steps) while the expert labels, adds those episodes to the same dataset and fine-tunes
the planner on all of it. During SFT, DAgger and GRPO a callback drives `train_eval.scenarios` every
`train_eval.every_steps` steps and logs driving score, route completion and collisions to TensorBoard. Each stage's
planner is evaluated offline (validation split, AlphaDrive's Table 1 layout) and in closed loop on the suite and on
a held-out procedural route set (towns and seeds collection never draws). `report.md`, `report.json`, PNG curves and
an HTML page close the run (training/pipeline_report.py).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from planner.config import from_mapping, plain

log = logging.getLogger("training.pipeline")
STATE_FILE = "pipeline.json"


@dataclass(frozen=True)
class DaggerConfig:
    rounds: int = 2
    learner_prob: float = 0.5  # chance per step that the planner being trained drives
    collect: Mapping[str, Any] = field(default_factory=dict)  # collect overrides for DAgger rounds (e.g. sources)
    sft: Mapping[str, Any] = field(default_factory=dict)  # SFT overrides for the fine-tune after each round

    def __post_init__(self) -> None:
        if self.rounds < 0 or not 0.0 <= self.learner_prob <= 1.0:
            raise ValueError("dagger.rounds must be >= 0 and dagger.learner_prob in [0, 1]")


@dataclass(frozen=True)
class GrpoStageConfig:
    enabled: bool = True
    run: Mapping[str, Any] = field(default_factory=dict)  # training/grpo.py GRPORunConfig fields
    # With outcome rewards (run.reward.outcome_scale > 0) each round first collects states with the planner being
    # trained (snapshots kept, every step labelled by the expert), then runs GRPO on all rounds' states so far.
    rounds: int = 1
    learner_prob: float = 1.0  # chance per step that the planner being trained drives while its states are collected
    collect: Mapping[str, Any] = field(default_factory=dict)  # collect overrides for those states (e.g. sample_every)

    def __post_init__(self) -> None:
        if self.rounds < 1 or not 0.0 <= self.learner_prob <= 1.0:
            raise ValueError("grpo.rounds must be >= 1 and grpo.learner_prob in [0, 1]")

    @property
    def outcome(self) -> bool:
        return float((self.run.get("reward") or {}).get("outcome_scale", 0.0)) > 0.0


@dataclass(frozen=True)
class TrainEvalConfig:
    every_steps: int = 200  # 0: no closed-loop evaluation during training
    scenarios: tuple[str, ...] = ("red_light_stop", "green_light_go", "jaywalker")


@dataclass(frozen=True)
class EvalConfig:
    suite: tuple[str, ...] = ("suite",)
    heldout_routes: int = 12  # procedural routes on towns and seeds collection never draws
    heldout_seed: int = 0
    offline: bool = True  # planning accuracy and F1 on the validation split
    planner: Mapping[str, Any] = field(default_factory=dict)  # VLM planner settings for every closed-loop run
    plan_period: float = 0.5
    stages: tuple[str, ...] = ("sft", "dagger", "grpo")  # which stages' planners are evaluated ("dagger": each round)


@dataclass(frozen=True)
class PipelineConfig:
    output_dir: str = "outputs/pipeline"
    collect: Mapping[str, Any] = field(default_factory=dict)  # training/collect.py CollectConfig fields (round 0)
    sft: Mapping[str, Any] = field(default_factory=dict)  # training/sft.py SFTRunConfig fields
    dagger: DaggerConfig = field(default_factory=DaggerConfig)
    grpo: GrpoStageConfig = field(default_factory=GrpoStageConfig)
    train_eval: TrainEvalConfig = field(default_factory=TrainEvalConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


def merged(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """`override` on top of `base`, mappings merged key by key."""
    out = dict(base)
    for key, value in override.items():
        out[key] = (
            merged(out[key], value) if isinstance(value, Mapping) and isinstance(out.get(key), Mapping) else value
        )
    return out


class Pipeline:
    """Runs the stages in order; each finished stage is recorded with its outputs and never redone."""

    def __init__(self, config: PipelineConfig, state_file: str = STATE_FILE) -> None:
        self.config = config
        self.root = Path(config.output_dir).expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.state_path = self.root / state_file
        self.state: dict[str, Any] = json.loads(self.state_path.read_text()) if self.state_path.exists() else {}
        self.state.setdefault("stages", {})
        self.data_dir = self.root / "data"  # the SFT/DAgger dataset (offline evaluation reads its validation split)
        self.states_dir = self.root / "grpo_states"  # the states outcome GRPO drives from

    # ---- bookkeeping ------------------------------------------------------------------------------------------
    def stage(self, name: str, work: Callable[[Path], dict[str, Any]]) -> dict[str, Any]:
        done = self.state["stages"].get(name)
        if done is not None:
            log.info("[skip] %s: done in %s", name, done.get("seconds"))
            return done
        log.info("[stage] %s", name)
        started = time.perf_counter()
        result = work(self.root / name)
        result["seconds"] = round(time.perf_counter() - started, 1)
        self.state["stages"][name] = result
        self._save()
        return result

    def _save(self) -> None:
        from sim.results import write_json_atomic

        self.state["config"] = asdict(self.config)
        write_json_atomic(self.state_path, self.state)

    # ---- stages -----------------------------------------------------------------------------------------------
    def collect(self, round_: int, learner: str | None) -> dict[str, Any]:
        settings = merged(self.config.collect, self.config.dagger.collect if round_ else {})
        return self._collect(settings, self.data_dir, round_, learner, self.config.dagger.learner_prob)

    def collect_states(self, round_: int, learner: str | None) -> dict[str, Any]:
        """States for outcome GRPO: the planner being trained drives (`grpo.learner_prob`), snapshots kept."""
        settings = merged(merged(self.config.collect, self.config.grpo.collect), {"snapshots": True})
        return self._collect(settings, self.states_dir, round_, learner, self.config.grpo.learner_prob)

    def _collect(
        self, settings: Mapping[str, Any], root: Path, round_: int, learner: str | None, learner_prob: float
    ) -> dict[str, Any]:
        from training.collect import CollectConfig, collect

        settings = merged(settings, {"output_dir": str(root), "round": round_, "progress": False})
        if learner is not None:
            planner = {**merged(_planner_defaults(), self.config.eval.planner), "model": learner}
            settings = merged(settings, {"behavior": {"learner": planner, "learner_prob": learner_prob}})
        summary = collect(from_mapping(CollectConfig, settings, "collect"), log=log.info)
        return {"samples": summary["samples"], "rounds": summary["rounds"], "failed": summary["failed_episodes"]}

    def train_sft(self, out: Path, start: str | None, overrides: Mapping[str, Any]) -> dict[str, Any]:
        from training import sft

        settings = merged(self.config.sft, overrides)
        settings = merged(settings, {"data": {"path": str(self.data_dir)}, "output_dir": str(out)})
        if start is not None:
            settings = merged(settings, {"model": {"path": start}})
        if _has_checkpoint(out):
            settings["resume_from_checkpoint"] = "latest"
        run = from_mapping(sft.SFTRunConfig, settings, "sft")
        trainer = sft.train(run, out, self._callbacks())
        return _training_result(trainer, out)

    def train_grpo(
        self, out: Path, start: str | None, data: Path, overrides: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """GRPO from `start` (None: the run config's own model, e.g. a fresh tiny one) on the dataset `data`."""
        from training import grpo

        settings = merged(self.config.grpo.run, overrides or {})
        settings = merged(settings, {"data": {"path": str(data)}, "output_dir": str(out)})
        if start is not None:
            settings = merged(settings, {"model": {"path": start}})
        if _has_checkpoint(out):
            settings["resume_from_checkpoint"] = "latest"
        run = from_mapping(grpo.GRPORunConfig, settings, "grpo")
        trainer = grpo.train(run, out, self._callbacks())
        return _training_result(trainer, out)

    def _callbacks(self) -> list[Any]:
        from training.closed_loop import ClosedLoopCallback

        ev = self.config.train_eval
        if ev.every_steps <= 0 or not ev.scenarios:
            return []
        planner = merged(_planner_defaults(), self.config.eval.planner)
        return [ClosedLoopCallback(ev.every_steps, ev.scenarios, planner, self.config.eval.plan_period)]

    def evaluate(self, model: str, out: Path) -> dict[str, Any]:
        from training.closed_loop import drive_checkpoint, write_heldout_routes

        ev = self.config.eval
        planner = merged(_planner_defaults(), ev.planner)
        heldout = self.root / "heldout_routes"
        if not heldout.exists():
            write_heldout_routes(heldout, ev.heldout_routes, ev.heldout_seed)
        result: dict[str, Any] = {"model": model}
        result["suite"] = drive_checkpoint(model, ev.suite, out / "suite", planner, ev.plan_period)
        if ev.heldout_routes:
            result["heldout"] = drive_checkpoint(model, [str(heldout)], out / "heldout", planner, ev.plan_period)
        if ev.offline:
            result["offline"] = self._offline(model, out / "offline")
        return result

    def _offline(self, model: str, out: Path) -> dict[str, Any]:
        from planner.vlm import VLMPlannerConfig
        from training.common import DataSource
        from training.evaluate import EvalConfig as OfflineConfig
        from training.evaluate import run

        settings = {**merged(_planner_defaults(), self.config.eval.planner), "model": model, "batch_size": 8}
        planner = from_mapping(VLMPlannerConfig, settings, "eval.planner")
        offline = OfflineConfig(data=DataSource(path=str(self.data_dir)), output_dir=str(out), meteor=False)
        return run(offline, planner, out)

    # ---- the whole loop ---------------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        cfg = self.config
        self.stage("collect", lambda out: self.collect(0, None))
        model = self.stage("sft", lambda out: self.train_sft(out, None, {}))["model"]
        trained = [("sft", model)]
        for k in range(1, cfg.dagger.rounds + 1):
            learner = model
            self.stage(f"collect_round{k}", lambda out, learner=learner, k=k: self.collect(k, learner))
            stage = f"dagger{k}"
            result = self.stage(stage, lambda out, learner=learner: self.train_sft(out, learner, cfg.dagger.sft))
            model = result["model"]
            trained.append((stage, model))
        for k in range(1, cfg.grpo.rounds + 1) if cfg.grpo.enabled else ():
            stage = "grpo" if cfg.grpo.rounds == 1 else f"grpo{k}"
            data = self.data_dir
            if cfg.grpo.outcome:
                self.stage(f"collect_{stage}", lambda out, m=model, k=k: self.collect_states(k, m))
                data = self.states_dir
            model = self.stage(stage, lambda out, start=model, d=data: self.train_grpo(out, start, d))["model"]
            trained.append((stage, model))
        for stage, checkpoint in trained:
            if stage.rstrip("0123456789") in cfg.eval.stages:
                self.stage(f"eval_{stage}", lambda out, m=checkpoint: self.evaluate(m, out))
        from training.pipeline_report import write_report

        write_report(self.root, self.state)
        return self.state


def _planner_defaults() -> dict[str, Any]:
    from training.closed_loop import DEFAULT_PLANNER

    return dict(DEFAULT_PLANNER)


def _has_checkpoint(out: Path) -> bool:
    return any(out.glob("checkpoint-*"))


def _training_result(trainer: Any, out: Path) -> dict[str, Any]:
    history = trainer.state.log_history
    summary = next((h for h in reversed(history) if "train_runtime" in h), {})
    curve = [(h["step"], h["loss"]) for h in history if "loss" in h and "step" in h]
    rewards = [(h["step"], h["reward"]) for h in history if "reward" in h and "step" in h]
    closed_loop = [cb.history for cb in trainer.callback_handler.callbacks if hasattr(cb, "history")]
    return {
        "model": str(out / "final"),
        "steps": trainer.state.global_step,
        "train_runtime_s": summary.get("train_runtime"),
        "train_samples_per_second": summary.get("train_samples_per_second"),
        "closed_loop": closed_loop[0] if closed_loop else [],
        "loss_curve": curve,
        "reward_curve": rewards,
    }


def load_pipeline_config(cfg: Any) -> PipelineConfig:
    data = dict(plain(cfg))
    data.pop("hydra", None)
    data.pop("pipeline", None)  # the preset group name; its keys are merged at the top level
    return from_mapping(PipelineConfig, data, "pipeline")


def main() -> None:
    from sim.cli import hydra_entry

    def _main(cfg: Any) -> None:
        Pipeline(load_pipeline_config(cfg)).run()

    hydra_entry("pipeline", _main)


if __name__ == "__main__":
    main()
