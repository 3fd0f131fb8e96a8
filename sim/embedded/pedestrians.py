"""Pedestrians: walk along sidewalks, go round corners, cross at crosswalks when their signal allows, or follow a
scripted crossing (jaywalking) once triggered.

A pedestrian is either WALKING along a sidewalk (vectorised), following a short list of WAYPOINTS (crossing, going
round a corner), WAITING at the kerb for the signal, or STANDING (scripted, before its trigger or after its walk).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from sim.core import ActorKind
from sim.embedded.geometry import PackedPolylines
from sim.embedded.lights import RED, LightController
from sim.embedded.roadnet import RoadNetwork

WALKING, WAYPOINTS, WAITING, STANDING = 0, 1, 2, 3
SIZE = (0.5, 0.5, 1.75)  # length, width, height


@dataclass(frozen=True)
class PedestrianConfig:
    speed: tuple[float, float] = (1.1, 1.6)  # m/s, drawn per pedestrian
    p_cross: float = 0.6  # at a sidewalk end with a crosswalk
    corner_radius: float = 4.0  # sidewalk ends this close are joined round the corner
    crosswalk_reach: float = 6.0  # a crosswalk end this close to a sidewalk end is usable from it
    spread: float = 0.7  # m either side of the sidewalk centre
    keep_clear_m: float = 0.5  # a crossing walker looks this far ahead for a vehicle standing in its way


@dataclass(frozen=True)
class _Exit:
    """Leaving a sidewalk end: walk through `points`, then continue on `sidewalk` at `s` in `direction`."""

    points: tuple[tuple[float, float], ...]
    sidewalk: int
    s: float
    direction: int
    light: int  # light head whose red lets pedestrians go (-1: no signal)


@dataclass
class _Plan:
    points: list[tuple[float, float]] = field(default_factory=list)
    then: _Exit | None = None  # None: stand still at the end


class Pedestrians:
    def __init__(self, net: RoadNetwork, config: PedestrianConfig, rng: np.random.Generator) -> None:
        self.cfg, self.rng = config, rng
        self.walks = PackedPolylines([w.centre for w in net.sidewalks], 1.0) if net.sidewalks else None
        self.light_ids = list(net.lights)
        self.exits: dict[tuple[int, int], list[_Exit]] = self._exits(net) if self.walks else {}
        self.ids: list[int] = []
        self.plans: list[_Plan] = []
        self.mode = np.zeros(0, dtype=np.int64)
        self.walk = np.zeros(0, dtype=np.int64)
        self.s, self.dir, self.speed, self.lat = np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0)
        self.x, self.y, self.yaw, self.v = np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0)
        self.size = np.zeros((0, 3))
        self.kinds_override: dict[int, ActorKind] = {}  # scripted crossers that are not pedestrians (bicycles)

    def _exits(self, net: RoadNetwork) -> dict[tuple[int, int], list[_Exit]]:
        w = self.walks
        assert w is not None
        ends = {(i, e): w.line_points(i)[0 if e == 0 else -1] for i in range(len(w.length)) for e in (0, 1)}
        out: dict[tuple[int, int], list[_Exit]] = {key: [] for key in ends}
        cross_ends = []
        for cw in net.crosswalks:
            p = cw.polygon
            a, b = (p[0] + p[1]) / 2, (p[2] + p[3]) / 2
            light = self.light_ids.index(cw.light_id) if cw.light_id in self.light_ids else -1
            cross_ends.append((a, b, light))
        for (i, e), p in ends.items():
            for (j, f), q in ends.items():
                if j != i and np.hypot(*(p - q)) < self.cfg.corner_radius:
                    out[(i, e)].append(
                        _Exit(((float(q[0]), float(q[1])),), j, 0.0 if f == 0 else w.length[j], 1 if f == 0 else -1, -1)
                    )
            for a, b, light in cross_ends:
                for near, far in ((a, b), (b, a)):
                    if np.hypot(*(p - near)) < self.cfg.crosswalk_reach:
                        j, s = self._sidewalk_at(far)
                        direction = 1 if self.rng.random() < 0.5 else -1
                        pts = (tuple(map(float, near)), tuple(map(float, far)))
                        out[(i, e)].append(_Exit(pts, j, s, direction, light))  # type: ignore[arg-type]
        return out

    def _sidewalk_at(self, p: np.ndarray) -> tuple[int, float]:
        w = self.walks
        assert w is not None
        d = np.hypot(*(w.points - p).T)
        k = int(np.argmin(d))
        line = int(w.owner[k])
        return line, float((k - w.offset[line]) * w.step[line])

    # ---- population -----------------------------------------------------------------------------------------
    def _append(
        self,
        actor_id: int,
        mode: int,
        walk: int,
        s: float,
        direction: int,
        speed: float,
        x: float,
        y: float,
        plan: _Plan,
        size: tuple[float, float, float] = SIZE,
    ) -> int:
        self.ids.append(actor_id)
        self.plans.append(plan)
        self.size = np.vstack([self.size, size])
        for name, value in (
            ("mode", mode),
            ("walk", walk),
            ("s", s),
            ("dir", direction),
            ("speed", speed),
            ("lat", float(self.rng.uniform(-self.cfg.spread, self.cfg.spread))),
            ("x", x),
            ("y", y),
            ("yaw", 0.0),
            ("v", 0.0),
        ):
            setattr(self, name, np.append(getattr(self, name), value))
        return len(self.ids) - 1

    def spawn_random(self, count: int, first_id: int) -> None:
        if self.walks is None:
            return
        w = self.walks
        p = w.length / w.length.sum()
        first = len(self.ids)
        for k in range(count):
            line = int(self.rng.choice(len(w.length), p=p))
            s = float(self.rng.uniform(0.0, w.length[line]))
            direction = 1 if self.rng.random() < 0.5 else -1
            self._append(
                first_id + k, WALKING, line, s, direction, float(self.rng.uniform(*self.cfg.speed)), 0, 0, _Plan()
            )
        self._walk_poses(np.arange(first, len(self.ids)))

    def add_scripted(
        self,
        actor_id: int,
        x: float,
        y: float,
        yaw: float,
        target: tuple[float, float] | None,
        speed: float,
        kind: ActorKind = ActorKind.PEDESTRIAN,
        size: tuple[float, float, float] = SIZE,
    ) -> int:
        """Someone standing at (x, y) who walks (or rides) straight to `target` when `start` is called."""
        plan = _Plan([target] if target is not None else [], None)
        k = self._append(actor_id, STANDING, -1, 0.0, 1, speed, x, y, plan, size)
        self.lat[k] = 0.0
        self.yaw[k] = yaw
        if kind != ActorKind.PEDESTRIAN:
            self.kinds_override[k] = kind
        return k

    def add_walker(self, actor_id: int, x: float, y: float, speed: float) -> int:
        """A pedestrian who walks the sidewalk nearest to (x, y); standing if none is within 4 m."""
        if self.walks is not None:
            line, s = self._sidewalk_at(np.array([x, y]))
            px, py, _ = self.walks.pose(np.array([line]), np.array([s]))
            if math.hypot(px[0] - x, py[0] - y) < 4.0:
                direction = 1 if self.rng.random() < 0.5 else -1
                k = self._append(actor_id, WALKING, line, s, direction, speed, x, y, _Plan())
                self._walk_poses(np.array([k]))
                return k
        return self.add_scripted(actor_id, x, y, 0.0, None, speed)

    def start(self, k: int) -> None:
        if self.mode[k] == STANDING and self.plans[k].points:
            self.mode[k] = WAYPOINTS

    # ---- the tick -------------------------------------------------------------------------------------------
    def step(self, dt: float, lights: LightController, vehicles: np.ndarray | None = None) -> None:
        """Advance one tick. `vehicles` (M, 5: x, y, yaw, length, width) are boxes that crossing walkers do not
        step into: a pedestrian waits for a car standing in its way instead of walking into its side."""
        if not self.ids:
            return
        walking = np.flatnonzero(self.mode == WALKING)
        if len(walking) and self.walks is not None:
            self.s[walking] += self.dir[walking] * self.speed[walking] * dt
            length = self.walks.length[self.walk[walking]]
            self._walk_poses(walking)
            for k in walking[(self.s[walking] <= 0.0) | (self.s[walking] >= length)]:
                self._at_end(int(k))
        for k in np.flatnonzero(self.mode == WAITING):
            plan = self.plans[k]
            if plan.then is not None and self._may_cross(plan.then, lights):
                self.mode[k] = WAYPOINTS
        following = np.flatnonzero(self.mode == WAYPOINTS)
        held = np.zeros(len(self.ids), dtype=bool)
        if vehicles is not None and len(following):
            held[following] = self._would_enter(following, dt, vehicles)
        for k in following[~held[following]].tolist():
            self._follow(k, dt)
        moving = ((self.mode == WALKING) | (self.mode == WAYPOINTS)) & ~held
        self.v = np.where(moving, self.speed, 0.0)

    def _walk_poses(self, idx: np.ndarray) -> None:
        assert self.walks is not None
        x, y, yaw = self.walks.pose(self.walk[idx], self.s[idx])
        self.x[idx] = x - self.lat[idx] * np.sin(yaw)
        self.y[idx] = y + self.lat[idx] * np.cos(yaw)
        self.yaw[idx] = np.where(self.dir[idx] > 0, yaw, yaw + math.pi)

    def _may_cross(self, ex: _Exit, lights: LightController) -> bool:
        if ex.light < 0:
            return True
        crossing = np.hypot(*np.subtract(ex.points[-1], ex.points[0])) / self.cfg.speed[0] + 2.0
        return int(lights.codes[ex.light]) == RED and lights.remaining(ex.light) > crossing

    def _at_end(self, k: int) -> None:
        end = 0 if self.s[k] <= 0.0 else 1
        options = self.exits.get((int(self.walk[k]), end), [])
        crossings = [o for o in options if len(o.points) > 1]
        corners = [o for o in options if len(o.points) == 1]
        pick: _Exit | None = None
        if crossings and self.rng.random() < self.cfg.p_cross:
            pick = crossings[int(self.rng.integers(len(crossings)))]
        elif corners:
            pick = corners[int(self.rng.integers(len(corners)))]
        if pick is None:
            self.dir[k] = -self.dir[k]
            self.s[k] = float(np.clip(self.s[k], 0.0, self.walks.length[self.walk[k]]))  # type: ignore[union-attr]
            return
        self.plans[k] = _Plan(list(pick.points), pick)
        self.mode[k] = WAITING if len(pick.points) > 1 else WAYPOINTS

    def _would_enter(self, idx: np.ndarray, dt: float, vehicles: np.ndarray) -> np.ndarray:
        """Which of the walkers `idx` the next step takes into a vehicle box they are not already in."""
        out = np.zeros(len(idx), dtype=bool)
        aiming = [i for i, k in enumerate(idx.tolist()) if self.plans[k].points]
        if not aiming or len(vehicles) == 0:
            return out
        k = idx[aiming]
        here = np.stack([self.x[k], self.y[k]], axis=1)
        heading = np.array([self.plans[j].points[0] for j in k.tolist()], dtype=np.float64) - here
        norm = np.hypot(heading[:, 0], heading[:, 1])
        going = norm >= 1e-9
        reach = np.maximum(self.speed[k] * dt, self.cfg.keep_clear_m)
        ahead = here[going] + heading[going] / norm[going, None] * reach[going, None]
        enters = _inside(ahead, vehicles).any(axis=1) & ~_inside(here[going], vehicles).any(axis=1)
        out[np.asarray(aiming)[going]] = enters
        return out

    def _follow(self, k: int, dt: float) -> None:
        plan = self.plans[k]
        step = self.speed[k] * dt
        while plan.points and step > 0:
            tx, ty = plan.points[0]
            dx, dy = tx - self.x[k], ty - self.y[k]
            dist = math.hypot(dx, dy)
            if dist <= step:
                self.x[k], self.y[k] = tx, ty
                plan.points.pop(0)
                step -= dist
            else:
                self.x[k] += dx / dist * step
                self.y[k] += dy / dist * step
                self.yaw[k] = math.atan2(dy, dx)
                step = 0.0
        if plan.points:
            return
        if plan.then is None:
            self.mode[k] = STANDING
            return
        ex = plan.then
        self.walk[k], self.s[k], self.dir[k] = ex.sidewalk, ex.s, ex.direction
        self.mode[k] = WALKING
        self.plans[k] = _Plan()

    def on_road_candidates(self) -> np.ndarray:
        """Indices of pedestrians that may be on a carriageway (crossing or scripted)."""
        return np.flatnonzero((self.mode == WAYPOINTS) | ((self.mode == STANDING) & (self.walk < 0)))

    def boxes(self) -> np.ndarray:
        return np.stack([self.x, self.y, self.yaw, self.size[:, 0], self.size[:, 1]], axis=1)


def _inside(points: np.ndarray, boxes: np.ndarray, margin: float = 0.2) -> np.ndarray:
    """(points, boxes): which oriented boxes (x, y, yaw, length, width), grown by `margin`, contain each point."""
    dx = points[:, 0:1] - boxes[None, :, 0]
    dy = points[:, 1:2] - boxes[None, :, 1]
    c, s = np.cos(boxes[:, 2]), np.sin(boxes[:, 2])
    along = dx * c + dy * s
    across = -dx * s + dy * c
    return (np.abs(along) < boxes[:, 3] / 2 + margin) & (np.abs(across) < boxes[:, 4] / 2 + margin)
