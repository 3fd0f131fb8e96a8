"""The meta-action vocabulary and the `<think> ... </think> <answer> SPEED, PATH </answer>` format."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

SPEED_ACTIONS: tuple[str, ...] = ("KEEP", "ACCELERATE", "DECELERATE", "STOP")
PATH_ACTIONS: tuple[str, ...] = ("STRAIGHT", "LEFT_TURN", "RIGHT_TURN", "LEFT_CHANGE", "RIGHT_CHANGE")

_THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL)
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_FORMAT = re.compile(r"\s*<think>.*?</think>\s*<answer>.*?</answer>\s*", re.DOTALL)
# Whole words only: "STOP" must not match inside "STOPPED", "KEEP" not inside "KEEPING". Underscore counts as a
# word character, so "LEFT_TURN" never yields a partial hit.
_WORD = re.compile(r"(?<![A-Za-z0-9_])(" + "|".join(SPEED_ACTIONS + PATH_ACTIONS) + r")(?![A-Za-z0-9_])")


@dataclass(frozen=True)
class MetaAction:
    speed: str
    path: str

    def __post_init__(self) -> None:
        if self.speed not in SPEED_ACTIONS:
            raise ValueError(f"speed must be one of {SPEED_ACTIONS}, got {self.speed!r}")
        if self.path not in PATH_ACTIONS:
            raise ValueError(f"path must be one of {PATH_ACTIONS}, got {self.path!r}")

    def __str__(self) -> str:
        return f"{self.speed}, {self.path}"


# How a driver says each word of an action, for explanations and overlays ("stop and go straight").
PLAIN_WORDS: Mapping[str, str] = {
    "KEEP": "keep our speed",
    "ACCELERATE": "speed up",
    "DECELERATE": "slow down",
    "STOP": "stop",
    "STRAIGHT": "go straight",
    "LEFT_TURN": "turn left",
    "RIGHT_TURN": "turn right",
    "LEFT_CHANGE": "change to the left lane",
    "RIGHT_CHANGE": "change to the right lane",
}


def spoken(action: MetaAction) -> str:
    """The action in a driver's words, e.g. "slow down and turn left"."""
    return f"{PLAIN_WORDS[action.speed]} and {PLAIN_WORDS[action.path]}"


@dataclass(frozen=True)
class ParsedAnswer:
    speed: frozenset[str]
    path: frozenset[str]
    think: str | None
    format_ok: bool

    @property
    def action(self) -> MetaAction | None:
        """The meta-action when exactly one speed and one path word were given, else None."""
        if len(self.speed) == 1 and len(self.path) == 1:
            return MetaAction(next(iter(self.speed)), next(iter(self.path)))
        return None


def completion_text(completion: str | Sequence[Mapping[str, Any]] | None) -> str:
    """The text of a completion: a plain string, or a chat completion as TRL passes it (list of messages).

    For chat completions the assistant messages are joined; message content may itself be a list of typed parts
    (`{"type": "text", "text": ...}`) as multimodal chat templates produce."""
    if completion is None:
        return ""
    if isinstance(completion, str):
        return completion
    parts: list[str] = []
    for message in completion:
        if not isinstance(message, Mapping) or message.get("role", "assistant") != "assistant":
            continue
        content = message.get("content", "")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, Sequence):
            parts.extend(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return "\n".join(parts)


def parse_answer(completion: str | Sequence[Mapping[str, Any]] | None) -> ParsedAnswer:
    """Parse a model answer. Never raises: malformed text gives empty sets and `format_ok=False`."""
    text = completion_text(completion)
    answer = _ANSWER.search(text)
    span = answer.group(1) if answer else text
    words = set(_WORD.findall(span))
    think = _THINK.search(text)
    return ParsedAnswer(
        speed=frozenset(words.intersection(SPEED_ACTIONS)),
        path=frozenset(words.intersection(PATH_ACTIONS)),
        think=think.group(1).strip() if think else None,
        format_ok=_FORMAT.fullmatch(text) is not None,
    )


def format_answer(action: MetaAction, reasoning: str | None = None) -> str:
    """Canonical answer text, e.g. `<think> red light ahead </think> <answer> STOP, STRAIGHT </answer>`."""
    answer = f"<answer> {action.speed}, {action.path} </answer>"
    return answer if reasoning is None else f"<think> {reasoning.strip()} </think> {answer}"
