"""Every Bench2Drive scenario type is in the suite with its ability tags, and every family draws valid variants."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from scenarios import check_placements, list_suite, load_scenario
from scenarios.families import instantiate, list_families, main, town_names
from sim.embedded.world import World

# Bench2Drive's abilities of each scenario type (a type may count for two).
ABILITY = {
    "Overtaking": "Accident AccidentTwoWays ConstructionObstacle ConstructionObstacleTwoWays HazardAtSideLane "
    "HazardAtSideLaneTwoWays ParkedObstacle ParkedObstacleTwoWays VehicleOpensDoorTwoWays",
    "Merging": "CrossingBicycleFlow EnterActorFlow HighwayExit InterurbanActorFlow HighwayCutIn "
    "InterurbanAdvancedActorFlow MergerIntoSlowTrafficV2 MergerIntoSlowTraffic NonSignalizedJunctionLeftTurn "
    "NonSignalizedJunctionRightTurn NonSignalizedJunctionLeftTurnEnterFlow ParkingExit SequentialLaneChange "
    "SignalizedJunctionLeftTurn SignalizedJunctionRightTurn SignalizedJunctionLeftTurnEnterFlow",
    "Emergency_Brake": "BlockedIntersection DynamicObjectCrossing HardBreakRoute OppositeVehicleTakingPriority "
    "OppositeVehicleRunningRedLight ParkingCutIn PedestrianCrossing ParkingCrossingPedestrian StaticCutIn "
    "VehicleTurningRoute VehicleTurningRoutePedestrian ControlLoss",
    "Give_Way": "InvadingTurn YieldToEmergencyVehicle",
    "Traffic_Signs": "BlockedIntersection OppositeVehicleTakingPriority OppositeVehicleRunningRedLight "
    "PedestrianCrossing VehicleTurningRoute VehicleTurningRoutePedestrian EnterActorFlow CrossingBicycleFlow "
    "NonSignalizedJunctionLeftTurn NonSignalizedJunctionRightTurn NonSignalizedJunctionLeftTurnEnterFlow "
    "SignalizedJunctionLeftTurn SignalizedJunctionRightTurn SignalizedJunctionLeftTurnEnterFlow T_Junction "
    "VanillaNonSignalizedTurn VanillaSignalizedTurnEncounterGreenLight VanillaSignalizedTurnEncounterRedLight "
    "VanillaNonSignalizedTurnEncounterStopsign",
}
TYPES = sorted({t for names in ABILITY.values() for t in names.split()})


def test_every_bench2drive_type_has_a_suite_file_tagged_with_its_abilities() -> None:
    assert len(TYPES) == 44
    tags = {name: set(load_scenario(name).tags) for name in list_suite()}
    for scenario_type in TYPES:
        files = [name for name, t in tags.items() if scenario_type in t]
        assert files, f"no suite scenario of type {scenario_type}"
        wanted = {a for a, names in ABILITY.items() if scenario_type in names.split()}
        for name in files:
            assert tags[name] & set(ABILITY) == wanted, f"{name}: abilities {tags[name] & set(ABILITY)} != {wanted}"
    assert len(list_families()) == 44


@pytest.mark.parametrize("family", list_families())
def test_a_family_draws_valid_placed_variants(family: str) -> None:
    base = load_scenario(family)
    names = set()
    for seed in range(4):
        scenario = instantiate(family, seed)
        world = World(scenario, scenario.seed)  # builds the town, the route, every actor and flow
        check_placements(scenario, world.route, scenario.name)
        assert scenario.family is None and set(base.tags) <= set(scenario.tags)
        names.add((scenario.weather, scenario.seed, scenario.map.model_dump_json()))
    assert len(names) > 1  # the seeds give different variants
    assert instantiate(family, 3) == instantiate(family, 3)


@pytest.mark.slow
def test_every_family_instantiates_for_many_seeds() -> None:
    for family in list_families():
        for seed in range(4, 30):
            scenario = instantiate(family, seed)
            World(scenario, scenario.seed)


def test_towns_can_be_held_out(tmp_path: Path) -> None:
    towns = town_names("accident")
    assert towns == ["arterial_800", "arterial_1000"]
    for seed in range(6):
        assert "town:arterial_1000" in instantiate("accident", seed, ["arterial_1000"]).tags
    assert main(["accident", "--seeds", "0:3", "--out", str(tmp_path), "--towns", "arterial_800"]) == 0
    written = sorted(tmp_path.glob("*.yaml"))
    assert [p.stem for p in written] == ["accident_v0", "accident_v1", "accident_v2"]
    for path in written:
        assert load_scenario(path).map.length_m == 800
        assert "family" not in yaml.safe_load(path.read_text())
    assert main(["accident", "--towns", "nowhere"]) == 2
