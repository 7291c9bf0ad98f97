"""Long-running host processes tracked by pidfile, never by name.

A pidfile ``run/<name>.pid`` holds ``<pid> <start time>``; the start time (field 22 of
``/proc/<pid>/stat``) guards against a recycled pid, so ``stop`` can only ever signal the process
``start`` launched. ``run/<name>.spec`` holds a hash of what the process was started with; ``up``
restarts a running component only when that hash changes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

_CGROUP_VAR = "STFL_CGROUP_PROCS"
_JOIN_AND_EXEC = (
    f'IFS=:; for f in ${_CGROUP_VAR}; do echo $$ > "$f" || exit 97; done; '
    f'unset IFS {_CGROUP_VAR}; exec "$@"'
)


def start_time(pid: int) -> int | None:
    """Kernel start time of ``pid`` in clock ticks, or None when it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] in ("Z", "X"):
        _reap(pid)
        return None
    return int(fields[19])


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def is_running(pid: int, started: int | None = None) -> bool:
    """True when ``pid`` is alive (and, if ``started`` is given, is the same process)."""
    now = start_time(pid)
    return now is not None and (started is None or now == started)


@dataclass(frozen=True)
class Tracked:
    """A process recorded in a pidfile."""

    name: str
    pid: int
    started: int

    def alive(self) -> bool:
        """True while the recorded process still runs."""
        return is_running(self.pid, self.started)


class Registry:
    """Pidfiles and spec hashes of the components under one run directory."""

    def __init__(self, run_dir: Path) -> None:
        """Use ``run_dir`` for pidfiles."""
        self.run_dir = run_dir

    def pidfile(self, name: str) -> Path:
        """Pidfile of a component."""
        return self.run_dir / f"{name}.pid"

    def specfile(self, name: str) -> Path:
        """Spec-hash file of a component."""
        return self.run_dir / f"{name}.spec"

    def names(self) -> list[str]:
        """Every component that has a pidfile."""
        if not self.run_dir.is_dir():
            return []
        return sorted(p.stem for p in self.run_dir.glob("*.pid"))

    def get(self, name: str) -> Tracked | None:
        """The tracked process of ``name`` (alive or not), or None without a valid pidfile."""
        try:
            pid_text, started_text = self.pidfile(name).read_text().split()
            return Tracked(name, int(pid_text), int(started_text))
        except (FileNotFoundError, ValueError):
            return None

    def running(self, name: str) -> Tracked | None:
        """The live process of ``name``, or None."""
        tracked = self.get(name)
        return tracked if tracked is not None and tracked.alive() else None

    def spec(self, name: str) -> str | None:
        """The spec hash the running process was started with."""
        try:
            return self.specfile(name).read_text().strip()
        except FileNotFoundError:
            return None

    def start(
        self,
        name: str,
        argv: Sequence[str | os.PathLike[str]],
        *,
        log: Path,
        spec: str,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        cgroup_procs: Iterable[Path] = (),
    ) -> Tracked:
        """Start ``argv`` detached (own session), output appended to ``log``; record its pid.

        ``cgroup_procs`` are ``cgroup.procs`` files the child joins before it execs, so its own
        children (containerd shims) are found there later.
        """
        self.run_dir.mkdir(parents=True, exist_ok=True)
        log.parent.mkdir(parents=True, exist_ok=True)
        command = [str(a) for a in argv]
        child_env = dict(env) if env is not None else dict(os.environ)
        procs = [str(p) for p in cgroup_procs]
        if procs:
            # Join the cgroups first, then exec: the process never runs outside them.
            child_env[_CGROUP_VAR] = ":".join(procs)
            command = ["/bin/sh", "-c", _JOIN_AND_EXEC, "sh", *command]

        with log.open("a") as out:
            out.write(f"\n==== {time.strftime('%Y-%m-%d %H:%M:%S')} starting: "
                      f"{' '.join(str(a) for a in argv)}\n")
            out.flush()
            proc = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=child_env, cwd=cwd, start_new_session=True, close_fds=True,
            )
        started = start_time(proc.pid)
        if started is None:
            proc.wait()
            raise RuntimeError(f"{name} exited at once (exit {proc.returncode}); see {log}")
        tracked = Tracked(name, proc.pid, started)
        self._write(self.pidfile(name), f"{proc.pid} {started}\n")
        self._write(self.specfile(name), spec + "\n")
        return tracked

    def stop(self, name: str, *, timeout: float = 15.0) -> bool:
        """Stop ``name`` (SIGTERM, then SIGKILL at the deadline); forget it. True if it was running."""
        tracked = self.get(name)
        was_running = False
        if tracked is not None and tracked.alive():
            was_running = True
            terminate([tracked.pid], timeout=timeout, is_alive=lambda _pid: tracked.alive())
        self.pidfile(name).unlink(missing_ok=True)
        self.specfile(name).unlink(missing_ok=True)
        return was_running

    def forget(self, name: str) -> None:
        """Drop ``name``'s records (its process is gone, e.g. killed with its node)."""
        self.pidfile(name).unlink(missing_ok=True)
        self.specfile(name).unlink(missing_ok=True)

    @staticmethod
    def _write(path: Path, text: str) -> None:
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text)
        tmp.replace(path)


def terminate(
    pids: Iterable[int],
    *,
    timeout: float,
    is_alive: Callable[[int], bool] = is_running,
) -> list[int]:
    """SIGTERM ``pids``, wait up to ``timeout`` s, SIGKILL the rest; return the pids that got SIGKILL."""
    targets = {pid for pid in pids if pid != os.getpid()}
    _signal(targets, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while targets and time.monotonic() < deadline:
        targets = {pid for pid in targets if is_alive(pid)}
        if targets:
            time.sleep(0.1)
    killed = sorted(pid for pid in targets if is_alive(pid))
    _signal(killed, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while any(is_alive(pid) for pid in killed) and time.monotonic() < deadline:
        time.sleep(0.05)
    return killed


def kill_now(pids: Iterable[int]) -> None:
    """SIGKILL ``pids`` at once (no grace) and wait briefly until they are gone."""
    targets = {pid for pid in pids if pid != os.getpid()}
    _signal(targets, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while any(is_running(pid) for pid in targets) and time.monotonic() < deadline:
        time.sleep(0.05)


def _signal(pids: Iterable[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
