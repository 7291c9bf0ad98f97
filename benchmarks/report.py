"""The table of results: rows measured so far, progress lines on stderr, and the same figures as JSON."""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .waits import bounded


def fmt(value: float, unit: str) -> str:
    """A measurement for the table: milliseconds below one second, a ratio as ``0.42x``, a count as ``2``."""
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "n":
        return f"{value:g}"
    if value < 1.0:
        return f"{value * 1000:.1f} ms"
    return f"{value:.2f} s"


def spread(samples: Sequence[float], unit: str = "s") -> str:
    """``n=5, min .., max ..`` (or nothing for a single sample)."""
    if len(samples) < 2:
        return ""
    return f"n={len(samples)}, min {fmt(min(samples), unit)}, max {fmt(max(samples), unit)}"


def short_error(err: BaseException, limit: int = 400) -> str:
    """``Type: message`` on one line, its tail kept when long (a failed ``pulumi up`` carries its whole output)."""
    text = " ".join(f"{type(err).__name__}: {err}".split())
    return text if len(text) <= limit else f"{text[:120]} ... {text[-(limit - 125):]}"


@dataclass
class Result:
    """One row of the table: the median of the samples against an upper-bound goal (None: no goal)."""

    name: str
    goal: float | None
    value: float | None = None
    unit: str = "s"
    detail: str = ""
    error: str | None = None
    samples: list[float] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        """``yes`` (goal met), ``NO`` (missed), ``FAIL`` (no measurement) or ``-`` (nothing to meet)."""
        if self.error is not None or self.value is None:
            return "FAIL"
        if self.goal is None:
            return "-"
        return "yes" if self.value <= self.goal else "NO"


@dataclass
class Report:
    """The rows measured so far, and progress lines on stderr."""

    results: list[Result] = field(default_factory=list)
    began: float = field(default_factory=time.monotonic)
    #: Figures beyond the rows (timelines, the engine's breakdown), by group, for the JSON.
    data: dict[str, Any] = field(default_factory=dict)

    def log(self, message: str) -> None:
        """A progress line, stamped with the time since the start."""
        print(f"[{time.monotonic() - self.began:6.1f}s] {message}", file=sys.stderr, flush=True)

    def add(
        self, name: str, samples: Sequence[float], goal: float | None, *, unit: str = "s", detail: str = ""
    ) -> None:
        """Record the median of ``samples``."""
        value = statistics.median(samples)
        details = "; ".join(d for d in (spread(samples, unit), detail) if d)
        self.results.append(Result(name=name, goal=goal, value=value, unit=unit, detail=details,
                                   samples=[round(x, 4) for x in samples]))
        wanted = f" (goal <= {fmt(goal, unit)})" if goal is not None else ""
        self.log(f"{name}: {fmt(value, unit)}{wanted}" + (f"  [{details}]" if details else ""))

    def fail(self, name: str, error: str) -> None:
        """Record a measurement that could not be made."""
        self.results.append(Result(name=name, goal=None, error=error))
        self.log(f"{name}: FAILED: {error}")

    def run(
        self,
        name: str,
        budget: float,
        measure: Callable[[], None],
        *,
        attempts: int = 1,
    ) -> None:
        """Run a group of measurements under a time budget per attempt; a failure becomes a FAIL row.

        A failed attempt's rows are dropped before the next attempt.
        """
        for attempt in range(1, attempts + 1):
            self.log(f"== {name} (budget {budget:.0f} s" + (f", attempt {attempt})" if attempt > 1 else ")"))
            mark = len(self.results)
            try:
                with bounded(budget, name):
                    measure()
            except Exception as err:
                del self.results[mark:]
                error = short_error(err)
                if attempt < attempts:
                    self.log(f"{name}: attempt {attempt} failed ({error}); trying again")
                    continue
                self.fail(f"{name}: aborted", error)
            return

    @property
    def failed(self) -> bool:
        """Whether any measurement failed."""
        return any(r.verdict == "FAIL" for r in self.results)

    def table(self) -> str:
        """The results as an aligned text table."""
        rows = [("benchmark", "measured", "goal", "ok", "detail")]
        for r in self.results:
            measured = fmt(r.value, r.unit) if r.value is not None else "-"
            goal = f"<= {fmt(r.goal, r.unit)}" if r.error is None and r.goal is not None else "-"
            detail = r.error if r.error is not None else r.detail
            rows.append((r.name, measured, goal, r.verdict, detail))
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines = []
        for i, row in enumerate(rows):
            cells = [row[0].ljust(widths[0]), row[1].rjust(widths[1]), row[2].rjust(widths[2]),
                     row[3].ljust(widths[3]), row[4]]
            lines.append("  ".join(cells).rstrip())
            if i == 0:
                lines.append("  ".join("-" * w for w in [*widths, len("detail")]))
        return "\n".join(lines)


    def goals(self) -> list[str]:
        """One line per row with a goal: whether it is met."""
        state = {"yes": "met", "NO": "NOT met"}
        return [f"{state.get(r.verdict, 'not measured')}: {r.name} <= {fmt(r.goal, r.unit)}"
                for r in self.results if r.goal is not None]

    def write_json(self, path: Path, **header: Any) -> None:
        """The rows and the extra figures as JSON (``header`` first: date, rounds, ...)."""
        rows = [{**asdict(r), "verdict": r.verdict} for r in self.results]
        document = {**header, "rows": rows, **self.data}
        path.write_text(json.dumps(document, indent=1, default=str) + "\n", encoding="utf-8")
