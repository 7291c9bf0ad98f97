"""Run a Markdown walkthrough's commands and check their output the way the page shows it.

The page's ``console`` blocks are the script. In such a block a line ``$ command`` is a command (a line
ending in a backslash continues on the next), and the lines after it, up to the next ``$`` line, are what the
command prints (standard output and standard error together). Nothing else on the page is run.

How output is compared (the page states the same rule for its readers):

* lines are compared after trimming them and turning every run of blanks into one space (kubectl aligns
  its columns to their content); blank lines are ignored;
* ``...`` inside a line stands for any text (an IP, an age, a revision hash);
* a line that is only ``...`` stands for any number of lines, none included (trimmed output);
* every other line must be there, in this order, and nothing else.

Commands run with bash in the repository, with the environment the test gives (``pulumi`` and
``kubectl`` of the project, its kubeconfig). Three kinds of command run as a reader would run them,
not verbatim (:func:`variant`):

* a watch (``kubectl get ... -w``) runs until the lines shown have appeared, then is stopped, as a reader
  presses Ctrl-C once they have seen them; it fails if they do not appear before the deadline;
* ``kubectl run -it --rm`` runs as its three steps: ``kubectl run`` without ``-it --rm``, then, once the pod
  has finished, ``kubectl logs`` and ``kubectl delete pod`` (the test has no terminal, and the command for
  the pod is on the command line, so there is nothing to type into it; ``--attach`` misses the output of
  a command that ends before kubectl attaches);
* every ``pulumi`` command gets ``--config-file <a copy of the stack's settings>``, so
  ``pulumi config set`` changes the copy and the repository's file stays as it is.

A read-only command (``kubectl get`` without a watch, ``kubectl exec``) whose output does not match yet
is run again until it does or its deadline passes: the reader who looks a moment later sees the same.
Every other command runs once and must exit 0.
"""

from __future__ import annotations

import difflib
import os
import queue
import re
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from .waits import wait_until

GAP = "..."
PROMPT = "$ "
_FENCE = re.compile(r"^```(\S*)\s*$")
_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*$")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_BLANKS = re.compile(r"\s+")

#: How long a command may take (a ``pulumi up`` that waits for pods included).
COMMAND_S = 300.0
#: How long a watch may run before the lines shown must have appeared.
WATCH_S = 180.0
#: How long a read-only command is run again until its output matches.
SETTLE_S = 90.0


class Mode(StrEnum):
    """How the runner runs a command."""

    ONCE = "once"  # run once, must exit 0 and match
    SETTLE = "settle"  # read-only: run again until it matches
    WATCH = "watch"  # stream until the expected lines appeared, then stop it


@dataclass(frozen=True)
class Step:
    """One command of the page: where it is, what the reader types, and what they see."""

    section: str
    line: int
    command: str
    expected: tuple[str, ...]

    def where(self, page: str) -> str:
        """``page:line (section)`` for messages."""
        return f"{page}:{self.line} ({self.section})"


@dataclass(frozen=True)
class Variant:
    """What the runner runs for a step's command, and how."""

    command: str
    mode: Mode
    note: str = ""


def parse(text: str) -> list[Step]:
    """Every ``$ command`` of the page's ``console`` blocks, in order, with the lines it is shown to print."""
    steps: list[Step] = []
    section = "(top)"
    in_block = False
    language = ""
    command: list[str] = []
    start = 0
    expected: list[str] = []
    continued = False

    def flush() -> None:
        nonlocal command, expected
        if command:
            steps.append(Step(section, start, " ".join(command), tuple(expected)))
        command, expected = [], []

    for number, line in enumerate(text.splitlines(), start=1):
        fence = _FENCE.match(line)
        if fence:
            if in_block:
                if language == "console":
                    flush()
                in_block = False
            else:
                in_block, language, continued = True, fence.group(1), False
            continue
        if not in_block:
            heading = _HEADING.match(line)
            if heading:
                section = heading.group(1)
            continue
        if language != "console":
            continue
        if continued:
            command.append(line.strip().removesuffix("\\").strip())
            continued = line.rstrip().endswith("\\")
        elif line.startswith(PROMPT):
            flush()
            start = number
            body = line[len(PROMPT):].rstrip()
            continued = body.endswith("\\")
            command = [body.removesuffix("\\").strip()]
        elif command:
            expected.append(line)
    return steps


