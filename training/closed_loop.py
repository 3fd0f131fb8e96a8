"""Closed-loop evaluation of checkpoints during and after training: drive routes with the VLM planner, summarise.

`drive_checkpoint` runs a checkpoint on scenario files through the same runner, scoring and summary as
`sim/run_route.py`. `write_heldout_routes` writes a procedural route set on towns and seeds that collection never
draws (its own seed stream). `ClosedLoopCallback` drives a few routes every N optimisation steps of an SFT or GRPO
run and logs driving score, route completion and collisions to TensorBoard beside the loss, so a run shows how the
planner drives, not only how it fits its labels.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from planner.config import from_mapping
from training.procedural import ProceduralConfig, random_scenario
from training.rollout import stable_unit

log = logging.getLogger(__name__)

# The VLM planner in closed loop: CPU, greedy, an answer needs a dozen tokens (the planner stops at </answer>).
# batch_size 8: the suite then serves one model to up to 8 route workers and batches their decisions
# (planner_server); with 1, each of a core's worth of workers loaded its own model, slower than one process.
DEFAULT_PLANNER: dict[str, Any] = {"name": "vlm", "device": "cpu", "batch_size": 8, "max_new_tokens": 24}


def scenario_sources(names: Sequence[str]) -> list[str]:
    """Suite names, YAML paths and folders of YAML files, with "suite" standing for the bundled suite."""
    from scenarios import list_suite

    out: list[str] = []
    for name in names:
        if name == "suite":
            out += list_suite()
        elif Path(name).is_dir():
            out += [str(p) for p in sorted(Path(name).glob("*.yaml"))]
        else:
            out.append(name)
    return out


def drive_checkpoint(
    model: str | Path,
    scenarios: Sequence[str],
    out_dir: Path,
    planner: Mapping[str, Any] | None = None,
    plan_period: float = 0.5,
    video: bool = False,
) -> dict[str, Any]:
    """Drive `model` over `scenarios` (see `scenario_sources`); writes per-route results and a summary under
    `out_dir` (resumes finished routes) and returns the summary."""
    from scenarios import load_scenario
    from sim.builders import RunRouteConfig
    from sim.suite import RouteJob, run_jobs, write_summary

    settings = {
        "planner": {**DEFAULT_PLANNER, **dict(planner or {}), "model": str(model)},
        "plan_period": plan_period,
        "progress": False,
        "video": {"enabled": video},
        "sim": {"name": "embedded", "render": True},
    }
    config = from_mapping(RunRouteConfig, settings, "closed_loop")
    jobs = []
    for source in scenario_sources(scenarios):
        scenario = load_scenario(source)
        jobs.append(RouteJob(source, scenario, out_dir / scenario.name))
    results = run_jobs(jobs, config, "vlm", log=log.debug)
    return write_summary(out_dir, results)


def write_heldout_routes(folder: Path, count: int, seed: int, config: ProceduralConfig | None = None) -> list[Path]:
    """`count` procedural scenario files from the held-out seed stream: towns, routes and traffic that training
    collection (seeded from `stable_unit("procedural", ...)`) never produces. Draws a town cannot host are skipped."""
    from scenarios import ScenarioError, scenario_from_dict
    from sim.embedded.scenario_map import check_scenario

    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    k = 0
    while len(written) < count and k < 20 * count:
        draw_seed = int(stable_unit("heldout", seed, k) * 2**31)
        k += 1
        data = random_scenario(draw_seed, config)
        data["name"] = f"heldout_{len(written):02d}"
        try:
            check_scenario(scenario_from_dict(data), data["name"])
        except (ScenarioError, ValueError):
            continue
        path = folder / f"{data['name']}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        written.append(path)
    return written


def headline(summary: Mapping[str, Any]) -> dict[str, float]:
    """The numbers a training curve shows for one closed-loop evaluation."""
    infractions = summary.get("infractions", {}) or {}
    return {
        "driving_score": float(summary.get("driving_score", 0.0)),
        "route_completion": float(summary.get("route_completion", 0.0)),
        "success_rate": float(summary.get("success_rate", 0.0)),
        "collisions": float(summary.get("collisions", 0)),
        "red_lights": float(infractions.get("red_light", 0)),
    }


def _trainer_callback_base() -> type:
    from transformers import TrainerCallback

    return TrainerCallback


class ClosedLoopCallback(_trainer_callback_base()):  # type: ignore[misc]
    """Every `every_steps` optimisation steps (and at the end), save the model being trained, drive `scenarios`
    with it and log the headline numbers to TensorBoard under `closed_loop/`; results stay in
    `<output_dir>/closed_loop/step-<N>/`."""

    def __init__(
        self,
        every_steps: int,
        scenarios: Sequence[str],
        planner: Mapping[str, Any] | None = None,
        plan_period: float = 0.5,
    ) -> None:
        self.every_steps = every_steps
        self.scenarios = list(scenarios)
        self.planner = dict(planner or {})
        self.plan_period = plan_period
        self.history: list[dict[str, Any]] = []
        self._writer: Any = None

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.every_steps > 0 and state.global_step % self.every_steps == 0:
            self._evaluate(args, state, kwargs)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not self.history or self.history[-1]["step"] != state.global_step:
            self._evaluate(args, state, kwargs)
        if self._writer is not None:
            self._writer.close()

    def _evaluate(self, args: Any, state: Any, kwargs: Mapping[str, Any]) -> None:
        if not state.is_world_process_zero or not self.scenarios:
            return
        model, processor = kwargs.get("model"), kwargs.get("processing_class")
        out = Path(args.output_dir) / "closed_loop" / f"step-{state.global_step}"
        with tempfile.TemporaryDirectory(prefix="closed-loop-") as tmp:
            model.save_pretrained(tmp)
            if processor is not None:
                processor.save_pretrained(tmp)
            was_training = model.training
            summary = drive_checkpoint(tmp, self.scenarios, out, self.planner, self.plan_period)
            model.train(was_training)
        numbers = headline(summary)
        self.history.append({"step": state.global_step, **numbers})
        writer = self._summary_writer(args)
        for name, value in numbers.items():
            writer.add_scalar(f"closed_loop/{name}", value, state.global_step)
        writer.flush()
        log.info("closed loop at step %d: %s", state.global_step, numbers)

    def _summary_writer(self, args: Any) -> Any:
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            logging_dir = getattr(args, "logging_dir", None) or Path(args.output_dir) / "runs" / "closed_loop"
            self._writer = SummaryWriter(log_dir=str(logging_dir))
        return self._writer


def remove_partial(folder: Path) -> None:
    """Drop what an interrupted stage left, so its rerun starts clean (finished stages are never touched)."""
    if folder.exists():
        shutil.rmtree(folder)
