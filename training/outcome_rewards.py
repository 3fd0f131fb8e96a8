"""Outcome rewards for TRL's GRPOTrainer: every completion of a group is driven from the same saved state.

Dataset rows collected with `snapshots=true` carry `snapshot` (the state), `scenario_file` and `run_seed`
(training/rollout.py). For a batch, each distinct (state, action) is driven once in a pool of simulator worker
processes (each keeps one env per scenario); an unparseable answer is driven as the planner's fallback action, as it
would be in closed loop. The result feeds one TRL reward function per outcome term (`outcome/<term>`, weights in
config), so TRL logs every term. A rollout that fails is counted (`outcome/failed`) and its terms are None (TRL
leaves them out of the sum), never silently zero. Rewards do not depend on the order the batch is scored in: the
simulator is deterministic and the pool returns results in submission order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from planner.actions import MetaAction, parse_answer
from training.outcome import TERMS, OutcomeConfig

log = logging.getLogger(__name__)
FALLBACK = MetaAction("DECELERATE", "STRAIGHT")  # the VLM planner's default fallback (planner/vlm.py)

_ENVS: dict[tuple[str, int], Any] = {}  # per worker process: one env per (scenario file, seed)


def score_one(task: tuple[str, int, str, str, Mapping[str, Any]]) -> dict[str, float] | None:
    """Worker: drive one (scenario file, run seed, snapshot file, action) and return the terms (None on failure)."""
    import yaml

    from sim.env import DriveEnv
    from training.outcome import rollout_terms

    scenario_file, seed, snapshot_file, action, settings = task
    try:
        key = (scenario_file, seed)
        if key not in _ENVS:
            scenario = yaml.safe_load(Path(scenario_file).read_text(encoding="utf-8"))
            env = DriveEnv({"scenarios": [scenario_file], "sim": {"name": "embedded", "render": False}})
            env.reset(options={"scenario": scenario, "seed": seed})
            _ENVS[key] = env
        config = OutcomeConfig(**settings)
        return rollout_terms(_ENVS[key], Path(snapshot_file).read_bytes(), MetaAction(*action.split(", ")), config)
    except Exception as err:  # reported and counted by the caller; one bad state must not stop training
        log.warning("outcome rollout failed for %s (%s): %s", snapshot_file, action, err)
        return None


def _init_worker(parent_pid: int) -> None:
    from sim.fanout.lifetime import die_with_parent

    die_with_parent(parent_pid)


class OutcomeScorer:
    """Scores batches of (row, completion) on `workers` simulator processes (0: in this process)."""

    def __init__(self, data_root: str | Path, config: OutcomeConfig, workers: int = 2) -> None:
        import os

        self.root = Path(data_root)
        self.config = config
        self.settings = {k: getattr(config, k) for k in config.__dataclass_fields__}
        self.settings["weights"] = dict(config.weights)
        self.pool = (
            ProcessPoolExecutor(workers, get_context("spawn"), initializer=_init_worker, initargs=(os.getpid(),))
            if workers > 0
            else None
        )
        self.failed = 0
        self.unparsed = 0
        self._last: tuple[tuple[Any, ...], list[dict[str, float] | None]] | None = None

    def score(
        self, completions: Sequence[Any], snapshots: Sequence[str | None], files: Sequence[str], seeds: Sequence[int]
    ) -> list[dict[str, float] | None]:
        key = (tuple(map(str, completions)), tuple(snapshots))
        if self._last is not None and self._last[0] == key:  # the other term functions of the same batch
            return self._last[1]
        tasks, where = [], []
        for completion, snapshot, scenario_file, seed in zip(completions, snapshots, files, seeds, strict=True):
            if not snapshot:
                where.append(None)
                continue
            action = parse_answer(completion).action
            if action is None:
                self.unparsed += 1
                action = FALLBACK
            task = (str(self.root / scenario_file), int(seed), str(self.root / snapshot), str(action), self.settings)
            if task not in tasks:
                tasks.append(task)
            where.append(tasks.index(task))
        results = list(self.pool.map(score_one, tasks)) if self.pool is not None else [score_one(t) for t in tasks]
        self.failed += sum(r is None for r in results)
        scored = [None if i is None else results[i] for i in where]
        self._last = (key, scored)
        return scored

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)


def make_outcome_reward_functions(scorer: OutcomeScorer, scale: float = 1.0) -> tuple[list[Callable], list[float]]:
    """One reward function per outcome term, plus `outcome/failed` (weight 0: logged, not rewarded); their weights
    are the term weights times `scale`."""
    functions = [_term_function(scorer, term) for term in TERMS]

    def failed(completions: Sequence[Any], snapshot: Sequence[str | None] | None = None, **kwargs: Any) -> list[float]:
        snaps = snapshot or [None] * len(completions)
        scored = scorer.score(completions, snaps, kwargs.get("scenario_file", [""] * len(completions)), kwargs.get(
            "run_seed", [0] * len(completions)))  # fmt: skip
        return [float(s is None and bool(p)) for s, p in zip(scored, snaps, strict=True)]

    failed.__name__ = "outcome/failed"
    return [*functions, failed], outcome_weights(scorer.config, scale)


def outcome_weights(config: OutcomeConfig, scale: float = 1.0) -> list[float]:
    """The weights of `make_outcome_reward_functions`' functions, in their order."""
    return [scale * float(config.weights.get(term, 0.0)) for term in TERMS] + [0.0]


def _term_function(scorer: OutcomeScorer, term: str) -> Callable:
    def reward(completions: Sequence[Any], snapshot: Sequence[str | None] | None = None, **kwargs: Any) -> list:
        snaps = snapshot or [None] * len(completions)
        files = kwargs.get("scenario_file") or [""] * len(completions)
        seeds = kwargs.get("run_seed") or [0] * len(completions)
        scored = scorer.score(completions, snaps, files, seeds)
        return [None if s is None else s[term] for s in scored]

    reward.__name__ = f"outcome/{term}"
    return reward
