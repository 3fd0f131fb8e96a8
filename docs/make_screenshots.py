"""Screenshots of the review pages for the README, taken in headless Chromium from pages opened from disk.

    uv run python docs/make_screenshots.py                       # drives the runs it shows, then the screenshots
    uv run python docs/make_screenshots.py --training RUN_DIR    # also the training page of a training run

Drives a few suite scenarios in closed loop with the privileged expert and with the always-accelerating `constant`
planner (under --work, reused when already there), writes both run pages and their comparison with `sim.report`,
then photographs them into docs/images/: report_run.png (summary and tables), report_route.png (one route at its
first infraction, the reasoning of the decision there on hover), report_compare.png (the A/B page, the expert's
reasoning at the constant planner's first infraction on hover) and, with --training, report_training.png.
Needs Chromium (Debian: apt-get install chromium) and the development dependencies (uv sync).
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from PIL import Image

from sim.report import write_comparison, write_report, write_training_report
from sim.report.browser import PLOTS_READY, chromium, why_no_browser
from sim.results import read_results
from sim.run_route import drive

REPO = Path(__file__).resolve().parents[1]
IMAGES = REPO / "docs" / "images"
SCENARIOS = ("red_light_stop", "jaywalker", "construction_lane_closure", "cut_in")
FOCUS = "jaywalker"  # the route report_route.png shows
VIEWPORT = {"width": 1360, "height": 900}


def drive_runs(work: Path) -> tuple[Path, Path]:
    suite = work / "scenarios"
    suite.mkdir(parents=True, exist_ok=True)
    for name in SCENARIOS:
        shutil.copy(REPO / "scenarios" / "suite" / f"{name}.yaml", suite / f"{name}.yaml")
    outs = []
    for planner in ("expert", "constant"):
        out = work / planner
        overrides = [f"scenario={suite}", f"planner={planner}", f"output_dir={out}", "progress=false"]
        with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
            drive(compose("run_route", overrides=overrides))  # resumes: finished routes are not driven again
        write_report(out)
        outs.append(out)
    return outs[0], outs[1]


def open_page(browser: Any, path: Path, height: int | None = None) -> Any:
    page = browser.new_page(viewport={**VIEWPORT, "height": height or VIEWPORT["height"]})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    page.wait_for_function(PLOTS_READY, timeout=60_000)
    if errors:
        raise RuntimeError(f"{path}: {errors}")
    return page


def save(shot: bytes, name: str) -> None:
    """A PNG in 256 colours: a quarter of the size, and the pages are flat colours apart from the video frame."""
    image = Image.open(io.BytesIO(shot)).convert("RGB")
    image.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).save(
        IMAGES / name, optimize=True
    )


def seek(page: Any, video_id: str, seconds: float) -> None:
    page.evaluate(f"document.getElementById('{video_id}').currentTime = {seconds}")
    ready = f"(v => !v.seeking && v.readyState >= 2)(document.getElementById('{video_id}'))"
    page.wait_for_function(ready, timeout=30_000)
    page.wait_for_timeout(300)


def hover_decision(page: Any, timeline_id: str, seconds: float) -> None:
    """Move the mouse over the speed-action band at `seconds`, so the plot shows that decision's reasoning."""
    x, y = page.evaluate(
        """([id, t]) => { const gd = document.getElementById(id), box = gd.getBoundingClientRect();
        const xa = gd._fullLayout.xaxis2, ya = gd._fullLayout.yaxis2;
        return [box.left + xa._offset + xa.d2p(t), box.top + ya._offset + ya.d2p('speed action')]; }""",
        [timeline_id, seconds],
    )
    page.mouse.move(x, y)
    page.wait_for_timeout(400)


def shoot_run(browser: Any, run: Path) -> None:
    page = open_page(browser, run / "report.html", height=1020)
    save(page.screenshot(), "report_run.png")
    page.close()
    results = read_results(run / FOCUS / "results.json") or {}
    moment = float(results["infractions"][0]["time"]) if results.get("infractions") else 1.0
    page = open_page(browser, run / "report.html")
    card = page.locator(f"#route-{FOCUS}")
    card.scroll_into_view_if_needed()
    seek(page, f"video-{FOCUS}", moment)
    hover_decision(page, f"timeline-{FOCUS}", moment - 0.5)
    save(card.screenshot(), "report_route.png")
    page.close()


def shoot_compare(browser: Any, page_path: Path, constant: Path) -> None:
    page = open_page(browser, page_path, height=1500)
    first = page.evaluate("document.querySelector('#routes tbody tr').dataset.route")
    results = read_results(constant / first / "results.json") or {}
    moment = float(results["infractions"][0]["time"]) if results.get("infractions") else 1.0
    seek(page, f"video-a-{first}", moment)  # the B video follows
    seek(page, f"video-b-{first}", moment)
    hover_decision(page, f"timeline-a-{first}", moment)  # the expert's reasoning at that moment
    save(page.screenshot(), "report_compare.png")
    page.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=REPO / "outputs" / "screenshots", help="where the runs go")
    parser.add_argument("--training", type=Path, help="a training run folder: also photograph its page")
    args = parser.parse_args()
    reason = why_no_browser()
    if reason:
        print(f"error: {reason}", file=sys.stderr)
        return 2
    expert, constant = drive_runs(args.work)
    compare = write_comparison(expert, constant, args.work / "compare_expert_vs_constant")
    IMAGES.mkdir(parents=True, exist_ok=True)
    with chromium() as browser:
        shoot_run(browser, constant)
        shoot_compare(browser, compare, constant)
        if args.training:
            page = open_page(browser, write_training_report(args.training), height=1300)
            save(page.screenshot(), "report_training.png")
            page.close()
    print(f"screenshots in {IMAGES}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
