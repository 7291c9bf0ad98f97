"""Phase progress with elapsed times, and command runners that log to files."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

_START = time.monotonic()


class StepError(RuntimeError):
    """A named step failed; the message carries the tail of its log."""


def _stamp() -> str:
    return f"[{time.monotonic() - _START:7.1f}s]"


def say(message: str) -> None:
    """Print one progress line, prefixed by the time since start."""
    print(f"{_stamp()} {message}", flush=True)


@contextlib.contextmanager
def phase(name: str) -> Iterator[None]:
    """Announce a phase and report how long it took, or that it failed."""
    began = time.monotonic()
    say(f"==> {name}")
    try:
        yield
    except BaseException:
        say(f"<== {name}: FAILED after {time.monotonic() - began:.1f}s")
        raise
    say(f"<== {name}: done in {time.monotonic() - began:.1f}s")


def tail(path: Path, lines: int = 40) -> str:
    """Return the last lines of a log file (or a note that it is missing)."""
    try:
        text = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return f"(no log at {path})"
    return "\n".join(text[-lines:])


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    log: Path,
    step: str,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> None:
    """Run a command, appending its output to ``log``; on failure raise with the log's tail."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(str(a) for a in argv)}\n")
        out.flush()
        proc = subprocess.run(
            [str(a) for a in argv], cwd=cwd, env=dict(env) if env is not None else None,
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, check=False,
        )
    if proc.returncode != 0:
        raise StepError(
            f"step '{step}' failed (exit {proc.returncode}); log: {log}\n--- tail of log ---\n{tail(log)}"
        )


def capture(argv: Sequence[str | os.PathLike[str]], *, cwd: Path | None = None,
            env: Mapping[str, str] | None = None) -> str:
    """Run a short command and return its stdout (raises on failure)."""
    proc = subprocess.run(
        [str(a) for a in argv], cwd=cwd, env=dict(env) if env is not None else None,
        capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False,
    )
    if proc.returncode != 0:
        raise StepError(f"{' '.join(str(a) for a in argv)} failed: {proc.stderr.strip()[-2000:]}")
    return proc.stdout


def fail(message: str) -> None:
    """Print an error and exit non-zero."""
    print(f"ERROR: {message}", file=sys.stderr, flush=True)
    sys.exit(1)
