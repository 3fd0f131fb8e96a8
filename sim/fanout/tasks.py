"""What the fan-out engines pass around: a task, the call a worker makes for it, and what came of it."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sim.stop import StopRequest


@dataclass(frozen=True)
class Task:
    key: str  # unique among the tasks of one fan-out: progress, logs and failures name it
    args: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Done:
    key: str
    value: Any = None  # what the task returned (when `error` is None)
    error: str | None = None  # why there is no value: its traceback, or "worker process (pid 12) died: ..."
    lost: bool = False  # its worker process (or machine) died while running it

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class TaskCall:
    """`fn(*args, **kwargs)` in a worker, plus `stop=` (the task's own stop request) when `pass_stop`. `fn` must be
    importable by name (a module-level function) for worker processes to receive it."""

    key: str
    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    pass_stop: bool = False

    def run(self, stop: StopRequest) -> Any:
        extra = {"stop": stop} if self.pass_stop else {}
        return self.fn(*self.args, **self.kwargs, **extra)

    def outcome(self, stop: StopRequest) -> Done:
        try:
            return Done(self.key, self.run(stop))
        except BaseException:  # reported to the driver, which decides what a failed task means
            return Done(self.key, error=traceback.format_exc())