def normalise(lines: Iterable[str]) -> list[str]:
    """Trimmed lines, blanks collapsed, colours removed, blank lines dropped."""
    cleaned = (_BLANKS.sub(" ", _ANSI.sub("", line)).strip() for line in lines)
    return [line for line in cleaned if line]


def _line_pattern(expected: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in expected.split(GAP)))


def _progress(expected: Sequence[str], actual: Sequence[str]) -> tuple[int, bool]:
    """How many expected lines (from the first) match some start of the output, and whether all of it matches."""
    wanted = normalise(expected)
    lines = normalise(actual)
    patterns = [None if line == GAP else _line_pattern(line) for line in wanted]
    reachable = {0}  # output positions at which the next expected line may start
    for index, pattern in enumerate(patterns):
        following: set[int] = set()
        for position in reachable:
            if pattern is None:
                following.update(range(position, len(lines) + 1))
            elif position < len(lines) and pattern.fullmatch(lines[position]):
                following.add(position + 1)
        if not following:
            return index, False
        reachable = following
    return len(patterns), len(lines) in reachable


def matches(expected: Sequence[str], actual: Sequence[str]) -> bool:
    """Whether ``actual`` output is what ``expected`` shows (the rules in the module docstring)."""
    return _progress(expected, actual)[1]


def difference(expected: Sequence[str], actual: Sequence[str]) -> str:
    """Where the output departs from the page, and both, for a failure message."""
    wanted = normalise(expected)
    got = normalise(actual)
    matched, _ = _progress(expected, actual)
    if matched < len(wanted):
        where = f"expected line {matched + 1} {wanted[matched]!r} is not where the page shows it"
    else:
        where = "the command printed lines after the last one the page shows"
    diff = "\n".join(difflib.unified_diff(wanted, got, "page", "output", lineterm="", n=2))
    return f"{where}\n{diff}"


def variant(command: str, config_file: Path | None) -> Variant:
    """What the runner runs for ``command`` (see the module docstring), and how."""
    words = shlex.split(command)
    if words[:2] == ["kubectl", "run"] and ("-it" in words or "-ti" in words):
        return Variant(_throw_away_pod(words), Mode.ONCE,
                       "-it --rm as three steps: run the pod, wait for it to finish and print its log, delete it")
    if words[:2] == ["kubectl", "get"] and ("-w" in words or "--watch" in words):
        return Variant(command, Mode.WATCH, "stopped once the lines shown appeared")
    if words[:2] in (["kubectl", "get"], ["kubectl", "exec"]) or _is_loop_of(words, ("get", "exec")):
        return Variant(command, Mode.SETTLE, "read-only: run again until it matches")
    if words and words[0] == "pulumi" and config_file is not None:
        return Variant(f"{command} --config-file {shlex.quote(str(config_file))}", Mode.ONCE,
                       "on a copy of the stack's settings")
    return Variant(command, Mode.ONCE)


_VALUED = frozenset({"--image", "-n", "--namespace", "--image-pull-policy", "--restart", "--labels", "-l"})


