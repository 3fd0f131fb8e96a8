"""Subprocesses in tests: started in their own session, killed with everything they started when the test ends."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from typing import Any


def kill_tree(pid: int) -> None:
    """SIGKILL a process, everything it started (also in other sessions, like ffmpeg) and its process group."""
    import psutil

    try:
        root = psutil.Process(pid)
        family = [*root.children(recursive=True), root]
    except psutil.NoSuchProcess:
        family = []
    for proc in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)  # orphans that stayed in the group
    psutil.wait_procs(family, timeout=10)


class Processes:
    """Starts subprocesses in their own session and kills them and their descendants when the test ends, whether it
    passed, failed or timed out, so a failing test never leaves a simulator or an encoder running."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen] = []

    def start(self, cmd: list[str], **kwargs: Any) -> subprocess.Popen:
        kwargs.setdefault("start_new_session", True)
        proc = subprocess.Popen(cmd, **kwargs)
        self.started.append(proc)
        return proc

    def run(self, cmd: list[str], timeout: float, **kwargs: Any) -> subprocess.CompletedProcess:
        """Like subprocess.run with captured text output; on timeout the whole tree is killed before raising."""
        proc = self.start(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_tree(proc.pid)
            proc.communicate()
            raise
        return subprocess.CompletedProcess(cmd, proc.returncode, out, err)

    def kill_all(self) -> None:
        for proc in self.started:
            kill_tree(proc.pid)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
