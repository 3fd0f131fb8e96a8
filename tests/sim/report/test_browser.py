"""The review pages in a real headless Chromium, opened from disk: no console errors, one table row per route,
a click on an infraction marker seeks the review video to that moment, the H.264 video decodes, and a comparison
shows both runs with their videos following each other. Skipped, with the reason, where no browser is installed."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from report_helpers import results, write_route

from sim.report import write_comparison, write_report, write_training_report
from sim.report.browser import PLOTS_READY, chromium, why_no_browser
from sim.report.pages import EAGER_VIDEOS

NO_BROWSER = why_no_browser()
# Skipped before any fixture is built: the closed-loop runs are not driven for nothing.
pytestmark = [pytest.mark.slow, pytest.mark.skipif(NO_BROWSER is not None, reason=str(NO_BROWSER))]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


class Opened:
    """A page opened from a file:// URL, with every console error, page error and failed load it produced."""

    def __init__(self, browser: Any, path: Path) -> None:
        self.page = browser.new_page(viewport={"width": 1400, "height": 1000})
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(f"console: {m.text}") if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        self.page.on("requestfailed", self._failed)
        self.page.goto(path.as_uri())
        self.page.wait_for_function(PLOTS_READY, timeout=30_000)

    def _failed(self, request: Any) -> None:
        # A video element cancels its own download once it has what `preload` asked for: not a failure.
        if not (request.resource_type == "media" and "ERR_ABORTED" in str(request.failure)):
            self.errors.append(f"failed to load {request.url}: {request.failure}")

    def js(self, expression: str, arg: Any = None) -> Any:
        return self.page.evaluate(expression, arg)

    def wait_metadata(self, video_id: str) -> None:
        self.page.wait_for_function(f"document.getElementById('{video_id}').readyState >= 1", timeout=30_000)

    def current_time(self, video_id: str) -> float:
        return float(self.js(f"document.getElementById('{video_id}').currentTime"))


@pytest.fixture
def opened(browser: Any) -> Iterator[Any]:
    pages: list[Opened] = []

    def open_page(path: Path) -> Opened:
        pages.append(Opened(browser, path))
        return pages[-1]

    yield open_page
    for page in pages:
        page.page.close()


def route_results(run: Path) -> dict[str, dict[str, Any]]:
    found = (json.loads(p.read_text()) for p in sorted(run.rglob("results.json")))
    return {r["scenario"]: r for r in found}


def test_run_page_loads_from_disk_with_a_row_per_route_and_playable_videos(opened: Any, runs: Any) -> None:
    expected = route_results(runs.expert)
    page = opened(runs.expert / "report.html")  # written by the suite run itself
    rows = page.js("Array.from(document.querySelectorAll('#routes tbody tr')).map(r => r.dataset.route)")
    assert rows == sorted(expected) and len(rows) == 2
    for name in expected:
        page.wait_metadata(f"video-{name}")
    assert page.js("Array.from(document.querySelectorAll('video')).map(v => v.videoWidth > 0)") == [True, True]
    ds = json.loads((runs.expert / "summary.json").read_text())["stats"]["overall"]["driving_score"]
    cells = page.js(
        "Array.from(document.querySelectorAll('#stats tr[data-metric=driving_score] td')).map(c => c.innerText)"
    )
    assert page.page.locator("#stats").is_visible() and cells[1] == f"{ds['mean']:.1f}" and cells[-1] == str(ds["n"])
    assert page.errors == []


def test_clicking_an_infraction_marker_seeks_the_video_to_it(opened: Any, runs: Any) -> None:
    infraction = route_results(runs.constant)["red_light_stop"]["infractions"][0]
    page = opened(runs.constant / "report.html")
    video = "video-red_light_stop"
    page.wait_metadata(video)
    assert page.current_time(video) == 0.0
    marker = page.page.locator("#timeline-red_light_stop .scatterlayer .traceinfractions path.point")
    assert marker.count() == 1
    marker.scroll_into_view_if_needed()
    box = marker.bounding_box()
    page.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.page.wait_for_function(f"!document.getElementById('{video}').seeking", timeout=10_000)
    assert page.current_time(video) == pytest.approx(infraction["time"], abs=0.01)
    assert page.errors == []


