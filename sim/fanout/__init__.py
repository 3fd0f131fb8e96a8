"""Fan tasks out over this machine's cores or a Ray cluster, with one driver loop for every engine.

- `executor=local`: `workers` processes on this machine (`workers=1`: every task in this process, one after
  another; null: one per usable core).
- `executor=ray`: Ray tasks, on a local Ray started for the run and stopped after it, or on a running cluster
  (`ray.address`); `workers` then caps the tasks submitted at once (null: all, Ray queues them).

With either engine a worker process runs `initializer` once and then any number of tasks (a task may keep a model
loaded per process); a worker that dies fails the task it ran, with the reason, and the rest go on; a stop request
on the driver (Ctrl-C, SIGTERM) becomes a stop request in every running task, the driver waits `grace_s` for them
to wind down and then kills what is left; no worker outlives the driver. `slots` (CARLA servers, say) bound how many
tasks run at once, each task holding one slot, passed to it as `slot=`, while it runs.
"""

from __future__ import annotations

import signal
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sim.fanout.lifetime import usable_cpus
from sim.fanout.tasks import Done, Task, TaskCall
from sim.stop import StopRequest

__all__ = ["EXECUTORS", "Done", "RayConfig", "Task", "fan_out", "in_process", "local_workers", "usable_cpus"]

EXECUTORS = ("local", "ray")
Executor = Literal["local", "ray"]
POLL_S = 0.2  # how often the driver looks at its stop request while tasks run


@dataclass(frozen=True)
class RayConfig:
    address: str | None = None  # null: a local Ray for this run only; "auto" or "ray://head:10001": a running cluster
    num_cpus: int | None = None  # local Ray: cores it may use (null: this process's usable cores)
    node_resources: Mapping[str, float] = field(default_factory=dict)  # local Ray: custom resources it offers
    cpus_per_task: float = 1.0
    gpus_per_task: float = 0.0
    resources_per_task: Mapping[str, float] = field(default_factory=dict)  # e.g. {carla_server: 1}
    runtime_env: Mapping[str, Any] = field(default_factory=dict)  # Ray's runtime_env: how cluster workers get the code
    object_store_mb: int = 256  # local Ray: its shared-memory object store (results are small)

    def __post_init__(self) -> None:
        if self.num_cpus is not None and self.num_cpus < 1:
            raise ValueError(f"num_cpus must be >= 1 or null, got {self.num_cpus}")
        if self.cpus_per_task < 0 or self.gpus_per_task < 0:
            raise ValueError("cpus_per_task and gpus_per_task must be >= 0")
        if any(not isinstance(v, int | float) or v < 0 for v in self.resources_per_task.values()):
            raise ValueError(f"resources_per_task values must be numbers >= 0, got {dict(self.resources_per_task)}")
        if self.object_store_mb < 80:
            raise ValueError(f"object_store_mb must be >= 80 (Ray's minimum), got {self.object_store_mb}")


def check_executor(executor: str, workers: int | None) -> None:
    """ValueError for an unknown engine or a worker count below 1."""
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {list(EXECUTORS)}, got {executor!r}")
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be >= 1 or null, got {workers}")


def local_workers(workers: int | None, tasks: int) -> int:
    """How many local worker processes `workers` means for this many tasks (null: one per usable core)."""
    return max(1, min(workers or usable_cpus(), tasks))


def in_process(executor: str, workers: int | None, tasks: int) -> bool:
    """Whether `fan_out` runs these tasks in the calling process (a single local worker)."""
    return executor == "local" and local_workers(workers, tasks) == 1


def fan_out(
    fn: Callable[..., Any],
    tasks: Sequence[Task],
    on_done: Callable[[Done], None],
    *,
    executor: Executor = "local",
    workers: int | None = None,
    ray: RayConfig | None = None,
    stop: StopRequest | None = None,
    slots: Sequence[Any] | None = None,
    initializer: Callable[..., None] | None = None,
    initargs: tuple[Any, ...] = (),
    pass_stop: bool = False,
    grace_s: float = 30.0,
) -> list[str]:
    """Run `fn(*task.args)` for every task (plus `stop=` when `pass_stop`, `slot=` when `slots` are given) and call
    `on_done` in the driver as each ends, in the order they end. Returns the keys of tasks killed before they ended
    (after a stop whose grace ran out); tasks never started are in neither."""
    stop = stop or StopRequest()
    check_executor(executor, workers)
    if not tasks:
        return []
    engine = _engine(executor, workers, ray or RayConfig(), len(tasks), stop, initializer, initargs)
    queue, free = deque(tasks), None if slots is None else list(slots)
    holding: dict[str, Any] = {}  # running task -> its slot

    def finish(done: Done) -> None:
        slot = holding.pop(done.key)
        if free is not None:
            free.append(slot)
        on_done(done)

    clean = False
    try:
        while (queue or holding) and not stop.requested:
            while queue and engine.has_room() and (free is None or free) and not stop.requested:
                task = queue.popleft()
                slot = free.pop(0) if free is not None else None
                kwargs = {"slot": slot} if free is not None else {}
                holding[task.key] = slot
                engine.submit(TaskCall(task.key, fn, task.args, kwargs, pass_stop))
            for done in engine.wait(POLL_S):
                finish(done)
        if holding and stop.requested:
            engine.interrupt(stop.signum or signal.SIGINT)
            deadline = time.monotonic() + grace_s
            while holding and time.monotonic() < deadline:
                for done in engine.wait(POLL_S):
                    finish(done)
        clean = True
    finally:
        killed = engine.close(kill=not clean)
    return killed


def _engine(
    executor: str,
    workers: int | None,
    ray: RayConfig,
    tasks: int,
    stop: StopRequest,
    initializer: Callable[..., None] | None,
    initargs: tuple[Any, ...],
) -> Any:
    if executor == "ray":
        from sim.fanout.ray_tasks import RayTasks

        return RayTasks(ray, workers, initializer, initargs)
    from sim.fanout.local import InProcess, ProcessPool

    if in_process(executor, workers, tasks):
        return InProcess(stop)
    return ProcessPool(local_workers(workers, tasks), initializer, initargs)
