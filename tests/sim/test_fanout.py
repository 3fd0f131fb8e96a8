"""The fan-out engine on this machine: worker processes set up once and reused, a dead worker failing its task
alone, slots never shared, a stop request reaching every running task, and a task that ignores it killed."""

from __future__ import annotations

import json
import os
import threading
import time
from itertools import pairwise
from pathlib import Path

import fanout_helpers as helpers
import pytest

from sim.fanout import Done, Task, fan_out, in_process
from sim.stop import StopRequest


def run(fn, tasks: list[Task], **kwargs) -> tuple[dict[str, Done], list[str]]:
    finished: dict[str, Done] = {}

    def on_done(done: Done) -> None:
        assert done.key not in finished
        finished[done.key] = done

    killed = fan_out(fn, tasks, on_done, pass_stop=True, **kwargs)
    return finished, killed


def test_workers_initialise_once_and_serve_many_tasks(tmp_path: Path) -> None:
    log = tmp_path / "init.log"
    tasks = [Task(f"t{i}", (f"t{i}",)) for i in range(6)]
    done, killed = run(helpers.report, tasks, workers=2, initializer=helpers.initialise, initargs=(str(log),))
    assert killed == [] and sorted(done) == [t.key for t in tasks] and all(d.ok for d in done.values())
    pids = {d.value["pid"] for d in done.values()}
    assert len(pids) <= 2 and os.getpid() not in pids
    assert all(d.value["initialised"] == 1 for d in done.values())  # once per process, however many tasks it ran
    assert sorted(log.read_text().split()) == sorted(str(p) for p in pids)


def test_a_dead_worker_fails_only_the_task_it_ran(tmp_path: Path) -> None:
    tasks = [Task(f"t{i}", (f"t{i}", "t2")) for i in range(5)]
    done, _ = run(helpers.die_on, tasks, workers=2)
    assert sorted(done) == [t.key for t in tasks]
    assert done["t2"].lost and "killed by SIGKILL" in done["t2"].error
    assert all(d.ok for k, d in done.items() if k != "t2")


def test_a_task_that_raises_reports_its_traceback() -> None:
    done, _ = run(helpers.raise_on, [Task(f"t{i}", (f"t{i}", "t1")) for i in range(3)], workers=2)
    assert not done["t1"].ok and not done["t1"].lost and "RuntimeError: task t1 exploded" in done["t1"].error
    assert done["t0"].value == "t0" and done["t2"].value == "t2"


def test_slots_bound_how_many_run_and_are_never_shared(tmp_path: Path) -> None:
    log = tmp_path / "slots.jsonl"
    tasks = [Task(f"t{i}", (f"t{i}", str(log), 0.4)) for i in range(6)]
    done, _ = run(helpers.hold, tasks, workers=4, slots=["server-a", "server-b"])
    assert all(d.ok for d in done.values()) and len(done) == 6
    spans = [json.loads(line) for line in log.read_text().splitlines()]
    assert {s["slot"] for s in spans} == {"server-a", "server-b"}
    for slot in ("server-a", "server-b"):
        mine = sorted((s["start"], s["end"]) for s in spans if s["slot"] == slot)
        assert all(a_end <= b_start + 1e-3 for (_, a_end), (b_start, _) in pairwise(mine))


def _stop_when(log: Path, started: int, stop: StopRequest) -> threading.Thread:
    def watch() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if log.exists() and len(log.read_text().split()) >= started:
                stop.request()
                return
            time.sleep(0.05)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_a_stop_reaches_every_running_task_and_starts_no_other(tmp_path: Path) -> None:
    log, stop = tmp_path / "started.log", StopRequest()
    _stop_when(log, 2, stop)
    started = time.monotonic()
    done, killed = run(helpers.until_stopped, [Task(f"t{i}", (f"t{i}", str(log))) for i in range(5)], workers=2,
                       stop=stop)  # fmt: skip
    assert time.monotonic() - started < 30 and killed == []
    assert len(done) == 2 and len(log.read_text().split()) == 2  # the other three never started
    assert all(d.value["stopped"] and d.value["reason"] == "interrupted by SIGINT" for d in done.values())


def test_a_task_that_ignores_its_stop_is_killed_after_the_grace(tmp_path: Path) -> None:
    stop = StopRequest()
    threading.Timer(3.0, stop.request).start()
    started = time.monotonic()
    done, killed = run(helpers.ignore_stop, [Task("t0", ("t0",)), Task("t1", ("t1",))], workers=2, stop=stop,
                       grace_s=1.0)  # fmt: skip
    assert done == {} and sorted(killed) == ["t0", "t1"]
    assert time.monotonic() - started < 15


def test_one_worker_runs_tasks_here_with_the_drivers_stop() -> None:
    assert in_process("local", 1, 5) and in_process("local", None, 1) and not in_process("ray", 1, 5)
    done, _ = run(helpers.report, [Task("a", ("a",)), Task("b", ("b",))], workers=1)
    assert {d.value["pid"] for d in done.values()} == {os.getpid()}


def test_bad_engine_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="executor must be one of"):
        fan_out(helpers.report, [Task("a", ("a",))], lambda d: None, executor="dask")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="workers must be >= 1"):
        fan_out(helpers.report, [Task("a", ("a",))], lambda d: None, workers=0)
