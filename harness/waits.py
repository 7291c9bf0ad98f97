"""Waiting on conditions against a deadline, never on a bare sleep.

A wait that gives up says what it was waiting for and what it saw last, so a failure reads like
``timed out after 120 s waiting for web-demo-3 to be Ready; last observed: phase=Pending``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

#: Poll interval for conditions that change within seconds.
POLL_S = 0.5


def _truthy(value: object) -> bool:
    return bool(value)


def wait_until(
    observe: Callable[[], T],
    timeout: float,
    what: str,
    *,
    until: Callable[[T], bool] = _truthy,
    ignore: tuple[type[BaseException], ...] = (),
    interval: float = POLL_S,
) -> T:
    """Call ``observe`` until ``until(value)`` holds; return that value or fail after ``timeout`` s.

    Exceptions of the types in ``ignore`` count as "not yet" and are reported as the last observed
    state if the deadline passes.
    """
    deadline = time.monotonic() + timeout
    last: str = "nothing observed yet"
    while True:
        try:
            value = observe()
        except ignore as err:
            last = f"{type(err).__name__}: {err}"
        else:
            if until(value):
                return value
            last = repr(value)
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last observed: {last}")
        time.sleep(interval)


def holds_for(
    observe: Callable[[], T],
    duration: float,
    what: str,
    *,
    until: Callable[[T], bool] = _truthy,
    interval: float = POLL_S,
) -> T:
    """Check that ``until(observe())`` stays true for ``duration`` s; fail on the first violation."""
    deadline = time.monotonic() + duration
    while True:
        value = observe()
        if not until(value):
            raise AssertionError(f"expected {what} for {duration:.0f} s, but it stopped holding: {value!r}")
        if time.monotonic() >= deadline:
            return value
        time.sleep(interval)
