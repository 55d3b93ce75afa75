"""Started programs: one Process with its log, a ProcessGroup of them in one folder (stopped
in reverse, logs kept when asked), and bounded waits that name the process and quote its log."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ComponentError(RuntimeError):
    """A component could not start, or died; the message says which and why."""


def wait_until(
    check: Callable[[], Any],
    what: str,
    timeout: float = 60.0,
    interval: float = 0.25,
    alive: Callable[[], None] | None = None,
) -> Any:
    """Call ``check`` until it returns a truthy value; bounded in time and count.

    ``alive`` is called before each try and may raise (e.g. a process died).
    Exceptions from ``check`` count as "not yet"; the last one is reported.
    """
    deadline = time.monotonic() + timeout
    max_tries = int(timeout / interval) + 2
    last_exc: BaseException | None = None
    for _ in range(max_tries):
        if alive is not None:
            alive()
        try:
            result = check()
            if result:
                return result
        except Exception as exc:
            last_exc = exc
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    detail = f" (last error: {last_exc!r})" if last_exc else ""
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")


def _die_with_parent() -> None:  # runs in the child between fork and exec
    """Linux: SIGKILL the child when the test process dies, however it dies."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except Exception:
        pass


@dataclass
class Process:
    """One started program with its log file."""

    name: str
    argv: list[str]
    log_path: Path
    env: dict[str, str] | None = None
    cwd: Path | None = None
    popen: subprocess.Popen | None = field(default=None, repr=False)

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._log = log
        try:
            self.popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,  # own process group: stop() ends all of it
                preexec_fn=_die_with_parent,
            )
        except OSError as exc:
            log.close()
            raise ComponentError(f"{self.name}: cannot execute {self.argv[0]}: {exc}") from exc

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def check_alive(self) -> None:
        if self.popen is None:
            raise ComponentError(f"{self.name} was never started")
        code = self.popen.poll()
        if code is not None:
            raise ComponentError(
                f"{self.name} exited with code {code}; last lines of {self.log_path}:\n{self.log_tail()}"
            )

    def stop(self, grace: float = 10.0) -> None:
        if self.popen is None:
            return
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=grace)
        log = getattr(self, "_log", None)
        if log is not None:
            log.close()


def wait_ready(proc: Process, check: Callable[[], Any], what: str, timeout: float) -> Any:
    """wait_until with the process's liveness and log in the error message."""
    try:
        return wait_until(check, what, timeout=timeout, alive=proc.check_alive)
    except TimeoutError as exc:
        raise ComponentError(f"{proc.name}: {exc}; last lines of {proc.log_path}:\n{proc.log_tail()}") from exc


class ProcessGroup:
    """The programs started in one folder (``dir``), each logging to ``dir/logs/<name>.log``.

    ``processes`` are the group's own, in start order; ``extra`` were started later against
    it (spawn_extra). stop_processes() ends them all, newest first."""

    def __init__(self, extra_args: dict[str, list[str]] | None = None) -> None:
        """``extra_args``: more flags for a component, by its name (e.g. "kube-controller-manager")."""
        self.extra_args = extra_args or {}
        self.dir: Path | None = None
        self.processes: list[Process] = []
        self.extra: list[Process] = []
        self.timings: dict[str, float] = {}

    def _step(self, name: str, fn: Callable[[], object]) -> None:
        t = time.monotonic()
        fn()
        self.timings[name] = time.monotonic() - t

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Process:
        assert self.dir is not None
        argv = [*argv, *self.extra_args.get(name, [])]
        proc = Process(name, argv, self.dir / "logs" / f"{name}.log", env=env, cwd=self.dir)
        proc.start()
        self.processes.append(proc)
        return proc

    def spawn_extra(
        self, name: str, argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> Process:
        assert self.dir is not None
        proc = Process(name, argv, self.dir / "logs" / f"{name}.log", env=env, cwd=cwd or self.dir)
        proc.start()
        self.extra.append(proc)
        return proc

    def stop_extra(self, proc: Process) -> None:
        proc.stop()
        if proc in self.extra:
            self.extra.remove(proc)

    def _stop_named(self, name: str, grace: float = 20) -> None:
        for proc in [p for p in self.processes if p.name == name]:
            proc.stop(grace=grace)
            self.processes.remove(proc)

    def logs(self) -> dict[str, Path]:
        return {p.name: p.log_path for p in self.processes + self.extra}

    def check_alive(self) -> None:
        for proc in self.processes + self.extra:
            proc.check_alive()

    def stop_processes(self) -> None:
        for proc in reversed(self.extra + self.processes):
            with contextlib.suppress(Exception):
                proc.stop()
        self.extra.clear()
        self.processes.clear()

    def keep_logs(self) -> None:
        """Copy the logs to MPIFN_E2E_LOG_DIR/<the folder's name>/ when that is set: a folder
        per group, as a suite may start several."""
        log_dir = os.environ.get("MPIFN_E2E_LOG_DIR")
        if self.dir is None or not log_dir:
            return
        dest = Path(log_dir) / self.dir.name
        dest.mkdir(parents=True, exist_ok=True)
        for log in (self.dir / "logs").glob("*.log"):
            shutil.copy2(log, dest / log.name)


def run_tool(argv: list[str], what: str) -> None:
    """Run a command-line tool to completion; a ComponentError naming `what` if it is missing or fails."""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    except FileNotFoundError as exc:
        raise ComponentError(f"{what}: {argv[0]} is not installed ({exc})") from exc
    if proc.returncode != 0:
        raise ComponentError(f"{what} failed ({proc.returncode}): {proc.stderr.strip()}")
