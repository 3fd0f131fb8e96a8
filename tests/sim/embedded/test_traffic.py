"""NPC traffic: a long stream through signalised junctions without contacts, obeying red lights."""

from __future__ import annotations

import math

import numpy as np
import pytest
from world_helpers import GRID, scenario

from sim.core import VehicleControl
from sim.embedded.geometry import boxes_overlap
from sim.embedded.lights import RED
from sim.embedded.world import World


def _overlapping_pairs(boxes: np.ndarray) -> set[tuple[int, int]]:
    close = np.hypot(*(boxes[:, None, :2] - boxes[None, :, :2]).transpose(2, 0, 1)) < 13.0
    out = set()
    for a in np.flatnonzero(np.triu(close, 1).any(axis=1)):
        for j in np.flatnonzero(boxes_overlap(boxes[a], boxes[a + 1 :])):
            out.add((int(a), int(a) + 1 + int(j)))
    return out


@pytest.mark.parametrize("lanes,seed", [(2, 0), (1, 1)])
def test_two_minute_stream_through_signalised_grid_has_no_npc_collision(lanes, seed):
    sc = scenario(map={**GRID, "lanes": lanes}, traffic={"vehicles": 40, "pedestrians": 15})
    world = World(sc, seed)
    tr = world.traffic
    g = world.graph
    travelled = np.zeros(len(tr.ids))
    crossed_on_red = 0
    contacts: set[tuple[int, int]] = set()
    for _ in range(int(120 / world.config.dt)):
        lane_before, s_before = tr.lane.copy(), tr.s.copy()
        world.step(VehicleControl(brake=1.0))
        contacts |= _overlapping_pairs(tr.boxes())
        travelled += tr.v * world.config.dt
        stop = g.stop_s[lane_before]
        crossing = (lane_before == tr.lane) & (s_before < stop) & (tr.s >= stop)
        heads = g.light[lane_before]
        crossed_on_red += int(np.sum(crossing & (heads >= 0) & (world.lights.codes[np.maximum(heads, 0)] == RED)))
    assert contacts == set()
    assert crossed_on_red == 0
    assert np.median(travelled) > 300.0  # the stream really flows: most vehicles drive several blocks
    assert np.all(tr.v <= g.speed_limit[tr.lane] * 1.06)


def test_scripted_brake_and_cut_in():
    actors = [
        {
            "kind": "vehicle",
            "at": {"s": 20, "d": 0},
            "speed": 8.0,
            "behavior": {"type": "brake", "decel": 7.0},
            "trigger": {"time_s": 1.0},
        },
        {
            "kind": "vehicle",
            "at": {"s": 8, "d": -3.5},
            "speed": 8.0,
            "behavior": {"type": "cut_in"},
            "trigger": {"time_s": 0.5},
        },
    ]
    world = World(scenario(actors=actors), 0)
    tr = world.traffic
    lane0 = world.graph.index["H1_0+0"]
    assert tr.lane[1] == world.graph.index["H1_0+1"]
    speeds = []
    for _ in range(100):
        world.step(VehicleControl(brake=1.0))
        speeds.append(tr.v[0])
    assert tr.lane[1] == lane0 and abs(tr.d[1]) < 1e-6  # the cut-in vehicle now drives in the ego's lane
    assert speeds[18] > 5.0 and tr.v[0] == 0.0  # driving until the trigger at 1 s, then braked to rest
    assert min(np.diff(speeds)) == pytest.approx(-7.0 * world.config.dt, abs=0.01)
    assert np.diff(speeds)[20] == pytest.approx(-7.0 * world.config.dt, abs=0.01)


def test_braked_vehicle_stays_or_drives_on_after_resume_s():
    def speeds_after(behavior: dict) -> list[float]:
        actors = [
            {"kind": "vehicle", "at": {"s": 20, "d": 0}, "speed": 8.0, "behavior": behavior, "trigger": {"time_s": 0.5}}
        ]
        world = World(scenario(actors=actors), 0)
        out = []
        for _ in range(200):  # 10 s, the ego held back
            world.step(VehicleControl(brake=1.0))
            out.append(float(world.traffic.v[0]))
        return out

    stays = speeds_after({"type": "brake", "decel": 7.0})
    resumes = speeds_after({"type": "brake", "decel": 7.0, "resume_s": 3.0})
    assert max(stays[60:]) == 0.0  # stopped within ~1.7 s and never moves again
    stop = next(i for i, v in enumerate(resumes) if i > 10 and v == 0.0)
    assert max(resumes[stop : stop + 58]) == 0.0  # stands for 3 s ...
    assert resumes[-1] > 3.0  # ... then drives on


