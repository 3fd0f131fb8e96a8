"""Review pages without a browser: what a run page and a comparison read from results folders (absent, extra and
newer fields included), relative video links, per-tag numbers, divergence order and bad input."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from report_helpers import results, write_route

from sim.metrics import summarize
from sim.report import ReportError, load_run, write_comparison, write_report
from sim.report.__main__ import main as report_cli
from sim.report.pages import compare_routes
from sim.report.runs import per_tag
from sim.stats import suite_stats


def figures_in(html: str) -> dict[str, dict]:
    found = re.findall(r'<script type="application/json" id="figure-([^"]+)">(.*?)</script>', html, re.DOTALL)
    return {name: json.loads(text) for name, text in found}


def route_rows(html: str) -> list[str]:
    body = html.split('<table id="routes">', 1)[1].split("</table>", 1)[0]
    return re.findall(r'<tr data-route="([^"]+)">', body)


def test_single_route_page_shows_newer_fields_and_survives_missing_ones(tmp_path: Path) -> None:
    raw = "<think>the light is red</think> <answer>STOP, STRAIGHT</answer>"
    data = results(
        "red_light_stop",
        protocol="bench2drive",
        abilities=["braking"],
        some_future_key={"nested": [1, 2]},
        infractions=[{"type": "red_light", "time": 2.5, "location": [1.0, 2.0], "other": "light:J1"}],
        meta_actions=[
            {"time": 0.0, "action": "STOP, STRAIGHT", "reasoning": "red light", "raw": raw, "latency_ms": 3.0},
            {"time": 1.0, "action": "FLY, UP", "fallback": True},  # outside the vocabulary: still drawn
        ],
    )
    for key in ("speed_trace", "infraction_counts", "planner_latency_ms", "tags", "video"):
        data.pop(key)
    html = write_report(write_route(tmp_path / "run", data)).read_text()

    assert "protocol: bench2drive" in html and route_rows(html) == ["red_light_stop"]
    assert '<tr data-tag="braking">' in html
    assert "<think>" not in html  # model text reaches the page escaped, never as markup
    figure = figures_in(html)["red_light_stop"]
    hovers = " ".join(t for trace in figure["data"] for t in trace.get("hovertext") or [])
    assert "&lt;think&gt;the light is red" in hovers and "FALLBACK" in hovers
    names = {trace.get("name") for trace in figure["data"]}
    assert {"STOP", "STRAIGHT", "FLY", "UP", "infraction", "fallback"} <= names
    marker = next(t for t in figure["data"] if t.get("name") == "infraction")
    assert marker["customdata"] == [2.5] and marker["x"] == [2.5]
    assert 'data-seek="2.5"' in html and "No review video" in html


def test_suite_page_has_one_row_per_route_per_tag_numbers_and_summary_extras(tmp_path: Path) -> None:
    run = tmp_path / "suite"
    write_route(run / "a", results("a", tags=["junction", "long_tail"], driving_score=100.0))
    write_route(run / "b", results("b", tags=["junction"], driving_score=40.0, route_completion=80.0, success=False))
    write_route(run / "c", results("c", tags=["long_tail"], driving_score=70.0, infraction_penalty=0.7))
    stats = suite_stats([r.results for r in load_run(run).routes])
    (run / "summary.json").write_text(json.dumps({"routes": 3, "protocol": "leaderboard-2.1", "stats": stats}))

    html = write_report(run).read_text()
    assert route_rows(html) == ["a", "b", "c"]
    assert "protocol: leaderboard-2.1" in html
    ds = stats["overall"]["driving_score"]
    low, high = (f"{v:.1f}" for v in ds["ci95"])
    row = html.split('<tr data-metric="driving_score">', 1)[1].split("</tr>", 1)[0]
    assert re.findall(r'<td class="num">([^<]*)</td>', row) == ["70.0", f"{ds['std']:.1f}", f"[{low}, {high}]", "3"]
    success = html.split('<tr data-metric="success_rate">', 1)[1].split("</tr>", 1)[0]
    assert ">67<" in success and "[0, 100]" in success  # two successes of three, as a percentage
    junction = html.split('<tr data-stats="tag:junction">', 1)[1].split("</tr>", 1)[0]
    assert ">2<" in junction and "70.0 [" in junction
    assert '<tr data-stats="scenario:b">' in html and stats["method"] in html

    tags = {t["tag"]: t for t in per_tag(load_run(run).routes)}
    assert tags["junction"]["routes"] == 2 and tags["junction"]["driving_score"] == pytest.approx(70.0)
    assert tags["junction"] == {"tag": "junction", **summarize([load_run(run).routes[i].results for i in (0, 1)])}
    assert tags["long_tail"]["infraction_penalty"] == pytest.approx(0.85)
    row = html.split('<tr data-tag="junction">', 1)[1].split("</tr>", 1)[0]
    assert ">2<" in row and ">70.0<" in row and ">90.0<" in row and ">50%<" in row


def test_videos_are_linked_relative_so_the_folder_can_move(tmp_path: Path) -> None:
    run = tmp_path / "suite"
    write_route(run / "with video", results("a", video_time_scale=0.5), video_s=1.0)
    write_route(run / "b", results("b"))
    write_report(run)
    moved = tmp_path / "elsewhere" / "suite"
    shutil.move(run, moved)
    html = (moved / "report.html").read_text()
    sources = re.findall(r'<video id="video-a"[^>]* src="([^"]+)" data-scale="([^"]+)"', html)
    assert sources == [("with%20video/review.mp4", "0.5")]
    assert (moved / "with video" / "review.mp4").is_file()
    assert re.search(r'<script src="(plotly-[0-9.]+\.min\.js)">', html)
    script = re.search(r'<script src="(plotly-[0-9.]+\.min\.js)">', html).group(1)
    assert (moved / script).stat().st_size > 1_000_000  # plotly.js itself, beside the page


def test_repeated_scenario_names_are_told_apart_by_folder(tmp_path: Path) -> None:
    write_route(tmp_path / "run" / "seed1", results("jaywalker"))
    write_route(tmp_path / "run" / "seed2", results("jaywalker", driving_score=50.0))
    assert [r.key for r in load_run(tmp_path / "run").routes] == ["seed1", "seed2"]


def test_comparison_orders_routes_by_divergence_and_keeps_one_sided_routes(tmp_path: Path) -> None:
    a, b = tmp_path / "A", tmp_path / "B"
    for name in ("same", "small", "large"):
        write_route(a / name, results(name, planner="expert"), video_s=0.5)
    write_route(a / "only_a", results("only_a"))
    write_route(b / "same", results("same", planner="vlm"), video_s=0.5)
    write_route(b / "small", results("small", planner="vlm", driving_score=90.0), video_s=0.5)
    write_route(b / "large", results("large", planner="vlm", driving_score=30.0, status="Failed - Agent crashed"))
    write_route(b / "only_b", results("only_b", planner="vlm"))

    rows = compare_routes(load_run(a), load_run(b), tmp_path)
    assert [r.key for r in rows][:3] == ["large", "small", "same"]
    assert {r.key for r in rows[3:]} == {"only_a", "only_b"}
    assert rows[0].delta("driving_score") == pytest.approx(-70.0)

    page = write_comparison(a, b, tmp_path / "cmp")
    html = page.read_text()
    assert page == tmp_path / "cmp" / "report.html"
    assert "A: A (expert)" in html and "B: B (vlm)" in html
    assert route_rows(html)[:3] == ["large", "small", "same"] and len(route_rows(html)) == 5
    assert "(only in A)" in html and "(only in B)" in html
    assert len(re.findall(r'data-sync="sync-a-small"', html)) == 2  # both videos of a common route, one group
    assert 'src="../A/small/review.mp4"' in html and 'src="../B/small/review.mp4"' in html
    means = html.split('<table id="means">', 1)[1].split("</table>", 1)[0]
    assert ">73.3<" in means and "-26.7" in means  # B over the 3 common routes: (100 + 90 + 30) / 3
    interval = means.split('<tr id="difference-ci">', 1)[1].split("</tr>", 1)[0]
    ds = re.findall(r'<td class="num">([^<]*)</td>', interval)[0]
    assert re.fullmatch(r"-26\.7 \[-\d+\.\d, [-+]\d+\.\d\]", ds), ds  # the difference with its interval


def test_bad_folders_fail_with_one_line_naming_the_path(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReportError, match=r"no results\.json"):
        write_report(tmp_path / "empty")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "results.json").write_text("{not json")
    assert report_cli([str(broken)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(broken / "results.json") in err
    assert report_cli(["--compare", str(tmp_path / "empty"), str(broken)]) == 2
    assert not list(tmp_path.rglob("report.html"))
