"""training/multimodality.py: which answers of a state count as good."""

from __future__ import annotations

from training.multimodality import MultimodalityConfig, good_actions
from training.outcome import TERMS


def terms(**values: float) -> dict[str, float]:
    return {**dict.fromkeys(TERMS, 0.0), **values}


def test_good_answers_are_clean_and_make_enough_progress() -> None:
    scored = {
        "KEEP, STRAIGHT": terms(progress=1.0),
        "KEEP, LEFT_CHANGE": terms(progress=0.9),
        "ACCELERATE, STRAIGHT": terms(progress=1.4, red_light=1.0),
        "STOP, STRAIGHT": terms(progress=0.1),
        "DECELERATE, STRAIGHT": terms(progress=0.8, ttc=0.9),
        "KEEP, RIGHT_CHANGE": None,  # the rollout failed
    }
    assert good_actions(scored, MultimodalityConfig()) == {"KEEP, STRAIGHT", "KEEP, LEFT_CHANGE"}
    assert good_actions(scored, MultimodalityConfig(min_progress_share=0.05)) == {
        "KEEP, STRAIGHT", "KEEP, LEFT_CHANGE", "STOP, STRAIGHT"
    }  # fmt: skip


def test_when_nothing_can_move_every_clean_answer_is_good() -> None:
    scored = {"STOP, STRAIGHT": terms(), "DECELERATE, STRAIGHT": terms(), "ACCELERATE, STRAIGHT": terms(
        collision_vehicle=1.0, progress=0.3)}  # fmt: skip
    assert good_actions(scored, MultimodalityConfig()) == {"STOP, STRAIGHT", "DECELERATE, STRAIGHT"}
    assert good_actions({"KEEP, STRAIGHT": terms(off_road=1.0)}, MultimodalityConfig()) == set()
