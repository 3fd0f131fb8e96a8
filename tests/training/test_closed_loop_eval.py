"""Closed-loop evaluation of a checkpoint over several routes shares one served model among the route workers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sim.suite
from training import closed_loop


def test_evaluating_a_checkpoint_on_several_routes_serves_one_model_to_the_workers(
    tiny_model: Path, tmp_path: Path, monkeypatch
) -> None:
    seen: dict[str, Any] = {}

    def start_server_only(jobs: list[Any], config: Any, choice: str, log: Any) -> list[dict[str, Any]]:
        server = sim.suite._start_planner_server(config, choice, config.workers, len(jobs), log)
        seen["max_batch"] = server.max_batch if server is not None else None
        if server is not None:
            server.close()
        return []

    monkeypatch.setattr(sim.suite, "run_jobs", start_server_only)
    monkeypatch.setattr(sim.suite, "write_summary", lambda out_dir, results: {})
    closed_loop.drive_checkpoint(tiny_model, ["red_light_stop", "t_junction"], tmp_path)
    assert seen["max_batch"] == closed_loop.DEFAULT_PLANNER["batch_size"] > 1
