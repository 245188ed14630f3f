"""Daily series for the situation report's charts, as long tables (one row per day and
category), small enough to embed in a chart spec whatever the size of the city."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from typing import Any

from .daily import ReportData, first_day
from .stocks import ISOLATION_KINDS, QUARANTINE_KINDS
from .tally import Where, both, on, open_at, share, total

CITY_ORIGINS = ("local", "imported")


def report_days(first: date, last: date) -> list[date]:
    """Every report day from `first` to `last`."""
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def series_start(data: ReportData, bulletin: dict[str, Any]) -> date:
    """The first day the charts show: the bulletin's cumulative start, or the first city case
    if that is earlier."""
    start = date.fromisoformat(bulletin["cumulative"]["since"])
    city = [r for r in data.cases if r["origin"] in CITY_ORIGINS]
    return min(start, first_day(city) or start)


def epi_curve(data: ReportData, since: date, by: str, dated: str = "day") -> list[dict[str, Any]]:
    """City cases per day (`dated` = "day", the report day, or "onset") and per value of `by`
    (origin, variant or classification); cases without an onset are left out of the onset
    curve."""
    rows = [r for r in data.cases if r["origin"] in CITY_ORIGINS and r[dated] is not None]
    values = sorted({str(r[by]) for r in rows})
    first = min([since, *(r[dated] for r in rows)]) if dated == "onset" and rows else since
    counted: Counter[tuple[date, str]] = Counter()
    for r in rows:
        counted[r[dated], str(r[by])] += int(r["n"])
    return [
        {"day": day.isoformat(), by: value, "cases": counted[day, value]}
        for day in report_days(first, data.window.day)
        for value in values
        if counted[day, value]
    ]


def test_volume(data: ReportData, since: date) -> list[dict[str, Any]]:
    """Single-tube PCR tests of the city's people per report day, the positives, positivity."""
    rows = [
        r for r in data.results
        if not r["environment"] and r["loop_id"] is None and r["test"] == "pcr"
    ]  # fmt: skip
    out = []
    for day in report_days(since, data.window.day):
        tests = total(rows, on(day))
        positive = total(rows, both(on(day), lambda r: r["reading"] == "positive"))
        out.append({"day": day.isoformat(), "tests": tests, "positive": positive,
                    "positivity": share(positive, tests)})  # fmt: skip
    return out


CENSUS = {
    "isolation or hospital": ISOLATION_KINDS,
    "quarantine": QUARANTINE_KINDS,
    "health monitoring": ("health_monitoring",),
}


def _kind_in(kinds: tuple[str, ...]) -> Where:
    return lambda r: r["kind"] in kinds


def census(data: ReportData, since: date) -> list[dict[str, Any]]:
    """People confined or monitored in the city at the end of each report day, by kind."""
    rows = [r for r in data.orders if r["loop_id"] is None]
    out = []
    for day in report_days(since, data.window.day):
        for label, kinds in CENSUS.items():
            n = total(rows, both(open_at(day), _kind_in(kinds)))
            out.append({"day": day.isoformat(), "kind": label, "people": n})
    return out
