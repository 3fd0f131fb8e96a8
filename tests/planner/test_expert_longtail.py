"""The expert on the Bench2Drive-type suite scenarios (embedded simulator, no rendering): the maneuvers they need,
and a clean drive through every one of them."""

from __future__ import annotations

from typing import Any

import pytest

from controller.meta_action import MetaActionControllerConfig
from planner.constant import ConstantPlanner
from planner.expert import ExpertPlanner
from scenarios import list_suite, load_scenario
from sim.builders import controller_factory
from sim.embedded.backend import EmbeddedBackend
from sim.metrics import ABILITIES
from sim.results import MetricsCollector
from sim.runner import ClosedLoopRunner, PlannerSetup, RunnerConfig

LONG_TAIL = [n for n in list_suite() if set(load_scenario(n).tags) & set(ABILITIES)]


def run(name: str, planner: Any = None) -> dict[str, Any]:
    planner = planner or ExpertPlanner()
    collector = MetricsCollector()
    runner = ClosedLoopRunner(
        lambda: EmbeddedBackend(render=False),
        PlannerSetup.of(planner),
        controller_factory(MetaActionControllerConfig()),
        RunnerConfig(),
        [collector],
        privileged=isinstance(planner, ExpertPlanner),
    )
    runner.run(load_scenario(name))
    return collector.results()


def _facts(results: dict[str, Any], key: str) -> list[dict[str, Any]]:
    return [m["facts"][key] for m in results["meta_actions"] if key in m.get("facts", {})]


def test_passing_through_the_oncoming_lane_only_when_it_is_free() -> None:
    results = run("accident_two_ways")
    assert results["status"] == "Perfect"
    assert any(o.get("through_oncoming_lane") for o in _facts(results, "obstacle"))
    waited = [m for m in results["meta_actions"] if m["action"].startswith("STOP")]
    assert waited  # it stood behind the accident while the oncoming lane was not free
    assert run("accident_two_ways", ConstantPlanner())["collisions"] > 0


def test_making_way_for_an_emergency_vehicle() -> None:
    results = run("yield_to_emergency_vehicle")
    assert results["status"] == "Perfect"
    assert any(c.get("reason") == "emergency_vehicle" for c in _facts(results, "lane_change"))
    constant = run("yield_to_emergency_vehicle", ConstantPlanner())
    assert "yield_emergency_vehicle_infractions" in constant["infraction_counts"]


def test_merging_by_gap_acceptance_and_leaving_a_parking_spot() -> None:
    merge = run("merger_into_slow_traffic")
    assert merge["status"] == "Perfect"
    assert any(c.get("waiting_for_gap") for c in _facts(merge, "lane_change"))  # it waited for a gap
    assert run("merger_into_slow_traffic", ConstantPlanner())["collisions"] > 0
    parking = run("parking_exit")
    assert parking["status"] == "Perfect" and parking["collisions"] == 0


def test_giving_way_at_a_junction_without_lights() -> None:
    results = run("non_signalized_junction_right_turn")
    assert results["status"] == "Perfect"
    assert any(y.get("reason") in ("merging", "crossing") for y in _facts(results, "yield"))


@pytest.mark.slow
@pytest.mark.parametrize("name", LONG_TAIL)
def test_the_expert_drives_every_long_tail_scenario_cleanly(name: str) -> None:
    results = run(name)
    assert results["driving_score"] >= 95.0 and results["collisions"] == 0, (name, results["infraction_counts"])
