"""The quality filter every reasoning passes, and the word lists it checks with: action intents, deciding causes and
the objects a text names.

All patterns match lower-cased text. Objects are grouped into the names `mentioned_objects` reports; the facts of a
sample allow a set of them (`allowed_objects`), and a text naming anything else is not grounded.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from planner.actions import MetaAction


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


# Noun phrases the grounded teacher uses for each actor kind (the first is the plain one).
KIND_WORDS: dict[str, tuple[str, ...]] = {
    "vehicle": ("car", "vehicle"),
    "truck": ("truck",),
    "bus": ("bus",),
    "bicycle": ("cyclist", "bicycle"),
    "pedestrian": ("pedestrian", "person"),
    "cone": ("traffic cone", "cone"),
    "barrier": ("barrier",),
    "parked_vehicle": ("parked car", "parked vehicle"),
    "broken_vehicle": ("broken-down car", "disabled vehicle"),
}

SPEED_INTENT: dict[str, re.Pattern[str]] = {
    "STOP": _rx(r"\b(stop(?!\s+(sign|line))s?|stopped|halt|standstill|wait(ing)?|give way|yield)\b"),
    "DECELERATE": _rx(r"\b(slow(ing)?( down)?|decelerat\w*|brak(e|ing)|ease off|reduce (our |the )?speed)\b"),
    "ACCELERATE": _rx(r"\b(accelerat\w*|speed(ing)? up|pick up speed|gain (some )?speed|go faster)\b"),
    "KEEP": _rx(
        r"\b(keep (our |the )?(current )?(speed|pace)|maintain\w*|hold (this|our|the) speed|same (speed|pace)|"
        r"steady|carry on|constant speed)\b"
    ),
}

PATH_INTENT: dict[str, re.Pattern[str]] = {
    "STRAIGHT": _rx(r"\b(straight|follow(ing)? the lane|stay(ing)? in (our|the) lane)\b"),
    "LEFT_TURN": _rx(r"\b(turn(ing)? left|left turn)\b"),
    "RIGHT_TURN": _rx(r"\b(turn(ing)? right|right turn)\b"),
    "LEFT_CHANGE": _rx(
        r"\b((in)?to the left lane|left lane change|(change|move|shift|merge)\w* (one lane )?(to the )?left)\b"
    ),
    "RIGHT_CHANGE": _rx(
        r"\b((in)?to the right lane|right lane change|(change|move|shift|merge)\w* (one lane )?(to the )?right)\b"
    ),
}

_VEHICLE_WORDS = r"(car|vehicle|truck|bus|cyclist|bicycle|bike|traffic|lead)"
# A text mentions the deciding cause when every pattern of it matches.
CAUSE_PATTERNS: dict[str, tuple[re.Pattern[str], ...]] = {
    "red_light": (_rx(r"\bred\b"), _rx(r"\b(light|signal)s?\b")),
    "yellow_light": (_rx(r"\b(yellow|amber)\b"), _rx(r"\b(light|signal)s?\b")),
    "stop_sign": (_rx(r"\bstop signs?\b"),),
    "lead_vehicle": (_rx(rf"\b{_VEHICLE_WORDS}s?\b"),),
    "obstacle": (_rx(r"\b(obstacle|obstruct\w*|block\w*|cones?|barriers?|parked|broken|disabled|stalled)\b"),),
    "pedestrian": (_rx(r"\b(pedestrians?|person|people|walkers?|someone on foot)\b"),),
    "crossing": (_rx(rf"\b(cross\w*|{_VEHICLE_WORDS}s?|pedestrians?)\b"),),
    "yield": (_rx(r"\b(oncoming|give way|yield\w*|priority|right of way)\b"),),
    "occlusion": (_rx(r"\b(hid(e|es|den|ing)|block\w*|occlu\w*|behind|view)\b"),),
    "clear_road": (_rx(r"\b(clear|free|open|nothing|empty|no (traffic|obstacles?))\b"),),
    "speed_limit": (_rx(r"\b(limit|too fast|faster than)\b"),),
    "slow_zone": (_rx(r"\b(faster|too fast|higher|limit|slow)\b"),),
}

# Object names a text can mention, and the words that name them.
OBJECT_PATTERNS: dict[str, re.Pattern[str]] = {
    "light": _rx(r"\b(traffic lights?|signals?|lights?)\b"),
    "stop_sign": _rx(r"\bstop signs?\b"),
    "pedestrian": _rx(r"\b(pedestrians?|person|people|walkers?|on foot)\b"),
    "bicycle": _rx(r"\b(cyclists?|bicycles?|bikes?)\b"),
    "truck": _rx(r"\b(trucks?|lorr(y|ies))\b"),
    "bus": _rx(r"\bbus(es)?\b"),
    "car": _rx(r"\bcars?\b"),
    "vehicle": _rx(r"\bvehicles?\b"),
    "cone": _rx(r"\bcones?\b"),
    "barrier": _rx(r"\bbarriers?\b"),
    "parked": _rx(r"\bparked\b"),
    "broken": _rx(r"\b(broken[- ]down|disabled|stalled|breakdown)\b"),
    "oncoming": _rx(r"\boncoming\b"),
}
KIND_PATTERNS: dict[str, re.Pattern[str]] = {
    "vehicle": _rx(r"\b(cars?|vehicles?)\b"),
    "truck": OBJECT_PATTERNS["truck"],
    "bus": OBJECT_PATTERNS["bus"],
    "bicycle": OBJECT_PATTERNS["bicycle"],
    "pedestrian": OBJECT_PATTERNS["pedestrian"],
    "cone": OBJECT_PATTERNS["cone"],
    "barrier": OBJECT_PATTERNS["barrier"],
    "parked_vehicle": OBJECT_PATTERNS["parked"],
    "broken_vehicle": OBJECT_PATTERNS["broken"],
}
OBJECTS_OF_KIND: dict[str, frozenset[str]] = {
    "vehicle": frozenset({"car", "vehicle"}),
    "truck": frozenset({"truck", "vehicle"}),
    "bus": frozenset({"bus", "vehicle"}),
    "bicycle": frozenset({"bicycle"}),
    "pedestrian": frozenset({"pedestrian"}),
    "cone": frozenset({"cone"}),
    "barrier": frozenset({"barrier"}),
    "parked_vehicle": frozenset({"parked", "car", "vehicle"}),
    "broken_vehicle": frozenset({"broken", "car", "vehicle"}),
}


def mentioned_objects(text: str) -> set[str]:
    """Object names in a (lower-cased) text. "the car" alone means the ego car and names nothing."""
    low = re.sub(r"\b(the|our|my) car\b", "", text.lower())
    return {name for name, rx in OBJECT_PATTERNS.items() if rx.search(low)}


def allowed_objects(facts: Mapping[str, Any]) -> set[str]:
    """Object names the facts justify."""
    allowed: set[str] = set()
    if facts.get("light"):
        allowed.add("light")
    if facts.get("stop_sign"):
        allowed.add("stop_sign")
    for key in ("lead", "obstacle", "pedestrian", "crossing", "yield", "occlusion", str(facts.get("decision", ""))):
        item = facts.get(key)
        if isinstance(item, Mapping) and item.get("kind"):
            allowed |= OBJECTS_OF_KIND.get(str(item["kind"]), frozenset({str(item["kind"])}))
        if isinstance(item, Mapping) and item.get("cargo") == "cones":
            allowed.add("cone")
    if facts.get("yield"):
        allowed.add("oncoming")
    return allowed


def deciding_cause(facts: Mapping[str, Any]) -> str:
    """The expert's deciding cause, refined where its `decision` is a catch-all (see planner/expert.py)."""
    cause = str(facts.get("decision", "clear_road"))
    speed, limit = float(facts.get("speed", 0.0)), float(facts.get("speed_limit", 0.0))
    if cause == "speed_limit" and speed <= limit + 0.5:
        for key in ("pedestrian", "crossing", "obstacle", "occlusion"):
            if key in facts:
                return key
        return "slow_zone"
    if cause == "obstacle" and "obstacle" not in facts and "lead" in facts:
        return "lead_vehicle"
    if cause == "lead_vehicle" and "lead" not in facts and "obstacle" in facts:
        return "obstacle"  # the expert follows a standing obstacle like a lead vehicle
    return cause


