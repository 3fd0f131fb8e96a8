"""The camera renders only for a consumer: the expert without video drives with the camera off, same results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from planner.expert import ExpertPlanner
from planner.interface import uses_image
from scenarios import load_scenario
from sim.builders import RunRouteConfig, backend_factory
from sim.embedded.camera import CameraRenderer
from sim.route_task import RouteDriver, RouteJob
from sim.stop import StopRequest
from sim.video import VideoConfig

SCENARIO = "red_light_stop"
COMPARED = ("status", "route_completion", "infraction_penalty", "driving_score", "infractions", "meta_actions")


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    counts = {"renderers": 0, "frames": 0}
    init, render = CameraRenderer.__init__, CameraRenderer.render

    def counting_init(self: CameraRenderer, *args: Any, **kwargs: Any) -> None:
        counts["renderers"] += 1
        init(self, *args, **kwargs)

    def counting_render(self: CameraRenderer, *args: Any, **kwargs: Any) -> Any:
        counts["frames"] += 1
        return render(self, *args, **kwargs)

    monkeypatch.setattr(CameraRenderer, "__init__", counting_init)
    monkeypatch.setattr(CameraRenderer, "render", counting_render)
    return counts


def _drive(out: Path) -> dict[str, Any]:
    config = RunRouteConfig(
        scenario=SCENARIO,
        planner={"name": "expert"},
        video=VideoConfig(enabled=False),
        sim={"name": "embedded", "render": True},
        progress=False,
    )
    driver = RouteDriver(config)
    try:
        return driver.drive(RouteJob(SCENARIO, load_scenario(SCENARIO), out), StopRequest())
    finally:
        driver.close()


def test_the_expert_without_video_renders_nothing_and_scores_as_with_the_camera_on(
    tmp_path: Path, renders: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    blind = _drive(tmp_path / "blind")
    assert renders == {"renderers": 0, "frames": 0}
    monkeypatch.setattr(ExpertPlanner, "uses_image", True)  # as before: the planner was handed rendered frames
    seeing = _drive(tmp_path / "seeing")
    assert renders["renderers"] == 1 and renders["frames"] == len(seeing["meta_actions"])  # one per planning tick
    assert blind["status"] == "Perfect" and len(blind["meta_actions"]) >= 20  # the whole route, red light included
    assert _scored(blind) == _scored(seeing)


def _scored(results: dict[str, Any]) -> dict[str, Any]:
    """Everything but wall-clock latencies."""
    out = {k: results[k] for k in COMPARED}
    out["meta_actions"] = [{k: v for k, v in m.items() if k != "latency_ms"} for m in results["meta_actions"]]
    return out


def test_planners_say_whether_they_look_and_frames_false_turns_the_camera_off() -> None:
    assert not uses_image(ExpertPlanner())
    assert uses_image(type("Looks", (), {"name": "vlm"})())  # a planner that does not say is assumed to look
    make, _ = backend_factory({"name": "embedded", "render": True}, frames=False)
    assert make().render is False
    make, _ = backend_factory({"name": "embedded", "render": True})
    assert make().render is True
    make, _ = backend_factory({"name": "embedded", "render": False}, frames=True)
    assert make().render is False
