"""Reasoning teachers that write the `thinking` field, and the quality filter every reasoning passes.

- `GroundedTeacher`: short causal explanations built from the expert's privileged facts with seeded, varied phrasings
  (training/templates/reasoning.yaml). A template is used only when the facts fill all its placeholders, so the text
  can only name objects the facts contain.
- `ApiTeacher`: asks any OpenAI-compatible chat endpoint (hosted model, local vLLM) to explain the ground-truth
  action from the image, the speed and the navigation text (AlphaDrive's distillation), optionally told the
  deciding cause.

`QualityFilter` (training/reasoning_filter.py) rejects texts that contradict the action, miss the deciding cause,
name objects absent from the facts (when asked) or fall outside the length bounds; rejections are counted by reason.
"""

from __future__ import annotations

import base64
import io
import os
import random
import re
import string
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import yaml

from planner.actions import MetaAction
from training.reasoning_filter import KIND_WORDS, FilterConfig, QualityFilter, deciding_cause

TEMPLATES = Path(__file__).resolve().parent / "templates" / "reasoning.yaml"


# ---- teachers -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TeacherInput:
    action: MetaAction  # the ground-truth meta-action
    facts: Mapping[str, Any]  # the expert's facts for this sample
    speed: float  # m/s
    navigation: str
    image: np.ndarray | None = None  # (H, W, 3) uint8; the API teacher needs it
    seed: int = 0
    hint: str = ""  # the expert's own short statement of what decided


class Teacher(Protocol):
    filter: QualityFilter

    def explain(self, sample: TeacherInput) -> str | None:
        """The reasoning (without tags) that passed the filter, or None when the sample must be kept out."""
        ...


def _fmt_distance(value: Any) -> str:
    metres = float(value)
    return f"{metres:.0f} m" if metres < 20 else f"{5 * round(metres / 5):.0f} m"


def fact_values(facts: Mapping[str, Any], rng: random.Random) -> dict[str, str]:
    """Placeholder values, only for what the facts hold."""
    out = {"speed_kmh": f"{3.6 * float(facts.get('speed', 0.0)):.0f}"}
    if "speed_limit" in facts:
        out["limit_kmh"] = f"{3.6 * float(facts['speed_limit']):.0f}"

    def kind(name: str) -> str:
        return rng.choice(KIND_WORDS.get(name, (name.replace("_", " "),)))

    light, stop, lead = facts.get("light"), facts.get("stop_sign"), facts.get("lead")
    if light:
        out.update(light_state=str(light["state"]), light_distance=_fmt_distance(light["distance"]))
    if stop:
        out["stop_distance"] = _fmt_distance(stop["distance"])
    if lead:
        out.update(lead_kind=kind(lead["kind"]), lead_gap=_fmt_distance(lead.get("gap", lead.get("distance", 0.0))))
        out["lead_speed_kmh"] = f"{3.6 * float(lead.get('speed', 0.0)):.0f}"
        if lead.get("cargo"):
            out["lead_cargo"] = str(lead["cargo"])
    for key in ("obstacle", "pedestrian", "crossing", "yield", "occlusion"):
        item = facts.get(key)
        if isinstance(item, Mapping) and "kind" in item:
            out[f"{key}_kind"] = kind(item["kind"])
            out[f"{key}_distance"] = _fmt_distance(item.get("distance", 0.0))
    cause = str(facts.get("decision", ""))
    item = facts.get(cause)
    if isinstance(item, Mapping) and "kind" in item:
        out.update(other_kind=kind(item["kind"]), other_distance=_fmt_distance(item.get("distance", 0.0)))
    maneuver = facts.get("maneuver")
    if maneuver:
        out.update(turn=str(maneuver["turn"]), turn_distance=_fmt_distance(maneuver["distance"]))
    change = facts.get("lane_change")
    if change:
        out["change_side"] = str(change["side"])
    return out


def _situation(cause: str, action: MetaAction, facts: Mapping[str, Any]) -> str:
    speed = float(facts.get("speed", 0.0))
    waiting = speed < 0.5
    if cause in ("red_light", "stop_sign"):
        return f"{cause}_{'waiting' if waiting else 'moving'}"
    if cause == "lead_vehicle":
        lead = facts.get("lead", {})
        if float(lead.get("speed", 0.0)) < 0.5:
            return "lead_stopped"
        return "lead_closing" if action.speed in ("DECELERATE", "STOP") else "lead_open"
    if cause == "pedestrian":
        return "pedestrian_near" if facts.get("pedestrian", {}).get("near_lane") else "pedestrian_crossing"
    if cause == "clear_road":
        change = facts.get("lane_change", {})
        if change.get("reason") == "blocked_lane" and "obstacle" in facts:
            return "clear_bypass"
        if action.speed == "ACCELERATE":
            return "clear_below_limit"
    return cause


