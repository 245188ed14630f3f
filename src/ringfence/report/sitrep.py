"""The situation report: the bulletin, with the trends and chains behind it.

Epi curves by report day (stacked by origin and by variant) and by onset, Rt over time with
its credible interval, test volume and positivity, the census of people confined over time,
each loop's daily tests and positives, and the transmission chains.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from ringfence.protocol import Protocol
from ringfence.store import Store

from . import charts
from .bulletin import build_bulletin, bulletin_data
from .chains import MAX_NODES, Chains, transmission_chains
from .daily import ReportData
from .series import census, epi_curve, series_start, test_volume
from .trends import rt_series

MAX_INLINE_SVG = 400_000
"""Bytes of SVG above which a printed chart is embedded as a PNG image instead."""
CHART_CLUSTERS = 25
"""The static chains chart (print, Markdown) draws this many of the largest clusters."""


@dataclass(frozen=True)
class Chart:
    """One chart: a name (its anchor), a title, and the Vega-Lite spec."""

    name: str
    title: str
    spec: dict[str, Any]

    def svg(self) -> str:
        """The chart rendered to SVG offline."""
        return charts.to_svg(self.spec)

    def printable(self) -> str:
        """The chart for a printed page: inline SVG, or a PNG image when the drawing is so
        dense (a city's chains) that the SVG would take the typesetter seconds."""
        svg = self.svg()
        if len(svg) <= MAX_INLINE_SVG:
            return svg
        png = base64.b64encode(charts.to_png(self.spec)).decode("ascii")
        return f'<img alt="{html.escape(self.title)}" src="data:image/png;base64,{png}">'


@dataclass(frozen=True)
class SituationReport:
    """Everything the report shows, ready for any format."""

    bulletin: dict[str, Any]
    series: dict[str, list[dict[str, Any]]]
    chains: Chains
    charts: list[Chart] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-ready data: bulletin, series, clusters and graph."""
        return {
            "bulletin": self.bulletin,
            "series": self.series,
            "clusters": self.chains.clusters,
            "sporadic_cases": self.chains.sporadic,
            "graph": self.chains.graph(),
            "graph_shows_contacts": self.chains.contacts_shown,
        }


def build_situation_report(
    data: ReportData,
    chains: Chains,
    since: date | None = None,
    *,
    issued_at: datetime | None = None,
    run: dict[str, Any] | None = None,
) -> SituationReport:
    """Assemble the report from the daily rows and the chains of one cycle run."""
    bulletin = build_bulletin(data, since, issued_at=issued_at, run=run)
    start = series_start(data, bulletin)
    series = {
        "cases_by_origin": epi_curve(data, start, "origin"),
        "cases_by_variant": epi_curve(data, start, "variant"),
        "cases_by_onset": epi_curve(data, start, "classification", dated="onset"),
        "rt": rt_series(data, start),
        "tests": test_volume(data, start),
        "census": census(data, start),
    }
    made = [
        Chart("epi-origin", "New cases by report day, by origin",
              charts.epi_curve_chart(series["cases_by_origin"], "origin", "By origin")),
        Chart("epi-variant", "New cases by report day, by variant",
              charts.epi_curve_chart(series["cases_by_variant"], "variant", "By variant")),
        Chart("epi-onset", "Cases by date of onset",
              charts.epi_curve_chart(series["cases_by_onset"], "classification", "By onset")),
        Chart("tests", "PCR tests and positivity", charts.tests_chart(series["tests"], "Tests")),
        Chart("census", "People in isolation, quarantine and monitoring",
              charts.census_chart(series["census"], "Census")),
    ]  # fmt: skip
    if series["rt"]:
        made.insert(3, Chart("rt", "Rt (Cori et al. 2013), 95% credible interval",
                             charts.rt_chart(series["rt"], "Rt")))  # fmt: skip
    for loop in bulletin["loops"]:
        made.append(
            Chart(f"loop-{loop['loop_id']}", f"Closed loop {loop['loop_id']}: tests and positives",
                  charts.loop_chart(loop["daily"], loop["loop_id"]))
        )  # fmt: skip
    if chains.clusters:
        # A page holds a few dozen lanes; the whole graph is in the HTML report and the JSON.
        largest = [c["cluster_id"] for c in chains.clusters[:CHART_CLUSTERS]]
        title = "Transmission chains" + (
            f" (the {CHART_CLUSTERS} largest clusters)" if len(chains.clusters) > CHART_CLUSTERS
            else ""
        )  # fmt: skip
        made.append(
            Chart("chains", title,
                  charts.chains_chart(chains.nodes, chains.edges, largest, "Clusters"))
        )  # fmt: skip
    return SituationReport(bulletin, series, chains, made)


def situation_report(
    store: Store,
    as_of: datetime | None = None,
    since: date | None = None,
    protocol: Protocol | None = None,
    max_nodes: int = MAX_NODES,
) -> SituationReport:
    """The situation report of the last cycle run (which must be the run at `as_of`)."""
    data, run = bulletin_data(store, as_of, protocol)
    chains = transmission_chains(store, data.window.timezone, max_nodes)
    return build_situation_report(data, chains, since, issued_at=datetime.now(UTC), run=run)
