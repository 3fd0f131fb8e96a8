"""Tasks as Ray tasks, on a local Ray started for the run (and stopped after it) or on a running cluster.

- Each task is `max_retries=0`: a worker that dies fails its task with Ray's reason (`WorkerCrashedError`, a lost
  node, Ray's memory monitor) and the driver goes on; it never reruns a half-written route behind our back.
- A task installs its own stop request for SIGINT/SIGTERM; `ray.cancel(ref)` (not forced) reaches it as SIGINT in
  the worker's main thread, so a stop ends the task the way Ctrl-C ends a run in one process. Ray's processes block
  the terminal's SIGINT, so a Ctrl-C reaches the driver alone, which forwards it.
- Ray's worker processes are reused across tasks, so a task may cache what is expensive (a model) per process.
- A local Ray's head processes die with the driver (Ray's own fate sharing), and every task's worker asks to die
  with its raylet, so a driver killed with SIGKILL takes its workers along at once. On a cluster Ray ends a job's
  tasks when its driver disconnects.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from planner.config import ConfigError
from sim.fanout.lifetime import die_with_parent, usable_cpus
from sim.fanout.tasks import Done, TaskCall
from sim.stop import StopRequest

if TYPE_CHECKING:
    from sim.fanout import RayConfig

# A local Ray's workers run this interpreter and this checkout as they are. (Under `uv run`, Ray would otherwise
# ship the working tree and build a fresh environment for its workers, and they would run in a copy of it.)
LOCAL_ENVIRONMENT = {"RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0"}


def connect(config: RayConfig) -> bool:
    """Join the Ray this process already uses, the cluster at `config.address`, or start a local Ray. True when it
    started or joined one here (then `ray.shutdown()` is ours to call)."""
    if config.address is None:
        for key, value in LOCAL_ENVIRONMENT.items():
            os.environ.setdefault(key, value)
    import ray

    if ray.is_initialized():
        return False
    with _keep_sigterm_handler():
        try:
            if config.address is None:
                start_local_ray(config)
            else:
                ray.init(
                    address=config.address,
                    runtime_env=dict(config.runtime_env) or None,
                    logging_level=logging.WARNING,
                )
        except (ConnectionError, RuntimeError, ValueError) as err:
            where = f"the Ray cluster at {config.address}" if config.address else "a local Ray"
            raise ConfigError(f"ray.address: could not start or reach {where}: {err}") from err
        except BaseException:
            ray.shutdown()
            raise
    return True


def start_local_ray(config: RayConfig) -> None:
    """A Ray on this machine only, whose workers import what this process imports (its sys.path)."""
    import ray

    runtime_env = dict(config.runtime_env)
    env_vars = {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p), **runtime_env.get("env_vars", {})}
    ray.init(
        num_cpus=config.num_cpus or usable_cpus(),
        resources=dict(config.node_resources) or None,
        object_store_memory=config.object_store_mb * 2**20,
        include_dashboard=False,
        logging_level=logging.WARNING,
        runtime_env={**runtime_env, "env_vars": env_vars},
    )


@contextlib.contextmanager
def local_ray(config: RayConfig) -> Iterator[None]:
    """A local Ray for the duration of the block, shut down on every way out of it."""
    for key, value in LOCAL_ENVIRONMENT.items():
        os.environ.setdefault(key, value)
    import ray

    try:
        with _keep_sigterm_handler():
            start_local_ray(config)
        yield
    finally:
        ray.shutdown()


@contextlib.contextmanager
def _keep_sigterm_handler() -> Iterator[None]:
    """`ray.init` replaces the driver's SIGTERM handler with an exit; put ours back, and hand it a SIGTERM that
    arrived meanwhile."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    ours = signal.getsignal(signal.SIGTERM)
    try:
        yield
    except SystemExit:
        signal.signal(signal.SIGTERM, ours)
        os.kill(os.getpid(), signal.SIGTERM)
        raise KeyboardInterrupt("SIGTERM while Ray started") from None
    finally:
        signal.signal(signal.SIGTERM, ours)


class RayTasks:
    """Tasks on Ray; `workers` caps how many are submitted at once (None: all, Ray queues them by resources)."""

    def __init__(
        self,
        config: RayConfig,
        workers: int | None = None,
        initializer: Callable[..., None] | None = None,
        initargs: tuple[Any, ...] = (),
    ) -> None:
        self.owned = connect(config)  # first: it sets up the environment a local Ray needs before Ray is imported
        import ray

        self.workers = workers
        self.initializer, self.initargs = initializer, initargs
        options: dict[str, Any] = {"num_cpus": config.cpus_per_task, "max_retries": 0}
        if config.gpus_per_task:
            options["num_gpus"] = config.gpus_per_task
        if config.resources_per_task:
            options["resources"] = dict(config.resources_per_task)
        self._remote = ray.remote(_run_in_worker).options(**options)
        self._refs: dict[Any, str] = {}
        self._die_with_raylet = config.address is None  # a raylet of our own: it lives exactly as long as we do

    def has_room(self) -> bool:
        return self.workers is None or len(self._refs) < self.workers

    def submit(self, call: TaskCall) -> None:
        ref = self._remote.remote(call, self.initializer, self.initargs, self._die_with_raylet)
        self._refs[ref] = call.key

    def wait(self, timeout_s: float) -> list[Done]:
        import ray

        if not self._refs:
            return []
        ready, rest = ray.wait(list(self._refs), num_returns=1, timeout=timeout_s)
        if ready and rest:
            ready += ray.wait(rest, num_returns=len(rest), timeout=0)[0]
        return [self._collect(ref) for ref in ready]

    def _collect(self, ref: Any) -> Done:
        import ray

        key = self._refs.pop(ref)
        try:
            return ray.get(ref)
        except ray.exceptions.TaskCancelledError:
            return Done(key, error="cancelled before it finished")
        except ray.exceptions.RayTaskError as err:  # the worker's set-up raised before the task ran
            return Done(key, error=str(err))
        except ray.exceptions.RayError as err:
            return Done(key, error=f"Ray worker died: {type(err).__name__}: {err}", lost=True)

    def interrupt(self, signum: int) -> None:
        import ray

        for ref in self._refs:
            ray.cancel(ref, force=False)

    def close(self, kill: bool = False) -> list[str]:
        """Kill the tasks still running (their keys are returned) and stop a Ray we started."""
        import ray

        killed = list(self._refs.values())
        for ref in self._refs:
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
        self._refs.clear()
        if self.owned:
            ray.shutdown()
        return killed


_SET_UP: set[Any] = set()  # per worker process: what `_run_in_worker` has already prepared in it


def _run_in_worker(
    call: TaskCall, initializer: Callable[..., None] | None, initargs: tuple[Any, ...], die_with_raylet: bool
) -> Done:
    if die_with_raylet and "lifetime" not in _SET_UP:
        die_with_parent(os.getppid())
        _SET_UP.add("lifetime")
    if initializer is not None and (initializer, initargs) not in _SET_UP:
        initializer(*initargs)
        _SET_UP.add((initializer, initargs))
    with StopRequest().installed() as stop:
        return call.outcome(stop)
