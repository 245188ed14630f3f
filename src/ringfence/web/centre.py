"""The command centre: the bulletin of the last cycle run and its two charts (the epi curve
and Rt), made once per run and kept until the next run.

The bulletin adds up a city's day (seconds at a million people); a dashboard opened by fifty
people must not add it up fifty times, nor again for every batch of results a lab sends. The
command centre shows the bulletin of a cycle run (it says which), as the published bulletin
does: the next run makes it anew.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ringfence.report import charts
from ringfence.report.bulletin import build_bulletin, bulletin_data
from ringfence.report.render import bulletin_markdown, to_html_fragment
from ringfence.report.series import epi_curve, series_start
from ringfence.report.trends import rt_series
from ringfence.store import Store, StoreError
from ringfence.store.migrations import RUNS_TABLE

CHART_NAMES = ("epi-curve", "rt")


@dataclass(frozen=True)
class CommandCentre:
    """What the command centre shows for one cycle run."""

    bulletin: dict[str, Any]
    bulletin_html: str
    charts: dict[str, str]
    """Chart name → SVG (a chart without data is left out)."""


class CentreCache:
    """The command centre of the last run, made at most once per run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: int | None = None
        self._value: CommandCentre | None = None

    def get(self, store: Store) -> CommandCentre:
        """The command centre for the store as it is now (made anew if anything changed)."""
        key = _freshness(store)
        # One thread makes it; the others wait for it rather than each adding up the city.
        with self._lock:
            if self._key != key or self._value is None:
                self._value, self._key = make_command_centre(store), key
            return self._value


def _freshness(store: Store) -> int:
    """The last cycle run (one indexed lookup: this is asked on every page view)."""
    run = store.fetchall(f"SELECT max(run_id) FROM {RUNS_TABLE}")[0][0]
    if run is None:
        raise StoreError("the control cycle has not run on this database; run `ringfence cycle`")
    return int(run)


def make_command_centre(store: Store) -> CommandCentre:
    """The bulletin of the last run, as data and HTML, with its epi curve and Rt drawn."""
    data, run = bulletin_data(store)
    bulletin = build_bulletin(data, None, issued_at=datetime.now(UTC), run=run)
    start = series_start(data, bulletin)
    drawn: dict[str, str] = {}
    curve = epi_curve(data, start, "origin")
    if curve:
        drawn["epi-curve"] = charts.to_svg(
            charts.epi_curve_chart(curve, "origin", "New cases by report day")
        )
    rt = rt_series(data, start)
    if rt:
        drawn["rt"] = charts.to_svg(charts.rt_chart(rt, "Rt, 95% credible interval"))
    return CommandCentre(bulletin, to_html_fragment(bulletin_markdown(bulletin)), drawn)