def _throw_away_pod(words: Sequence[str]) -> str:
    """``kubectl run -it --rm NAME ... -- CMD`` without a terminal.

    ``--attach`` would do, but it misses the output of a command that ends before kubectl attaches.
    """
    head, tail = list(words), []
    if "--" in head:
        head, tail = head[: head.index("--")], head[head.index("--"):]
    kept, name, namespace, skip = [], "", "default", False
    for index, word in enumerate(head):
        if skip:
            skip = False
        elif word in ("-it", "-ti", "--rm"):
            continue
        elif word in _VALUED:
            skip = True
            if word in ("-n", "--namespace"):
                namespace = head[index + 1]
        elif index >= 2 and not word.startswith("-") and not name:
            name = word
        if word not in ("-it", "-ti", "--rm"):
            kept.append(word)
    if not name:
        raise ValueError(f"no pod name in {' '.join(words)!r}")
    quoted = " ".join(shlex.quote(word) for word in (*kept, *tail))
    pod, where = shlex.quote(name), f"-n {shlex.quote(namespace)}"
    return (f"{quoted} 2>&1 | grep -vx 'pod/{name} created'; "
            f"kubectl wait --for=jsonpath='{{.status.phase}}'=Succeeded pod/{pod} {where} --timeout=90s > /dev/null; "
            f"kubectl logs {pod} {where}; kubectl delete pod {pod} {where}")


def _is_loop_of(words: Sequence[str], verbs: Sequence[str]) -> bool:
    """``for ...; do kubectl <verb> ...; done``: a loop of read-only kubectl commands."""
    if not words or words[0] != "for":
        return False
    text = " ".join(words)
    used = re.findall(r"\bkubectl (\S+)", text)
    return bool(used) and all(verb in verbs for verb in used) and " -w" not in text


@dataclass(frozen=True)
class Result:
    """What one run of a command printed, and its exit status (None: stopped by the runner)."""

    lines: list[str]
    status: int | None


def run_once(command: str, env: Mapping[str, str], cwd: Path, timeout: float = COMMAND_S) -> Result:
    """Run ``command`` with bash; standard error is merged into standard output."""
    done = subprocess.run(["bash", "-c", command], cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout, check=False)
    return Result(done.stdout.splitlines(), done.returncode)


def run_watch(command: str, expected: Sequence[str], env: Mapping[str, str], cwd: Path,
              timeout: float = WATCH_S) -> Result:
    """Run a watch until its output matches ``expected`` (then stop it) or ``timeout`` passes (then kill it)."""
    process = subprocess.Popen(["bash", "-c", f"exec {command}"], cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    reader = threading.Thread(target=read, name="watch-reader", daemon=True)
    reader.start()
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    status: int | None = None
    try:
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=max(0.1, min(1.0, deadline - time.monotonic())))
            except queue.Empty:
                continue
            if line is None:  # the watch ended by itself
                status = process.wait()
                break
            seen.append(line)
            if matches(expected, seen):
                break
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C sends
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        reader.join(timeout=5)
    return Result(seen, status)


def run_step(step: Step, env: Mapping[str, str], cwd: Path, *, page: str, config_file: Path | None,
             settle_s: float = SETTLE_S) -> Result:
    """Run one step as :func:`variant` says; raise AssertionError naming the step and the difference."""
    how = variant(step.command, config_file)
    if how.mode is Mode.WATCH:
        result = run_watch(how.command, step.expected, env, cwd)
    elif how.mode is Mode.SETTLE:
        last: list[Result] = []

        def observe() -> Result:
            last.append(run_once(how.command, env, cwd))
            return last[-1]

        try:
            result = wait_until(observe, settle_s, f"`{step.command}` to print what the page shows",
                                until=lambda r: r.status == 0 and matches(step.expected, r.lines), interval=1.0)
        except AssertionError:
            result = last[-1] if last else Result([], None)
    else:
        result = run_once(how.command, env, cwd)
    ran = f" (ran: {how.command}; {how.note})" if how.command != step.command or how.note else ""
    heading = f"{step.where(page)}: $ {step.command}{ran}"
    if result.status not in (0, None):
        output = "\n".join(result.lines)
        raise AssertionError(f"{heading}\nexited with status {result.status}; output:\n{output}")
    if not matches(step.expected, result.lines):
        raise AssertionError(f"{heading}\noutput differs from the page: {difference(step.expected, result.lines)}")
    return result
