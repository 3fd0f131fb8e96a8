"""Reasoning teachers: grounded texts checked against the facts they came from, the quality filter, and the API
teacher through the real `openai` client against a local server that speaks the chat-completions protocol."""

from __future__ import annotations

import base64
import io
import random
import re
from typing import Any

import numpy as np
import pytest
from chat_server import ChatServer
from PIL import Image

from planner.actions import MetaAction
from sim.env import DriveEnv
from training.reasoning import (
    ApiTeacher,
    ApiTeacherConfig,
    GroundedTeacher,
    TeacherConfig,
    TeacherInput,
    clean_reply,
    fact_values,
    make_teacher,
)
from training.reasoning_filter import FilterConfig, QualityFilter, allowed_objects, mentioned_objects

BASE = {"speed": 8.0, "speed_limit": 13.89, "target_speed": 13.89}
CASES: list[tuple[str, dict[str, Any]]] = [
    ("STOP, STRAIGHT", {"light": {"state": "red", "distance": 24.0}, "decision": "red_light"}),
    ("STOP, STRAIGHT", {"light": {"state": "red", "distance": 3.0}, "decision": "red_light", "speed": 0.0}),
    ("STOP, STRAIGHT", {"light": {"state": "yellow", "distance": 18.0}, "decision": "yellow_light"}),
    (
        "STOP, RIGHT_TURN",
        {"stop_sign": {"distance": 12.0}, "maneuver": {"turn": "right", "distance": 15.0}, "decision": "stop_sign"},
    ),
    (
        "STOP, STRAIGHT",
        {"lead": {"kind": "bus", "distance": 7.0, "gap": 7.0, "speed": 0.0}, "decision": "lead_vehicle"},
    ),
    (
        "DECELERATE, STRAIGHT",
        {"lead": {"kind": "vehicle", "distance": 18.0, "gap": 18.0, "speed": 4.0}, "decision": "lead_vehicle"},
    ),
    (
        "ACCELERATE, STRAIGHT",
        {
            "lead": {"kind": "truck", "distance": 33.0, "gap": 33.0, "speed": 7.0, "cargo": "cones"},
            "decision": "lead_vehicle",
        },
    ),
    (
        "STOP, STRAIGHT",
        {"obstacle": {"kind": "barrier", "distance": 9.0, "lane_blocked": True}, "decision": "obstacle"},
    ),
    (
        "ACCELERATE, LEFT_CHANGE",
        {
            "obstacle": {"kind": "broken_vehicle", "distance": 60.0, "lane_blocked": True},
            "lane_change": {"side": "left", "reason": "blocked_lane"},
            "decision": "clear_road",
        },
    ),
    ("STOP, STRAIGHT", {"pedestrian": {"kind": "pedestrian", "distance": 12.0}, "decision": "pedestrian"}),
    (
        "DECELERATE, STRAIGHT",
        {"pedestrian": {"kind": "pedestrian", "distance": 20.0, "near_lane": True}, "decision": "speed_limit"},
    ),
    ("DECELERATE, STRAIGHT", {"crossing": {"kind": "bicycle", "distance": 15.0}, "decision": "crossing"}),
    (
        "STOP, LEFT_TURN",
        {
            "yield": {"kind": "vehicle", "reason": "oncoming", "distance": 30.0},
            "maneuver": {"turn": "left", "distance": 6.0},
            "decision": "yield",
        },
    ),
    ("DECELERATE, STRAIGHT", {"occlusion": {"kind": "bus", "distance": 30.0}, "decision": "occlusion"}),
    ("KEEP, RIGHT_CHANGE", {"lane_change": {"side": "right", "reason": "route"}, "decision": "clear_road"}),
    (
        "KEEP, STRAIGHT",
        {
            "lane_change": {"side": "left", "reason": "route", "waiting_for_gap": True},
            "decision": "clear_road",
            "light": {"state": "green", "distance": 40.0},
        },
    ),
    ("DECELERATE, STRAIGHT", {"decision": "speed_limit", "speed": 16.0}),
    ("DECELERATE, STRAIGHT", {"decision": "speed_limit"}),
    ("ACCELERATE, STRAIGHT", {"decision": "clear_road", "speed": 4.0}),
    ("KEEP, STRAIGHT", {"decision": "clear_road", "speed": 13.8}),
    ("DECELERATE, STRAIGHT", {"roadworks": {"kind": "cone", "distance": 25.0}, "decision": "roadworks"}),
]


