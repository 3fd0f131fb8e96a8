"""Tasks on this machine: in this process one after another, or on a pool of worker processes.

The pool is a few lines of `multiprocessing` rather than `concurrent.futures.ProcessPoolExecutor` because a worker
that dies there breaks the whole pool (every pending future fails, and nothing says which task killed it). Here each
worker runs one task at a time over its own pipe, so the driver knows which task a dead worker held, fails that task
alone with the reason and starts a fresh worker for the rest.

Workers are spawned (no inherited threads or simulator state), run `initializer` once and then any number of tasks,
so what a task caches per process (a model) is loaded once per worker. They leave the terminal's process group, so a
Ctrl-C reaches the driver alone, which forwards it once to every running task as that task's own stop request; they
are SIGKILLed when the driver dies (`die_with_parent`).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from sim.fanout.lifetime import die_with_parent
from sim.fanout.tasks import Done, TaskCall
from sim.stop import HANDLED, StopRequest

JOIN_S = 5.0  # how long close() waits for an idle worker to leave before killing it


class InProcess:
    """Runs each task in the calling process when the driver waits for it; the task shares the driver's stop request.
    Exceptions propagate, as they would from a plain loop."""

    def __init__(self, stop: StopRequest) -> None:
        self.stop = stop
        self._next: TaskCall | None = None

    def has_room(self) -> bool:
        return self._next is None

    def submit(self, call: TaskCall) -> None:
        self._next = call

    def wait(self, timeout_s: float) -> list[Done]:
        call, self._next = self._next, None
        if call is None:
            return []
        return [Done(call.key, call.run(self.stop))]

    def interrupt(self, signum: int) -> None:
        """Nothing to forward: the task watches the driver's own stop request."""

    def close(self, kill: bool = False) -> list[str]:
        return []


@dataclass
class _Worker:
    process: Any  # multiprocessing.Process (spawn context)
    conn: Connection
    key: str | None = None  # the task it runs, None when idle

    def describe_exit(self) -> str:
        code = self.process.exitcode
        if code is not None and code < 0:
            return f"killed by {signal.Signals(-code).name}"
        return f"exit code {code}"


class ProcessPool:
    """`size` worker processes, started as tasks need them; one task per worker at a time."""

    def __init__(
        self, size: int, initializer: Callable[..., None] | None = None, initargs: tuple[Any, ...] = ()
    ) -> None:
        self.size = size
        self.initializer, self.initargs = initializer, initargs
        self._ctx = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []

    def has_room(self) -> bool:
        return any(w.key is None for w in self._workers) or len(self._workers) < self.size

    def submit(self, call: TaskCall) -> None:
        worker = next((w for w in self._workers if w.key is None), None)
        if worker is not None and not worker.process.is_alive():  # died while idle
            self._retire(worker)
            worker = None
        if worker is None:
            worker = self._start()
        worker.conn.send(call)
        worker.key = call.key

    def _start(self) -> _Worker:
        ours, theirs = self._ctx.Pipe()
        process = self._ctx.Process(
            target=_serve, args=(theirs, os.getpid(), self.initializer, self.initargs), daemon=True
        )
        # Born with SIGINT and SIGTERM blocked (the mask is inherited): a Ctrl-C while it starts up waits for the
        # worker's own handler instead of raising KeyboardInterrupt in the middle of an import.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)
        try:
            process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        theirs.close()
        worker = _Worker(process, ours)
        self._workers.append(worker)
        return worker

    def _retire(self, worker: _Worker) -> None:
        self._workers.remove(worker)
        worker.conn.close()
        worker.process.join(timeout=JOIN_S)

    def wait(self, timeout_s: float) -> list[Done]:
        busy = [w for w in self._workers if w.key is not None]
        if not busy:
            return []
        ready = set(wait([w.conn for w in busy] + [w.process.sentinel for w in busy], timeout_s))
        finished = []
        for worker in busy:
            if worker.conn in ready or worker.process.sentinel in ready:
                finished.append(self._collect(worker))
        return finished

    def _collect(self, worker: _Worker) -> Done:
        key = worker.key
        assert key is not None
        try:
            if worker.conn.poll():
                done = worker.conn.recv()
                worker.key = None
                return done
        except (EOFError, OSError):
            pass
        worker.process.join(timeout=JOIN_S)
        reason = f"worker process (pid {worker.process.pid}) died: {worker.describe_exit()}"
        self._retire(worker)
        return Done(key, error=reason, lost=True)

    def interrupt(self, signum: int) -> None:
        for worker in self._workers:
            if worker.key is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.process.pid, signum)

    def close(self, kill: bool = False) -> list[str]:
        """Stop every worker; busy ones are killed. Returns the keys of the tasks that were killed."""
        killed = []
        for worker in self._workers:
            if worker.key is not None or kill:
                if worker.key is not None:
                    killed.append(worker.key)
                worker.process.kill()
            else:
                with contextlib.suppress(OSError):
                    worker.conn.send(None)
        for worker in list(self._workers):
            worker.process.join(timeout=JOIN_S)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(timeout=JOIN_S)
            worker.conn.close()
        self._workers.clear()
        return killed


def _serve(
    conn: Connection, parent_pid: int, initializer: Callable[..., None] | None, initargs: tuple[Any, ...]
) -> None:
    """A worker's life: leave the terminal's process group, die with the driver, initialise, then run tasks."""
    os.setpgrp()
    die_with_parent(parent_pid)
    current: list[StopRequest] = []  # the running task's stop request; signals between tasks are ignored

    def forward(signum: int, frame: Any) -> None:
        if current:
            current[0].request(signum)

    for sig in HANDLED:
        signal.signal(sig, forward)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, HANDLED)
    init_error = None
    if initializer is not None:
        try:
            initializer(*initargs)
        except BaseException:
            init_error = f"the worker's initializer failed:\n{traceback.format_exc()}"
    while True:
        try:
            call = conn.recv()
        except (EOFError, OSError):
            return
        if call is None:
            return
        if init_error is not None:
            conn.send(Done(call.key, error=init_error))
            continue
        current[:] = [StopRequest()]
        done = call.outcome(current[0])
        current.clear()
        try:
            conn.send(done)
        except Exception:  # the value does not pickle
            conn.send(Done(call.key, error=f"its result could not be sent back:\n{traceback.format_exc()}"))