def _contexts(cause: str, situation: str, facts: Mapping[str, Any]) -> list[str]:
    keys = []
    light = facts.get("light")
    if light and not cause.endswith("_light"):
        keys.append({"green": "light_green", "red": "light_red_far", "yellow": "light_yellow_late"}.get(light["state"]))
    if "lead" in facts and cause != "lead_vehicle":
        keys.append("lead")
    if facts.get("lead", {}).get("cargo"):
        keys.append("cargo")
    if facts.get("pedestrian", {}).get("near_lane") and cause != "pedestrian":
        keys.append("pedestrian_near")
    maneuver = facts.get("maneuver")
    if maneuver and float(maneuver["distance"]) <= 60:
        now = "_now" if float(maneuver["distance"]) < 3 else ""
        keys.append(("maneuver_straight" if maneuver["turn"] == "straight" else "maneuver_turn") + now)
    change = facts.get("lane_change")
    if change and situation != "clear_bypass":
        reason = {"route": "lane_change_route", "blocked_lane": "lane_change_blocked"}.get(change.get("reason"))
        keys.append("lane_change_wait" if change.get("waiting_for_gap") else reason)
    if float(facts.get("speed", 0.0)) >= 1.0 and situation not in ("clear_below_limit", "speed_limit", "slow_zone"):
        keys.append("speed")
    return [k for k in keys if k]


@dataclass(frozen=True)
class GroundedConfig:
    max_context: int = 2  # context sentences besides the cause and the conclusion
    attempts: int = 4  # phrasings tried before the sample is kept out
    templates: str | None = None  # a phrase bank of your own (YAML); None: training/templates/reasoning.yaml


class GroundedTeacher:
    def __init__(self, config: GroundedConfig | None = None, filter_config: FilterConfig | None = None) -> None:
        self.config = config or GroundedConfig()
        self.bank = yaml.safe_load(Path(self.config.templates or TEMPLATES).read_text(encoding="utf-8"))
        self.filter = QualityFilter(filter_config)

    def _pick(self, options: list[str], values: Mapping[str, str], rng: random.Random) -> str | None:
        usable = [t for t in options if {f for _, f, _, _ in string.Formatter().parse(t) if f} <= values.keys()]
        return rng.choice(usable).format(**values) if usable else None

    def compose(self, action: MetaAction, facts: Mapping[str, Any], seed: int) -> str:
        """One explanation; the same (action, facts, seed) always gives the same text."""
        rng = random.Random(seed)
        values = fact_values(facts, rng)
        cause = deciding_cause(facts)
        situation = _situation(cause, action, facts)
        bank = self.bank
        first = self._pick(bank["cause"].get(situation, bank["cause"]["other"]), values, rng)
        if first is None:  # nothing in the facts fills a template of this cause: say what is known to be true
            fallback = "caution" if action.speed in ("DECELERATE", "STOP") else "clear_road"
            first = self._pick(bank["cause"][fallback], values, rng)
        contexts = [
            c for k in _contexts(cause, situation, facts) if (c := self._pick(bank["context"].get(k, []), values, rng))
        ]
        rng.shuffle(contexts)
        k = rng.randint(0, min(self.config.max_context, len(contexts)))
        held = action.speed == "STOP" and float(facts.get("speed", 0.0)) < 0.5
        speed = rng.choice(bank["speed"]["STOP_held" if held else action.speed])
        maneuver = facts.get("maneuver", {})
        straight_junction = maneuver.get("turn") == "straight" and float(maneuver.get("distance", 99)) < 30
        path = rng.choice(
            bank["path"]["STRAIGHT_junction" if action.path == "STRAIGHT" and straight_junction else action.path]
        )
        sentences = [first, *contexts[:k]]
        conclusion = rng.choice(bank["conclusion"]).format(speed=speed, path=path)
        return " ".join(f"{s}." for s in sentences if s) + " " + conclusion

    def explain(self, sample: TeacherInput) -> str | None:
        last = None
        for attempt in range(self.config.attempts):
            text = self.compose(sample.action, sample.facts, sample.seed * 7919 + attempt)
            if not self.filter.problems(text, sample.action, sample.facts):
                self.filter.accept(text, sample.action, sample.facts)
                return text
            last = text
        self.filter.accept(last, sample.action, sample.facts)
        return None


# ---- OpenAI-compatible chat teacher ---------------------------------------------------------------------------

SPEED_WORDS = {
    "KEEP": "keep the current speed",
    "ACCELERATE": "accelerate",
    "DECELERATE": "slow down",
    "STOP": "stop or stay stopped",
}
PATH_WORDS = {
    "STRAIGHT": "stay in the lane / go straight",
    "LEFT_TURN": "turn left at the junction",
    "RIGHT_TURN": "turn right at the junction",
    "LEFT_CHANGE": "change to the left lane",
    "RIGHT_CHANGE": "change to the right lane",
}
API_SYSTEM = (
    "You explain the decisions of a careful driver. Given the front-camera image of the car, its speed, the "
    "navigation instruction and the action the driver takes, write the short reasoning that leads to that action."
)


