"""Who may write a dataset directory: one collector at a time, and its pool workers only while it lives.

The collector holds `.lock` (its pid inside) and each worker a shared lock on `.workers.lock`; the kernel drops a
lock when its process dies, so no lock is ever stale. Workers ask to be killed with the collector, so a collector
killed with SIGKILL leaves no orphan writing episodes, and a rerun refuses to start while any writer remains.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import signal
import sys
import threading
import time
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


def worker_init(parent_pid: int, root: str) -> None:
    """Pool workers die with the collector (also on SIGKILL) and hold the shared workers lock while they live."""
    die_with_parent(parent_pid)
    handle = open(Path(root) / WORKERS_LOCK_FILE, "a")  # noqa: SIM115  # held, and so locked, until the process ends
    fcntl.flock(handle, fcntl.LOCK_SH)
    _HELD_BY_THIS_WORKER.append(handle)


_HELD_BY_THIS_WORKER: list[Any] = []  # keeps the lock's file object alive in a worker process


def die_with_parent(parent_pid: int) -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux), else watch the parent from a thread."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    else:
        threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(0.5)
    os._exit(1)


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
