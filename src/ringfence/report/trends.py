"""Where the epidemic is heading: daily incidence, Rt over time and the doubling time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .daily import ReportData
from .rt import doubling_time, estimate_rt

CITY_ORIGINS = ("local", "imported")


@dataclass(frozen=True)
class Incidence:
    """The city's cases per report day: all of them, and the imported ones among them."""

    days: list[date]
    cases: NDArray[np.int64]
    imported: NDArray[np.int64]

    @property
    def local(self) -> NDArray[np.int64]:
        """Cases infected locally."""
        return self.cases - self.imported


def city_incidence(data: ReportData, start: date) -> Incidence:
    """Daily city cases (by the report day they were detected) from `start` to the bulletin's
    day, zeros included."""
    last = data.window.day
    days = [start + timedelta(days=n) for n in range(max((last - start).days + 1, 0))]
    index = {d: i for i, d in enumerate(days)}
    cases = np.zeros(len(days), dtype=np.int64)
    imported = np.zeros(len(days), dtype=np.int64)
    for r in data.cases:
        i = index.get(r["day"])
        if i is None or r["origin"] not in CITY_ORIGINS:
            continue
        cases[i] += r["n"]
        if r["origin"] == "imported":
            imported[i] += r["n"]
    return Incidence(days, cases, imported)


def rt_series(data: ReportData, start: date) -> list[dict[str, Any]]:
    """Rt per sliding window (Cori et al. 2013) with the protocol's serial interval and
    window, each row dated by its window's first and last report day."""
    series = city_incidence(data, start)
    settings = data.protocol.at(data.as_of).bulletin
    window = settings.rt_window_days
    if len(series.days) <= window or series.cases.sum() == 0:
        return []
    table = estimate_rt(
        series.cases,
        settings.serial_interval_mean_days,
        settings.serial_interval_sd_days,
        window,
        imported=series.imported,
    ).to_pylist()
    local = series.local
    return [
        {
            "window_start": series.days[int(row["t_start"]) - 1].isoformat(),
            "window_end": series.days[int(row["t_end"]) - 1].isoformat(),
            "local_cases": int(local[int(row["t_start"]) - 1 : int(row["t_end"])].sum()),
            **{key: round(float(row[key]), 4) for key in ("mean", "std", "q025", "q975")},
        }
        for row in table
    ]


def rt_today(data: ReportData, start: date) -> dict[str, Any]:
    """Rt over the window ending on the bulletin's day (nulls when it cannot be estimated:
    fewer days of data than the window, or no case at all), with the method's settings."""
    settings = data.protocol.at(data.as_of).bulletin
    today = data.window.day.isoformat()
    estimate: dict[str, Any] = dict.fromkeys(
        ("mean", "q025", "q975", "window_start", "local_cases")
    )
    estimate["window_end"] = today
    series = rt_series(data, start)
    if series and series[-1]["window_end"] == today:
        estimate = {key: series[-1][key] for key in estimate}
    return {
        **estimate,
        "method": "Cori et al. 2013",
        "window_days": settings.rt_window_days,
        "serial_interval_mean_days": settings.serial_interval_mean_days,
        "serial_interval_sd_days": settings.serial_interval_sd_days,
    }


def doubling_time_today(data: ReportData, start: date) -> float | None:
    """Days for the city's daily cases to double at the growth of the last window; None
    when they are not growing."""
    series = city_incidence(data, start)
    window = data.protocol.at(data.as_of).bulletin.rt_window_days
    if len(series.days) < window:
        return None
    value = doubling_time(series.cases, window)
    return None if value is None else round(value, 2)
