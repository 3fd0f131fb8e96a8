"""Traffic lights on CARLA: reading states as our colours, and forcing a state for a while or for good.

CARLA cycles the lights of a junction as a group. A forced state is re-asserted every tick while it holds (the
group's cycle would otherwise move on); forcing green also holds the other lights of the group red, so crossing
traffic does not get green at the same time. Light ids are "tl<actor id>".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import carla

from sim.core import LightColor

COLOR_OF: Mapping[Any, LightColor] = {
    carla.TrafficLightState.Red: LightColor.RED,
    carla.TrafficLightState.Yellow: LightColor.YELLOW,
    carla.TrafficLightState.Green: LightColor.GREEN,
    carla.TrafficLightState.Off: LightColor.OFF,
    carla.TrafficLightState.Unknown: LightColor.OFF,
}
STATE_OF: Mapping[LightColor, Any] = {
    LightColor.RED: carla.TrafficLightState.Red,
    LightColor.YELLOW: carla.TrafficLightState.Yellow,
    LightColor.GREEN: carla.TrafficLightState.Green,
    LightColor.OFF: carla.TrafficLightState.Off,
}


def light_id(actor: Any) -> str:
    return f"tl{actor.id}"


def color_of(state: Any) -> LightColor:
    return COLOR_OF.get(state, LightColor.OFF)


@dataclass
class Hold:
    """A forced colour on one light until `until` (simulation time; inf: for good)."""

    light: str
    color: LightColor
    until: float = math.inf

    def active(self, t: float) -> bool:
        return t < self.until


class LightHolds:
    """Forced light states: `wanted(t)` is what each held light must show now (releasing expired holds)."""

    def __init__(self) -> None:
        self.holds: dict[str, Hold] = {}

    def force(self, light: str, color: LightColor, t: float, duration_s: float | None = None) -> None:
        self.holds[light] = Hold(light, color, math.inf if duration_s is None else t + duration_s)

    def wanted(self, t: float, groups: Mapping[str, tuple[str, ...]] | None = None) -> dict[str, LightColor]:
        """Colour per light to assert at time t: the held ones, and red for the group partners of a held green."""
        self.holds = {k: h for k, h in self.holds.items() if h.active(t)}
        out: dict[str, LightColor] = {}
        for hold in self.holds.values():
            if hold.color == LightColor.GREEN and groups:
                for other in groups.get(hold.light, ()):
                    out.setdefault(other, LightColor.RED)
        for hold in self.holds.values():
            out[hold.light] = hold.color
        return out


def apply_wanted(actors: Mapping[str, Any], wanted: Mapping[str, LightColor]) -> None:
    """Set every light whose state differs from what is wanted (one call each, none when nothing changes)."""
    for lid, color in wanted.items():
        actor = actors.get(lid)
        if actor is not None and color_of(actor.state) != color:
            actor.set_state(STATE_OF[color])


def set_cycle(actors: Mapping[str, Any], green_s: float, yellow_s: float, red_s: float) -> None:
    for actor in actors.values():
        actor.set_green_time(float(green_s))
        actor.set_yellow_time(float(yellow_s))
        actor.set_red_time(float(red_s))
