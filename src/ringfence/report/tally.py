"""Adding up daily rows: flows on a day or over days, stocks open at the end of a day."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

Row = dict[str, Any]
Where = Callable[[Row], bool]


def total(rows: Iterable[Row], where: Where = lambda _r: True) -> int:
    """The sum of `n` over the rows that match."""
    return int(sum(r["n"] for r in rows if where(r)))


def by(rows: Iterable[Row], key: str, where: Where = lambda _r: True) -> dict[str, int]:
    """The sum of `n` per value of `key`, over the rows that match, sorted, zeros left out."""
    sums: dict[str, int] = defaultdict(int)
    for r in rows:
        if where(r):
            sums[str(r[key])] += int(r["n"])
    return {k: v for k, v in sorted(sums.items()) if v}


def on(day: date, column: str = "day") -> Where:
    """Rows of report day `day`."""
    return lambda r: r[column] == day


def between(first: date, last: date, column: str = "day") -> Where:
    """Rows of a report day from `first` to `last`, both included."""
    return lambda r: r[column] is not None and first <= r[column] <= last


def open_at(day: date) -> Where:
    """Rows of an order (or area) started by the end of `day` and not yet ended then."""
    return lambda r: (
        r["start_day"] is not None
        and r["start_day"] <= day
        and (r["end_day"] is None or r["end_day"] > day)
    )


def both(*conditions: Where) -> Where:
    """Rows that match every condition."""
    return lambda r: all(c(r) for c in conditions)


def share(part: int, whole: int) -> float | None:
    """`part` of `whole` as a fraction rounded to six places; None when `whole` is zero."""
    return round(part / whole, 6) if whole else None
