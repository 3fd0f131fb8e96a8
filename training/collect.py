"""Roll out scenarios into a MetaAD-style planning dataset that SFT, GRPO and evaluation read unchanged.

    python training/collect.py output_dir=data/collected                       # suite x 2 seeds + 20 procedural
    python training/collect.py output_dir=data/big sources.procedural_episodes=500 workers=2
    python training/collect.py output_dir=data/collected teacher.kind=api teacher.api.base_url=http://host:8000/v1

Episodes come from the scenario suite (several run seeds each, optionally another weather) and from randomised
procedural towns (training/procedural.py). A behaviour policy mixes the expert with held perturbations; every kept
step is labelled with the expert's meta-action, its reasoning comes from a teacher (training/reasoning.py), and the
motion labeller's reading of the next seconds is stored beside it. Episodes run in worker processes and are
committed one by one (training/rollout.py); rerunning with the same output directory resumes where it stopped. The
split is fixed per episode seed. At the end the label distribution is summarised per action, tag and split, and
written with every episode record to `manifest.json`.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from planner.actions import PATH_ACTIONS, SPEED_ACTIONS
from planner.config import from_mapping
from scenarios import list_suite
from sim.core import WEATHER_PRESETS
from sim.fanout import Done, RayConfig, Task, check_executor, fan_out
from training.behavior import BehaviorConfig
from training.labeling import LabelConfig, dataset_agreement
from training.locking import exclusive, hold_workers_lock
from training.procedural import ProceduralConfig
from training.reasoning import TeacherConfig
from training.rollout import (
    EPISODES_DIR,
    IMAGES_DIR,
    TRAJECTORIES_DIR,
    Episode,
    run_episode,
    stable_unit,
    write_atomic,
)

SPLITS = ("train", "validation")
ROUND_SEED_STRIDE = 100_000  # family variant seeds of DAgger round r start r strides after `first_seed`


@dataclass(frozen=True)
class FamilySourceConfig:
    """Seeded variants of scenario families (scenarios/families.py)."""

    names: tuple[str, ...] = ()  # family names, or ("all",) / "all" for every family
    variants: int = 0  # variants per family
    first_seed: int = 0  # variant seeds first_seed .. first_seed + variants - 1 (keep others for evaluation)
    towns: tuple[str, ...] | None = None  # draw only in these towns (None: every town of each family)

    def __post_init__(self) -> None:
        if isinstance(self.names, str):
            object.__setattr__(self, "names", (self.names,))
        if isinstance(self.towns, str):
            object.__setattr__(self, "towns", (self.towns,))
        if self.variants < 0:
            raise ValueError(f"sources.families.variants must be >= 0, got {self.variants}")

    def family_names(self) -> list[str]:
        """The families to draw from; with `towns`, only those that can be played in one of them."""
        from scenarios.families import list_families, town_names

        known = list_families()
        names = known if "all" in self.names else list(self.names)
        unknown = sorted(set(names) - set(known))
        if unknown:
            raise ValueError(f"sources.families.names: unknown families {unknown}; known: {', '.join(known)}")
        if self.towns is None:
            return names
        return [n for n in names if set(town_names(n)) & set(self.towns)]


@dataclass(frozen=True)
class SourceConfig:
    suite: tuple[str, ...] = ("suite",)  # suite names, YAML paths, or "suite" for the whole bundled suite
    suite_seeds: int = 2  # run seeds per suite scenario
    suite_weather: float = 0.3  # chance that a suite episode runs in another weather preset
    procedural_episodes: int = 20
    procedural: ProceduralConfig = field(default_factory=ProceduralConfig)
    families: FamilySourceConfig = field(default_factory=FamilySourceConfig)


@dataclass(frozen=True)
class CollectConfig:
    output_dir: str = "data/collected"
    seed: int = 0  # every episode seed derives from it
    workers: int = 2  # local: episode processes (1 runs in this process) | ray: episodes in flight
    executor: str = "local"  # local: worker processes on this machine | ray: Ray tasks (a local Ray, or ray.address)
    ray: RayConfig = field(default_factory=RayConfig)
    sources: SourceConfig = field(default_factory=SourceConfig)
    sim: Mapping[str, Any] = field(default_factory=lambda: {"name": "embedded", "render": True})
    env: Mapping[str, Any] = field(default_factory=dict)  # sim.env.DriveEnvConfig fields except sim/scenarios
    sample_every: int = 1  # keep every n-th planning step
    stall_steps: int = 40  # end an episode after this many steps without route progress (longer than a red phase)
    max_steps: int | None = None  # per episode
    validation_fraction: float = 0.15
    image_format: str = "png"  # png | jpg
    png_compress_level: int = 1  # 0-9: fast and still lossless
    jpeg_quality: int = 95
    balance: Mapping[str, float] = field(default_factory=dict)  # keep probability per action word, e.g. KEEP: 0.5
    behavior: BehaviorConfig = field(default_factory=BehaviorConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    labeling: LabelConfig = field(default_factory=LabelConfig)
    progress: bool = True
    round: int = 0  # DAgger round: episodes of later rounds get their own keys and seeds and add to the dataset
    snapshots: bool = False  # keep every sample's simulator state (for outcome rewards: training/outcome.py)

    def __post_init__(self) -> None:
        if self.workers < 1 or self.sample_every < 1 or self.stall_steps < 1:
            raise ValueError("workers, sample_every and stall_steps must be >= 1")
        check_executor(self.executor, self.workers)
        if not 0.0 <= self.validation_fraction <= 1.0:
            raise ValueError(f"validation_fraction must be in [0, 1], got {self.validation_fraction}")
        if self.image_format not in ("png", "jpg"):
            raise ValueError(f"image_format must be png or jpg, got {self.image_format!r}")
        vocabulary = set(SPEED_ACTIONS) | set(PATH_ACTIONS)
        bad = {k: v for k, v in self.balance.items() if k not in vocabulary or not 0.0 <= float(v) <= 1.0}
        if bad:
            raise ValueError(f"balance: keys must be action words and values in [0, 1], got {bad}")
        if {"sim", "scenarios"} & set(self.env):
            raise ValueError("env: give the simulator under `sim`; scenarios come from `sources`")


def load_collect_config(cfg: Any) -> CollectConfig:
    from planner.config import plain

    data = dict(plain(cfg))
    data.pop("hydra", None)
    return from_mapping(CollectConfig, data, "collect")


def split_of(seed: int, validation_fraction: float) -> str:
    return "validation" if stable_unit("split", seed) < validation_fraction else "train"


def suite_names(config: CollectConfig) -> list[str]:
    return [n for s in config.sources.suite for n in (list_suite() if s == "suite" else [s])]


def check_suite_sources(config: CollectConfig) -> None:
    """A suite scenario that cannot be loaded or cannot fit its map is bad input (ScenarioError) before any episode
    runs, rather than a failed episode found at the end."""
    if str(config.sim.get("name", "embedded")) != "embedded":
        return
    from scenarios import load_scenario
    from sim.embedded.scenario_map import check_scenario

    for name in dict.fromkeys(suite_names(config)):
        check_scenario(load_scenario(name), name)


def plan_episodes(config: CollectConfig) -> list[Episode]:
    """Every episode of the collection, in a fixed order; the same config always plans the same episodes."""
    src, episodes = config.sources, []
    tag, prefix = (("round", config.round), f"r{config.round}-") if config.round else ((), "")
    for name in suite_names(config):
        stem = Path(name).stem
        for k in range(src.suite_seeds):
            seed = int(stable_unit("suite", config.seed, stem, k, *tag) * 2**31)
            weather = None
            if stable_unit("weather", seed) < src.suite_weather:
                weather = WEATHER_PRESETS[int(stable_unit("preset", seed) * len(WEATHER_PRESETS))]
            split = split_of(seed, config.validation_fraction)
            episodes.append(Episode(f"{prefix}suite-{stem}-{k:03d}", "suite", seed, split, name, weather))
    fam = src.families
    first = fam.first_seed + config.round * ROUND_SEED_STRIDE  # later rounds draw other variants
    for name in fam.family_names() if fam.variants else []:
        for seed in range(first, first + fam.variants):
            split = split_of(seed, config.validation_fraction)
            episodes.append(Episode(f"{prefix}family-{name}-{seed:05d}", "family", seed, split, name, towns=fam.towns))
    for i in range(src.procedural_episodes):
        seed = int(stable_unit("procedural", config.seed, i, *tag) * 2**31)
        split = split_of(seed, config.validation_fraction)
        episodes.append(Episode(f"{prefix}proc-{i:05d}", "procedural", seed, split))
    return ensure_both_splits(episodes, config.validation_fraction)


def ensure_both_splits(episodes: list[Episode], validation_fraction: float) -> list[Episode]:
    """With two or more episodes and a fraction strictly between 0 and 1, each split gets at least one episode: the
    one whose seed is closest to falling there anyway (small collections would otherwise often lack one)."""
    if not 0 < validation_fraction < 1 or len(episodes) < 2:
        return episodes
    for split, pick in (("validation", min), ("train", max)):
        if not any(e.split == split for e in episodes):
            nearest = pick(range(len(episodes)), key=lambda i: stable_unit("split", episodes[i].seed))
            episodes = [replace(e, split=split) if i == nearest else e for i, e in enumerate(episodes)]
    return episodes


def done_records(root: Path) -> dict[str, dict[str, Any]]:
    records = {}
    for path in sorted((root / EPISODES_DIR).glob("*.json")):
        records[path.stem] = json.loads(path.read_text(encoding="utf-8"))
    return records


def clean_uncommitted(root: Path, done: Mapping[str, Any]) -> int:
    """Remove what interrupted episodes left: temporary files, and shards or image folders without a record."""
    removed = 0
    leftovers = [*root.glob(f"{IMAGES_DIR}/.tmp-*"), *root.glob("*/.*.tmp"), *root.glob(".*.tmp")]
    for path in leftovers:
        shutil.rmtree(path) if path.is_dir() else path.unlink()
        removed += 1
    for split in SPLITS:
        for shard in (root / split).glob("*.jsonl"):
            if shard.stem not in done:
                shard.unlink()
                removed += 1
    for log in (root / TRAJECTORIES_DIR).glob("*.npz"):
        if log.stem not in done:
            log.unlink()
            removed += 1
    for folder in (root / IMAGES_DIR).glob("*"):
        if folder.is_dir() and not folder.name.startswith(".") and folder.name not in done:
            shutil.rmtree(folder)
            removed += 1
    return removed


def write_card(root: Path, summary: Mapping[str, Any] | None = None) -> None:
    """A dataset card whose `configs` entry lets `datasets.load_dataset(<root>)` find the shards (and not the PNGs),
    with the samples per collection round and per behaviour (who drove when the sample was taken)."""
    splits = [s for s in SPLITS if any((root / s).glob("*.jsonl"))]
    files = "".join(f"  - split: {s}\n    path: {s}/*.jsonl\n" for s in splits)
    card = (
        f"---\nconfigs:\n- config_name: default\n  data_files:\n{files}---\n\n"
        "# Collected driving planning data\n\nMetaAD-style samples (image, prompt, meta-action, reasoning) from closed-"
        "loop rollouts, written by training/collect.py. Every sample is labelled by the privileged expert; its "
        "`round` column is the DAgger round it was collected in and `behavior` who drove at that step (`expert`, "
        "`perturbed` expert, or the `learner`). See manifest.json for the collection config and counts.\n"
    )
    if summary:
        rows = "".join(f"| {k} | {v} |\n" for k, v in summary.get("rounds", {}).items())
        behaviors = "".join(f"| {k} | {v} |\n" for k, v in sorted(summary.get("behavior", {}).items()))
        card += f"\n| round | samples |\n|---|---:|\n{rows}\n| behavior | samples |\n|---|---:|\n{behaviors}"
    write_atomic(root / "README.md", card.encode("utf-8"))


def _count(records: list[dict[str, Any]], key: str) -> dict[str, int]:
    total: Counter[str] = Counter()
    for r in records:
        total.update(r.get(key, {}))
    return dict(total)


def summarize(root: Path, records: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in records if r.get("status") == "ok"]
    per_tag: Counter[str] = Counter()
    per_split: Counter[str] = Counter()
    per_source: Counter[str] = Counter()
    teacher = {"accepted": 0, "rejected": 0, "reasons": Counter()}
    for r in ok:
        per_tag.update({t: r["samples"] for t in r["tags"]})
        per_split[r["split"]] += r["samples"]
        per_source[r["source"]] += r["samples"]
        teacher["accepted"] += r["teacher"]["accepted"]
        teacher["rejected"] += r["teacher"]["rejected"]
        teacher["reasons"].update(r["teacher"]["reasons"])
    teacher["reasons"] = dict(teacher["reasons"])
    agreement = dataset_agreement(root) if any(r["samples"] for r in ok) else None
    on_policy = dataset_agreement(root, on_policy_only=True) if agreement else None
    return {
        "episodes": len(records),
        "failed_episodes": len(records) - len(ok),
        "samples": sum(r["samples"] for r in ok),
        "speed_action": {a: _count(ok, "speed_counts").get(a, 0) for a in SPEED_ACTIONS},
        "path_action": {a: _count(ok, "path_counts").get(a, 0) for a in PATH_ACTIONS},
        "split": dict(per_split),
        "source": dict(per_source),
        "tag": dict(sorted(per_tag.items(), key=lambda kv: -kv[1])),
        "endings": dict(Counter(r.get("ending", r.get("status")) for r in records)),
        "dropped_by_balance": sum(r.get("dropped_balance", 0) for r in ok),
        "rounds": {str(k): v for k, v in sorted(_per_round(ok).items())},
        "behavior": _count(ok, "behavior_counts"),
        "perturbed_steps": sum(r.get("perturbed_steps", 0) for r in ok),
        "teacher": teacher,
        "motion_agreement": _short(agreement),
        "motion_agreement_on_policy": _short(on_policy),
        "wall_s_episodes": round(sum(r.get("wall_s", 0.0) for r in records), 1),
    }


def _per_round(records: list[dict[str, Any]]) -> Counter[int]:
    rounds: Counter[int] = Counter()
    for r in records:
        rounds[int(r.get("round", 0))] += r["samples"]
    return rounds


def _short(report: dict[str, Any] | None) -> dict[str, Any] | None:
    if report is None:
        return None
    keys = ("n", "speed_accuracy", "path_accuracy", "joint_accuracy")
    out = {k: report[k] for k in keys}
    out["speed_recall"] = {k: v["recall"] for k, v in report["speed"].items()}
    out["path_recall"] = {k: v["recall"] for k, v in report["path"].items()}
    return out


def format_summary(summary: dict[str, Any]) -> str:
    n = max(summary["samples"], 1)
    lines = [f"{summary['samples']} samples from {summary['episodes']} episodes ({summary['failed_episodes']} failed)"]
    for part in ("speed_action", "path_action", "split", "source", "tag", "endings"):
        row = ", ".join(
            f"{k} {v} ({100 * v / n:.0f}%)" if part != "endings" else f"{k} {v}" for k, v in summary[part].items()
        )
        lines.append(f"{part:>13}: {row}")
    t = summary["teacher"]
    lines.append(f"      teacher: {t['accepted']} accepted, {t['rejected']} rejected {t['reasons']}")
    agree = summary["motion_agreement"]
    if agree:
        lines.append(
            f"    labeller: agreement with the expert on {agree['n']} samples: speed {agree['speed_accuracy']:.2f}, "
            f"path {agree['path_accuracy']:.2f}, both {agree['joint_accuracy']:.2f}"
        )
    return "\n".join(lines)


def collect(config: CollectConfig, log: Any = print) -> dict[str, Any]:
    """Run every planned episode not yet committed under `config.output_dir`; returns the summary."""
    root = Path(config.output_dir).expanduser().resolve()
    check_suite_sources(config)
    with exclusive(root):
        done = done_records(root)
        removed = clean_uncommitted(root, done)
        if removed:
            log(f"resume: removed {removed} leftovers of interrupted episodes")
        episodes = plan_episodes(config)
        if not any(e.split == "validation" for e in episodes):
            why = "validation_fraction is 0" if config.validation_fraction <= 0 else "a single episode"
            log(f"note: this collection has no validation split ({why}); evaluation will need another dataset")
        todo = [e for e in episodes if e.key not in done]
        if done:
            log(f"resume: {len(episodes) - len(todo)} of {len(episodes)} episodes already committed")
        _run(todo, config, root, done, log)
        planned = {e.key for e in episodes}
        # The whole dataset: this run's episodes, then those of other rounds or configs in the same directory.
        records = [done[e.key] for e in episodes if e.key in done] + [r for k, r in done.items() if k not in planned]
        summary = summarize(root, records)
        write_card(root, summary)
        manifest = {"config": asdict(config), "summary": summary, "episodes": records}
        write_atomic(root / "manifest.json", json.dumps(manifest, indent=1, default=str).encode("utf-8"))
    log(format_summary(summary))
    return summary


def _run(
    todo: list[Episode], config: CollectConfig, root: Path, done: dict[str, dict[str, Any]], log: Any = print
) -> None:
    """Episodes on the configured engine (sim.fanout): worker processes die with the collector and hold the shared
    workers lock while they live, so nothing writes into `root` after the collector is gone. An episode whose worker
    died is left uncommitted (a rerun collects it); one that raised stops the collection."""
    from tqdm import tqdm

    bar = tqdm(total=len(todo), unit="episode", disable=not config.progress, dynamic_ncols=True)
    samples, lost = 0, []

    def finished(outcome: Done) -> None:
        nonlocal samples
        if outcome.lost:
            lost.append(outcome.key)
            log(f"episode {outcome.key} not committed: its {outcome.error}; a rerun collects it")
            return
        if not outcome.ok:
            raise RuntimeError(f"episode {outcome.key} failed:\n{outcome.error}")
        record = outcome.value
        done[record["key"]] = record
        samples += record.get("samples", 0)
        bar.update(1)
        bar.set_postfix(samples=samples, last=record["key"], lost=len(lost))

    try:
        fan_out(
            run_episode,
            [Task(e.key, (e, config, str(root))) for e in todo],
            finished,
            executor=config.executor,  # type: ignore[arg-type]
            workers=config.workers,
            ray=config.ray,
            initializer=hold_workers_lock,
            initargs=(str(root),),
        )
    finally:
        bar.close()


def failed_episodes(root: Path) -> list[tuple[str, str]]:
    """(episode, reason) for every committed episode that did not run."""
    return [
        (key, r.get("error") or r.get("status", "?"))
        for key, r in done_records(root).items()
        if r.get("status") != "ok"
    ]


def run_cli(cfg: Any) -> int:
    """The command line: 0 when every episode ran, 1 (after naming each failure and why) when some did not."""
    config = load_collect_config(cfg)
    try:
        collect(config)
    except RuntimeError as err:  # another collector (or its workers) owns the directory
        print(f"error: {err}", file=sys.stderr)
        return 1
    failures = failed_episodes(Path(config.output_dir).expanduser().resolve())
    for key, reason in failures:
        print(f"failed episode {key}: {reason}", file=sys.stderr)
    return 1 if failures else 0


def main() -> None:
    from sim.cli import hydra_entry

    hydra_entry("collect", run_cli)


if __name__ == "__main__":
    main()
