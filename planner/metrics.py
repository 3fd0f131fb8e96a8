"""Planning metrics (accuracy, per-class F1) and reasoning metrics (BLEU-4, CIDEr, METEOR) for meta-action answers.

Used by offline evaluation, GRPO logging and closed-loop reports alike. Per-class F1 treats each answer as a set of
predicted words: for class c, a true positive is c predicted and true, a false positive c predicted but not true, a
false negative c true but not predicted; F1 = 2TP / (2TP + FP + FN), 0 when the denominator is 0.

`planning_metrics` is the standard, set-based definition on the parsed `<answer>` (whole words; an answer must
name exactly one speed and one path word to be right). `alphadrive_planning_metrics` follows the released
AlphaDrive evaluation instead: a class counts as predicted when its word occurs anywhere in the whole output,
reasoning included, as a substring; a sample's speed (path) is right when the true word occurs. It is more lenient
(an output naming several actions can be right), so its numbers are not comparable with the standard ones.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from typing import Any

from planner.actions import PATH_ACTIONS, SPEED_ACTIONS, completion_text, parse_answer
from planner.rewards import Completion

JAVA_MISSING = "METEOR needs a Java runtime (`java` on PATH), e.g. `apt-get install default-jre-headless`"


def _class_f1(tp: int, fp: int, fn: int) -> float:
    denominator = 2 * tp + fp + fn
    return 2 * tp / denominator if denominator else 0.0


def _f1_table(counts: dict[str, list[int]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for action, (tp, fp, fn) in counts.items():
        out[f"f1/{action}"] = _class_f1(tp, fp, fn)
    for group, vocab in (("speed", SPEED_ACTIONS), ("path", PATH_ACTIONS)):
        seen = [a for a in vocab if sum(counts[a]) > 0]
        out[f"macro_f1/{group}"] = sum(out[f"f1/{a}"] for a in seen) / len(seen) if seen else 0.0
    return out


def _count(counts: dict[str, list[int]], predicted: frozenset[str], true: frozenset[str]) -> None:
    for action in predicted & true:
        counts[action][0] += 1
    for action in predicted - true:
        counts[action][1] += 1
    for action in true - predicted:
        counts[action][2] += 1


def alphadrive_planning_metrics(
    predictions: Sequence[Completion], references: Sequence[Completion]
) -> dict[str, float]:
    """The released AlphaDrive evaluation's counting: substring matches over the whole output (see the module doc).
    Same keys as `planning_metrics`."""
    if len(predictions) != len(references):
        raise ValueError(f"got {len(predictions)} predictions but {len(references)} references")
    n = len(predictions)
    counts = {a: [0, 0, 0] for a in SPEED_ACTIONS + PATH_ACTIONS}
    both = speed_ok = path_ok = failures = 0
    for prediction, reference in zip(predictions, references, strict=True):
        text, r = completion_text(prediction), parse_answer(reference)
        found = frozenset(a for a in SPEED_ACTIONS + PATH_ACTIONS if a in text)
        speed_hit = bool(r.speed) and r.speed <= found
        path_hit = bool(r.path) and r.path <= found
        speed_ok, path_ok, both = speed_ok + speed_hit, path_ok + path_hit, both + (speed_hit and path_hit)
        failures += not found
        _count(counts, found, r.speed | r.path)
    return {
        "accuracy": both / n if n else 0.0,
        "speed_accuracy": speed_ok / n if n else 0.0,
        "path_accuracy": path_ok / n if n else 0.0,
        "parse_failure_rate": failures / n if n else 0.0,
        **_f1_table(counts),
    }


def planning_metrics(predictions: Sequence[Completion], references: Sequence[Completion]) -> dict[str, float]:
    """Fractions in [0, 1]: accuracy (both sets exactly right), speed/path accuracy, f1/<ACTION> for every action,
    macro_f1/speed and macro_f1/path (mean over the classes that occur in the references or predictions), and
    parse_failure_rate (answers that do not name exactly one speed and one path word)."""
    if len(predictions) != len(references):
        raise ValueError(f"got {len(predictions)} predictions but {len(references)} references")
    n = len(predictions)
    counts = {a: [0, 0, 0] for a in SPEED_ACTIONS + PATH_ACTIONS}  # tp, fp, fn
    both = speed_ok = path_ok = failures = 0
    for prediction, reference in zip(predictions, references, strict=True):
        p, r = parse_answer(prediction), parse_answer(reference)
        speed_ok += p.speed == r.speed
        path_ok += p.path == r.path
        both += p.speed == r.speed and p.path == r.path
        failures += p.action is None
        _count(counts, p.speed | p.path, r.speed | r.path)
    return {
        "accuracy": both / n if n else 0.0,
        "speed_accuracy": speed_ok / n if n else 0.0,
        "path_accuracy": path_ok / n if n else 0.0,
        "parse_failure_rate": failures / n if n else 0.0,
        **_f1_table(counts),
    }


_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def _tokenize(text: str) -> str:
    """Lower-case words joined by single spaces (the caption scorers expect pre-tokenised text)."""
    return " ".join(_TOKEN.findall(text.lower()))


def reasoning_text(completion: Completion) -> str:
    """The reasoning of an answer: the `<think>` span when present, else the whole text."""
    parsed = parse_answer(completion)
    if parsed.think is not None:
        return parsed.think
    return completion if isinstance(completion, str) else ""


def reasoning_metrics(
    hypotheses: Sequence[Completion], references: Sequence[Completion | Sequence[str]], meteor: bool = True
) -> dict[str, Any]:
    """BLEU-4, CIDEr and METEOR of the hypotheses' reasoning against the references, with pycocoevalcap's scorers.

    A reference may be one text or a list of texts. When Java is missing, METEOR is None and `METEOR_error` says
    why; no number is made up."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider

    if len(hypotheses) != len(references):
        raise ValueError(f"got {len(hypotheses)} hypotheses but {len(references)} references")
    if not hypotheses:
        raise ValueError("reasoning_metrics needs at least one hypothesis")
    res = {i: [_tokenize(reasoning_text(h)) or "empty"] for i, h in enumerate(hypotheses)}
    gts: dict[int, list[str]] = {}
    for i, ref in enumerate(references):
        texts = [ref] if isinstance(ref, str) or not _is_text_list(ref) else list(ref)
        gts[i] = [_tokenize(reasoning_text(t)) or "empty" for t in texts]
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    cider, _ = Cider().compute_score(gts, res)
    out: dict[str, Any] = {"BLEU-4": float(bleu[3]), "CIDEr": float(cider)}
    if not meteor:
        out["METEOR"] = None
        out["METEOR_error"] = "METEOR disabled"
    elif shutil.which("java") is None:
        out["METEOR"] = None
        out["METEOR_error"] = JAVA_MISSING
    else:
        out["METEOR"] = _meteor(gts, res)
    return out


def _is_text_list(value: object) -> bool:
    return isinstance(value, Sequence) and all(isinstance(v, str) for v in value)


def _meteor(gts: dict[int, list[str]], res: dict[int, list[str]]) -> float:
    from pycocoevalcap.meteor.meteor import Meteor

    scorer = Meteor()
    try:
        score, _ = scorer.compute_score(gts, res)
    finally:
        scorer.meteor_p.stdin.close()
        scorer.meteor_p.kill()
        scorer.meteor_p.wait()
    return float(score)
