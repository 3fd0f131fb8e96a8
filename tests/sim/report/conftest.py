"""Real closed-loop runs the slow report tests share: the expert and the always-accelerating planner on two suite
scenarios (a suite each), and the latter on one route alone."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from report_helpers import drive_suite

SCENARIOS = ["green_light_go", "red_light_stop"]


@dataclass(frozen=True)
class Runs:
    expert: Path
    constant: Path
    single: Path


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    root = tmp_path_factory.mktemp("runs")
    return Runs(
        expert=drive_suite(root / "expert", "expert", SCENARIOS),
        constant=drive_suite(root / "constant", "constant", SCENARIOS),
        single=drive_suite(root / "single", "constant", ["red_light_stop"], single=True),
    )
