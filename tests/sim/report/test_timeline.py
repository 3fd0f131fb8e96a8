"""The route timeline: meta-action bands tile the run, each decision's reasoning is its hover, markers carry the
time a click seeks to; and the two results.json fields it needs (the speed trace, the video's time scale)."""

from __future__ import annotations

import pytest
from report_helpers import results

from sim.report.figures import route_timeline, speed_series
from sim.results import speed_trace
from sim.video import VideoConfig


def traces(fig) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for trace in fig.to_plotly_json()["data"]:
        out.setdefault(trace.get("name"), []).append(trace)
    return out


def test_bands_tile_the_run_one_bar_per_decision_with_its_reasoning() -> None:
    decisions = [
        {"time": 0.0, "action": "ACCELERATE, STRAIGHT", "reasoning": "road clear"},
        {"time": 0.5, "action": "ACCELERATE, LEFT_TURN", "reasoning": "turn ahead"},
        {"time": 1.0, "action": "STOP, LEFT_TURN", "reasoning": "red light " * 20},
    ]
    fig = route_timeline(results("r", meta_actions=decisions, duration_s=3.0))
    by_name = traces(fig)
    for strip, words in (("speed action", ["ACCELERATE", "STOP"]), ("path action", ["STRAIGHT", "LEFT_TURN"])):
        bars = [(b, b + x) for word in words for tr in by_name[word] for b, x in zip(tr["base"], tr["x"], strict=True)]
        assert all(tr["y"][0] == strip for word in words for tr in by_name[word])
        spans = sorted(bars)
        assert spans == [(0.0, 0.5), (0.5, 1.0), (1.0, 3.0)]  # contiguous, the last one to the end of the run
    stop = by_name["STOP"][0]
    assert stop["customdata"] == [1.0]
    assert "red light red light" in stop["hovertext"][0] and "<br>" in stop["hovertext"][0]  # wrapped


def test_infractions_and_fallbacks_are_markers_at_their_times_with_cursor_first() -> None:
    infractions = [
        {"type": "collisions_vehicle", "time": 1.25, "other": "vehicle:3"},
        {"type": "red_light", "time": 2.0, "details": {"light": "J1"}},
        {"type": "broken"},  # no time: not drawn
    ]
    decisions = [{"time": 0.0, "action": "KEEP, STRAIGHT"}, {"time": 0.5, "action": "KEEP, STRAIGHT", "fallback": 1}]
    fig = route_timeline(results("r", infractions=infractions, meta_actions=decisions), x_max=10.0)
    by_name = traces(fig)
    assert by_name["infraction"][0]["customdata"] == [1.25, 2.0]
    assert "with vehicle:3" in by_name["infraction"][0]["hovertext"][0]
    assert by_name["fallback"][0]["customdata"] == [0.5]
    shapes = fig.layout.shapes
    assert shapes[0].x0 == 0.0 and [s.x0 for s in shapes[1:]] == [1.25, 2.0]
    assert list(fig.layout.xaxis.range) == [0, 10.0]
    assert list(fig.layout.yaxis2.categoryarray) == ["path action", "speed action", "fallbacks", "infractions"]


def test_speed_comes_from_the_trace_or_else_from_the_decisions_facts() -> None:
    assert speed_series(results("r")) == ([0.0, 2.0, 4.0], [5.0, 6.0, 7.0])
    older = results("r", speed_trace=None, meta_actions=[{"time": 1.0, "facts": {"speed": 3.5}}, {"time": 2.0}])
    assert speed_series(older) == ([1.0], [3.5])


def test_speed_trace_keeps_four_samples_a_second_and_the_last() -> None:
    times = [round(0.05 * i, 2) for i in range(23)]  # 0 .. 1.1 s at 20 Hz
    trace = speed_trace(times, [float(i) for i in range(23)])
    assert trace["time"] == [0.0, 0.25, 0.5, 0.75, 1.0, 1.1]
    assert trace["speed_mps"] == [0.0, 5.0, 10.0, 15.0, 20.0, 22.0]
    assert speed_trace([], []) == {"time": [], "speed_mps": []}


def test_video_time_scale_maps_simulated_to_video_seconds() -> None:
    assert VideoConfig().time_scale(0.05) == 1.0  # fps null: real time
    assert VideoConfig(fps=20.0, every_n_ticks=2).time_scale(0.05) == pytest.approx(0.5)  # twice as fast
