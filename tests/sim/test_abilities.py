"""Bench2Drive-style per-ability scores in the suite summary."""

from __future__ import annotations

from pathlib import Path

from sim.metrics import per_ability
from sim.suite import summary_markdown, write_summary


def _route(name: str, tags: list[str], ds: float, success: bool) -> dict:
    return {
        "scenario": name,
        "status": "Perfect" if success else "Completed",
        "tags": tags,
        "driving_score": ds,
        "route_completion": 100.0,
        "infraction_penalty": ds / 100,
        "success": success,
        "protocol": "leaderboard-2.0",
        "infractions": [],
    }


ROUTES = [
    _route("a", ["Accident", "Overtaking"], 100.0, True),
    _route("b", ["BlockedIntersection", "Emergency_Brake", "Traffic_Signs"], 60.0, False),
    _route("c", ["ParkedObstacle", "Overtaking"], 80.0, False),
    _route("d", ["jaywalker"], 100.0, True),
]


def test_per_ability_scores_count_each_route_for_every_ability_it_has() -> None:
    scores = per_ability(ROUTES)
    assert set(scores) == {"Overtaking", "Emergency_Brake", "Traffic_Signs"}
    assert scores["Overtaking"] == {"routes": 2, "success_rate": 0.5, "driving_score": 90.0}
    assert scores["Traffic_Signs"] == {"routes": 1, "success_rate": 0.0, "driving_score": 60.0}


def test_summary_files_carry_the_ability_table(tmp_path: Path) -> None:
    summary = write_summary(tmp_path, ROUTES)
    assert summary["abilities"]["Emergency_Brake"]["routes"] == 1
    text = (tmp_path / "summary.md").read_text()
    assert "| Overtaking | 2 | 50% | 90.0 |" in text
    assert "ability" not in summary_markdown(ROUTES[3:], {**summary, "abilities": {}})