def test_the_seeked_frame_decodes_and_the_decision_box_follows(opened: Any, runs: Any) -> None:
    results = route_results(runs.constant)["red_light_stop"]
    infraction = results["infractions"][0]
    page = opened(runs.constant / "report.html")
    page.wait_metadata("video-red_light_stop")
    page.page.locator("#route-red_light_stop .infractions button").first.click()
    ready = "(v => !v.seeking && v.readyState >= 2)(document.getElementById('video-red_light_stop'))"
    page.page.wait_for_function(ready, timeout=10_000)
    assert page.current_time("video-red_light_stop") == pytest.approx(infraction["time"], abs=0.01)
    # H.264 really decodes in this Chromium: the video element shows a picture, not a blank (a file:// page may
    # not read its pixels back from a canvas, so look at a screenshot of the element, above its control bar).
    shot = Image.open(io.BytesIO(page.page.locator("#video-red_light_stop").screenshot())).convert("L")
    low, high = shot.crop((0, 0, shot.width, shot.height // 2)).getextrema()
    assert high - low > 100
    box = page.page.locator("#route-red_light_stop .decision")
    before = [d for d in results["meta_actions"] if d["time"] <= infraction["time"] + 1e-6][-1]
    assert box.locator(".t").inner_text() == f"{infraction['time']:.1f}"
    assert box.locator(".action").inner_text().startswith(before["action"])
    assert page.errors == []


def test_a_video_not_loaded_up_front_loads_and_seeks_on_its_infraction(opened: Any, tmp_path: Path) -> None:
    run = tmp_path / "long_suite"
    for i in range(EAGER_VIDEOS):
        write_route(run / f"r{i:02d}", results(f"r{i:02d}"))
    late = results("zz_late", infractions=[{"type": "red_light", "time": 1.5}])
    write_route(run / "zz_late", late, video_s=3.0)
    page = opened(write_report(run))
    assert page.js("document.getElementById('video-zz_late').preload") == "none"
    assert page.js("document.getElementById('video-zz_late').readyState") == 0
    page.page.locator("#route-zz_late .infractions button").click()
    page.page.wait_for_function(
        "(v => v.readyState >= 1 && !v.seeking && v.currentTime > 0)(document.getElementById('video-zz_late'))",
        timeout=10_000,
    )
    assert page.current_time("video-zz_late") == pytest.approx(1.5, abs=0.01)
    assert page.errors == []


def test_single_route_page_from_the_run_itself(opened: Any, runs: Any) -> None:
    page = opened(runs.single / "report.html")
    assert page.js("document.querySelectorAll('#routes tbody tr').length") == 1
    assert page.js("document.querySelectorAll('video').length") == 1
    assert page.errors == []


def test_comparison_shows_both_runs_with_synchronised_videos(opened: Any, runs: Any, tmp_path: Path) -> None:
    page = opened(write_comparison(runs.expert, runs.constant, tmp_path / "compare"))
    header = page.page.locator("header").inner_text()
    assert "A: expert (expert)" in header and "B: constant (constant)" in header
    rows = page.js("Array.from(document.querySelectorAll('#routes tbody tr')).map(r => r.dataset.route)")
    assert rows == ["red_light_stop", "green_light_go"]  # the constant planner runs the red light: most divergent
    sides = page.js("Array.from(document.querySelectorAll('#pair-a-red_light_stop video')).map(v => v.dataset.sync)")
    assert sides == ["sync-a-red_light_stop", "sync-a-red_light_stop"]
    page.wait_metadata("video-a-red_light_stop")
    page.wait_metadata("video-b-red_light_stop")
    page.js("document.getElementById('video-a-red_light_stop').currentTime = 4.0")
    page.page.wait_for_function(
        "Math.abs(document.getElementById('video-b-red_light_stop').currentTime - 4.0) < 0.06", timeout=10_000
    )
    assert page.errors == []


def test_training_page_loads_from_disk(opened: Any, runs: Any, tmp_path: Path) -> None:
    stage = tmp_path / "train" / "grpo" / "checkpoint-2"
    stage.mkdir(parents=True)
    history = [{"step": s, "loss": 1.0 / s, "reward": 0.2 * s, "rewards/format_reward/mean": 0.5} for s in (1, 2)]
    (stage / "trainer_state.json").write_text(json.dumps({"global_step": 2, "log_history": history}))
    out = write_training_report(tmp_path / "train", evaluations={2: runs.constant})
    page = opened(out)
    assert page.js("document.querySelectorAll('div.plot').length") == 3  # closed loop, loss, rewards
    assert page.js("document.querySelectorAll('#evaluations tbody tr').length") == 1
    assert page.js("document.querySelectorAll('video').length") == 2
    assert page.errors == []
