"""The deployed stack: its outputs, and ``pulumi preview`` of it (read-only)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pulumi import automation as auto

from .report import Report

REPO = Path(__file__).resolve().parent.parent
STACK = "local"

def stack_outputs() -> dict[str, Any]:
    """Plain values of the ``local`` stack's outputs."""
    stack = auto.select_stack(stack_name=STACK, work_dir=str(REPO))
    return {k: v.value for k, v in stack.outputs().items()}


def bench_preview(report: Report) -> None:
    """``pulumi preview`` of the deployed stack, three times (read-only)."""
    stack = auto.select_stack(stack_name=STACK, work_dir=str(REPO))
    samples: list[float] = []
    changes: dict[str, int] = {}
    for _ in range(3):
        began = time.perf_counter()
        result = stack.preview(color="never")
        samples.append(time.perf_counter() - began)
        # The keys are typed OpType but arrive as plain strings from the engine's JSON.
        summary = {auto.OpType(op).value: n for op, n in (result.change_summary or {}).items()}
        changes = {op: n for op, n in summary.items() if op != auto.OpType.SAME.value and n}
    same = summary.get(auto.OpType.SAME.value, 0)
    detail = f"no-op ({same} unchanged)" if not changes else f"NOT a no-op: {changes} (stack config changed?)"
    report.add(f"pulumi: preview --stack {STACK}", samples, goal=15.0, detail=detail)

