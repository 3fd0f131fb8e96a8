"""Collection rate (samples per hour) of training/collect.py, and the motion labeller's agreement with the expert on
the data it collected.

    uv run python benchmarks/bench_collect.py                               # conf/collect.yaml defaults, 2 workers
    uv run python benchmarks/bench_collect.py workers=1 sources.procedural_episodes=40
    uv run python benchmarks/bench_collect.py executor=ray                  # episodes as Ray tasks (a local Ray)

Arguments are Hydra overrides of conf/collect.yaml; the output goes to a temporary directory unless `output_dir=` is
given. The clock covers the whole collection (worker start-up and every episode's town building included).
Writes benchmarks/results/bench_collect.json (bench_collect_ray.json with executor=ray).
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from hydra import compose, initialize_config_dir

from training.collect import collect, load_collect_config
from training.labeling import dataset_agreement

CONF = str(Path(__file__).resolve().parents[1] / "conf")


def main(overrides: list[str]) -> None:
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(config_name="collect", overrides=overrides)
    config = replace(load_collect_config(cfg), progress=False)
    explicit = any(o.startswith("output_dir=") for o in overrides)
    with tempfile.TemporaryDirectory() as tmp:
        if not explicit:
            config = replace(config, output_dir=str(Path(tmp) / "data"))
        load_before = os.getloadavg()
        start = time.perf_counter()
        summary = collect(config, log=lambda *_: None)
        wall = time.perf_counter() - start
        agreement = dataset_agreement(config.output_dir)
        on_policy = dataset_agreement(config.output_dir, on_policy_only=True)
    report = {
        "overrides": overrides,
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average_before_after": [load_before[0], os.getloadavg()[0]],
        "workers": config.workers,
        "executor": config.executor,
        "camera": dict(config.sim.get("camera", {})),
        "render": config.sim.get("render", True),
        "image_format": config.image_format,
        "episodes": summary["episodes"],
        "samples": summary["samples"],
        "wall_s": wall,
        "samples_per_hour": summary["samples"] / wall * 3600.0,
        "summary": summary,
        "labeller_agreement": agreement,
        "labeller_agreement_on_policy": on_policy,
    }
    out = Path(f"benchmarks/results/bench_collect{'_ray' if config.executor == 'ray' else ''}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    keys = (
        "executor",
        "workers",
        "camera",
        "episodes",
        "samples",
        "wall_s",
        "samples_per_hour",
        "load_average_before_after",
    )
    print(json.dumps({k: report[k] for k in keys}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
