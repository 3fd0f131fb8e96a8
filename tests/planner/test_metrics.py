from __future__ import annotations

import shutil

import pytest

from planner.actions import PATH_ACTIONS, SPEED_ACTIONS
from planner.metrics import JAVA_MISSING, alphadrive_planning_metrics, planning_metrics, reasoning_metrics


def ans(speed: str, path: str) -> str:
    return f"<think> t </think> <answer> {speed}, {path} </answer>"


def test_planning_metrics_counts_by_hand() -> None:
    refs = [ans("STOP", "STRAIGHT"), ans("STOP", "STRAIGHT"), ans("KEEP", "LEFT_TURN"), ans("ACCELERATE", "STRAIGHT")]
    preds = [ans("STOP", "STRAIGHT"), ans("KEEP", "STRAIGHT"), ans("KEEP", "LEFT_TURN"), "I am not sure"]
    m = planning_metrics(preds, refs)
    assert m["accuracy"] == pytest.approx(2 / 4)
    assert m["speed_accuracy"] == pytest.approx(2 / 4)
    assert m["path_accuracy"] == pytest.approx(3 / 4)
    assert m["parse_failure_rate"] == pytest.approx(1 / 4)
    # STOP: TP 1, FN 1 -> 2/3. KEEP: TP 1, FP 1 -> 2/3. ACCELERATE: FN 1 -> 0. STRAIGHT: TP 2, FN 1 -> 4/5.
    assert m["f1/STOP"] == pytest.approx(2 / 3)
    assert m["f1/KEEP"] == pytest.approx(2 / 3)
    assert m["f1/ACCELERATE"] == 0.0
    assert m["f1/STRAIGHT"] == pytest.approx(4 / 5)
    assert m["f1/LEFT_TURN"] == 1.0
    assert m["f1/RIGHT_CHANGE"] == 0.0  # never predicted nor true: undefined -> 0
    assert m["macro_f1/speed"] == pytest.approx((2 / 3 + 2 / 3 + 0.0) / 3)  # DECELERATE never occurs
    assert m["macro_f1/path"] == pytest.approx((4 / 5 + 1.0) / 2)
    assert set(m) >= {f"f1/{a}" for a in SPEED_ACTIONS + PATH_ACTIONS}
    assert all(0.0 <= v <= 1.0 for v in m.values())


def test_predicting_every_action_is_not_rewarded() -> None:
    refs = [ans("STOP", "STRAIGHT"), ans("KEEP", "LEFT_TURN")]
    shotgun = f"<answer> {', '.join(SPEED_ACTIONS + PATH_ACTIONS)} </answer>"
    honest = planning_metrics(refs, refs)
    gamed = planning_metrics([shotgun, shotgun], refs)
    assert honest["accuracy"] == 1.0 and gamed["accuracy"] == 0.0
    assert gamed["macro_f1/speed"] < honest["macro_f1/speed"]
    assert gamed["parse_failure_rate"] == 1.0


def test_planning_metrics_rejects_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="2 predictions but 1 references"):
        planning_metrics(["a", "b"], ["c"])


def test_reasoning_metrics_rank_closer_reasoning_higher() -> None:
    refs = [
        "<think> the light ahead is red so we stop at the line </think> <answer> STOP, STRAIGHT </answer>",
        "<think> the road ahead is clear so we keep our speed </think> <answer> KEEP, STRAIGHT </answer>",
        "<think> a pedestrian is crossing ahead so we slow down </think> <answer> DECELERATE, STRAIGHT </answer>",
    ]
    close = [
        "<think> the light ahead is red so we stop </think> <answer> STOP, STRAIGHT </answer>",
        "<think> the road is clear so we keep our speed </think> <answer> KEEP, STRAIGHT </answer>",
        "<think> a pedestrian is crossing so we slow down </think> <answer> DECELERATE, STRAIGHT </answer>",
    ]
    far = ["<think> bananas are yellow </think>", "<think> music plays loudly </think>", "<think> hello </think>"]
    good, bad = reasoning_metrics(close, refs), reasoning_metrics(far, refs)
    assert good["BLEU-4"] > 0.3 > bad["BLEU-4"]
    assert good["CIDEr"] > bad["CIDEr"]
    if shutil.which("java"):
        assert good["METEOR"] > bad["METEOR"] >= 0.0
    else:
        assert good["METEOR"] is None and good["METEOR_error"] == JAVA_MISSING


def test_reasoning_metrics_without_java_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    out = reasoning_metrics(["<think> a b c d e </think>"], [["<think> a b c d e </think>", "a b"]])
    assert out["METEOR"] is None and "Java" in out["METEOR_error"]
    assert out["BLEU-4"] == pytest.approx(1.0, abs=1e-6)


def test_alphadrive_protocol_counts_substrings_over_the_whole_output() -> None:
    refs = [ans("STOP", "STRAIGHT"), ans("KEEP", "LEFT_TURN"), ans("DECELERATE", "STRAIGHT")]
    preds = [
        "<think> no need to STOP here, keep going STRAIGHT </think> <answer> KEEP, STRAIGHT </answer>",
        "<answer> KEEP, LEFT_TURN </answer>",
        "the car STOPPED; I decelerate",  # no answer tags, lower-case decelerate
    ]
    standard, lenient = planning_metrics(preds, refs), alphadrive_planning_metrics(preds, refs)
    # standard: only the second is right; the first answered KEEP, the third nothing
    assert standard["accuracy"] == pytest.approx(1 / 3) and standard["parse_failure_rate"] == pytest.approx(1 / 3)
    # substring matches over the whole output: first {STOP, STRAIGHT, KEEP} (STOP only in the reasoning) -> right;
    # second {KEEP, LEFT_TURN} -> right; third {STOP} (inside "STOPPED") -> wrong
    assert lenient["accuracy"] == pytest.approx(2 / 3)
    assert lenient["speed_accuracy"] == pytest.approx(2 / 3) and lenient["path_accuracy"] == pytest.approx(2 / 3)
    # STOP: TP 1 (first), FP 1 (third) -> 2/3; KEEP: TP 1, FP 1 -> 2/3; DECELERATE: FN 1 -> 0
    assert lenient["f1/STOP"] == pytest.approx(2 / 3) and lenient["f1/KEEP"] == pytest.approx(2 / 3)
    assert lenient["f1/DECELERATE"] == 0.0 and lenient["parse_failure_rate"] == 0.0
