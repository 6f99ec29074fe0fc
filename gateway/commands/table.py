"""A plain aligned table for the terminal: text columns left, numbers right."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def render_table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], digits: Sequence[int | None] = ()
) -> str:
    """`digits`: decimals shown for the floats of each column (None: the default)."""
    places = [*digits, *[None] * (len(headers) - len(digits))]
    cells = [[_cell(value, places[i]) for i, value in enumerate(row)] for row in rows]
    numeric = [
        bool(rows) and all(isinstance(row[i], int | float) for row in rows)
        for i in range(len(headers))
    ]
    widths = [max([len(h)] + [len(row[i]) for row in cells]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        parts = [
            value.rjust(width) if right else value.ljust(width)
            for value, width, right in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(headers), rule, *(line(row) for row in cells)])


def _cell(value: Any, digits: int | None = None) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if digits is not None:
            return f"{value:,.{digits}f}"
        return f"{value:,.6f}" if abs(value) < 1 else f"{value:,.4f}"
    return str(value)