@dataclass(frozen=True)
class ApiTeacherConfig:
    base_url: str = "http://127.0.0.1:8000/v1"  # any OpenAI-compatible server (vLLM: http://host:port/v1)
    model: str = "gpt-4o"
    api_key: str | None = None  # None: read from api_key_env (local servers accept any key)
    api_key_env: str = "OPENAI_API_KEY"
    temperature: float = 0.7
    max_tokens: int = 160
    timeout_s: float = 60.0
    max_retries: int = 2  # transport-level retries inside the client
    attempts: int = 2  # fresh answers asked for when the filter rejects one
    cause_hint: bool = True  # also tell the model what decided (the expert's statement)
    require_grounding: bool = False  # a model sees the image and may rightly name objects the facts leave out
    image_format: str = "jpeg"

    def __post_init__(self) -> None:
        if self.image_format not in ("jpeg", "png"):
            raise ValueError(f"image_format must be 'jpeg' or 'png', got {self.image_format!r}")
        if self.attempts < 1:
            raise ValueError("attempts must be >= 1")


def image_data_url(image: np.ndarray, image_format: str = "jpeg") -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buffer, format=image_format.upper(), quality=90)
    return f"data:image/{image_format};base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def clean_reply(text: str | None) -> str:
    """The reasoning inside a reply: the <think> part when there is one, without answer tags, on one line."""
    text = text or ""
    think = re.search(r"<think>(.*?)</think>", text, re.DOTALL)
    body = think.group(1) if think else re.sub(r"<answer>.*?</answer>", "", text, flags=re.DOTALL)
    return " ".join(re.sub(r"</?(think|answer)>", " ", body).split())


class ApiTeacher:
    def __init__(self, config: ApiTeacherConfig, filter_config: FilterConfig | None = None, client: Any = None) -> None:
        from dataclasses import replace

        self.config = config
        base = filter_config or FilterConfig()
        self.filter = QualityFilter(replace(base, require_grounding=config.require_grounding))
        self.errors: Counter[str] = Counter()
        if client is None:
            from openai import OpenAI

            key = config.api_key or os.environ.get(config.api_key_env) or "none"
            client = OpenAI(
                base_url=config.base_url, api_key=key, timeout=config.timeout_s, max_retries=config.max_retries
            )
        self.client = client

    def messages(self, sample: TeacherInput) -> list[dict[str, Any]]:
        if sample.image is None:
            raise ValueError("the API teacher needs the sample's image")
        action = sample.action
        lines = [
            f"Speed: {sample.speed:.1f} m/s ({3.6 * sample.speed:.0f} km/h).",
            f"Navigation: {sample.navigation}.",
            f"Action taken: {action.speed}, {action.path} ({SPEED_WORDS[action.speed]}; {PATH_WORDS[action.path]}).",
        ]
        if self.config.cause_hint and sample.hint:
            lines.append(f"What decided it: {sample.hint}")
        lines.append(
            "In one to three short sentences, explain what in the scene leads to this action, as the driver thinking "
            "before acting. Finish with a sentence that states the action in plain words. No tags, no lists."
        )
        return [
            {"role": "system", "content": API_SYSTEM},
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": image_data_url(sample.image, self.config.image_format)}},
                    {"type": "text", "text": "\n".join(lines)},
                ],
            },
        ]

    def explain(self, sample: TeacherInput) -> str | None:
        import openai

        messages, last = self.messages(sample), None
        for _ in range(self.config.attempts):
            try:
                reply = self.client.chat.completions.create(
                    model=self.config.model,
                    messages=messages,
                    temperature=self.config.temperature,
                    max_tokens=self.config.max_tokens,
                )
                text = clean_reply(reply.choices[0].message.content if reply.choices else "")
            except openai.OpenAIError as err:
                self.errors[type(err).__name__] += 1
                continue
            if not self.filter.problems(text, sample.action, sample.facts):
                self.filter.accept(text, sample.action, sample.facts)
                return text
            last = text
        self.filter.accept(last, sample.action, sample.facts, reason="api_error")
        return None


# ---- construction -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TeacherConfig:
    kind: str = "grounded"  # grounded | api | none (no reasoning: `thinking` stays empty)
    grounded: GroundedConfig = field(default_factory=GroundedConfig)
    api: ApiTeacherConfig = field(default_factory=ApiTeacherConfig)
    filter: FilterConfig = field(default_factory=FilterConfig)

    def __post_init__(self) -> None:
        if self.kind not in ("grounded", "api", "none"):
            raise ValueError(f"teacher.kind must be grounded, api or none, got {self.kind!r}")


def make_teacher(config: TeacherConfig) -> GroundedTeacher | ApiTeacher | None:
    if config.kind == "grounded":
        return GroundedTeacher(config.grounded, config.filter)
    if config.kind == "api":
        return ApiTeacher(config.api, config.filter)
    return None


def teacher_stats(teacher: GroundedTeacher | ApiTeacher | None) -> dict[str, Any]:
    if teacher is None:
        return {"accepted": 0, "rejected": 0, "reasons": {}}
    stats = teacher.filter.stats()
    errors = getattr(teacher, "errors", None)
    if errors:
        stats["api_errors"] = dict(errors)
    return stats
