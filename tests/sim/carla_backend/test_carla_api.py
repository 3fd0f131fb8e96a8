"""Every part of the `carla` client API the backend uses exists in the installed package (0.9.16).

A server-free guard against typos and API drift: `carla.<Name>[.<attr>...]` chains are read from the sources, and the
instance methods and fields called on server objects are listed below (keep the table in step with the code)."""

from __future__ import annotations

import re
from pathlib import Path

import carla
import pytest

REPO = Path(__file__).resolve().parents[3]
SOURCES = [*sorted((REPO / "sim" / "carla_backend").glob("*.py")), REPO / "sim" / "leaderboard_agent.py"]
CHAIN = re.compile(r"(?<![\w./])carla\.([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)")

USED_MEMBERS: dict[str, str] = {  # class -> space-separated members
    "Client": (
        "set_timeout get_server_version get_client_version get_world load_world get_available_maps "
        "get_trafficmanager apply_batch_sync"
    ),
    "World": (
        "get_map get_settings apply_settings tick set_weather get_actors get_blueprint_library try_spawn_actor "
        "spawn_actor set_pedestrians_seed get_random_location_from_navigation"
    ),
    "WorldSettings": "synchronous_mode fixed_delta_seconds no_rendering_mode",
    "TrafficManager": (
        "set_synchronous_mode set_random_device_seed set_hybrid_physics_mode set_hybrid_physics_radius get_port "
        "auto_lane_change set_desired_speed set_route ignore_lights_percentage ignore_signs_percentage "
        "force_lane_change"
    ),
    "Map": "name get_topology get_waypoint get_all_landmarks_of_type get_crosswalks get_spawn_points",
    "Waypoint": (
        "road_id section_id lane_id s transform lane_width is_junction lane_type get_junction get_left_lane "
        "get_right_lane next next_until_lane_end left_lane_marking right_lane_marking"
    ),
    "Junction": "id bounding_box",
    "Actor": (
        "id type_id attributes parent bounding_box get_transform get_velocity get_acceleration get_angular_velocity "
        "destroy set_simulate_physics set_target_velocity enable_constant_velocity disable_constant_velocity"
    ),
    "Vehicle": "apply_control set_autopilot set_light_state get_physics_control",
    "Walker": "apply_control",
    "WalkerAIController": "start stop go_to_location set_max_speed",
    "TrafficLight": (
        "state set_state set_green_time set_yellow_time set_red_time get_group_traffic_lights trigger_volume"
    ),
    "TrafficSign": "trigger_volume",
    "Sensor": "listen stop is_listening",
    "Image": "frame raw_data width height",
    "CollisionEvent": "frame other_actor normal_impulse",
    "LaneInvasionEvent": "frame crossed_lane_markings",
    "ActorBlueprint": "set_attribute has_attribute get_attribute",
    "ActorAttribute": "as_int",
    "BlueprintLibrary": "find filter",
    "VehiclePhysicsControl": "wheels",
    "WheelPhysicsControl": "max_steer_angle",
    "LaneMarking": "type color",
    "Landmark": "road_id value unit",
    "Transform": "location rotation get_forward_vector",
    "BoundingBox": "location extent rotation",
}


def _chains() -> set[str]:
    found: set[str] = set()
    for path in SOURCES:
        if path.exists():
            found.update(CHAIN.findall(path.read_text(encoding="utf-8")))
    return found


def test_sources_are_scanned() -> None:
    chains = _chains()
    assert {"Client", "VehicleControl", "LaneType.Driving", "command.SpawnActor"} <= chains


@pytest.mark.parametrize("chain", sorted(_chains()))
def test_every_carla_name_in_the_sources_exists(chain: str) -> None:
    obj = carla
    for part in chain.split("."):
        assert hasattr(obj, part), f"carla.{chain}: {part!r} missing in the installed carla {carla.__file__}"
        obj = getattr(obj, part)


@pytest.mark.parametrize(("cls", "members"), sorted(USED_MEMBERS.items()))
def test_members_called_on_server_objects_exist(cls: str, members: str) -> None:
    owner = getattr(carla, cls)
    missing = [m for m in members.split() if not hasattr(owner, m)]
    assert not missing, f"carla.{cls} lacks {missing}"


def test_world_settings_fields_are_writable() -> None:
    settings = carla.WorldSettings()
    settings.synchronous_mode = True
    settings.fixed_delta_seconds = 0.05
    settings.no_rendering_mode = False
    assert settings.synchronous_mode and settings.fixed_delta_seconds == pytest.approx(0.05)


def test_batch_commands_carry_actor_ids() -> None:
    destroy = carla.command.DestroyActor(42)
    assert destroy.actor_id == 42
    assert hasattr(carla.command.Response, "actor_id") and hasattr(carla.command.Response, "error")
