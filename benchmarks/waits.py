"""Time budgets for groups of measurements, and waits on conditions with deadlines (never bare sleeps)."""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Callable, Iterator
from types import FrameType
from typing import TypeVar

T = TypeVar("T")

#: Default poll interval of ``wait_for``.
POLL_S = 0.1

class BudgetExceededError(Exception):
    """A group of measurements ran past its time budget."""


@contextlib.contextmanager
def bounded(seconds: float, what: str) -> Iterator[None]:
    """Raise ``BudgetExceededError`` in the main thread if the block runs longer than ``seconds``.

    Budgets nest: an enclosing budget's timer is put back, less the time spent, when the block ends.
    """

    def expire(signum: int, frame: FrameType | None) -> None:
        raise BudgetExceededError(f"{what} ran past its budget of {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, expire)
    outer, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
    began = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer > 0:
            signal.setitimer(signal.ITIMER_REAL, max(0.001, outer - (time.monotonic() - began)))


def wait_for(
    observe: Callable[[], T | None],
    timeout: float,
    what: str,
    *,
    interval: float = POLL_S,
    ignore: tuple[type[Exception], ...] = (),
) -> T:
    """Call ``observe`` until it returns something other than None; return that, or fail at the deadline.

    Exceptions of the types in ``ignore`` count as "not yet" and are reported if the deadline passes.
    """
    deadline = time.monotonic() + timeout
    last = "nothing observed yet"
    while True:
        try:
            value = observe()
        except ignore as err:
            last = f"{type(err).__name__}: {err}"
        else:
            if value is not None:
                return value
            last = "not yet"
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}; last observed: {last}")
        if interval > 0:
            time.sleep(interval)

