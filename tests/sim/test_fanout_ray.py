"""The fan-out on Ray: a real local Ray with 2 CPUs, started once for this module and shut down on every way out
of it. Workers set up once and reused, a dead worker failing its task alone, a stop reaching running tasks; a suite
with repeats through Ray with a worker killed mid-route and a resume; Ctrl-C on a run with its own local Ray."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import fanout_helpers as helpers
import pytest
from fanout_helpers import check_interrupt_then_resume, check_kill_then_resume
from process_helpers import Processes
from test_fanout import _stop_when, run

from sim.fanout import RayConfig, Task
from sim.stop import StopRequest


@pytest.fixture(scope="module")
def ray_here() -> Iterator[None]:
    from sim.fanout.ray_tasks import local_ray

    with local_ray(RayConfig(num_cpus=2, object_store_mb=100)):
        yield


def test_ray_workers_set_up_once_a_dead_worker_fails_its_task_and_a_stop_reaches_running_tasks(
    ray_here: None, tmp_path: Path
) -> None:
    log = tmp_path / "init.log"
    done, _ = run(helpers.report, [Task(f"t{i}", (f"t{i}",)) for i in range(6)], executor="ray",
                  initializer=helpers.initialise, initargs=(str(log),))  # fmt: skip
    assert all(d.ok and d.value["initialised"] == 1 for d in done.values()) and len(done) == 6
    assert sorted(log.read_text().split()) == sorted({str(d.value["pid"]) for d in done.values()})

    done, _ = run(helpers.die_on, [Task(f"t{i}", (f"t{i}", "t2")) for i in range(4)], executor="ray")
    assert done["t2"].lost and "WorkerCrashedError" in done["t2"].error
    assert all(d.ok for k, d in done.items() if k != "t2")

    started, stop = tmp_path / "started.log", StopRequest()
    _stop_when(started, 2, stop)
    done, killed = run(helpers.until_stopped, [Task(f"s{i}", (f"s{i}", str(started))) for i in range(4)],
                       executor="ray", stop=stop)  # fmt: skip
    ran = set(started.read_text().split())
    assert len(ran) == 2 and killed == []
    assert all(done[k].ok and done[k].value["reason"] == "interrupted by SIGINT" for k in ran)
    assert all(not done[k].ok for k in set(done) - ran)  # queued ones were cancelled, never started


@pytest.mark.slow
def test_a_suite_with_repeats_on_ray_survives_a_killed_worker_and_resumes(
    ray_here: None, tmp_path: Path, capsys
) -> None:
    seen = check_kill_then_resume(tmp_path, capsys, "executor=ray")
    assert "Ray worker died: WorkerCrashedError" in seen["killed"]["error"]["message"]


@pytest.mark.slow
def test_ctrl_c_stops_the_ray_tasks_of_a_run_with_its_own_ray_and_a_rerun_resumes(
    processes: Processes, tmp_path: Path
) -> None:
    assert check_interrupt_then_resume(processes, tmp_path, "executor=ray", limit_s=40.0) < 30.0