def _dense_leads(tr, o_lane, o_s, o_half, owner):
    """The leader search written as the dense vehicles x obstacles matrix it replaces (the definition)."""
    g, n = tr.g, len(tr.ids)
    length_here, nxt0 = g.length[tr.lane], tr.nxt[:, 0]
    base = np.stack([-tr.s, length_here - tr.s, length_here - tr.s + g.length[np.maximum(nxt0, 0)]], 1)
    path = np.stack([tr.lane, nxt0, tr.nxt[:, 1]], 1)
    dist = np.full((n, len(o_lane)), np.inf)
    for k in range(3):
        on = o_lane[None, :] == path[:, k : k + 1]
        dk = base[:, k : k + 1] + o_s[None, :]
        on &= (dk > 0.0) if k == 0 else (path[:, k : k + 1] >= 0)
        dist = np.where(on & (dk < dist), dk, dist)
    o_fork = tr.fork[o_lane]
    near_fork = (o_s - o_half < 8.0)[None, :]
    dk = base[:, 1:2] + o_s[None, :]
    on = (o_fork[None, :] == tr.lane[:, None]) & near_fork
    dist = np.where(on & (dk < dist), dk, dist)
    dk = o_s[None, :] - tr.s[:, None]
    my_fork = np.where(g.is_connector[tr.lane], tr.fork[tr.lane], -3)
    on = (o_fork[None, :] == my_fork[:, None]) & near_fork & (dk > 0.0)
    dist = np.where(on & (dk < dist), dk, dist)
    dist[owner[None, :] == np.arange(n)[:, None]] = np.inf
    lead = np.argmin(dist, axis=1)
    return lead, dist[np.arange(n), lead]


def test_the_bucketed_leader_search_finds_the_dense_definitions_leaders() -> None:
    """Busy town with pedestrians: every tick, the same leader (lowest index on a tie) at the same distance."""
    sc = scenario(traffic={"vehicles": 120, "pedestrians": 40})
    world = World(sc, 4)
    checked = 0
    for t in range(300):
        world.step(VehicleControl(throttle=0.3) if t < 150 else VehicleControl(brake=1.0))
        if t % 10:
            continue
        tr = world.traffic
        ext, _, _ = world._npc_inputs()
        o_lane, o_s, _, o_half, owner = tr.obstacle_rows(ext)
        lead, dist = tr.leads(tr.g.length[tr.lane], o_lane, o_s, o_half, owner)
        want_lead, want_dist = _dense_leads(tr, o_lane, o_s, o_half, owner)
        np.testing.assert_array_equal(dist, want_dist)
        np.testing.assert_array_equal(lead, want_lead)
        checked += int(np.isfinite(dist).sum())
    assert checked > 500  # most vehicles had someone ahead


def _lanes_near_one(g, x: float, y: float, margin: float) -> list[tuple[int, float, float]]:
    """lanes_near written one point at a time over every candidate (the definition the batched query must keep)."""
    idx = g.candidates(x, y)
    if len(idx) == 0:
        return []
    diff = np.array([x, y]) - g.points[idx]
    dist = np.hypot(diff[:, 0], diff[:, 1])
    order = np.argsort(dist, kind="stable")
    lanes_u, first = np.unique(g.point_lane[idx[order]], return_index=True)
    out = []
    for lane, j in zip(lanes_u, order[first], strict=True):
        if dist[j] <= g.width[lane] / 2 + margin:
            p = idx[j]
            c, sn = math.cos(g.yaw[p]), math.sin(g.yaw[p])
            s = float((p - g.offset[lane]) * g.step[lane] + (diff[j, 0] * c + diff[j, 1] * sn))
            if -0.5 <= s <= g.length[lane] + 0.5:
                out.append((int(lane), s, float(-diff[j, 0] * sn + diff[j, 1] * c)))
    return out


def test_lanes_near_many_answers_as_one_point_at_a_time() -> None:
    world = World(scenario(), 0)
    g = world.graph
    rng = np.random.default_rng(0)
    xs, ys = rng.uniform(-10, 190, 400), rng.uniform(-10, 190, 400)
    point, lanes, s, d = g.lanes_near_many(xs, ys, 0.8)
    assert len(set(point.tolist())) > 30  # many points fall on a lane
    for k in range(len(xs)):
        mine = point == k
        got = list(zip(lanes[mine].tolist(), s[mine].tolist(), d[mine].tolist(), strict=True))
        assert got == _lanes_near_one(g, float(xs[k]), float(ys[k]), 0.8)
        assert [(h.lane, h.s, h.d) for h in g.lanes_near(float(xs[k]), float(ys[k]), 0.8)] == got
