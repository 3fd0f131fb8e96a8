"""sim/demo.py (`make demo`): a planner and the expert on the same routes, side by side, with a table and pages."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from planner.tiny import build_tiny_model
from sim.demo import main

SHORT_ROAD = {
    "name": "short_road",
    "description": "A short straight road through a junction held green.",
    "map": {"name": "grid", "rows": 3, "cols": 3, "lanes": 1, "block_m": 60, "signalised": 1.0, "curved": 0.0},
    "seed": 3,
    "route": {"maneuvers": ["straight"], "length_m": 30},
    "ego": {"speed": 8.0},
    "lights": [{"junction": 0, "state": "green"}],
    "criteria": {"timeout_s": 8},
}


@pytest.mark.slow
def test_demo_drives_a_planner_and_the_expert_on_the_same_route(tmp_path: Path, capsys) -> None:
    model = build_tiny_model(tmp_path / "tiny", "test", seed=0)
    road = tmp_path / "short_road.yaml"
    road.write_text(yaml.safe_dump(SHORT_ROAD), encoding="utf-8")
    out = tmp_path / "demo"
    assert main(["--out", str(out), "--scenarios", str(road), "--model", str(model)]) == 0
    printed = capsys.readouterr().out
    row = next(line for line in printed.splitlines() if line.startswith("| short_road |"))
    assert str(out / "planner" / "short_road" / "review.mp4") in row
    for label in ("expert", "planner"):
        assert (out / label / "short_road" / "results.json").is_file()
        assert (out / label / "short_road" / "review.mp4").stat().st_size > 0
    assert (out / "compare" / "report.html").is_file() and "side by side" in printed