def _action(text: str) -> MetaAction:
    return MetaAction(*text.split(", "))


def _numbers_allowed(facts: dict[str, Any]) -> set[str]:
    return {n for v in fact_values(facts, random.Random(0)).values() for n in re.findall(r"\d+", v)}


def assert_grounded(text: str, action: MetaAction, facts: dict[str, Any]) -> None:
    """Every object named is in the facts, every number comes from them, and the filter finds nothing."""
    assert mentioned_objects(text) <= allowed_objects(facts), (text, facts)
    assert set(re.findall(r"\d+", text)) <= _numbers_allowed(facts), (text, facts)
    assert QualityFilter().problems(text, action, facts) == [], text


@pytest.mark.parametrize(("answer", "facts"), CASES)
def test_grounded_teacher_names_only_what_the_facts_hold(answer: str, facts: dict[str, Any]) -> None:
    facts = {**BASE, **facts}
    action = _action(answer)
    teacher = GroundedTeacher()
    texts = {teacher.explain(TeacherInput(action, facts, facts["speed"], "Follow the lane", seed=s)) for s in range(12)}
    assert None not in texts
    for text in texts:
        assert_grounded(str(text), action, facts)
    assert len(texts) >= 3  # seeded phrasings vary
    assert teacher.filter.stats() == {"accepted": 12, "rejected": 0, "reasons": {}}


def test_grounded_teacher_is_deterministic_per_seed() -> None:
    facts = {**BASE, **CASES[0][1]}
    teacher = GroundedTeacher()
    one = teacher.compose(_action(CASES[0][0]), facts, seed=5)
    assert one == GroundedTeacher().compose(_action(CASES[0][0]), facts, seed=5)


def test_grounded_teacher_on_facts_from_closed_loop_runs() -> None:
    env = DriveEnv({"scenarios": ["truck_with_cones", "red_light_stop"], "sim": {"name": "embedded", "render": False}})
    teacher, checked = GroundedTeacher(), 0
    for name in ("truck_with_cones", "red_light_stop"):
        _, info = env.reset(seed=3, options={"scenario": name})
        for step in range(60):
            action = _action(info["expert"])
            text = teacher.explain(TeacherInput(action, info["facts"], info["facts"]["speed"], "", seed=step))
            assert text is not None
            assert_grounded(text, action, info["facts"])
            checked += 1
            _, _, terminated, truncated, info = env.step(info["expert_index"])
            if terminated or truncated:
                break
    env.close()
    assert checked > 60 and teacher.filter.stats()["rejected"] == 0


@pytest.mark.parametrize(
    ("text", "answer", "facts", "reason"),
    [
        (
            "The light ahead is red. So we speed up and stay in our lane.",
            "STOP, STRAIGHT",
            {"light": {"state": "red", "distance": 20.0}, "decision": "red_light"},
            "speed_action",
        ),
        (
            "The light ahead is red and close. So we stop and then turn right.",
            "STOP, STRAIGHT",
            {"light": {"state": "red", "distance": 20.0}, "decision": "red_light"},
            "path_action",
        ),
        (
            "The road is clear ahead of us now. So we keep our speed and stay in our lane.",
            "KEEP, LEFT_TURN",
            {"decision": "clear_road"},
            "path_action",
        ),
        (
            "Something is going on up ahead of us. So we slow down and stay in our lane.",
            "DECELERATE, STRAIGHT",
            {"light": {"state": "red", "distance": 20.0}, "decision": "red_light"},
            "cause",
        ),
        (
            "A pedestrian and a cyclist are near the red light. So we come to a stop here.",
            "STOP, STRAIGHT",
            {"light": {"state": "red", "distance": 20.0}, "decision": "red_light"},
            "grounding",
        ),
        (
            "Red light. Stop.",
            "STOP, STRAIGHT",
            {"light": {"state": "red", "distance": 20.0}, "decision": "red_light"},
            "length",
        ),
        (
            "<answer> STOP, STRAIGHT </answer> the red light is close, so we stop now",
            "STOP, STRAIGHT",
            {"light": {"state": "red", "distance": 20.0}, "decision": "red_light"},
            "markup",
        ),
    ],
)
def test_filter_rejects_bad_reasoning(text: str, answer: str, facts: dict[str, Any], reason: str) -> None:
    facts = {**BASE, **facts}
    quality = QualityFilter()
    assert reason in quality.problems(text, _action(answer), facts)
    assert not quality.accept(text, _action(answer), facts)
    assert quality.stats()["rejected"] == 1 and quality.stats()["accepted"] == 0


