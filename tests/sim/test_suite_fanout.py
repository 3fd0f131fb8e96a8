"""A suite fanned out over local worker processes: repeats under several seeds, a worker killed mid-route failing
only its route, a Ctrl-C stopping every worker, resumes that drive only what is unfinished, and strict settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from fanout_helpers import ROUTES, check_interrupt_then_resume, check_kill_then_resume, run_route, write_suite
from process_helpers import Processes

from sim.run_route import EXIT_BAD_INPUT
from sim.suite import plan_jobs, run_seeds


def test_repeats_and_a_killed_worker_then_a_resume_on_local_workers(tmp_path: Path, capsys) -> None:
    seen = check_kill_then_resume(tmp_path, capsys, "workers=2")
    assert "killed by SIGKILL" in seen["killed"]["error"]["message"]


@pytest.mark.slow
def test_ctrl_c_stops_the_local_workers_and_a_rerun_resumes(processes: Processes, tmp_path: Path) -> None:
    assert check_interrupt_then_resume(processes, tmp_path, "executor=local", limit_s=20.0) < 15.0


def test_seeds_come_from_repeats_or_a_list_and_each_gets_its_folder(tmp_path: Path) -> None:
    suite = write_suite(tmp_path / "suite")
    jobs = plan_jobs(str(suite), tmp_path / "out", repeats=3)
    assert [(j.scenario.name, j.seed, j.out_dir.relative_to(tmp_path / "out").as_posix()) for j in jobs[:3]] == [
        ("road_a", 3, "road_a/seed_3"), ("road_a", 4, "road_a/seed_4"), ("road_a", 5, "road_a/seed_5"),
    ]  # fmt: skip
    assert all(j.resumable for j in jobs) and len(jobs) == 3 * len(ROUTES)
    single = plan_jobs(str(suite / "road_b.yaml"), tmp_path / "one", seeds=[7, 9])
    assert [(j.seed, j.out_dir.name, j.resumable) for j in single] == [(7, "seed_7", True), (9, "seed_9", True)]
    plain = plan_jobs(str(suite), tmp_path / "out")
    assert [j.out_dir.name for j in plain] == list(ROUTES) and all(j.seed is None for j in plain)
    assert run_seeds(jobs[0].scenario, seed=10, repeats=2) == [10, 11]


def test_bad_fan_out_settings_are_bad_input(tmp_path: Path, capsys) -> None:
    suite, out = write_suite(tmp_path / "suite"), f"output_dir={tmp_path / 'out'}"
    for override, message in (
        ("executor=dask", "executor must be one of"),
        ("workers=0", "workers must be >= 1"),
        ("repeats=0", "repeats must be >= 1"),
        ("seeds=[1,1]", "seeds must be distinct"),
        ("+ray.adress=auto", "unknown key(s) ['adress']"),
        ("planner_server=true executor=ray", "planner_server needs executor=local"),
        ("planner_server=true planner=expert", "planner_server: expert reads the ground truth"),
    ):
        assert run_route(f"scenario={suite}", out, *override.split()) == EXIT_BAD_INPUT, override
        err = capsys.readouterr().err.strip()
        assert message in err and err.count("\n") == 0, err
    assert run_route(f"scenario={suite}", out, "seeds=[1,2]", "repeats=2") == EXIT_BAD_INPUT
    assert "not both" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
