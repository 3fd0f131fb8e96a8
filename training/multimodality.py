"""Multimodality, measured: in states where more than one answer is safe, how many distinct safe answers a planner
samples.

From saved states (a dataset collected with `snapshots=true`) every one of the 20 meta-actions is driven with the
outcome rollout (training/outcome.py). An answer is *good* when its rollout has no collision, light or sign
violation, leaves neither road nor route, keeps time-to-collision above the threshold, and makes at least
`min_progress_share` of the best good answer's progress (so that standing still next to a free road is not good).
States with two or more good answers are the multi-answer states. A planner then samples `samples` answers per
such state (temperature sampling); reported per planner: the mean number of distinct good answers it sampled, the
share of its samples that were good, and the share that parsed.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from planner.actions import PATH_ACTIONS, SPEED_ACTIONS, MetaAction, parse_answer
from training.outcome import INFRACTION_TERMS, OutcomeConfig

ALL_ACTIONS = [MetaAction(s, p) for s, p in itertools.product(SPEED_ACTIONS, PATH_ACTIONS)]


@dataclass(frozen=True)
class MultimodalityConfig:
    states: int = 40  # states drawn from the dataset (seeded), before keeping the multi-answer ones
    samples: int = 8  # answers sampled per state and planner
    temperature: float = 1.0
    min_progress_share: float = 0.5
    max_ttc_term: float = 0.5  # the outcome's ttc term above this is not good (time to collision well under threshold)
    seed: int = 0
    workers: int = 2


def good_actions(terms: Mapping[str, Mapping[str, float] | None], config: MultimodalityConfig) -> set[str]:
    """The good answers of one state from each answer's outcome terms (None: the rollout failed, not good)."""
    clean = {
        a: t
        for a, t in terms.items()
        if t is not None and all(t[k] == 0.0 for k in INFRACTION_TERMS) and t["ttc"] <= config.max_ttc_term
    }
    if not clean:
        return set()
    best = max(t["progress"] for t in clean.values())
    return {a for a, t in clean.items() if best <= 0.0 or t["progress"] >= config.min_progress_share * best}


def score_states(root: Path, rows: Sequence[dict[str, Any]], config: MultimodalityConfig) -> list[set[str]]:
    """Every meta-action driven from every row's state; the good answers per row."""
    from training.outcome_rewards import OutcomeScorer

    scorer = OutcomeScorer(root, OutcomeConfig(), config.workers)
    try:
        goods = []
        for row in rows:
            answers = [f"<answer> {a} </answer>" for a in ALL_ACTIONS]
            n = len(answers)
            scored = scorer.score(answers, [row["snapshot"]] * n, [row["scenario_file"]] * n, [row["run_seed"]] * n)
            goods.append(good_actions(dict(zip(map(str, ALL_ACTIONS), scored, strict=True)), config))
        return goods
    finally:
        scorer.close()


def sample_answers(
    model: str, rows: Sequence[dict[str, Any]], planner: Mapping[str, Any], config: MultimodalityConfig
) -> list[list[str]]:
    """`config.samples` sampled completions per row from the checkpoint `model`."""
    from planner.config import from_mapping
    from planner.prompt import build_messages
    from planner.vlm import VLMPlanner, VLMPlannerConfig, to_pil
    from training.evaluate import planner_inputs

    settings = {**planner, "model": model, "do_sample": True, "temperature": config.temperature,
                "num_candidates": config.samples, "seed": config.seed}  # fmt: skip
    vlm = VLMPlanner(from_mapping(VLMPlannerConfig, settings, "multimodality.planner"))
    inputs = planner_inputs(rows)
    texts: list[list[str]] = []
    for start in range(0, len(inputs), vlm.config.batch_size):
        chunk = inputs[start : start + vlm.config.batch_size]
        messages = [build_messages(x.speed, x.navigation) for x in chunk]
        texts += vlm.backend.generate(messages, [to_pil(x.image) for x in chunk])
    return texts


def measure(
    root: Path,
    rows: Sequence[dict[str, Any]],
    models: Mapping[str, str],
    planner: Mapping[str, Any],
    config: MultimodalityConfig,
) -> dict[str, Any]:
    """The multi-answer states of `rows` (a seeded draw of `config.states`) and each model's sampled answers there."""
    with_state = [r for r in rows if r.get("snapshot")]
    drawn = random.Random(config.seed).sample(with_state, min(config.states, len(with_state)))
    goods = score_states(root, drawn, config)
    multi = [(row, good) for row, good in zip(drawn, goods, strict=True) if len(good) >= 2]
    result: dict[str, Any] = {
        "states_scored": len(drawn),
        "multi_answer_states": len(multi),
        "good_answers_per_multi_state": _mean([len(g) for _, g in multi]),
        "planners": {},
    }
    if not multi:
        return result
    fallback = MetaAction("DECELERATE", "STRAIGHT")
    for name, model in models.items():
        texts = sample_answers(model, [r for r, _ in multi], planner, config)
        distinct, good_share, parsed = [], [], []
        for candidates, (_, good) in zip(texts, multi, strict=True):
            actions = [parse_answer(t).action for t in candidates]
            parsed.append(sum(a is not None for a in actions) / len(actions))
            chosen = [str(a or fallback) for a in actions]
            distinct.append(len({a for a in chosen if a in good}))
            good_share.append(sum(a in good for a in chosen) / len(chosen))
        result["planners"][name] = {
            "distinct_good_answers": _mean(distinct),
            "good_share": _mean(good_share),
            "parsed_share": _mean(parsed),
        }
    return result


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 3) if values else None
