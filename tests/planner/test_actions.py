from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from planner.actions import PATH_ACTIONS, PLAIN_WORDS, SPEED_ACTIONS, MetaAction, format_answer, parse_answer, spoken


def test_vocabulary_is_the_design_words() -> None:
    assert SPEED_ACTIONS == ("KEEP", "ACCELERATE", "DECELERATE", "STOP")
    assert PATH_ACTIONS == ("STRAIGHT", "LEFT_TURN", "RIGHT_TURN", "LEFT_CHANGE", "RIGHT_CHANGE")


def test_meta_action_rejects_unknown_words() -> None:
    with pytest.raises(ValueError, match="speed"):
        MetaAction("FAST", "STRAIGHT")
    with pytest.raises(ValueError, match="path"):
        MetaAction("KEEP", "UTURN")


def test_canonical_answer_round_trips() -> None:
    text = format_answer(MetaAction("STOP", "STRAIGHT"), "red light ahead")
    assert text == "<think> red light ahead </think> <answer> STOP, STRAIGHT </answer>"
    parsed = parse_answer(text)
    assert parsed.speed == {"STOP"} and parsed.path == {"STRAIGHT"}
    assert parsed.think == "red light ahead"
    assert parsed.format_ok
    assert parsed.action == MetaAction("STOP", "STRAIGHT")
    assert format_answer(MetaAction("KEEP", "LEFT_TURN")) == "<answer> KEEP, LEFT_TURN </answer>"


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("<think> a </think> <answer> KEEP, STRAIGHT </answer>", True),
        ("  \n<think>a</think>\n<answer>KEEP, STRAIGHT</answer>\n", True),
        ("<answer> KEEP, STRAIGHT </answer>", False),
        ("<think> a </think>", False),
        ("<answer> KEEP, STRAIGHT </answer> <think> a </think>", False),
        ("sure! <think> a </think> <answer> KEEP, STRAIGHT </answer>", False),
        ("<think> a </think> <answer> KEEP, STRAIGHT </answer> done", False),
    ],
)
def test_format_ok_only_for_think_then_answer(text: str, ok: bool) -> None:
    assert parse_answer(text).format_ok is ok


def test_words_match_whole_words_inside_answer_span_only() -> None:
    parsed = parse_answer("<think> we should STOP? no, KEEPING is fine </think> <answer> KEEP, LEFT_TURN </answer>")
    assert parsed.speed == {"KEEP"}
    assert parsed.path == {"LEFT_TURN"}
    # Without an <answer> span the whole text is searched, still by whole words.
    assert parse_answer("STOPPED then STOP and LEFT_TURNS or RIGHT_CHANGE").speed == {"STOP"}
    assert parse_answer("STOPPED then STOP and LEFT_TURNS or RIGHT_CHANGE").path == {"RIGHT_CHANGE"}
    assert parse_answer("<answer> stop, straight </answer>").speed == frozenset()  # upper-case vocabulary only


def test_several_words_are_kept_as_sets() -> None:
    parsed = parse_answer("<answer> KEEP, STOP, STRAIGHT, LEFT_CHANGE </answer>")
    assert parsed.speed == {"KEEP", "STOP"}
    assert parsed.path == {"STRAIGHT", "LEFT_CHANGE"}
    assert parsed.action is None


def test_chat_completion_as_trl_passes_it() -> None:
    completion = [{"role": "assistant", "content": "<think> clear </think> <answer> ACCELERATE, STRAIGHT </answer>"}]
    parsed = parse_answer(completion)
    assert parsed.action == MetaAction("ACCELERATE", "STRAIGHT") and parsed.format_ok
    typed = [{"role": "assistant", "content": [{"type": "text", "text": "<answer> STOP, RIGHT_TURN </answer>"}]}]
    assert parse_answer(typed).action == MetaAction("STOP", "RIGHT_TURN")
    user_only = [{"role": "user", "content": "<answer> STOP, RIGHT_TURN </answer>"}]
    assert parse_answer(user_only).action is None


@pytest.mark.parametrize(
    "text", ["", "   ", None, "<think>", "</answer><answer>", "ß∂ƒ©˙∆˚¬ 🚗 STOP🚦", "<answer>" * 5000]
)
def test_malformed_input_never_raises(text: str | None) -> None:
    parsed = parse_answer(text)
    assert parsed.format_ok is False


def test_very_long_text_is_parsed() -> None:
    text = "<think> " + "the road is clear " * 20000 + "</think> <answer> KEEP, STRAIGHT </answer>"
    assert parse_answer(text).action == MetaAction("KEEP", "STRAIGHT")
    assert parse_answer(text).format_ok


@given(st.text(max_size=400))
def test_any_text_parses_to_vocabulary_subsets(text: str) -> None:
    parsed = parse_answer(text)
    assert parsed.speed <= set(SPEED_ACTIONS)
    assert parsed.path <= set(PATH_ACTIONS)


@given(st.sampled_from(SPEED_ACTIONS), st.sampled_from(PATH_ACTIONS), st.text(alphabet="abc xyz.,", max_size=60))
def test_format_then_parse_is_identity(speed: str, path: str, reasoning: str) -> None:
    action = MetaAction(speed, path)
    parsed = parse_answer(format_answer(action, reasoning or "ok"))
    assert parsed.action == action and parsed.format_ok


def test_actions_in_a_drivers_words() -> None:
    assert spoken(MetaAction("STOP", "STRAIGHT")) == "stop and go straight"
    assert spoken(MetaAction("DECELERATE", "LEFT_CHANGE")) == "slow down and change to the left lane"
    assert set(PLAIN_WORDS) == set(SPEED_ACTIONS) | set(PATH_ACTIONS)
