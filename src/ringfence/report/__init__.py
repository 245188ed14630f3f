"""Reports: the daily bulletin, the situation report, Rt, transmission chains, line lists.

`daily_bulletin(store)` gives the bulletin of the last cycle run as JSON-ready data (the
contract of DESIGN.md); `situation_report(store)` adds the trends, charts and chains;
`render_bulletin` / `render_sitrep` write them as JSON, Markdown, HTML or PDF;
`estimate_rt(incidence, si_mean, si_sd, window=7)` is Cori et al. (2013), as EpiEstim.
"""

from __future__ import annotations

from .bulletin import build_bulletin, daily_bulletin
from .chains import Chains, transmission_chains
from .render import render_bulletin, render_sitrep
from .rt import discretise_serial_interval, doubling_time, estimate_rt
from .sitrep import SituationReport, situation_report
from .window import ReportWindow, report_window

__all__ = [
    "Chains",
    "ReportWindow",
    "SituationReport",
    "build_bulletin",
    "daily_bulletin",
    "discretise_serial_interval",
    "doubling_time",
    "estimate_rt",
    "render_bulletin",
    "render_sitrep",
    "report_window",
    "situation_report",
    "transmission_chains",
]
