"""Traffic-light cycles: the two phases never show green together, timings follow the config, forcing works."""

from __future__ import annotations

import numpy as np
import pytest

from sim.core import LightColor
from sim.embedded.lights import GREEN, RED, YELLOW, LightController, LightTiming
from sim.embedded.towns import build_network

NET = build_network({"name": "grid", "rows": 3, "cols": 3, "lanes": 2, "block_m": 90, "signalised": 1.0}, 0)


def test_phases_never_green_together_and_follow_the_timing():
    timing = LightTiming(12.0, 3.0, 14.0)
    lc = LightController(NET, timing, np.random.default_rng(0))
    head = 0
    greens = []
    for t in np.arange(0.0, 3 * timing.cycle, 0.05):
        lc.update(float(t))
        for j in set(lc.junction_of):
            idx = [i for i, jj in enumerate(lc.junction_of) if jj == j]
            phases_green = {int(lc.phase[i]) for i in idx if lc.codes[i] in (GREEN, YELLOW)}
            assert len(phases_green) <= 1
        greens.append(lc.codes[head] == GREEN)
    g = np.array(greens)
    starts = np.flatnonzero(~g[:-1] & g[1:])
    assert np.diff(starts) * 0.05 == pytest.approx(np.full(len(starts) - 1, timing.cycle), abs=0.06)
    green_len = g.sum() * 0.05 / (len(g) * 0.05 / timing.cycle)
    expected = timing.green if lc.phase[head] == 0 else timing.cross_green
    assert green_len == pytest.approx(expected, abs=0.3)


def test_impossible_timing_is_rejected():
    with pytest.raises(ValueError, match="no green for the crossing phase"):
        LightTiming(10.0, 3.0, 4.0)


def test_forcing_holds_a_head_and_makes_its_junction_safe_then_resumes():
    lc = LightController(NET, LightTiming(), np.random.default_rng(1))
    head = lc.ids[0]
    lc.force(head, LightColor.GREEN, t=0.0, duration=40.0)
    for t in (1.0, 20.0, 39.0):
        lc.update(t)
        assert lc.color(0) == LightColor.GREEN
        for i, j in enumerate(lc.junction_of):
            if j == lc.junction_of[0] and lc.phase[i] != lc.phase[0]:
                assert lc.codes[i] == RED
    seen = set()
    for t in np.arange(40.0, 80.0, 0.5):
        lc.update(float(t))
        seen.add(int(lc.codes[0]))
    assert seen == {GREEN, YELLOW, RED}
