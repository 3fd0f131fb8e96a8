"""Rollout collection on the real embedded simulator: a loadable dataset, resume after SIGKILL, the behaviour policy,
label balancing and the kept-out samples of a rejecting teacher."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest
from chat_server import ChatServer
from datasets import load_dataset
from hydra import compose, initialize_config_dir
from PIL import Image
from process_helpers import Processes

from planner.actions import PATH_ACTIONS, SPEED_ACTIONS, format_answer, parse_answer
from planner.config import ConfigError, from_mapping
from planner.prompt import build_prompt
from training.behavior import BehaviorConfig, BehaviorPolicy
from training.collect import CollectConfig, collect, load_collect_config, plan_episodes, split_of
from training.dataset import FIELDS, load_planning_dataset, to_grpo_format, to_sft_format
from training.locking import WORKERS_LOCK_FILE, exclusive

REPO = Path(__file__).resolve().parents[2]
SUITE = ("red_light_stop", "right_turn", "unprotected_left_turn", "broken_down_vehicle", "truck_with_cones")
SUITE += ("lead_vehicle_hard_brake",)


def small_config(root: Path, **overrides: Any) -> CollectConfig:
    data: dict[str, Any] = {
        "output_dir": str(root),
        "workers": 2,
        "progress": False,
        "validation_fraction": 0.3,
        "sim": {"name": "embedded", "render": True, "camera": {"width": 96, "height": 54}},
        "sources": {"suite": list(SUITE), "suite_seeds": 1, "procedural_episodes": 2},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return from_mapping(CollectConfig, data, "collect")


def read_rows(root: Path) -> list[dict[str, Any]]:
    rows = []
    for shard in sorted(root.glob("*/*.jsonl")):
        text = shard.read_text(encoding="utf-8")
        assert text.endswith("\n"), f"{shard} is truncated"
        rows += [json.loads(line) | {"_split": shard.parent.name} for line in text.splitlines()]
    return rows


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    root = tmp_path_factory.mktemp("collected") / "data"
    summary = collect(small_config(root), log=lambda *_: None)
    return root, summary


def test_collected_dataset_loads_everywhere_and_covers_the_vocabulary(collected: tuple[Path, dict[str, Any]]) -> None:
    root, summary = collected
    rows = read_rows(root)
    assert 300 <= len(rows) == summary["samples"]
    assert {r["speed_action"] for r in rows} == set(SPEED_ACTIONS)
    assert len({r["path_action"] for r in rows}) >= 3
    by_files = load_dataset("json", data_files={s: str(root / s / "*.jsonl") for s in ("train", "validation")})
    # README.md's `configs` points datasets at the shards. datasets caches a card-configured local folder under its
    # folder name and reuses that cache for another folder of the same name (or this one, changed): a private
    # cache_dir keeps this check honest (the README says how users avoid the stale cache).
    by_card = load_dataset(str(root), cache_dir=str(root.parent / "hf-cache"))
    assert by_card["train"].num_rows == by_files["train"].num_rows
    assert by_files["train"].num_rows + by_files["validation"].num_rows == len(rows)
    data = load_planning_dataset(root)
    assert set(FIELDS) <= set(data["train"].column_names)
    first = data["train"][0]
    assert first["image"].size == (96, 54)
    assert to_sft_format(data["train"].select(range(4)))[0]["completion"][0]["content"][0]["text"].startswith("<think>")
    assert "prompt" in to_grpo_format(data["validation"].select(range(2))).column_names


def test_rows_follow_the_design_fields(collected: tuple[Path, dict[str, Any]]) -> None:
    root, _ = collected
    rows = read_rows(root)
    keys = [(r["episode"], r["step"]) for r in rows]
    assert len(keys) == len(set(keys))
    for row in rows[::7]:
        action = parse_answer(row["solution"]).action
        assert action is not None and row["solution"] == format_answer(action)
        assert (action.speed, action.path) == (row["speed_action"], row["path_action"])
        assert row["thinking"].startswith("<think> ") and row["thinking"].endswith(" </think>")
        assert row["problem"] == build_prompt(row["speed"], row["navigation"])
        assert row["_split"] == split_of(row["seed"], 0.3)
        assert row["tags"] and isinstance(row["seed"], int)
        assert row["motion_action"] == "" or parse_answer(row["motion_action"]).action is not None
        image = Image.open(root / row["image"])
        assert image.size == (96, 54) and np.asarray(image).std() > 3.0  # a rendered frame
        assert json.loads(row["facts"])["decision"]


def test_summary_counts_actions_tags_and_agreement(collected: tuple[Path, dict[str, Any]]) -> None:
    root, summary = collected
    rows = read_rows(root)
    assert summary["speed_action"] == {a: sum(r["speed_action"] == a for r in rows) for a in SPEED_ACTIONS}
    assert summary["path_action"] == {a: sum(r["path_action"] == a for r in rows) for a in PATH_ACTIONS}
    assert summary["tag"]["procedural"] == sum(r["source"] == "procedural" for r in rows)
    assert summary["teacher"]["accepted"] == len(rows)
    agreement = summary["motion_agreement"]
    assert 0 < agreement["n"] <= len(rows) and 0.0 <= agreement["joint_accuracy"] <= 1.0
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["summary"] == json.loads(json.dumps(summary)) and len(manifest["episodes"]) == 8


def test_rerun_of_a_finished_collection_changes_nothing(collected: tuple[Path, dict[str, Any]]) -> None:
    root, summary = collected
    before = {p: p.stat().st_mtime_ns for p in root.glob("*/*.jsonl")}
    again = collect(small_config(root), log=lambda *_: None)
    assert again["samples"] == summary["samples"]
    assert {p: p.stat().st_mtime_ns for p in root.glob("*/*.jsonl")} == before


def _cli(root: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "training/collect.py",
        f"output_dir={root}",
        "workers=2",
        "progress=false",
        "sim.render=false",
        "sources.suite=[red_light_stop,truck_with_cones,right_turn,green_light_go]",
        "sources.suite_seeds=2",
        "sources.procedural_episodes=4",
        "hydra.run.dir=" + str(root.parent / "hydra"),
        *extra,
    ]


def kill_then_resume(processes: Processes, root: Path) -> list[dict[str, Any]]:
    """Start the collector, SIGKILL it (and its workers) once the first episode is committed, then rerun it."""
    proc = processes.start(_cli(root), cwd=REPO, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not any((root / "episodes").glob("*.json")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, "the collection finished before it could be interrupted"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the collector and its worker processes
        proc.wait()
    committed = {p.stem for p in (root / "episodes").glob("*.json")}
    assert 0 < len(committed) < 12
    for row in read_rows(root):  # what an interrupted collection leaves is readable as it is
        assert (root / row["image"]).is_file()
    assert processes.run(_cli(root), timeout=300, cwd=REPO).returncode == 0
    return read_rows(root)


def test_sigkill_during_collection_then_rerun_gives_no_duplicate_or_truncated_sample(
    processes: Processes, tmp_path: Path
) -> None:
    root = tmp_path / "data"
    rows = kill_then_resume(processes, root)
    keys = [(r["episode"], r["step"]) for r in rows]
    assert len(keys) == len(set(keys))
    assert not list(root.glob("images/.tmp-*")) and not list(root.glob("*/.*.tmp"))
    for row in rows:
        Image.open(root / row["image"]).verify()
    records = [json.loads(p.read_text()) for p in (root / "episodes").glob("*.json")]
    assert len(records) == 12
    assert sum(r["samples"] for r in records) == len(rows)
    for record in records:  # every episode's rows are all there, steps in order
        steps = [r["step"] for r in rows if r["episode"] == record["key"]]
        assert len(steps) == record["samples"] and steps == sorted(steps)


@pytest.mark.slow
def test_a_resumed_collection_equals_an_uninterrupted_one(processes: Processes, tmp_path: Path) -> None:
    rows = kill_then_resume(processes, tmp_path / "data")
    reference = tmp_path / "reference"
    assert processes.run(_cli(reference), timeout=300, cwd=REPO).returncode == 0
    for shard in sorted(reference.glob("*/*.jsonl")):
        assert (tmp_path / "data" / shard.relative_to(reference)).read_text() == shard.read_text()
    assert len(read_rows(reference)) == len(rows)


def test_second_collector_on_the_same_directory_is_refused(tmp_path: Path) -> None:
    with exclusive(tmp_path), pytest.raises(RuntimeError, match=rf"another collection \(pid {os.getpid()}\)"):
        collect(small_config(tmp_path), log=lambda *_: None)


def test_a_rerun_is_refused_while_a_worker_of_an_earlier_collection_still_writes(tmp_path: Path) -> None:
    with open(tmp_path / WORKERS_LOCK_FILE, "a") as held:
        fcntl.flock(held, fcntl.LOCK_SH)  # what a surviving worker holds
        with pytest.raises(RuntimeError, match="workers of an earlier collection"):
            collect(small_config(tmp_path), log=lambda *_: None)
    assert not (tmp_path / "episodes").exists()  # refused before anything was cleaned or written


def test_workers_die_with_a_collector_killed_by_sigkill(processes: Processes, tmp_path: Path) -> None:
    root = tmp_path / "data"
    proc = processes.start(_cli(root), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not any((root / "episodes").glob("*.json")):
        assert time.monotonic() < deadline and proc.poll() is None, "no episode was committed"
        time.sleep(0.05)
    workers = psutil.Process(proc.pid).children(recursive=True)
    assert len(workers) >= 2
    os.kill(proc.pid, signal.SIGKILL)  # the collector alone, as an out-of-memory kill would
    _, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, f"orphaned workers still running: {[p.pid for p in alive]}"
    committed = sorted(p.name for p in (root / "episodes").glob("*.json"))
    time.sleep(1.0)
    assert sorted(p.name for p in (root / "episodes").glob("*.json")) == committed


@pytest.mark.slow
def test_ray_workers_die_with_a_collector_killed_by_sigkill(processes: Processes, tmp_path: Path) -> None:
    """executor=ray on a local Ray: the collector's SIGKILL takes its Ray workers along (they die with their raylet,
    which dies with the collector), they release the workers lock, nothing is committed after, and a rerun finishes
    the collection on local workers."""
    root = tmp_path / "data"
    proc = processes.start(_cli(root, "executor=ray"), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while not any((root / "episodes").glob("*.json")):
        assert time.monotonic() < deadline and proc.poll() is None, "no episode was committed"
        time.sleep(0.05)
    family = psutil.Process(proc.pid).children(recursive=True)
    titles = {p: (p.cmdline() or [""])[0] for p in family}
    workers = [p for p, title in titles.items() if title.startswith("ray::") and not title.endswith("Agent")]
    assert len(workers) >= 2
    os.kill(proc.pid, signal.SIGKILL)
    _, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, f"Ray workers still running: {[p.pid for p in alive]}"
    committed = sorted(p.name for p in (root / "episodes").glob("*.json"))
    with exclusive(root):  # no process holds the workers lock any more
        pass
    time.sleep(1.0)
    assert sorted(p.name for p in (root / "episodes").glob("*.json")) == committed
    assert processes.run(_cli(root), timeout=300, cwd=REPO).returncode == 0
    assert len(list((root / "episodes").glob("*.json"))) == 12


def test_balance_drops_labels_and_a_rejecting_teacher_keeps_samples_out(tmp_path: Path) -> None:
    base = {
        "workers": 1,
        "sim": {"render": False},
        "sources": {"suite": ["truck_with_cones"], "procedural_episodes": 0},
    }
    summary = collect(small_config(tmp_path / "balanced", balance={"ACCELERATE": 0.0}, **base), log=lambda *_: None)
    assert summary["speed_action"]["ACCELERATE"] == 0 and summary["dropped_by_balance"] > 0
    assert summary["samples"] > 0
    strict = {"kind": "grounded", "filter": {"max_words": 3}}
    summary = collect(small_config(tmp_path / "strict", teacher=strict, **base), log=lambda *_: None)
    assert summary["samples"] == 0 and summary["teacher"]["rejected"] > 0
    assert summary["teacher"]["reasons"] == {"length": summary["teacher"]["rejected"]}
    assert not list((tmp_path / "strict").glob("*/*.jsonl"))


def test_behavior_policy_holds_perturbations_after_warmup() -> None:
    expert = np.array([0, 0])
    never = BehaviorPolicy(BehaviorConfig(perturb_prob=0.0), np.random.default_rng(0))
    assert all(np.array_equal(never.act(expert, k)[0], expert) for k in range(50))
    always = BehaviorPolicy(
        BehaviorConfig(perturb_prob=1.0, perturb_steps=(3, 3), warmup_steps=2, speed_only=1.0), np.random.default_rng(0)
    )
    actions = [always.act(expert, k)[0] for k in range(8)]
    assert np.array_equal(actions[0], expert) and np.array_equal(actions[1], expert)
    assert all(a[0] != 0 and a[1] == 0 for a in actions[2:])  # speed perturbed, the expert's path kept
    assert np.array_equal(actions[2], actions[3]) and np.array_equal(actions[3], actions[4])  # held 3 steps


def test_plan_is_fixed_and_config_is_strict() -> None:
    config = CollectConfig(validation_fraction=0.2)
    first, second = plan_episodes(config), plan_episodes(config)
    suite = len(list((REPO / "scenarios" / "suite").glob("*.yaml")))
    assert first == second and len({e.key for e in first}) == len(first) == suite * 2 + 20
    assert 0.05 < np.mean([e.split == "validation" for e in first]) < 0.4
    assert all(e.split == split_of(e.seed, 0.2) for e in first)
    with pytest.raises(ConfigError, match="workerz"):
        from_mapping(CollectConfig, {"workerz": 2})
    with pytest.raises(ConfigError, match="balance"):
        from_mapping(CollectConfig, {"balance": {"FAST": 0.5}})


def test_hydra_config_composes_into_the_typed_config() -> None:
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose(config_name="collect", overrides=["output_dir=/tmp/x", "teacher.kind=none"])
    config = load_collect_config(cfg)
    assert config.output_dir == "/tmp/x" and config.teacher.kind == "none"
    assert config.sim["camera"] == {"width": 480, "height": 270, "fov_deg": 90.0}
    assert config.labeling.horizon_s == 3.0 and config.behavior.perturb_steps == (2, 6)


def explain_from_request(body: dict[str, Any]) -> str:
    """A reply built from what the request carries: the deciding cause and the action in words."""
    prompt = next(p["text"] for p in body["messages"][-1]["content"] if p["type"] == "text")
    line = next(x for x in prompt.splitlines() if x.startswith("Action taken: "))
    speed_words, path_words = line.split(" (", 1)[1].rsplit(").", 1)[0].split("; ")
    cause = prompt.split("What decided it: ")[1].split("\n")[0].split(", so ")[0].split("; ")[0]
    return f"<think> {cause.capitalize()}. So we {speed_words} and {path_words}. </think>"


def test_collection_with_the_api_teacher_against_a_local_server(tmp_path: Path) -> None:
    with ChatServer(respond=explain_from_request) as server:
        teacher = {"kind": "api", "api": {"base_url": server.url, "model": "local-vlm", "api_key": "x"}}
        sources = {"suite": ["red_light_stop"], "procedural_episodes": 0}
        config = small_config(
            tmp_path / "data", workers=1, max_steps=12, teacher=teacher, sources=sources, sim={"render": False}
        )
        summary = collect(config, log=lambda *_: None)
    rows = read_rows(tmp_path / "data")
    assert summary["teacher"] == {"accepted": len(rows), "rejected": 0, "reasons": {}} and len(rows) > 5
    assert len(server.requests) >= len(rows)
    assert all(" So we " in r["thinking"] and r["thinking"].endswith(" </think>") for r in rows)


def _dataset_bytes(root: Path) -> dict[str, bytes]:
    files = [*root.glob("images/*/*"), *root.glob("train/*.jsonl"), *root.glob("validation/*.jsonl")]
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(files)}


@pytest.mark.slow
def test_one_worker_and_two_workers_write_identical_datasets(tmp_path: Path) -> None:
    """Episodes run in whichever worker process is free; what a process rendered before must not change the pixels."""
    datasets = []
    for workers in (1, 2):
        root = tmp_path / f"w{workers}"
        config = small_config(
            root,
            workers=workers,
            sim={"camera": {"width": 480, "height": 270}},
            sources={"suite": ["red_light_stop", "truck_with_cones", "jaywalker"], "procedural_episodes": 4},
        )
        collect(config, log=lambda *_: None)
        datasets.append(_dataset_bytes(root))
    assert len(datasets[0]) > 300
    assert datasets[0].keys() == datasets[1].keys()
    differing = [name for name in datasets[0] if datasets[0][name] != datasets[1][name]]
    assert not differing, f"{len(differing)} files differ, e.g. {differing[:3]}"


def test_two_or_more_episodes_always_include_a_validation_episode() -> None:
    for seed in range(40):
        for n in (2, 3, 5):
            config = small_config(Path("/unused"), seed=seed, sources={"suite": [], "procedural_episodes": n})
            splits = [e.split for e in plan_episodes(config)]
            assert "validation" in splits and "train" in splits, (seed, n, splits)
    one = small_config(Path("/unused"), sources={"suite": [], "procedural_episodes": 1}, validation_fraction=0.15)
    assert len(plan_episodes(one)) == 1
    none = small_config(Path("/unused"), sources={"suite": [], "procedural_episodes": 4}, validation_fraction=0.0)
    assert {e.split for e in plan_episodes(none)} == {"train"}


def test_dagger_rounds_add_learner_driven_expert_labelled_samples(tmp_path: Path) -> None:
    """Round 0 with the expert, round 1 with a learner (here the always-accelerate planner) driving every step: the
    rounds share one dataset, each sample names its round and who drove, and the labels stay the expert's."""
    root = tmp_path / "data"
    base = {"workers": 1, "sim": {"render": False}, "max_steps": 30}
    base["sources"] = {"suite": ["red_light_stop"], "suite_seeds": 1, "procedural_episodes": 1}
    collect(small_config(root, **base), log=lambda *_: None)
    learner = {"learner": {"name": "constant", "speed": "ACCELERATE", "path": "STRAIGHT"}, "learner_prob": 1.0}
    summary = collect(small_config(root, **base, round=1, behavior=learner), log=lambda *_: None)
    rows = read_rows(root)
    by_round = {r["round"] for r in rows}
    assert by_round == {0, 1} and summary["rounds"] == {"0": summary["rounds"]["0"], "1": summary["rounds"]["1"]}
    assert {r["behavior"] for r in rows if r["round"] == 1} == {"learner"}
    assert {r["behavior"] for r in rows if r["round"] == 0} <= {"expert", "perturbed"}
    learner_rows = [r for r in rows if r["round"] == 1]
    assert all(r["executed_action"] == "ACCELERATE, STRAIGHT" for r in learner_rows)
    assert any(r["speed_action"] in ("STOP", "DECELERATE") for r in learner_rows)  # the expert's label, not the act
    assert len({r["episode"] for r in rows}) == 4 and all(r["episode"].startswith("r1-") for r in learner_rows)
    card = (root / "README.md").read_text()
    assert "| round | samples |" in card and "| learner |" in card


