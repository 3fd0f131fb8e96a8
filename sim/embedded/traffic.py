"""NPC vehicles on the lane graph, updated together with numpy.

Each vehicle lives in lane coordinates (lane, s, lateral offset d) and plans two lanes ahead. Longitudinal control is
the Intelligent Driver Model against the nearest obstacle on those three lanes (other vehicles, the ego, props,
pedestrians on the road) and against its stop line. A vehicle may pass its stop line only once it holds a
junction reservation: the light allows it (or it has stopped at a stop sign), no conflicting connector is in use,
oncoming priority traffic is not close, and the exit lane has room. Scripted behaviours are per-vehicle flags.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from sim.core import ActorKind, Turn
from sim.embedded.junctions import Conflict, conflict_table
from sim.embedded.lanegraph import LaneGraph
from sim.embedded.lights import RED, YELLOW

# length, width, height (m), and a cap on desired speed (m/s)
KIND_SIZE: dict[ActorKind, tuple[float, float, float, float]] = {
    ActorKind.VEHICLE: (4.6, 1.9, 1.5, 40.0),
    ActorKind.TRUCK: (8.5, 2.5, 3.4, 25.0),
    ActorKind.BUS: (11.5, 2.6, 3.2, 20.0),
    ActorKind.BICYCLE: (1.8, 0.7, 1.7, 6.0),
    ActorKind.PARKED_VEHICLE: (4.6, 1.9, 1.5, 0.0),
    ActorKind.BROKEN_VEHICLE: (4.6, 1.9, 1.5, 0.0),
}
KIND_MIX = {ActorKind.VEHICLE: 0.82, ActorKind.TRUCK: 0.07, ActorKind.BUS: 0.05, ActorKind.BICYCLE: 0.06}


@dataclass(frozen=True)
class TrafficConfig:
    accel: float = 1.8  # IDM a, m/s^2
    comfort_decel: float = 2.5  # IDM b
    max_decel: float = 8.0
    headway_s: float = 1.3
    min_gap: float = 2.0  # IDM s0
    turn_speed: float = 6.5  # m/s on turning connectors
    yellow_decel: float = 3.5  # stop on yellow when this suffices
    stop_sign_wait_s: float = 1.0
    priority_gap_s: float = 4.5  # yielding movements need this much time to the oncoming vehicle
    exit_room: float = 3.0  # m free on the exit lane beyond the vehicle's length before entering a junction
    lane_change_s: float = 2.5
    spawn_gap: float = 14.0


@dataclass(frozen=True)
class Obstacles:
    """Things NPCs must not hit, in lane coordinates (one row per obstacle and lane it blocks)."""

    lane: np.ndarray
    s: np.ndarray
    v: np.ndarray
    half_length: np.ndarray

    @staticmethod
    def empty() -> Obstacles:
        z = np.zeros(0)
        return Obstacles(np.zeros(0, dtype=np.int64), z, z, z)


@dataclass(frozen=True)
class Approach:
    """A vehicle outside the NPC set (the ego) heading for a connector, for priority checks."""

    connector: int
    distance: float  # front bumper to the junction entry, m
    speed: float


@dataclass
class Script:
    """Scripted behaviour of one vehicle (see `sim.embedded.world` for how scenarios map onto it)."""

    kind: str = "follow_lane"
    turns: list[Turn] = field(default_factory=list)  # at the next junctions, in order
    prefer: frozenset[int] = frozenset()  # lanes to stay on when a junction offers them (the ego route)
    side: str | None = None  # cut_in: side it comes from
    decel: float = 6.0
    speed: float | None = None
    resume_s: float | None = None  # brake: seconds it stands before driving on; None: it stays
    triggered: bool = False


class Traffic:
    def __init__(self, graph: LaneGraph, config: TrafficConfig, rng: np.random.Generator) -> None:
        self.g, self.cfg, self.rng = graph, config, rng
        self.conflicts: list[list[Conflict]] = conflict_table(graph)
        # where a vehicle needs a junction reservation: its stop line, or the lane end before a junction without
        # control whose connectors still conflict (e.g. parallel turns at a corner)
        free_entry = [
            not math.isfinite(graph.stop_s[i]) and any(self.conflicts[c] for c in graph.succ[i])
            for i in range(len(graph.ids))
        ]
        self.entry_s = np.where(np.array(free_entry), graph.length, graph.stop_s)
        # connectors' entry lane, so vehicles just past a fork still see each other
        self.fork = np.array(
            [graph.pred[i][0] if graph.is_connector[i] and graph.pred[i] else -2 for i in range(len(graph.ids))]
        )
        self.ids: list[int] = []
        self.kinds: list[ActorKind] = []
        self.scripts: list[Script] = []
        self.attributes: list[dict[str, object]] = []
        n = 0
        self.lane = np.zeros(n, dtype=np.int64)
        self.nxt = np.zeros((n, 2), dtype=np.int64)
        self.s, self.v, self.acc, self.d = (np.zeros(n) for _ in range(4))
        self.size = np.zeros((n, 3))
        self.v_des = np.zeros(n)
        self.committed = np.zeros(n, dtype=bool)
        self.wait = np.zeros(n)
        self.hold = np.zeros(n, dtype=bool)  # parked: never moves
        self.ignore_rules = np.zeros(n, dtype=bool)
        self.forced_decel = np.zeros(n)
        self.release_in = np.full(n, np.inf)  # s until a braked vehicle drives on
        self.lc_d0, self.lc_t = np.zeros(n), np.zeros(n)
        self.prev_conn = np.zeros(n, dtype=np.int64)
        self.offset = np.zeros(n)  # m left of the lane centre it keeps (a vehicle invading the oncoming lane)
        self.x, self.y, self.yaw = np.zeros(n), np.zeros(n), np.zeros(n)

    # ---- population -----------------------------------------------------------------------------------------
    def add(
        self,
        actor_id: int,
        kind: ActorKind,
        lane: int,
        s: float,
        speed: float,
        v_des: float,
        script: Script | None = None,
        attributes: dict[str, object] | None = None,
    ) -> int:
        """Add a vehicle; returns its index."""
        k = len(self.ids)
        self.ids.append(actor_id)
        self.kinds.append(kind)
        self.scripts.append(script or Script())
        self.attributes.append(dict(attributes or {}))
        length, width, height, cap = KIND_SIZE[kind]
        grow = {
            "lane": lane,
            "s": s,
            "v": speed,
            "acc": 0.0,
            "d": 0.0,
            "v_des": min(v_des, cap) if cap else 0.0,
            "committed": False,
            "wait": 0.0,
            "hold": cap == 0.0,
            "ignore_rules": False,
            "forced_decel": 0.0,
            "release_in": np.inf,
            "lc_d0": 0.0,
            "lc_t": 0.0,
            "prev_conn": -1,
            "offset": 0.0,
            "x": 0.0,
            "y": 0.0,
            "yaw": 0.0,
        }
        for name, value in grow.items():
            setattr(self, name, np.append(getattr(self, name), value))
        self.size = np.vstack([self.size, [length, width, height]])
        nxt1 = self._choose(k, lane)
        self.nxt = np.vstack([self.nxt, [nxt1, self._choose(k, nxt1) if nxt1 >= 0 else -1]])
        self._update_poses()
        return k

    _ARRAYS = (
        "lane", "nxt", "s", "v", "acc", "d", "size", "v_des", "committed", "wait", "hold", "ignore_rules",
        "forced_decel", "release_in", "lc_d0", "lc_t", "prev_conn", "offset", "x", "y", "yaw",
    )  # fmt: skip

    def remove(self, k: int) -> None:
        """Take vehicle k off the map (indices after it shift down by one; look vehicles up by id)."""
        for name in self._ARRAYS:
            setattr(self, name, np.delete(getattr(self, name), k, axis=0))
        for items in (self.ids, self.kinds, self.scripts, self.attributes):
            del items[k]

    def index_of(self, actor_id: int) -> int:
        return self.ids.index(actor_id)

    def place(self, k: int, lane: int, s: float) -> None:
        """Move vehicle k to (lane, s), as a vehicle entering the map there."""
        self.lane[k], self.s[k] = lane, s
        self.lc_d0[k], self.lc_t[k], self.d[k] = 0.0, 0.0, 0.0
        self.committed[k], self.wait[k], self.prev_conn[k] = False, 0.0, -1
        self.v[k] = min(self.v_des[k], 0.8 * self.g.speed_limit[lane])
        self.nxt[k, 0] = self._choose(k, lane)
        self.nxt[k, 1] = self._choose(k, int(self.nxt[k, 0])) if self.nxt[k, 0] >= 0 else -1
        self._update_poses()

    def spawn_random(self, count: int, first_id: int, keep_clear: list[tuple[int, float]]) -> None:
        """Add `count` vehicles on road lanes, spaced out, away from the (lane, s) positions in `keep_clear`."""
        g = self.g
        roads = np.flatnonzero(~g.is_connector & ~g.is_parking)
        weights = g.length[roads] / g.length[roads].sum()
        kinds, probs = list(KIND_MIX), np.array(list(KIND_MIX.values()))
        taken = [(lane, s) for lane, s in keep_clear]
        added = 0
        for _ in range(count * 60):
            if added == count:
                break
            lane = int(self.rng.choice(roads, p=weights))
            kind = kinds[int(self.rng.choice(len(kinds), p=probs))]
            end = g.stop_s[lane] - 6.0 if math.isfinite(g.stop_s[lane]) else g.length[lane] - 6.0
            s = float(self.rng.uniform(8.0, max(8.5, end)))
            if any(ln == lane and abs(s - ts) < self.cfg.spawn_gap + 6.0 for ln, ts in taken):
                continue
            taken.append((lane, s))
            v_des = float(g.speed_limit[lane] * self.rng.uniform(0.75, 1.0))
            self.add(first_id + added, kind, lane, s, min(v_des, 6.0), v_des, attributes={"role_name": "background"})
            added += 1

    def _choose(self, k: int, lane: int) -> int:
        """Next lane after `lane` for vehicle k: its scripted turn, else its preferred lanes, else at random."""
        succ = self.g.succ[lane]
        if not succ:
            return -1
        script = self.scripts[k]
        if script.turns and self.g.is_connector[succ[0]]:
            pick = self.g.successor_with_turn(lane, script.turns[0])
            if pick >= 0:
                script.turns.pop(0)
                return pick
        preferred = [c for c in succ if c in script.prefer]
        if preferred:
            return preferred[0]
        return succ[int(self.rng.integers(len(succ)))]

    # ---- scripted events ------------------------------------------------------------------------------------
    def start_lane_change(self, k: int, target: int) -> None:
        g = self.g
        lane = int(self.lane[k])
        side = 1.0 if target == g.right[lane] else -1.0  # the old lane lies to the left of a right-hand target
        self.s[k] = g.map_s(lane, float(self.s[k]), target)
        self.lane[k] = target
        self.lc_d0[k], self.lc_t[k] = side * 0.5 * (g.width[lane] + g.width[target]) + self.d[k], 0.0
        self.nxt[k, 0] = self._choose(k, target)
        self.nxt[k, 1] = self._choose(k, int(self.nxt[k, 0])) if self.nxt[k, 0] >= 0 else -1
        self.committed[k] = False

    # ---- the tick -------------------------------------------------------------------------------------------
    def step(self, dt: float, light_codes: np.ndarray, ext: Obstacles, ego: Approach | None, ego_conn: int) -> None:
        n = len(self.ids)
        if n == 0:
            return
        g, cfg = self.g, self.cfg
        half = self.size[:, 0] / 2
        o_lane, o_s, o_v, o_half, owner = self.obstacle_rows(ext)
        length_here = g.length[self.lane]
        nxt0 = self.nxt[:, 0]
        lead, lead_dist = self.leads(length_here, o_lane, o_s, o_half, owner)
        gap = lead_dist - half - o_half[lead]
        v_lead = np.where(np.isfinite(lead_dist), o_v[lead], 0.0)

        # stop line and junction reservation
        stop = self.entry_s[self.lane]
        to_stop = stop - self.s - half
        has_stop = np.isfinite(stop) & ~self.committed & ~self.ignore_rules & (to_stop > -half)
        dead_end = nxt0 < 0
        self.wait = np.where(has_stop & (self.v < 0.3) & (to_stop < 4.0), self.wait + dt, 0.0)
        first = gap > to_stop - 0.5  # nothing between the vehicle and its stop line
        zone = has_stop & first & (to_stop < self.v**2 / (2 * cfg.comfort_decel) + 10.0)
        if zone.any():
            self._reserve(np.flatnonzero(zone), to_stop, light_codes, o_lane, o_s, o_half, ego, ego_conn)
            has_stop &= ~self.committed
        stop_gap = np.where(has_stop, to_stop, np.where(dead_end, length_here - self.s - half, np.inf))

        # desired speed, with turning connectors taken slowly
        turning = (g.turn[self.lane] > 0) | ((g.turn[np.maximum(nxt0, 0)] > 0) & (nxt0 >= 0))
        to_end = np.maximum(0.0, length_here - self.s - half)
        turn_cap = np.where(g.turn[self.lane] > 0, cfg.turn_speed, np.sqrt(cfg.turn_speed**2 + 2 * 1.5 * to_end))
        v0 = np.minimum(self.v_des, np.where(turning, turn_cap, np.inf))
        # vehicles that ignore the rules (red-light runners, emergency vehicles) ignore the speed limit too
        v0 = np.where(self.ignore_rules, v0, np.minimum(v0, g.speed_limit[self.lane] * 1.05))
        v0 = np.maximum(v0, 0.1)
        acc = np.minimum(self._idm(v0, gap, v_lead), self._idm(v0, stop_gap, np.zeros(n)))
        acc = np.where(self.forced_decel > 0, -self.forced_decel, acc)
        acc = np.clip(acc, -cfg.max_decel, cfg.accel)
        v_new = np.maximum(0.0, self.v + acc * dt)
        room = np.minimum(gap, stop_gap) - 0.3  # never step into the obstacle, whatever the model says
        v_new = np.minimum(v_new, np.maximum(0.0, room) / dt)
        v_new = np.where(self.hold, 0.0, v_new)
        self.acc = (v_new - self.v) / dt
        self.s = self.s + 0.5 * (self.v + v_new) * dt
        self.v = v_new
        braked = (self.forced_decel > 0) & (self.v <= 0.0)  # a scripted hard brake ends standing still
        for k in np.flatnonzero(braked):
            resume = self.scripts[k].resume_s
            self.release_in[k] = np.inf if resume is None else resume
        self.hold |= braked
        self.forced_decel = np.where(self.v <= 0.0, 0.0, self.forced_decel)
        self.release_in = self.release_in - dt
        released = self.release_in <= 0.0
        self.hold &= ~released
        self.release_in = np.where(released, np.inf, self.release_in)

        for k in np.flatnonzero(self.s > g.length[self.lane]):
            self._advance(int(k))
        clear = (self.prev_conn >= 0) & (self.s > self.size[:, 0] + 1.0)
        self.prev_conn[clear] = -1
        self.lc_t = self.lc_t + dt
        self._update_poses()

    def obstacle_rows(self, ext: Obstacles) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Everything a vehicle may follow, one row per (obstacle, lane): (lane, s, speed, half length, owning
        vehicle or -1). Vehicles come first, then lane-changing vehicles again on the lane they are leaving, then
        `ext`."""
        g, n = self.g, len(self.ids)
        half = self.size[:, 0] / 2
        ghost = np.flatnonzero(np.abs(self.d) > 0.8)
        old_lane = np.where(self.d[ghost] > 0, g.left[self.lane[ghost]], g.right[self.lane[ghost]])
        ok = old_lane >= 0
        ghost, old_lane = ghost[ok], old_lane[ok]
        o_lane = np.concatenate([self.lane, old_lane, ext.lane])
        o_s = np.concatenate([self.s, self.s[ghost] * g.length[old_lane] / g.length[self.lane[ghost]], ext.s])
        o_v = np.concatenate([self.v, self.v[ghost], ext.v])
        o_half = np.concatenate([half, half[ghost], ext.half_length])
        owner = np.concatenate([np.arange(n), ghost, np.full(len(ext.lane), -1)])
        return o_lane, o_s, o_v, o_half, owner

    def leads(
        self, length_here: np.ndarray, o_lane: np.ndarray, o_s: np.ndarray, o_half: np.ndarray, owner: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each vehicle's nearest obstacle ahead along its lane and the next two (index into the obstacles, distance
        between centres; index 0 and inf when there is none).

        Only obstacles on the lanes a vehicle looks along are paired with it (obstacles sorted by lane, each vehicle
        takes its lanes' ranges), so the work grows with the pairs that matter, not with vehicles x obstacles. Among
        equally near obstacles the lowest index wins."""
        n = len(self.ids)
        g = self.g
        nxt0 = self.nxt[:, 0]
        base = np.stack([-self.s, length_here - self.s, length_here - self.s + g.length[np.maximum(nxt0, 0)]], 1)
        path = np.stack([self.lane, nxt0, self.nxt[:, 1]], 1)
        rows: list[np.ndarray] = []
        cols: list[np.ndarray] = []
        vals: list[np.ndarray] = []

        def add(i: np.ndarray, j: np.ndarray, dist: np.ndarray, keep: np.ndarray | None = None) -> None:
            rows.append(i if keep is None else i[keep])
            cols.append(j if keep is None else j[keep])
            vals.append(dist if keep is None else dist[keep])

        by_lane = _Buckets(o_lane)
        for k in range(3):
            i, j = by_lane.pairs(path[:, k], path[:, k] >= 0)
            dist = base[i, k] + o_s[j]
            add(i, j, dist, dist > 0.0 if k == 0 else None)
        # a vehicle that just took another branch of the same fork is still in the way: ahead of vehicles on the
        # entry lane, and of vehicles on a sibling branch behind it
        near_fork = o_s - o_half < 8.0
        by_fork = _Buckets(np.where(near_fork, self.fork[o_lane], -4))
        i, j = by_fork.pairs(self.lane, np.ones(n, dtype=bool))
        add(i, j, base[i, 1] + o_s[j])
        my_fork = np.where(g.is_connector[self.lane], self.fork[self.lane], -3)
        i, j = by_fork.pairs(my_fork, my_fork >= 0)
        dist = o_s[j] - self.s[i]
        add(i, j, dist, dist > 0.0)
        row, col, val = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
        other = owner[col] != row
        row, col, val = row[other], col[other], val[other]
        lead, lead_dist = np.zeros(n, dtype=np.int64), np.full(n, np.inf)
        if len(row):
            order = np.lexsort((col, val, row))
            row, col, val = row[order], col[order], val[order]
            first = np.ones(len(row), dtype=bool)
            first[1:] = row[1:] != row[:-1]
            lead[row[first]], lead_dist[row[first]] = col[first], val[first]
        return lead, lead_dist

    def _idm(self, v0: np.ndarray, gap: np.ndarray, v_lead: np.ndarray) -> np.ndarray:
        cfg = self.cfg
        s_star = cfg.min_gap + np.maximum(
            0.0, self.v * cfg.headway_s + self.v * (self.v - v_lead) / (2 * math.sqrt(cfg.accel * cfg.comfort_decel))
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            inter = np.where(np.isfinite(gap), (s_star / np.maximum(gap, 0.05)) ** 2, 0.0)
        return cfg.accel * (1.0 - (self.v / v0) ** 4 - inter)

    def _reserve(
        self,
        cands: np.ndarray,
        to_stop: np.ndarray,
        codes: np.ndarray,
        o_lane: np.ndarray,
        o_s: np.ndarray,
        o_half: np.ndarray,
        ego: Approach | None,
        ego_conn: int,
    ) -> None:
        g, cfg = self.g, self.cfg
        on_conn = g.is_connector[self.lane]
        occ = np.bincount(self.lane[on_conn], minlength=len(g.ids))
        occ += np.bincount(self.nxt[self.committed & ~on_conn, 0], minlength=len(g.ids))
        occ += np.bincount(self.prev_conn[self.prev_conn >= 0], minlength=len(g.ids))
        if ego_conn >= 0:
            occ[ego_conn] += 1
        for k in cands[np.argsort(to_stop[cands], kind="stable")]:
            lane, conn = int(self.lane[k]), int(self.nxt[k, 0])
            light = int(g.light[lane])
            if conn < 0:
                continue
            if light >= 0:
                code = int(codes[light])
                if code == RED or (code == YELLOW and to_stop[k] > self.v[k] ** 2 / (2 * cfg.yellow_decel)):
                    continue
                if code == YELLOW:  # too close to stop: it must go
                    self._commit(k, conn, occ)
                    continue
            elif g.stop_sign[lane] and self.wait[k] < cfg.stop_sign_wait_s:
                continue
            if any(occ[c.other] > 0 for c in self.conflicts[conn]):
                continue
            if not self._exit_has_room(k, conn, o_lane, o_s, o_half):
                continue
            if any(c.yields and self._priority_near(c.other, ego) for c in self.conflicts[conn]):
                continue
            self._commit(k, conn, occ)

    def _commit(self, k: int, conn: int, occ: np.ndarray) -> None:
        self.committed[k] = True
        occ[conn] += 1

    def _exit_has_room(self, k: int, conn: int, o_lane: np.ndarray, o_s: np.ndarray, o_half: np.ndarray) -> bool:
        exit_lane = self.g.succ[conn][0]
        on_exit = o_lane == exit_lane
        if not on_exit.any():
            return True
        tail = np.min(o_s[on_exit] - o_half[on_exit])
        return bool(tail > self.size[k, 0] + self.cfg.exit_room)

    def _priority_near(self, conn: int, ego: Approach | None) -> bool:
        """A vehicle heading for `conn` will reach the junction within the priority gap."""
        g = self.g
        gap_s = self.cfg.priority_gap_s
        if ego is not None and ego.connector == conn and ego.distance < max(ego.speed, 2.0) * gap_s + 3.0:
            return True
        src = g.pred[conn][0]
        mine = (self.lane == src) & (self.nxt[:, 0] == conn)
        if not mine.any():
            return False
        dist = g.length[src] - self.s[mine]
        return bool(np.any(dist < np.maximum(self.v[mine], 2.0) * gap_s + 3.0))

    def _advance(self, k: int) -> None:
        g = self.g
        while self.s[k] > g.length[self.lane[k]] and self.nxt[k, 0] >= 0:
            self.s[k] -= g.length[self.lane[k]]
            old = int(self.lane[k])
            self.lane[k] = self.nxt[k, 0]
            self.nxt[k, 0] = self.nxt[k, 1]
            self.nxt[k, 1] = self._choose(k, int(self.nxt[k, 0])) if self.nxt[k, 0] >= 0 else -1
            if g.is_connector[old]:
                self.prev_conn[k] = old
                self.committed[k] = False
        self.s[k] = min(self.s[k], g.length[self.lane[k]])

    def _update_poses(self) -> None:
        """Box poses: the body lies on the chord between two points of the path (axles, roughly), so long vehicles
        cut inside a turn as real ones do instead of swinging their ends out of the lane."""
        if not self.ids:
            return
        reach = 0.3 * self.size[:, 0]
        lines = self.g.lines
        xr, yr = lines.pose_extended(self.lane, self.s - reach)
        xf, yf = lines.pose_extended(self.lane, self.s + reach)
        yaw = np.arctan2(yf - yr, xf - xr)
        x, y = 0.5 * (xr + xf), 0.5 * (yr + yf)
        u = np.clip(self.lc_t / self.cfg.lane_change_s, 0.0, 1.0)
        self.d = self.lc_d0 * (1.0 - u * u * (3.0 - 2.0 * u))
        d_rate = -self.lc_d0 * 6.0 * u * (1.0 - u) / self.cfg.lane_change_s
        self.lc_d0 = np.where(u >= 1.0, 0.0, self.lc_d0)
        lateral = self.d + self.offset
        self.x, self.y = x - lateral * np.sin(yaw), y + lateral * np.cos(yaw)
        self.yaw = yaw + np.arctan2(d_rate, np.maximum(self.v, 1.0))

    # ---- read-out -------------------------------------------------------------------------------------------
    def boxes(self) -> np.ndarray:
        """(n, 5) [x, y, yaw, length, width]."""
        return np.stack([self.x, self.y, self.yaw, self.size[:, 0], self.size[:, 1]], axis=1)


class _Buckets:
    """Indices grouped by an integer key: `pairs` lists (query row, index) for every index whose key a row asks for."""

    def __init__(self, keys: np.ndarray) -> None:
        self.order = np.argsort(keys, kind="stable")
        self.sorted = keys[self.order]

    def pairs(self, queries: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lo = np.searchsorted(self.sorted, queries, "left")
        count = np.where(valid, np.searchsorted(self.sorted, queries, "right") - lo, 0)
        rows = np.repeat(np.arange(len(queries)), count)
        start = np.repeat(lo - (np.cumsum(count) - count), count)
        return rows, self.order[start + np.arange(len(rows))]
