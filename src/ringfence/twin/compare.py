"""Protocols side by side on one scenario: several seeds each, the same seeds for every
protocol, and what each costs and prevents, with its spread across seeds.

The answer is JSON (the numbers) and one self-contained HTML page (the numbers and the
charts: daily infections per protocol with the band the seeds span, people confined, tests).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import altair as alt
import numpy as np

from ringfence.protocol import Protocol
from ringfence.report.render import standalone_page
from ringfence.report.sitrep import Chart

from .run import RunResult, simulate
from .scenario import Scenario

NO_CONTROL = "none"
"""The protocol name meaning: no control at all (the epidemic left alone)."""
METRICS = (
    ("infections", "Infections"),
    ("cases_detected", "Cases detected"),
    ("infections_missed", "Infections missed"),
    ("peak_daily_infections", "Peak daily infections"),
    ("days_to_zero", "Days to zero"),
    ("person_days_isolation", "Person-days in isolation"),
    ("person_days_quarantine", "Person-days in quarantine"),
    ("samples", "Samples taken"),
    ("tubes", "Tubes tested (pooling counted)"),
    ("place_days_closed", "Place-days closed"),
    ("children_separated", "Child-days separated from guardians"),
)
RunProgress = Callable[[str, int, int, int], None]
"""(protocol, seed, day done, days)."""


@dataclass
class Comparison:
    """Every run of every protocol on one scenario."""

    scenario: Scenario
    protocols: list[str]
    runs: list[RunResult]

    def spread(self) -> dict[str, dict[str, dict[str, float | None]]]:
        """Per protocol and metric: the mean over seeds and the 2.5th and 97.5th
        percentiles (None where a run never reached zero, for days to zero)."""
        table: dict[str, dict[str, dict[str, float | None]]] = {}
        for protocol in self.protocols:
            mine = [r.summary() for r in self.runs if r.protocol == protocol]
            table[protocol] = {}
            for key, _ in METRICS:
                values = [m[key] for m in mine]
                known = np.asarray([v for v in values if v is not None], dtype=float)
                table[protocol][key] = {
                    "mean": round(float(known.mean()), 2) if len(known) else None,
                    "low": round(float(np.percentile(known, 2.5)), 2) if len(known) else None,
                    "high": round(float(np.percentile(known, 97.5)), 2) if len(known) else None,
                    "runs_without": len(values) - len(known),
                }
        return table

    def to_json(self) -> dict[str, Any]:
        """The comparison as JSON-ready data: the spread and every run."""
        return {
            "scenario": self.scenario.name,
            "persons": self.scenario.persons,
            "days": self.scenario.days,
            "protocols": self.protocols,
            "seeds": sorted({r.seed for r in self.runs}),
            "spread": self.spread(),
            "runs": [r.to_json() for r in self.runs],
        }

    def to_html(self) -> str:
        """One self-contained page: the table of metrics and the charts."""
        spread = self.spread()
        head = "| | " + " | ".join(self.protocols) + " |\n|---|" + "---:|" * len(
            self.protocols
        )
        rows = [
            f"| {label} | "
            + " | ".join(_cell(spread[p][key]) for p in self.protocols)
            + " |"
            for key, label in METRICS
        ]
        seeds = len({r.seed for r in self.runs})
        body = (
            f"# {self.scenario.name}: protocols compared\n\n"
            f"{self.scenario.persons:,} people, {self.scenario.days} days from "
            f"{self.scenario.start.isoformat()}, variant {self.scenario.variant.name}, "
            f"{seeds} seeds per protocol (the same seeds for each). Each cell is the mean over "
            "the seeds, with the range the middle 95% of them span.\n\n"
            + head + "\n" + "\n".join(rows) + "\n"
        )
        return standalone_page(f"{self.scenario.name}: protocols compared", body, self.charts())

    def charts(self) -> list[Chart]:
        """Daily infections, people confined, and tubes tested, per protocol."""
        rows = [
            {"day": d.day, "protocol": r.protocol, "seed": r.seed,
             "infections": d.new_infections, "confined": d.isolated + d.quarantined,
             "tubes": d.tubes}
            for r in self.runs for d in r.days
        ]  # fmt: skip
        return [
            Chart("infections", "New infections per day (median and 95% band across seeds)",
                  _band(rows, "infections")),
            Chart("confined", "People in isolation or quarantine",
                  _band(rows, "confined")),
            Chart("tubes", "Tubes tested per day", _band(rows, "tubes")),
        ]  # fmt: skip


def _cell(value: dict[str, float | None]) -> str:
    if value["mean"] is None:
        return "never"
    text = f"{value['mean']:,.0f} ({value['low']:,.0f}–{value['high']:,.0f})"
    if value.get("runs_without"):
        text += f", {value['runs_without']:.0f} runs never"
    return text


def _band(rows: list[dict[str, Any]], field: str) -> dict[str, Any]:
    """Median line and 95% band of `field` per day across seeds, coloured by protocol."""
    groups: dict[tuple[str, int], list[float]] = {}
    for r in rows:
        groups.setdefault((r["protocol"], r["day"]), []).append(float(r[field]))
    summary = [
        {"protocol": protocol, "day": day, "median": float(np.median(v)),
         "low": float(np.percentile(v, 2.5)), "high": float(np.percentile(v, 97.5))}
        for (protocol, day), v in sorted(groups.items())
    ]  # fmt: skip
    base = alt.Chart(alt.InlineData(values=summary), width=640, height=220)
    band = base.mark_area(opacity=0.25).encode(
        x=alt.X("day:Q", title="day", axis=alt.Axis(tickMinStep=1, format="d")),
        y=alt.Y("low:Q", title=field), y2="high:Q",
        color="protocol:N",
    )  # fmt: skip
    line = base.mark_line().encode(x="day:Q", y="median:Q", color="protocol:N")
    spec: dict[str, Any] = alt.layer(band, line).to_dict()
    return spec


def compare(
    scenario: Scenario,
    protocols: Sequence[Protocol | None],
    runs: int,
    first_seed: int = 1,
    progress: RunProgress | None = None,
) -> Comparison:
    """Run `scenario` under each protocol (None: no control) with seeds `first_seed`,
    `first_seed + 1`, ... (`runs` of them)."""
    names = [p.name if p is not None else NO_CONTROL for p in protocols]
    done: list[RunResult] = []
    for protocol, name in zip(protocols, names, strict=True):
        for seed in range(first_seed, first_seed + runs):

            def tick(day: int, days: int, name: str = name, seed: int = seed) -> None:
                if progress is not None:
                    progress(name, seed, day, days)

            done.append(simulate(scenario, protocol, seed, progress=tick))
    return Comparison(scenario, names, done)