def test_a_privileged_planner_cannot_be_the_learner(tmp_path: Path) -> None:
    config = small_config(
        tmp_path, workers=1, behavior={"learner": {"name": "expert"}}, sources={"procedural_episodes": 1}
    )
    with pytest.raises(ConfigError, match="a learner must drive from the camera"):
        collect(config, log=lambda *_: None)


def test_collection_renders_only_the_frames_it_keeps_and_writes_the_same_dataset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sim.embedded.camera import CameraRenderer

    counts = {"frames": 0}
    render = CameraRenderer.render

    def counting(self: CameraRenderer, *args: Any, **kwargs: Any) -> Any:
        counts["frames"] += 1
        return render(self, *args, **kwargs)

    monkeypatch.setattr(CameraRenderer, "render", counting)
    datasets, frames, samples = {}, {}, {}
    for images in ("every_step", "on_request"):  # on_request is what collection picks without a learner
        counts["frames"] = 0
        root = tmp_path / images
        config = small_config(
            root,
            workers=1,
            env={"images": images},
            sample_every=3,
            balance={"KEEP": 0.5},
            sources={"suite": ["truck_with_cones"], "procedural_episodes": 0},
        )
        samples[images] = collect(config, log=lambda *_: None)["samples"]
        frames[images] = counts["frames"]
        datasets[images] = _dataset_bytes(root)
    assert samples["on_request"] == samples["every_step"] > 5
    assert datasets["on_request"] == datasets["every_step"]  # the same rows and the same pixels
    assert frames["on_request"] == samples["on_request"]
    assert frames["every_step"] > 3 * frames["on_request"]
