"""The verbs' tables: left-aligned columns two spaces apart, each as wide as its widest cell."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def columns(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """`headers` then `rows` as text; the last column is not padded."""
    table = [list(headers), *([str(cell) for cell in row] for row in rows)]
    widths = [max(len(row[i]) for row in table) for i in range(len(headers) - 1)]
    return "\n".join(
        "  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]]) for row in table
    )
