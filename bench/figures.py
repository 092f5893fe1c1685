"""What the benchmark scripts share: timing a step and printing the figures as a table."""

from __future__ import annotations

import time
from collections.abc import Callable


def timed(step: Callable[[], object]) -> float:
    started = time.monotonic()
    step()
    return time.monotonic() - started


def print_table(rows: list[tuple[str, str]]) -> None:
    width = max(len(name) for name, _ in rows)
    for name, figure in rows:
        print(f"{name:<{width}}  {figure}")