@dataclass(frozen=True)
class FilterConfig:
    min_words: int = 6
    max_words: int = 70
    require_action: bool = True  # the text states the chosen speed (and a non-straight path) and never the opposite
    require_cause: bool = True  # the text mentions the deciding cause
    require_grounding: bool = True  # every object named is in the facts


def _last_sentence(text: str) -> str:
    parts = [p for p in re.split(r"(?<=[.!?])\s+", text.strip()) if p]
    return parts[-1] if parts else ""


class QualityFilter:
    def __init__(self, config: FilterConfig | None = None) -> None:
        self.config = config or FilterConfig()
        self.rejected: Counter[str] = Counter()
        self.accepted = 0

    def problems(self, text: str, action: MetaAction, facts: Mapping[str, Any]) -> list[str]:
        """Why `text` is not an acceptable reasoning for `action` in the situation `facts` (empty: acceptable)."""
        cfg, low = self.config, text.lower()
        out = []
        words = len(text.split())
        if not cfg.min_words <= words <= cfg.max_words:
            out.append("length")
        if cfg.require_action:
            last = _last_sentence(low)
            says = {a for a, rx in SPEED_INTENT.items() if rx.search(last)}
            if not SPEED_INTENT[action.speed].search(low) or (says and action.speed not in says):
                out.append("speed_action")
            paths = {p for p, rx in PATH_INTENT.items() if p != "STRAIGHT" and rx.search(last)}
            missing = action.path != "STRAIGHT" and not PATH_INTENT[action.path].search(low)
            if missing or (paths and action.path not in paths):
                out.append("path_action")
            if re.search(r"<answer>|</?think>", low):
                out.append("markup")
        if cfg.require_cause and not self._mentions_cause(low, facts):
            out.append("cause")
        if cfg.require_grounding and mentioned_objects(low) - allowed_objects(facts):
            out.append("grounding")
        return out

    def _mentions_cause(self, low: str, facts: Mapping[str, Any]) -> bool:
        cause = deciding_cause(facts)
        details = facts.get("lead" if cause == "lead_vehicle" else cause)
        kind = details.get("kind") if isinstance(details, Mapping) else None
        if kind is not None and KIND_PATTERNS.get(kind, re.compile(re.escape(str(kind)))).search(low):
            return True  # naming the very object that decided is enough
        if cause in CAUSE_PATTERNS:
            return all(rx.search(low) for rx in CAUSE_PATTERNS[cause])
        return kind is None

    def accept(self, text: str | None, action: MetaAction, facts: Mapping[str, Any], reason: str = "empty") -> bool:
        """Check and count: True keeps the sample, False counts it as rejected (by its first problem)."""
        problems = [reason] if not text else self.problems(text, action, facts)
        if problems:
            self.rejected[problems[0]] += 1
            return False
        self.accepted += 1
        return True

    def stats(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "rejected": sum(self.rejected.values()), "reasons": dict(self.rejected)}
