"""The privileged rule-based expert: reads ground truth and returns a meta-action with the facts behind it.

It is the teacher that labels data and the reference driver of the scenario suite. It knows the meta-action
controller's semantics (STOP ends at a stop line within reach; at standstill STOP holds) and chooses DECELERATE
where a STOP would carry the car to a stop line beyond a nearer obstacle.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from planner import expert_junction, expert_merge, expert_passing
from planner.actions import MetaAction
from planner.config import from_mapping, plain
from planner.expert_explain import explain
from planner.expert_junction import JunctionConfig
from planner.expert_merge import GapConfig
from planner.expert_passing import PassingConfig
from planner.interface import Plan, PlannerContext, PlannerInput
from planner.scene import (
    TrackedActor,
    camera_visible,
    first_conflict,
    is_vulnerable,
    overlaps_corridor,
    track_actors,
)
from sim.core import ActorKind, LightColor, RoadMap, Turn, WorldState

_PATH_OF_TURN = {Turn.STRAIGHT: "STRAIGHT", Turn.LEFT: "LEFT_TURN", Turn.RIGHT: "RIGHT_TURN"}
# The fact that names the actor behind each deciding cause.
_FACT_OF_CAUSE = {
    "lead_vehicle": "lead",
    "obstacle": "obstacle",
    "pedestrian": "pedestrian",
    "crossing": "crossing",
    "occlusion": "occlusion",
    "yield": "yield",
}


@dataclass(frozen=True)
class ExpertConfig:
    lookahead_m: float = 70.0
    lane_half_width: float = 1.75
    corridor_margin_m: float = 0.5  # clearance added to the ego's half width
    obstacle_margin_m: float = 5.0  # front bumper stops this far behind a queue or a conflict
    bypass_margin_m: float = 9.0  # ... and this far behind what may have to be passed (room to steer round it)
    line_margin_m: float = 1.5  # ... and this far before a stop line (as the controller)
    standstill_gap_m: float = 5.0
    headway_s: float = 1.8
    plan_decel: float = 1.5  # m/s^2 the approach to a stop is planned with
    creep_gain: float = 0.5  # 1/s: close to a stop point the approach speed is this times the remaining gap
    creep_speed: float = 3.0  # m/s: above it the car does not speed up towards a stop line it must stop at
    stop_decel: float = 1.6  # STOP for a stop line once stopping at it needs at least this
    obstacle_stop_decel: float = 2.5  # STOP for an obstacle once stopping short of it needs at least this
    yellow_max_decel: float = 3.5  # stop at yellow when it needs no more than this
    controller_line_slack_m: float = 12.0  # the controller's stop-line reach beyond a comfortable stop
    controller_profile_decel: float = 2.0
    controller_stop_decel: float = 4.0  # a STOP without a stop line ends v^2 / (2 x this) ahead
    speed_tolerance: float = 0.7  # m/s around the wanted speed that counts as KEEP
    vulnerable_horizon_s: float = 4.0
    caution_range_m: float = 35.0  # a pedestrian this close ahead, near our lane and facing it, slows us down
    caution_gap_m: float = 4.0
    caution_speed: float = 6.0  # m/s past a standing bus or truck beside our lane
    caution_speed_parked: float = 8.5  # m/s past a parked or standing car beside our lane
    vehicle_horizon_s: float = 5.0
    merge_lateral_mps: float = 0.3  # a vehicle drifting towards our lane this fast is treated as cutting in
    turn_announce_m: float = 40.0
    oncoming_gap_s: float = 6.0  # s an unprotected left turn from a standstill needs to clear the oncoming lanes
    oncoming_accel: float = 1.5  # m/s^2 oncoming traffic is assumed to speed up with
    junction_far_side_m: float = 30.0  # an oncoming vehicle closer than this to our junction entry waits at its line
    bypass_lookahead_m: float = 70.0
    lane_check_behind_m: float = 12.0
    stop_sign_wait_s: float = 1.0
    stuck_after_s: float = 5.0  # a vehicle standing this long with nothing ahead of it is passed like an obstacle
    lead_brake_decel: float = 4.0  # m/s^2 a lead vehicle is assumed able to brake at
    bypass_speed: float = 3.0  # m/s when steering out round a standing obstacle close ahead
    squeeze_gap_m: float = 2.0  # closer than this, even a slow lane change would touch it
    squeeze_margin_m: float = 0.2  # side clearance that is enough to creep past a standing obstacle
    line_clearance_m: float = 2.0  # a STOP that ends at a stop line this far short of an obstacle is still safe
    camera_fov_deg: float = 90.0  # the camera whose view decides whether a label's cause can be seen
    # long-tail maneuvers, each in its own module: lane changes into traffic (expert_merge.py), passing on two-way
    # roads (expert_passing.py), giving way at junctions (expert_junction.py)
    gaps: GapConfig = field(default_factory=GapConfig)
    passing: PassingConfig = field(default_factory=PassingConfig)
    junction: JunctionConfig = field(default_factory=JunctionConfig)


@dataclass
class _Stop:
    distance: float  # m the box centre may still travel
    cause: str
    at_line: bool = False  # the stop point is a stop line the controller itself would stop at
    predicted: bool = False  # where a moving lead would stop if it braked: only triggers STOP, no slow approach


@dataclass
class _State:
    stop_signs_done: set[str] = field(default_factory=set)
    stopped_since: float | None = None
    stationary_since: dict[int, float] = field(default_factory=dict)  # actor id -> time it stopped moving
    arrived_at_junction: float | None = None  # when the ego stopped at its last stop line (first come, first go)
    oncoming_pass: bool = False  # a pass through the oncoming lane has begun
    leaving_oncoming_lane: bool = False  # on the way back from the oncoming lane: the pass is over


class ExpertPlanner:
    name = "expert"
    uses_image = False  # decides from the ground truth alone

    def __init__(self, config: ExpertConfig | None = None) -> None:
        self.config = config or ExpertConfig()
        self.road_map: RoadMap | None = None
        self.state = _State()

    def start_route(self, context: PlannerContext) -> None:
        self.road_map = context.road_map
        self.state = _State()

    def plan(self, planner_input: PlannerInput) -> Plan:
        world = planner_input.world
        if world is None:
            raise ValueError("the expert needs privileged ground truth (PlannerInput.world)")
        action, facts = self.decide(world)
        return Plan(action=action, reasoning=facts["explanation"], facts=facts)

    # -- the decision ---------------------------------------------------------------------------------------------

    def decide(self, world: WorldState) -> tuple[MetaAction, dict[str, Any]]:
        cfg, ego = self.config, world.ego
        s = world.route_s
        d_ego = world.route.project(ego.x, ego.y, s_hint=s)[1]
        tracked = track_actors(world, ahead_m=cfg.lookahead_m)
        maneuver = world.route.next_maneuver(s)
        in_junction = maneuver is not None and maneuver.s_start - 1.0 <= s <= maneuver.s_end
        facts: dict[str, Any] = {"speed": round(ego.speed, 2), "speed_limit": round(world.speed_limit, 2)}
        if maneuver is not None:
            facts["maneuver"] = {"turn": maneuver.turn.value, "distance": round(max(0.0, maneuver.s_start - s), 1)}

        self._track_stationary(world, tracked)
        if in_junction:
            self.state.arrived_at_junction = None
        stops: list[_Stop] = []
        bypass_cap = math.inf
        lines = self._stop_lines(world, maneuver, in_junction, stops, facts)
        path, lane_change = self._path_action(world, tracked, d_ego, in_junction, lines, facts)
        corridor, corridor_half = d_ego, ego.width / 2 + cfg.corridor_margin_m
        if lane_change is not None:  # watch the target lane; the old lane only for what is too close to clear
            lane_w = 2 * cfg.lane_half_width
            corridor = round(d_ego / lane_w) * lane_w + (1 if lane_change == "left" else -1) * lane_w
            clear_m = max(6.0, 1.2 * ego.speed)
            squeeze_half = ego.width / 2 + cfg.squeeze_margin_m  # steering out past it, a hand's width will do
            for t in tracked:
                if 0.0 < t.ahead < clear_m and overlaps_corridor(t.d, t.half_across, d_ego, squeeze_half):
                    if t.actor.speed < 0.2 and t.ahead > cfg.squeeze_gap_m:  # steer out slowly past it
                        bypass_cap = cfg.bypass_speed
                    else:
                        stops.append(_Stop(t.ahead - 1.0, "obstacle"))
        caps = [
            (world.speed_limit, "clear_road"),
            (self._follow(tracked, corridor, corridor_half, ego.speed, stops, facts, lines), "lead_vehicle"),
            (bypass_cap, "obstacle"),
            (self._vulnerable_and_crossing(tracked, corridor, corridor_half, ego.speed, stops, facts), "pedestrian"),
            (self._occlusion_caution(tracked, corridor, corridor_half, facts), "occlusion"),
        ]
        caps += self._maneuver_caps(world, tracked, corridor, corridor_half, d_ego, lane_change, stops, facts)
        wanted, cap_cause = min(caps, key=lambda cap: cap[0])
        if maneuver is not None and maneuver.turn == Turn.LEFT and not in_junction:
            self._yield_oncoming(world, maneuver, stops, facts)
        if maneuver is not None and not in_junction:
            self._give_way_at_junction(world, maneuver, stops, facts)

        speed, cause = self._speed_action(ego.speed, wanted, stops, lines, cap_cause)
        facts["decision"] = cause
        facts["cause_visible"] = self._cause_visible(world, facts.get(_FACT_OF_CAUSE.get(cause, ""), {}))
        facts["target_speed"] = round(wanted, 2)
        action = MetaAction(speed, path)
        facts["explanation"] = explain(action, facts)
        return action, facts

    def _cause_visible(self, world: WorldState, fact: dict[str, Any]) -> bool:
        """Whether the front camera can show the actor the decision rests on (always true for lights, signs and the
        road itself). A label that rests on a hidden actor cannot be learnt from the image: training drops it."""
        actor = next((a for a in world.actors if a.id == fact.get("id")), None)
        return actor is None or camera_visible(world, actor, self.config.camera_fov_deg)

    def _track_stationary(self, world: WorldState, tracked: list[TrackedActor]) -> None:
        still = self.state.stationary_since
        moving = {t.actor.id for t in tracked if t.actor.speed >= 0.2}
        for t in tracked:
            if t.actor.speed < 0.2:
                still.setdefault(t.actor.id, world.time)
        for actor_id in moving:
            still.pop(actor_id, None)

    def _path_action(
        self,
        world: WorldState,
        tracked: list[TrackedActor],
        d_ego: float,
        in_junction: bool,
        lines: list[float],
        facts: dict[str, Any],
    ) -> tuple[str, str | None]:
        cfg, s = self.config, world.route_s
        maneuver = world.route.next_maneuver(s)
        turn_path = "STRAIGHT"
        if maneuver is not None and maneuver.s_start - s <= cfg.turn_announce_m:
            turn_path = _PATH_OF_TURN[maneuver.turn]
        if in_junction:
            return turn_path, None
        # -- hook: make way for an emergency vehicle behind us (expert_merge.py) --
        ev_side, ev_facts = expert_merge.make_way_side(
            world, self.road_map, tracked, d_ego, cfg.lane_half_width, cfg.gaps
        )
        if ev_facts is not None:
            facts["emergency_vehicle"] = ev_facts
            if ev_side is not None:
                facts["lane_change"] = {"side": ev_side, "reason": "emergency_vehicle"}
                return f"{ev_side.upper()}_CHANGE", ev_side
        head_on = d_ego > 0.0 and expert_passing.oncoming_ahead(tracked, d_ego, cfg.passing)
        if d_ego < cfg.passing.committed_m and (self.state.leaving_oncoming_lane or not self.state.oncoming_pass):
            self.state.leaving_oncoming_lane = self.state.oncoming_pass = False
        if (
            self.state.oncoming_pass
            and expert_passing.mid_pass(self.road_map, world, d_ego, cfg.passing)
            and self._bypassing(tracked, d_ego, oncoming=True)
            and not head_on
            and not self.state.leaving_oncoming_lane
        ):
            facts["lane_change"] = {"side": "left", "reason": "blocked_lane"}  # -- hook: finish moving across --
            return "LEFT_CHANGE", "left"
        blocker = self._blocking_obstacle(tracked, d_ego, world, lines)
        if blocker is not None and expert_passing.in_oncoming_lane(self.road_map, world, d_ego, cfg.lane_half_width):
            blocker = None  # -- hook: what stands in the oncoming lane is not ours to pass: back to our lane --
        if blocker is not None:
            facts["obstacle"] = {
                "kind": blocker.actor.kind.value,
                "distance": round(blocker.ahead, 1),
                "id": blocker.actor.id,
            }
            side = self._free_side(world, tracked, d_ego, blocker)
            # -- hook: no lane our way round it: through the oncoming lane when it is free (expert_passing.py) --
            half = world.ego.width / 2 + cfg.corridor_margin_m
            leaving = self.state.leaving_oncoming_lane or not self.state.oncoming_pass
            if side is None and expert_passing.oncoming_pass(
                world, self.road_map, blocker, half, cfg.lane_half_width, d_ego, cfg.passing, leaving
            ):
                side = "left"
                self.state.oncoming_pass = True
                facts["obstacle"]["through_oncoming_lane"] = True
            facts["obstacle"]["lane_blocked"] = True
            if side is not None:
                facts["lane_change"] = {"side": side, "reason": "blocked_lane"}
                return f"{side.upper()}_CHANGE", side
            return turn_path, None
        oncoming = expert_passing.in_oncoming_lane(self.road_map, world, d_ego, cfg.lane_half_width)
        bypassing = self._bypassing(tracked, d_ego, oncoming)
        if abs(d_ego) > cfg.lane_half_width and (head_on or not bypassing):
            side = "left" if d_ego < 0 else "right"
            target = d_ego + (cfg.lane_half_width * 2 if side == "left" else -2 * cfg.lane_half_width)
            # -- hook: gap acceptance, and never back into an emergency vehicle's lane (expert_merge.py) --
            end = expert_merge.lane_end_ahead(world, self.road_map)
            zipper = end is not None and end < 12.0 and world.ego.speed < 1.0
            gap = expert_merge.gap(tracked, world.ego, _lane_centre(target, cfg), cfg.lane_half_width, cfg.gaps, zipper)
            ev_lanes = expert_merge.emergency_lane_centres(world, cfg.lane_half_width, cfg.gaps)
            keep_out = any(abs(_lane_centre(target, cfg) - c) < cfg.lane_half_width for c in ev_lanes)
            if gap.ok and not keep_out:
                facts["lane_change"] = {"side": side, "reason": "route"}
                self.state.leaving_oncoming_lane = side == "right"
                return f"{side.upper()}_CHANGE", side
            if not bypassing:  # passing something still: carry on beside it rather than wait there
                facts["lane_change"] = {"side": side, "reason": "route", "waiting_for_gap": True}
        return turn_path, None

    def _blocking_obstacle(
        self, tracked: list[TrackedActor], d_ego: float, world: WorldState, lines: list[float]
    ) -> TrackedActor | None:
        """The nearest standing obstacle in the ego's lane that a driver would go around: props, disabled
        vehicles, and vehicles standing for a while with no queue or stop line ahead of them."""
        cfg = self.config
        maneuver = world.route.next_maneuver(world.route_s)
        half = world.ego.width / 2 + cfg.corridor_margin_m
        candidates = [
            t
            for t in tracked
            if 0.0 < t.ahead < cfg.bypass_lookahead_m
            and overlaps_corridor(t.d, t.half_across, d_ego, half)
            and (maneuver is None or t.ahead + world.route_s < maneuver.s_start)
            and (
                t.actor.kind.is_static
                or _disabled(t)
                or self._stuck(t, tracked, lines, world.time)
                or expert_passing.slow_cyclist(t, cfg.passing)  # -- hook: ride past slow cyclists --
            )
        ]
        return min(candidates, key=lambda t: t.ahead, default=None)

    def _stuck(self, t: TrackedActor, tracked: list[TrackedActor], lines: list[float], now: float) -> bool:
        since = self.state.stationary_since.get(t.actor.id)
        if not t.actor.kind.is_vehicle or since is None or now - since < self.config.stuck_after_s:
            return False
        queued = any(
            0.0 < o.ahead - t.ahead < 15.0 and abs(o.d - t.d) < self.config.lane_half_width
            for o in tracked
            if o is not t
        )
        return not queued and not any(0.0 < line - t.ahead < 25.0 for line in lines)

    def _free_side(
        self, world: WorldState, tracked: list[TrackedActor], d_ego: float, blocker: TrackedActor
    ) -> str | None:
        if self.road_map is None or world.ego_lane_id is None:
            return None
        for side, sign in (("left", 1.0), ("right", -1.0)):
            if self.road_map.neighbour(world.ego_lane_id, side) is None:  # type: ignore[arg-type]
                continue
            target = d_ego + sign * 2 * self.config.lane_half_width
            gap = expert_merge.gap(tracked, world.ego, _lane_centre(target, self.config), 1.75, self.config.gaps)
            if gap.ok:
                return side
        return None

    def _lane_free(self, world: WorldState, tracked: list[TrackedActor], centre: float, ahead_m: float = 20.0) -> bool:
        half = self.config.lane_half_width
        return not any(
            -self.config.lane_check_behind_m < t.ahead < ahead_m and overlaps_corridor(t.d, t.half_across, centre, half)
            for t in tracked
            if not is_vulnerable(t.actor.kind)
        )

    def _bypassing(self, tracked: list[TrackedActor], d_ego: float, oncoming: bool = False) -> bool:
        """Still next to or before an obstacle in the route lane: do not return to it yet."""
        cfg = self.config
        # -- hook: in the oncoming lane only the stretch being passed keeps us there (expert_passing.py) --
        ahead_m = cfg.passing.start_within_m if oncoming else cfg.bypass_lookahead_m
        return any(
            -8.0 < t.ahead < ahead_m
            and (
                t.actor.kind.is_static
                or _disabled(t)
                or t.actor.id in self.state.stationary_since
                or expert_passing.slow_cyclist(t, cfg.passing)
            )
            and overlaps_corridor(t.d, t.half_across, 0.0, cfg.lane_half_width - 0.3)  # reaching into the route lane
            for t in tracked
        )

    def _stop_lines(self, world, maneuver, in_junction: bool, stops: list[_Stop], facts: dict[str, Any]) -> list[float]:
        """Stops required by lights and stop signs; returns the distances of every stop line ahead (for the check
        whether a STOP would run on to a line)."""
        cfg, ego = self.config, world.ego
        if self.road_map is None or world.ego_lane_id is None:
            return []
        pos = self.road_map.locate(ego.x, ego.y, ego.yaw)
        d_route = world.route.project(ego.x, ego.y, s_hint=world.route_s)[1]
        if expert_passing.in_oncoming_lane(self.road_map, world, d_route, cfg.lane_half_width):  # -- hook --
            pos = self.road_map.project(world.route.lane_at(world.route_s), ego.x, ego.y)  # our lane's lines count
        if pos is None:
            return []
        turn = maneuver.turn if maneuver is not None else None
        path = self.road_map.path_ahead(pos.lane_id, pos.s, cfg.lookahead_m, turn, world.route)
        colors = {light.id: light.color for light in world.lights}
        lines = []
        for line in path.stop_lines:
            distance = line.distance - ego.length / 2 - cfg.line_margin_m
            lines.append(distance)
            if line.light_id is not None:
                color = colors.get(line.light_id, LightColor.GREEN)
                facts.setdefault("light", {"state": color.value, "distance": round(line.distance, 1)})
                needed = ego.speed**2 / (2 * max(distance, 0.1))
                if color == LightColor.RED or (color == LightColor.YELLOW and needed <= cfg.yellow_max_decel):
                    stops.append(_Stop(distance, f"{color.value}_light", at_line=True))
            elif line.stop_sign and line.lane_id not in self.state.stop_signs_done:
                facts.setdefault("stop_sign", {"distance": round(line.distance, 1)})
                if distance < 2.0 and ego.speed < 0.2:
                    self._wait_at_stop_sign(world, line.lane_id)
                stops.append(_Stop(distance, "stop_sign", at_line=True))
            break  # only the first line ahead matters now
        return lines

    def _wait_at_stop_sign(self, world: WorldState, lane_id: str) -> None:
        if self.state.stopped_since is None:
            self.state.stopped_since = world.time
            self.state.arrived_at_junction = world.time
        elif world.time - self.state.stopped_since >= self.config.stop_sign_wait_s:
            self.state.stop_signs_done.add(lane_id)
            self.state.stopped_since = None

    def _follow(
        self, tracked, corridor: float, half: float, speed: float, stops: list[_Stop], facts, lines: list[float]
    ) -> float:
        """Speed that keeps a safe gap to the lead vehicle in the corridor (inf without one)."""
        cfg = self.config
        ego_half = half - cfg.corridor_margin_m
        leads = [
            t
            for t in tracked
            if t.ahead > -1.0
            and (not is_vulnerable(t.actor.kind) or expert_passing.riding_along(t))  # -- hook: cyclists ahead --
            and overlaps_corridor(t.d, t.half_across, corridor, half)
            and not expert_passing.passes_beside(t, corridor, ego_half, cfg.passing)  # -- hook --
        ]
        lead = min(leads, key=lambda t: t.ahead, default=None)
        if lead is None:
            return math.inf
        key = "obstacle" if lead.actor.kind.is_static else "lead"
        facts.setdefault(key, {"kind": lead.actor.kind.value, "distance": round(lead.ahead, 1), "id": lead.actor.id})
        facts[key].update({"gap": round(lead.ahead, 1), "speed": round(max(lead.along_speed, 0.0), 2)})
        if lead.actor.attributes.get("cargo"):
            facts[key]["cargo"] = lead.actor.attributes["cargo"]
        lead_speed = max(lead.along_speed, 0.0)
        lead_stop = lead.ahead + lead_speed**2 / (2 * cfg.lead_brake_decel) - cfg.obstacle_margin_m
        cause = "obstacle" if key == "obstacle" else "lead_vehicle"
        stops.append(_Stop(lead_stop, cause, predicted=True))
        if lead_speed < 0.5 or lead.ahead < cfg.standstill_gap_m:
            stops.append(_Stop(lead.ahead - self._standing_gap(lead, tracked, lines), cause))
            return math.inf
        desired_gap = cfg.standstill_gap_m + cfg.headway_s * speed
        return max(0.0, lead_speed + (lead.ahead - desired_gap) / 2.0)

    def _standing_gap(self, lead: TrackedActor, tracked: list[TrackedActor], lines: list[float]) -> float:
        """How far behind a standing lead to stop: a queue's gap when it waits in a queue or at a line, room for a
        lane change from standstill when nothing holds it there (it may have to be passed)."""
        cfg = self.config
        queued = any(
            0.0 < o.ahead - lead.ahead < 15.0 and abs(o.d - lead.d) < cfg.lane_half_width
            for o in tracked
            if o is not lead
        )
        held = queued or any(0.0 < line - lead.ahead < 25.0 for line in lines)
        return cfg.obstacle_margin_m if held and not lead.actor.kind.is_static else cfg.bypass_margin_m

    def _vulnerable_and_crossing(self, tracked, corridor: float, half: float, speed: float, stops, facts) -> float:
        """Stops for predicted conflicts with crossing actors; returns a cautious speed cap while a pedestrian or
        cyclist close ahead stands at the kerb or heads for our lane (inf otherwise)."""
        cfg = self.config
        cap = math.inf
        for t in tracked:
            if t.ahead < -2.0 or t.actor.kind.is_static or expert_passing.riding_along(t):  # -- hook: a lead --
                continue
            vulnerable = is_vulnerable(t.actor.kind)
            merging = t.across_speed * (corridor - t.d) > 0 and abs(t.across_speed) > cfg.merge_lateral_mps
            crossing = abs(math.sin(t.rel_yaw)) > 0.5 or t.actor.speed < 0.3 or merging
            if not vulnerable and not crossing:
                continue
            horizon = cfg.vulnerable_horizon_s if vulnerable else cfg.vehicle_horizon_s
            conflict = first_conflict(t, corridor, half + (0.5 if vulnerable else 0.0), speed, horizon)
            key = "pedestrian" if t.actor.kind == ActorKind.PEDESTRIAN else "crossing"
            if conflict is not None:
                facts.setdefault(key, {"kind": t.actor.kind.value, "distance": round(conflict, 1), "id": t.actor.id})
                stops.append(_Stop(conflict - cfg.obstacle_margin_m, key))
            elif vulnerable and 0.0 < t.ahead < cfg.caution_range_m and self._heading_for_lane(t, corridor, half):
                facts.setdefault(
                    key,
                    {"kind": t.actor.kind.value, "distance": round(t.ahead, 1), "near_lane": True, "id": t.actor.id},
                )
                cap = min(cap, cfg.caution_speed)
        return cap

    def _occlusion_caution(self, tracked, corridor: float, half: float, facts: dict[str, Any]) -> float:
        """Pass standing vehicles next to our lane ready to stop: someone may step out from in front of them. A bus
        or truck hides a person completely (slower); a parked or standing car hides a child or a crouching adult."""
        cfg = self.config
        cap, cause = math.inf, None
        for t in tracked:
            if not t.actor.kind.is_vehicle and t.actor.kind not in (ActorKind.PARKED_VEHICLE, ActorKind.BROKEN_VEHICLE):
                continue
            beside = 0.0 < abs(t.d - corridor) - half - t.half_across < cfg.caution_gap_m
            if t.actor.speed >= 0.3 or not -t.actor.length < t.ahead < cfg.caution_range_m or not beside:
                continue
            big = t.actor.kind in (ActorKind.BUS, ActorKind.TRUCK) or t.actor.length > 7.0
            speed = cfg.caution_speed if big else cfg.caution_speed_parked
            if speed < cap:
                cap, cause = speed, t
        if cause is not None:
            facts.setdefault(
                "occlusion", {"kind": cause.actor.kind.value, "distance": round(cause.ahead, 1), "id": cause.actor.id}
            )
        return cap

    def _heading_for_lane(self, t: TrackedActor, corridor: float, half: float) -> bool:
        gap = abs(t.d - corridor) - half - t.half_across  # lateral distance to our lane's edge
        if gap > self.config.caution_gap_m:
            return False
        towards = t.across_speed * (corridor - t.d) > 0 and abs(math.sin(t.rel_yaw)) > 0.5
        return towards or (t.actor.speed < 0.3 and gap < 1.0)

    def _yield_oncoming(self, world: WorldState, maneuver, stops: list[_Stop], facts: dict[str, Any]) -> None:
        """Before an unprotected left turn: wait while oncoming traffic would reach the junction within the gap, or
        while an oncoming vehicle that arrived first waits at its own stop line (first come, first go).

        Oncoming traffic is seen in a straight frame at the junction entry (the route itself bends away there)."""
        cfg, s = self.config, world.route_s
        to_junction = maneuver.s_start - s
        ex, ey, _ = world.route.to_world(maneuver.s_start)
        heading = world.route.to_world(max(0.0, maneuver.s_start - 1.0))[2]
        c, sn = math.cos(heading), math.sin(heading)
        arrived = self.state.arrived_at_junction
        red_lanes = {lane for light in world.lights if light.color == LightColor.RED for lane in light.lane_ids}
        for actor in world.actors:
            if actor.kind.is_static or is_vulnerable(actor.kind) or math.cos(actor.yaw - heading) > -0.7:
                continue
            along = (actor.x - ex) * c + (actor.y - ey) * sn - actor.length / 2  # its front, from our entry
            across = -(actor.x - ex) * sn + (actor.y - ey) * c
            if not 0.0 < across < 4 * cfg.lane_half_width or not -2.0 < along < cfg.lookahead_m:
                continue
            closing = max(-actor.speed * math.cos(actor.yaw - heading), 0.0)
            if closing < 0.5 and actor.lane_id is not None and actor.lane_id in red_lanes:
                continue  # held by its red light
            a = cfg.oncoming_accel  # it may speed up, a standing car too
            arrival = (-closing + math.sqrt(closing**2 + 2 * a * max(along, 0.0))) / a
            conflict = arrival < cfg.oncoming_gap_s
            if closing < 0.5 and along < cfg.junction_far_side_m and arrived is not None:  # all-way stop
                since = self.state.stationary_since.get(actor.id, world.time)
                conflict = since < arrived  # first come, first go
            if conflict:
                facts.setdefault(
                    "yield",
                    {"kind": actor.kind.value, "reason": "oncoming", "distance": round(along, 1), "id": actor.id},
                )
                stops.append(_Stop(to_junction - world.ego.length / 2 - cfg.line_margin_m, "yield"))
                return

    # -- long-tail hooks (the rules live in expert_merge.py, expert_passing.py, expert_junction.py) ----------------

    def _maneuver_caps(self, world, tracked, corridor, corridor_half, d_ego, lane_change, stops, facts) -> list:
        """Speed caps and stops of the long-tail maneuvers: waiting for a gap, a lane that ends, oncoming vehicles
        cutting into our lane."""
        cfg, ego = self.config, world.ego
        wrong_side = expert_passing.in_oncoming_lane(self.road_map, world, d_ego, cfg.lane_half_width)
        caps = [
            (cfg.passing.pass_speed + 3.0 if wrong_side else math.inf, "obstacle"),  # no racing on the wrong side
            (expert_passing.invading_speed(tracked, corridor, ego.width / 2, cfg.passing), "oncoming"),
            (expert_passing.standing_traffic_speed(tracked, corridor, corridor_half, cfg.passing), "occlusion"),
        ]
        if expert_merge.emergency_lane_centres(world, cfg.lane_half_width, cfg.gaps):  # ease off: let it by
            caps.append((cfg.gaps.emergency_speed_share * world.speed_limit, "emergency_vehicle"))
        waiting = facts.get("lane_change", {}).get("waiting_for_gap")
        if waiting:
            target = d_ego + (2 if facts["lane_change"]["side"] == "left" else -2) * cfg.lane_half_width
            gap = expert_merge.gap(tracked, ego, _lane_centre(target, cfg), cfg.lane_half_width, cfg.gaps)
            caps.append((expert_merge.wait_speed(gap, ego, cfg.gaps), "merge"))
        obstacle = facts.get("obstacle", {})
        two_way = expert_passing.single_lane_road(self.road_map, world.ego_lane_id) is not None
        if obstacle.get("lane_blocked") and lane_change is None and two_way and abs(d_ego) < cfg.lane_half_width:
            stops.append(_Stop(obstacle["distance"] - cfg.passing.wait_back_m, "obstacle"))  # room to steer out
        if lane_change is None and expert_passing.in_oncoming_lane(self.road_map, world, d_ego, cfg.lane_half_width):
            for t in expert_passing.oncoming_in_lane(tracked, d_ego, cfg.passing):  # room to steer back in
                stops.append(_Stop(t.ahead - cfg.passing.wait_back_m, "lead_vehicle"))
        end = expert_merge.lane_end_ahead(world, self.road_map)
        if end is not None and lane_change is None:
            facts.setdefault("merge", {"distance": round(end, 1), "lane_ends": True})
            stops.append(_Stop(end - cfg.gaps.lane_end_margin_m, "merge"))
        return caps

    def _give_way_at_junction(self, world: WorldState, maneuver, stops: list[_Stop], facts: dict[str, Any]) -> None:
        conflict = expert_junction.crossing_conflict(world, self.road_map, maneuver, self.config.junction)
        if conflict is not None:
            facts.setdefault("yield", expert_junction.conflict_facts(conflict))
            stops.append(
                _Stop(maneuver.s_start - world.route_s - world.ego.length / 2 - self.config.line_margin_m, "yield")
            )

    def _speed_action(
        self, speed: float, wanted: float, stops: list[_Stop], lines: list[float], cap_cause: str
    ) -> tuple[str, str]:
        cfg = self.config
        stop = min(stops, key=lambda st: st.distance, default=None)
        if stop is not None and stop.distance < 60.0:
            needed = speed**2 / (2 * max(stop.distance, 0.1))
            if speed < 0.3 and stop.distance < 8.0:
                return "STOP", stop.cause
            if stop.distance <= 0.5 or needed >= (cfg.stop_decel if stop.at_line else cfg.obstacle_stop_decel):
                if stop.at_line or speed < 0.5 or not self._line_would_carry_on(speed, stop, lines):
                    return "STOP", stop.cause
                return "DECELERATE", stop.cause
        static = [st for st in stops if not st.predicted]
        nearest_static = min(static, key=lambda st: st.distance, default=None)
        if nearest_static is not None and nearest_static.distance < 60.0:
            # A braking profile far out, a creep (speed proportional to the gap) close in, so the car arrives slowly
            # and a final STOP does not overshoot.
            gap = max(nearest_static.distance, 0.0)
            approach = min(math.sqrt(2 * cfg.plan_decel * gap), cfg.creep_gain * gap)
            if approach < speed - cfg.speed_tolerance:
                return "DECELERATE", nearest_static.cause
            if approach < wanted:
                wanted, cap_cause = approach, nearest_static.cause
            if nearest_static.at_line and speed > cfg.creep_speed:  # nobody speeds up towards a red light
                wanted = min(wanted, speed)
        if wanted < speed - cfg.speed_tolerance:
            return "DECELERATE", "speed_limit" if cap_cause == "clear_road" else cap_cause
        return ("ACCELERATE" if wanted > speed + cfg.speed_tolerance else "KEEP"), cap_cause

    def _line_would_carry_on(self, speed: float, stop: _Stop, lines: list[float]) -> bool:
        """Would the controller's STOP run on to a stop line too close to (or beyond) what we must stop for? A line
        inside the stop's margin still leaves `line_clearance_m` to the obstacle: stopping there is fine."""
        cfg = self.config
        margin = 0.0 if stop.at_line else cfg.obstacle_margin_m - cfg.line_clearance_m
        comfortable = speed**2 / (2 * cfg.controller_profile_decel)
        return any(stop.distance + margin < line <= comfortable + cfg.controller_line_slack_m for line in lines)


def _lane_centre(d: float, cfg: ExpertConfig) -> float:
    """The route-frame centre of the lane at lateral offset `d` (lanes are 2 x lane_half_width wide)."""
    width = 2 * cfg.lane_half_width
    return round(d / width) * width


def _disabled(t: TrackedActor) -> bool:
    return t.actor.kind in (ActorKind.BROKEN_VEHICLE, ActorKind.PARKED_VEHICLE) or bool(
        t.actor.attributes.get("hazard_lights")
    )


def build_expert_planner(config: Mapping[str, Any] | None = None) -> ExpertPlanner:
    """The expert from a config mapping (unknown keys are rejected; `name` is ignored: it is always "expert")."""
    values = {k: v for k, v in (plain(config) or {}).items() if k != "name"}
    return ExpertPlanner(from_mapping(ExpertConfig, values, "planner"))
