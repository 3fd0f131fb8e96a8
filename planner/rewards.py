"""The four planning rewards of the AlphaDrive recipe, usable directly as TRL GRPO reward functions.

Every reward has the signature `fn(completions, solution, *, group_size=None, **kwargs) -> list[float]`. The
completions come in consecutive groups of `group_size` (one prompt each; default: the whole call is one group) and
`solution[i]` is the ground-truth answer text of completion i. Extra keyword arguments (TRL passes `prompts`,
`completion_ids`, `trainer_state` and the other dataset columns) are ignored.

Differences from AlphaDrive's released reward code, on purpose:
- the diversity factor counts identical answers over the whole group at once, so it does not depend on the order
  in which completions are scored (the released code only penalises an answer once an identical one was seen);
- an empty prediction (no vocabulary word) scores 0 for speed and path instead of passing through;
- when training runs on several processes a group may be split between them: the duplicate counts are gathered
  across processes first, so a group is always scored whole.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

from planner.actions import PATH_ACTIONS, SPEED_ACTIONS, ParsedAnswer, parse_answer

DEFAULT_SPEED_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {"ACCELERATE": 0.9, "DECELERATE": 1.0, "STOP": 1.0, "KEEP": 0.8}
)
DEFAULT_PATH_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {"LEFT_TURN": 1.0, "RIGHT_TURN": 1.0, "LEFT_CHANGE": 1.0, "RIGHT_CHANGE": 1.0, "STRAIGHT": 0.8}
)

Completion = str | Sequence[Mapping[str, Any]]
AnswerKey = tuple[tuple[str, ...], tuple[str, ...]]


class Gatherer(Protocol):
    """Collects one list from every training process, in process order."""

    rank: int

    def all_gather(self, items: list[Any]) -> list[list[Any]]: ...


class LocalGatherer:
    """Single process: the local list is the whole batch."""

    rank = 0

    def all_gather(self, items: list[Any]) -> list[list[Any]]:
        return [items]


class TorchDistributedGatherer:
    """Gathers through `torch.distributed` (the process group Accelerate and TRL set up)."""

    def __init__(self) -> None:
        import torch.distributed as dist

        if not dist.is_available() or not dist.is_initialized():
            raise RuntimeError("TorchDistributedGatherer needs an initialised torch.distributed process group")
        self._dist = dist
        self.rank = dist.get_rank()

    def all_gather(self, items: list[Any]) -> list[list[Any]]:
        out: list[Any] = [None] * self._dist.get_world_size()
        self._dist.all_gather_object(out, items)
        return out


@dataclass(frozen=True)
class RewardConfig:
    """Every factor can be switched off for ablations; a switched-off factor counts as 1."""

    speed_weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_SPEED_WEIGHTS))
    path_weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_PATH_WEIGHTS))
    diversity_cap: float = 0.2
    use_accuracy: bool = True
    use_action_weight: bool = True
    use_diversity: bool = True

    def __post_init__(self) -> None:
        for name, table, vocab in (
            ("speed_weights", self.speed_weights, SPEED_ACTIONS),
            ("path_weights", self.path_weights, PATH_ACTIONS),
        ):
            if set(table) != set(vocab):
                raise ValueError(f"RewardConfig.{name} must give a weight for exactly {vocab}, got {sorted(table)}")
        if not 0.0 <= self.diversity_cap <= 1.0:
            raise ValueError(f"RewardConfig.diversity_cap must be in [0, 1], got {self.diversity_cap}")


def set_f1(predicted: frozenset[str], truth: frozenset[str]) -> float:
    """F1 between a predicted and a true set of words; 0 when either is empty."""
    hits = len(predicted & truth)
    if not predicted or not truth or hits == 0:
        return 0.0
    precision, recall = hits / len(predicted), hits / len(truth)
    return 2 * precision * recall / (precision + recall)


def action_weight(predicted: frozenset[str], weights: Mapping[str, float]) -> float:
    """Mean weight of the predicted words; 0 for an empty prediction."""
    return sum(weights[w] for w in predicted) / len(predicted) if predicted else 0.0


def _answer_key(parsed: ParsedAnswer) -> AnswerKey:
    return tuple(sorted(parsed.speed)), tuple(sorted(parsed.path))


def diversity_factors(
    parsed: Sequence[ParsedAnswer], group_size: int | None, cap: float = 0.2, gatherer: Gatherer | None = None
) -> list[float]:
    """`1 - min(cap, n_i / G)` per completion, n_i = completions of i's group with the same (speed, path) sets.

    With a gatherer the keys of every process are collected first, so groups split across processes are whole."""
    gatherer = gatherer or LocalGatherer()
    local = [_answer_key(p) for p in parsed]
    per_rank = gatherer.all_gather(local)
    rank = gatherer.rank
    everything = [key for chunk in per_rank for key in chunk]
    offset = sum(len(chunk) for chunk in per_rank[:rank])
    size = group_size or len(everything)
    if size <= 0 or len(everything) % size:
        raise ValueError(f"{len(everything)} completions do not split into groups of {size}")
    factors: list[float] = []
    for start in range(0, len(everything), size):
        group = everything[start : start + size]
        counts = Counter(group)
        factors.extend(1.0 - min(cap, counts[key] / size) for key in group)
    return factors[offset : offset + len(local)]


def _check_lengths(completions: Sequence[Completion], solution: Sequence[str]) -> None:
    if len(completions) != len(solution):
        raise ValueError(f"got {len(completions)} completions but {len(solution)} solutions")


def _planning_reward(
    part: str,
    completions: Sequence[Completion],
    solution: Sequence[str],
    group_size: int | None,
    config: RewardConfig,
    gatherer: Gatherer | None,
) -> list[float]:
    _check_lengths(completions, solution)
    parsed = [parse_answer(c) for c in completions]
    truths = [getattr(parse_answer(s), part) for s in solution]
    weights = config.speed_weights if part == "speed" else config.path_weights
    diversity = (
        diversity_factors(parsed, group_size, config.diversity_cap, gatherer)
        if config.use_diversity
        else [1.0] * len(parsed)
    )
    rewards = []
    for p, truth, div in zip(parsed, truths, diversity, strict=True):
        predicted = getattr(p, part)
        accuracy = set_f1(predicted, truth) if config.use_accuracy else float(bool(predicted))
        weight = action_weight(predicted, weights) if config.use_action_weight else float(bool(predicted))
        rewards.append(accuracy * weight * div)
    return rewards


def speed_reward(
    completions: Sequence[Completion],
    solution: Sequence[str],
    *,
    group_size: int | None = None,
    config: RewardConfig | None = None,
    gatherer: Gatherer | None = None,
    **_: Any,
) -> list[float]:
    """F1(speed) x action weight x diversity, per completion."""
    return _planning_reward("speed", completions, solution, group_size, config or RewardConfig(), gatherer)


def path_reward(
    completions: Sequence[Completion],
    solution: Sequence[str],
    *,
    group_size: int | None = None,
    config: RewardConfig | None = None,
    gatherer: Gatherer | None = None,
    **_: Any,
) -> list[float]:
    """F1(path) x action weight x diversity, per completion."""
    return _planning_reward("path", completions, solution, group_size, config or RewardConfig(), gatherer)


def format_reward(
    completions: Sequence[Completion], solution: Sequence[str] | None = None, *, group_size: int | None = None, **_: Any
) -> list[float]:
    """1.0 when the text is exactly `<think>...</think>` then `<answer>...</answer>`, else 0.0."""
    return [1.0 if parse_answer(c).format_ok else 0.0 for c in completions]


RewardFn = Callable[..., list[float]]


def make_reward_functions(
    config: RewardConfig | None = None,
    group_size: int | None = None,
    gatherer: Gatherer | None = None,
    names: Sequence[str] = ("speed", "path", "format"),
) -> list[RewardFn]:
    """Reward callables with the config, group size and gatherer bound, named for TRL's per-reward logging."""
    config = config or RewardConfig()
    table: dict[str, RewardFn] = {"speed": speed_reward, "path": path_reward, "format": format_reward}
    unknown = set(names) - set(table)
    if unknown:
        raise ValueError(f"unknown reward names {sorted(unknown)}; choose from {sorted(table)}")

    def bind(name: str) -> RewardFn:
        base = table[name]

        def reward(completions: Sequence[Completion], solution: Sequence[str], **kwargs: Any) -> list[float]:
            kwargs.pop("group_size", None)
            if name == "format":
                return base(completions, solution)
            return base(completions, solution, group_size=group_size, config=config, gatherer=gatherer)

        reward.__name__ = f"{name}_reward"
        return reward

    return [bind(n) for n in names]
