"""Who may write a dataset directory: one collector at a time, and its workers only while it lives.

The collector holds `.lock` (its pid inside) and each worker process (local or Ray) a shared lock on
`.workers.lock`; the kernel drops a lock when its process dies, so no lock is ever stale, and a rerun refuses to
start while any writer remains. Workers die with the collector (`sim.fanout`: pool workers with it, a local Ray's
workers with their raylet, which dies with it), so a collector killed with SIGKILL leaves no orphan writing episodes.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

LOCK_FILE, WORKERS_LOCK_FILE = ".lock", ".workers.lock"


@contextmanager
def exclusive(root: Path) -> Iterator[None]:
    """One collector per output directory, its workers included: refuses (RuntimeError) while another writes."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / LOCK_FILE, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise RuntimeError(f"another collection (pid {holder}) is writing to {root}") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        with open(root / WORKERS_LOCK_FILE, "a") as workers:
            try:
                fcntl.flock(workers, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RuntimeError(f"workers of an earlier collection are still writing to {root}") from None
            fcntl.flock(workers, fcntl.LOCK_UN)  # our own workers take it shared
        yield


def hold_workers_lock(root: str) -> None:
    """Take the shared workers lock for the rest of this process's life (the kernel drops it when the process dies)."""
    handle = open(Path(root) / WORKERS_LOCK_FILE, "a")  # noqa: SIM115  # held, and so locked, until the process ends
    fcntl.flock(handle, fcntl.LOCK_SH)
    _HELD_BY_THIS_WORKER.append(handle)


_HELD_BY_THIS_WORKER: list[Any] = []  # keeps the lock's file object alive in a worker process
