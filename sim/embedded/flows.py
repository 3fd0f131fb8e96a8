"""Vehicles entering and leaving the map: scenario actor flows, lanes that end, and ramps that merge.

- Flows (scenario `flows:`): vehicles appear at a source lane position, `gap_m` behind the previous one, drive
  `length_m` along their lanes (taking the flow's turns, then going straight) and leave the map.
- Lanes that end (a highway's far end, an off-ramp): background vehicles that reach such an end re-enter the map
  on a lane where traffic comes in, when there is room there.
- Lanes that end beside another lane (an acceleration lane): vehicles on them change into the lane on their left
  when the gap there is long enough (a scripted cut-in takes any gap).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.core import ActorKind, Turn
from sim.embedded.traffic import KIND_SIZE, Script

if TYPE_CHECKING:
    from sim.embedded.world import World

ENTRY_ROOM_M = 25.0  # a re-entering vehicle needs this much free lane ahead of and behind its entry point
MERGE_LEAD_GAP_M = 8.0  # room a merging background vehicle wants ahead of it on the target lane
MERGE_LAG_S = 1.5  # ... and time to the vehicle behind it there
MERGE_WITHIN_M = 300.0  # vehicles merge off a lane that ends this close to its end


@dataclass
class _Flow:
    spec: Any
    lane: int
    s: float
    started: bool = False
    next_gap: float = 0.0
    last_id: int | None = None  # the vehicle that entered last: the next enters once it is next_gap ahead
    members: dict[int, float] = field(default_factory=dict)  # actor id -> metres driven


class Flows:
    """Owns every vehicle that enters or leaves the world after it was built."""

    def __init__(self, world: World, specs: list[Any], rng: np.random.Generator) -> None:
        self.world, self.rng = world, rng
        g = world.graph
        self.flows: list[_Flow] = []
        for i, spec in enumerate(specs):
            x, y, route_yaw = spec.source.frame_pose(world.route)
            hit = g.nearest(x, y, route_yaw + math.radians(float(spec.source.yaw_deg)), max_dist=3.0)
            if hit is None or abs(hit.heading_error) > math.pi / 2:
                raise ValueError(f"flows[{i}].source at ({x:.1f}, {y:.1f}) is not on a lane running its way")
            self.flows.append(_Flow(spec, hit.lane, float(np.clip(hit.s, 0.0, g.length[hit.lane]))))
        self.entries = [i for i in range(len(g.ids)) if not g.pred[i] and not g.is_connector[i] and not g.is_parking[i]]
        self.ending = np.array([not g.succ[i] and not g.is_parking[i] for i in range(len(g.ids))], dtype=bool)

    def start(self, index: int) -> None:
        flow = self.flows[index]
        if flow.started:
            return
        flow.started = True
        if flow.spec.prefill:
            self._prefill(flow)

    def step(self, dt: float) -> None:
        tr = self.world.traffic
        for flow in self.flows:
            if not flow.started:
                continue
            for aid in list(flow.members):
                k = tr.index_of(aid)
                flow.members[aid] += float(tr.v[k]) * dt
                stuck_at_end = self.ending[tr.lane[k]] and tr.s[k] >= self.world.graph.length[tr.lane[k]] - 1.0
                if flow.members[aid] >= flow.spec.length_m or stuck_at_end:
                    tr.remove(k)
                    del flow.members[aid]
            self._feed(flow)
        self._recycle()
        self._merge()

    # ---- flows ------------------------------------------------------------------------------------------------
    def _feed(self, flow: _Flow) -> None:
        tr = self.world.traffic
        if flow.last_id is not None and flow.last_id in flow.members:
            k = tr.index_of(flow.last_id)
            if flow.members[flow.last_id] < flow.next_gap + float(tr.size[k, 0]):
                return
        if not self._room(flow.lane, flow.s, 6.0, 6.0):
            return
        self._spawn(flow, flow.lane, flow.s, list(flow.spec.turns))

    def _spawn(self, flow: _Flow, lane: int, s: float, turns: list[str]) -> int:
        tr, spec = self.world.traffic, flow.spec
        kind = ActorKind(spec.kinds[int(self.rng.integers(len(spec.kinds)))])
        script = Script(turns=[Turn(t) for t in turns] + [Turn.STRAIGHT] * 4)
        speed = min(float(spec.speed), KIND_SIZE[kind][3])
        aid = self.world.new_actor_id()
        k = tr.add(aid, kind, lane, s, speed, speed, script, {"flow": True})
        tr.ignore_rules[k] = bool(spec.ignore_lights)
        tr.offset[k] = float(spec.offset_m)
        flow.members[aid] = 0.0
        flow.last_id = aid
        lo, hi = spec.gap_m
        flow.next_gap = float(self.rng.uniform(lo, hi))
        return k

    def _prefill(self, flow: _Flow) -> None:
        """Vehicles along the flow's first `length_m` metres, as if it had been running for a while."""
        g = self.world.graph
        lane, s, turns = flow.lane, flow.s, list(flow.spec.turns)
        travelled, placed = 0.0, []
        lo, hi = flow.spec.gap_m
        while True:
            step = float(self.rng.uniform(lo, hi)) + KIND_SIZE[ActorKind.VEHICLE][0]
            travelled += step
            s += step
            while lane >= 0 and s > g.length[lane]:
                s -= float(g.length[lane])
                lane = self._next_lane(lane, turns)
            if lane < 0 or travelled > flow.spec.length_m - 10.0:
                break
            placed.append((lane, s, travelled, list(turns)))
        tr = self.world.traffic
        for lane_k, s_k, driven, rest in reversed(placed):
            if g.is_connector[lane_k] or not self._room(lane_k, s_k, 8.0, 8.0):
                continue  # nobody waits inside a junction at the start
            k = self._spawn(flow, lane_k, s_k, rest)
            flow.members[tr.ids[k]] = driven
        flow.last_id = None

    def _next_lane(self, lane: int, turns: list[str]) -> int:
        g = self.world.graph
        if not g.succ[lane]:
            return -1
        if g.is_connector[g.succ[lane][0]]:
            turn = Turn(turns.pop(0)) if turns else Turn.STRAIGHT
            pick = g.successor_with_turn(lane, turn)
            return pick if pick >= 0 else g.succ[lane][0]
        return g.succ[lane][0]

    def _room(self, lane: int, s: float, behind: float, ahead: float) -> bool:
        """No vehicle (nor the ego) on `lane` between s - behind and s + ahead."""
        tr, g = self.world.traffic, self.world.graph
        on = tr.lane == lane
        if np.any(on & (tr.s > s - behind - tr.size[:, 0]) & (tr.s < s + ahead + tr.size[:, 0])):
            return False
        track = self.world.track
        return not (track.lane == lane and s - behind - 5.0 < track.lane_s < s + ahead + 5.0 and g.length[lane] > 0)

    # ---- lanes that end ---------------------------------------------------------------------------------------
    def _recycle(self) -> None:
        tr, g = self.world.traffic, self.world.graph
        if not self.entries or not self.ending.any():
            return
        for k in np.flatnonzero(self.ending[tr.lane] & (tr.s >= g.length[tr.lane] - 1.0)):
            if tr.attributes[k].get("role_name") != "background":
                continue
            for lane in self.rng.permutation(self.entries):
                if self._room(int(lane), 5.0, ENTRY_ROOM_M, ENTRY_ROOM_M):
                    tr.place(int(k), int(lane), 5.0)
                    break

    def _merge(self) -> None:
        tr, g = self.world.traffic, self.world.graph
        left = g.left[tr.lane]
        to_end = g.length[tr.lane] - tr.s
        # a lane that ends beside one that goes on (an acceleration lane), close to its end
        ending = self.ending[tr.lane] & (left >= 0) & ~self.ending[np.maximum(left, 0)] & (to_end < MERGE_WITHIN_M)
        ending &= np.abs(tr.d) < 0.1
        for k in np.flatnonzero(ending):
            lane, target = int(tr.lane[k]), int(g.left[tr.lane[k]])
            script = tr.scripts[k]
            forced = script.kind == "cut_in" and script.triggered
            if forced or self._gap_ok(int(k), lane, target):
                tr.start_lane_change(int(k), target)

    def _gap_ok(self, k: int, lane: int, target: int) -> bool:
        tr, g = self.world.traffic, self.world.graph
        s_t = g.map_s(lane, float(tr.s[k]), target)
        others = [(float(tr.s[j]), float(tr.v[j])) for j in np.flatnonzero(tr.lane == target)]
        track = self.world.track
        if track.lane == target:
            others.append((track.lane_s, max(self.world.ego.speed, 0.0)))
        for s_o, v_o in others:
            ahead = s_o - s_t
            if 0.0 <= ahead < MERGE_LEAD_GAP_M + 4.6:
                return False
            if ahead < 0.0 and -ahead - 4.6 < max(0.0, v_o - tr.v[k]) * 3.0 + v_o * MERGE_LAG_S + 2.0:
                return False
        return True