def test_filter_lets_a_grounding_check_be_switched_off() -> None:
    facts = {**BASE, "light": {"state": "red", "distance": 20.0}, "decision": "red_light"}
    text = "A cyclist waits beside us at the red light. So we come to a stop and stay in our lane."
    assert QualityFilter().problems(text, _action("STOP, STRAIGHT"), facts) == ["grounding"]
    assert QualityFilter(FilterConfig(require_grounding=False)).problems(text, _action("STOP, STRAIGHT"), facts) == []


# ---- the API teacher against a local OpenAI-compatible server ---------------------------------------------------


@pytest.fixture
def sample() -> TeacherInput:
    image = np.zeros((54, 96, 3), np.uint8)
    image[:, :48] = (200, 30, 30)
    facts = {**BASE, "light": {"state": "red", "distance": 20.0}, "decision": "red_light"}
    return TeacherInput(_action("STOP, STRAIGHT"), facts, 8.0, "Go straight", image, seed=1, hint="the light is red")


def _teacher(url: str, **overrides: Any) -> ApiTeacher:
    config = {"base_url": url, "model": "local-vlm", "api_key": "sk-local", "max_retries": 0, **overrides}
    return make_teacher(TeacherConfig(kind="api", api=ApiTeacherConfig(**config)))  # type: ignore[return-value]


def test_api_teacher_sends_image_speed_navigation_and_action(sample: TeacherInput) -> None:
    reply = "<think> The traffic light ahead is red and we are close to its line. So we stop and wait. </think>"
    with ChatServer([reply]) as server:
        teacher = _teacher(server.url)
        text = teacher.explain(sample)
    assert text == "The traffic light ahead is red and we are close to its line. So we stop and wait."
    request = server.requests[0]
    assert request["path"] == "/v1/chat/completions" and request["auth"] == "Bearer sk-local"
    body = request["body"]
    assert body["model"] == "local-vlm"
    content = body["messages"][-1]["content"]
    url = next(part["image_url"]["url"] for part in content if part["type"] == "image_url")
    assert url.startswith("data:image/jpeg;base64,")
    decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))
    assert decoded.shape == (54, 96, 3) and decoded[:, :40, 0].mean() > 150
    prompt = next(part["text"] for part in content if part["type"] == "text")
    assert "8.0 m/s" in prompt and "Go straight" in prompt and "STOP, STRAIGHT" in prompt
    assert "the light is red" in prompt
    assert teacher.filter.stats() == {"accepted": 1, "rejected": 0, "reasons": {}}


def test_api_teacher_asks_again_after_a_rejected_reply_and_counts_it(sample: TeacherInput) -> None:
    replies = ["The road is clear, so we speed up.", "The light is red just ahead. So we come to a stop at the line."]
    with ChatServer(replies) as server:
        teacher = _teacher(server.url)
        assert teacher.explain(sample) == replies[1]
        assert len(server.requests) == 2
    assert teacher.filter.stats()["accepted"] == 1


def test_api_teacher_keeps_out_samples_it_cannot_explain(sample: TeacherInput) -> None:
    with ChatServer(["So we speed up.", "Nice weather today, let us speed up a bit."]) as server:
        teacher = _teacher(server.url)
        assert teacher.explain(sample) is None
    assert teacher.filter.stats() == {"accepted": 0, "rejected": 1, "reasons": {"speed_action": 1}}


def test_api_teacher_survives_server_errors(sample: TeacherInput) -> None:
    with ChatServer([500, 503]) as server:
        teacher = _teacher(server.url)
        assert teacher.explain(sample) is None
    assert sum(teacher.errors.values()) == 2
    assert teacher.filter.stats()["reasons"] == {"api_error": 1}


def test_clean_reply() -> None:
    assert clean_reply("<think> a\n b </think> <answer> STOP, STRAIGHT </answer>") == "a b"
    assert clean_reply("plain text <answer> KEEP, STRAIGHT </answer>") == "plain text"
    assert clean_reply(None) == ""
