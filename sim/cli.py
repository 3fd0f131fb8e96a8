"""Hydra entry points that answer bad input with one line: what is wrong, where, and what would be valid.

Hydra reports a typo in an override over several lines (with a hint to add `+`, which our strict configs would
then reject anyway), and an exception from the task as a traceback. `hydra_entry` composes the command line once
before Hydra runs, turning composition errors into one line, and maps the task's `ConfigError` / `ScenarioError`
to one line; both exit 2 before anything is simulated or written.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from planner.config import ConfigError
from scenarios import ScenarioError

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
EXIT_BAD_INPUT = 2
BAD_INPUT = (ConfigError, ScenarioError)


class BelowWarning(logging.Filter):
    """Lets DEBUG and INFO records through (to stdout); warnings and errors go to stderr instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.WARNING


def bad_input(message: str, logged: bool = False) -> None:
    """One line, exit 2. Inside a Hydra job (`logged`) it goes through logging, so the run's log file has it too."""
    if logged:
        logging.getLogger("harness").error("error: %s", message)
    else:
        print(f"error: {message}", file=sys.stderr)
    sys.exit(EXIT_BAD_INPUT)


class _Console(logging.StreamHandler):
    """A stream handler that writes to whatever sys.stdout / sys.stderr is at the time of the record."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self._name = name

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return getattr(sys, self._name)

    @stream.setter
    def stream(self, value: Any) -> None:  # StreamHandler.__init__ assigns one; the property ignores it
        pass


def ensure_console_logging() -> None:
    """Outside a Hydra job (a library call, a test) give the root logger the console half of
    conf/hydra/job_logging/harness.yaml, unless a handler already writes to the console."""
    root = logging.getLogger()
    consoles = (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)
    if any(isinstance(h, _Console) or getattr(h, "stream", None) in consoles for h in root.handlers):
        return
    out, err = _Console("stdout"), _Console("stderr")
    out.addFilter(BelowWarning())
    err.setLevel(logging.WARNING)
    root.addHandler(out)
    root.addHandler(err)
    root.setLevel(logging.INFO)


class _OutputDirLog(logging.Handler):
    """Copies log records into `path` once the run has created its directory; earlier records wait in memory, so a
    run rejected as bad input leaves no directory behind just for its log."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.pending: list[str] = []
        self.file: Any = None
        self.setFormatter(logging.Formatter("[%(asctime)s][%(levelname)s][%(name)s] %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        line = self.format(record)
        if self.file is None:
            if not self.path.parent.is_dir():
                self.pending.append(line)
                return
            self.file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115  # open for the handler's lifetime
            self.file.writelines(f"{p}\n" for p in self.pending)
            self.pending.clear()
        self.file.write(f"{line}\n")
        self.file.flush()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
        super().close()


@contextmanager
def log_file(path: Path) -> Iterator[None]:
    """Also write every log record of the run to `path` (the output directory's copy of the console)."""
    handler = _OutputDirLog(path)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()


def check_overrides(config_name: str, overrides: Sequence[str], config_dir: Path = CONF_DIR) -> str | None:
    """None when Hydra can compose `config_name` with `overrides`, else one line saying why."""
    from hydra import compose, initialize_config_dir

    try:
        with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
            compose(config_name, overrides=list(overrides))
    except Exception as err:  # Hydra's composition errors have no common base beyond Exception
        return _one_line(config_name, str(err), config_dir)
    return None


def _one_line(config_name: str, message: str, config_dir: Path) -> str:
    unknown = re.match(r"Could not override '([^']+)'", message)
    if unknown:
        key = unknown.group(1)
        valid = _keys_beside(config_name, key, config_dir)
        where = f"; valid keys there: {', '.join(valid)}" if valid else ""
        return f"{config_name}: unknown key '{key}'{where}"
    missing = re.search(r"Could not find '([^']+)'", message)
    if missing:
        options = re.findall(r"^\t(\S+)$", message.split("Config search path")[0], flags=re.MULTILINE)
        group = missing.group(1).split("/")[0]
        return f"{config_name}: no config '{missing.group(1)}'; {group} can be: {', '.join(options) or '(none)'}"
    return f"{config_name}: " + " ".join(line.strip() for line in message.splitlines() if line.strip())


def _keys_beside(config_name: str, key: str, config_dir: Path) -> list[str]:
    from hydra import compose, initialize_config_dir
    from omegaconf import DictConfig, OmegaConf

    with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
        cfg = compose(config_name)
    parent = key.rpartition(".")[0]
    node = OmegaConf.select(cfg, parent) if parent else cfg
    return sorted(str(k) for k in node) if isinstance(node, DictConfig) else []


def hydra_entry(config_name: str, task: Callable[[Any], int | None], argv: Sequence[str] | None = None) -> None:
    """Run `task(cfg)` as a Hydra app over conf/`config_name`.yaml; a non-zero return value is the exit code."""
    import hydra

    args = list(sys.argv[1:] if argv is None else argv)
    if not any(a.startswith("-") for a in args):  # flags (--multirun, --help, --cfg ...) are Hydra's to handle
        problem = check_overrides(config_name, [a for a in args if not a.startswith("hydra.")])
        if problem:
            bad_input(problem)

    @hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name=config_name)
    def _main(cfg: Any) -> None:
        try:
            code = task(cfg)
        except BAD_INPUT as err:
            bad_input(str(err), logged=True)
        if code:
            sys.exit(code)

    _main()
