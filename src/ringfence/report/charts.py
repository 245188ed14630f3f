"""The situation report's charts, as Vega-Lite specs built with Altair.

One spec serves every format: embedded in the HTML report (rendered by the Vega bundle that
ships inside the vl-convert package, inlined, so opening the report makes no request), and
converted to SVG offline by vl-convert for the PDF and the Markdown report.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import vl_convert

Spec = dict[str, Any]

VARIANT_COLOURS = {
    "Alpha": "#8c564b",
    "Beta": "#e377c2",
    "Gamma": "#bcbd22",
    "Delta": "#ff7f0e",
    "Omicron": "#6a3d9a",
    "unknown": "#9e9e9e",
}
ORIGIN_COLOURS = {
    "local": "#d62728",
    "imported": "#1f77b4",
    "loop_entry": "#17becf",
    "loop_inside": "#9467bd",
}
CLASSIFICATION_COLOURS = {"confirmed": "#d62728", "asymptomatic": "#ff9896"}
PALETTES = {"variant": VARIANT_COLOURS, "origin": ORIGIN_COLOURS,
            "classification": CLASSIFICATION_COLOURS}  # fmt: skip
WIDTH, HEIGHT = 640, 220


def _colours(palette: dict[str, str], values: list[str]) -> alt.Scale:
    """A colour per value that is the same in every report (unknown values in grey)."""
    return alt.Scale(domain=values, range=[palette.get(v, "#9e9e9e") for v in values])


def _day(field: str = "day", title: str | None = None) -> alt.X:
    """A report-day axis: one band per day (bars as wide as a day, lines through the middle),
    labelled '20 Jan', thinned when the days are many."""
    return alt.X(f"yearmonthdate({field}):O", title=title,
                 axis=alt.Axis(format="%d %b", formatType="time", labelAngle=0,
                               labelOverlap=True))  # fmt: skip


COUNT_AXIS = alt.Axis(format="d", tickMinStep=1, labelExpr="datum.value % 1 ? '' : datum.label")


class Datasets:
    """The rows of one chart, kept out of the Altair objects and put in the spec's top-level
    `datasets`: Altair checks every inline row against its JSON schema, which for the chains
    of a city (thousands of rows) costs seconds; named data costs nothing."""

    def __init__(self) -> None:
        self.rows: dict[str, list[dict[str, Any]]] = {}

    def __call__(self, rows: list[dict[str, Any]]) -> alt.NamedData:
        name = f"data-{len(self.rows)}"
        self.rows[name] = rows
        return alt.NamedData(name=name)

    def spec(self, chart: alt.TopLevelMixin) -> Spec:
        """The chart's Vega-Lite spec, with its rows."""
        spec: Spec = chart.to_dict()
        spec["datasets"] = self.rows
        return spec


def epi_curve_chart(rows: list[dict[str, Any]], by: str, title: str) -> Spec:
    """Cases per day, stacked by `by` (origin, variant or classification)."""
    data = Datasets()
    values = sorted({str(r[by]) for r in rows})
    palette = PALETTES.get(by, {})
    chart = (
        alt.Chart(data(rows), title=title, width=WIDTH, height=HEIGHT)
        .mark_bar()
        .encode(
            x=_day(),
            y=alt.Y("sum(cases):Q", title="cases", stack="zero", axis=COUNT_AXIS),
            color=alt.Color(f"{by}:N", scale=_colours(palette, values), title=by),
            tooltip=["day:T", f"{by}:N", "sum(cases):Q"],
        )
    )
    return data.spec(chart)


def rt_chart(rows: list[dict[str, Any]], title: str) -> Spec:
    """Rt per window end with its 95% credible interval, and the threshold of 1."""
    data = Datasets()
    base = alt.Chart(data(rows), width=WIDTH, height=HEIGHT).encode(
        x=_day("window_end", "end of the weekly window")
    )
    band = base.mark_area(opacity=0.25, color="#1f77b4").encode(
        y=alt.Y("q025:Q", title="Rt"), y2="q975:Q"
    )
    line = base.mark_line(color="#1f77b4", point=True).encode(
        y="mean:Q", tooltip=["window_end:T", "mean:Q", "q025:Q", "q975:Q", "local_cases:Q"]
    )
    one = alt.Chart(data([{"y": 1}])).mark_rule(strokeDash=[4, 4], color="#555").encode(y="y:Q")
    return data.spec(alt.layer(band, line, one, title=title))


def tests_chart(rows: list[dict[str, Any]], title: str) -> Spec:
    """Tests per day (bars) and the share positive (line, right axis)."""
    data = Datasets()
    base = alt.Chart(data(rows), width=WIDTH, height=HEIGHT).encode(x=_day())
    bars = base.mark_bar(color="#c7c7c7").encode(
        y=alt.Y("tests:Q", title="PCR tests", axis=COUNT_AXIS)
    )
    line = base.mark_line(color="#d62728", point=True).encode(
        y=alt.Y("positivity:Q", title="positive", axis=alt.Axis(format="%")),
        tooltip=["day:T", "tests:Q", "positive:Q", alt.Tooltip("positivity:Q", format=".3%")],
    )
    return data.spec(alt.layer(bars, line, title=title).resolve_scale(y="independent"))


def census_chart(rows: list[dict[str, Any]], title: str) -> Spec:
    """People in isolation, quarantine and monitoring at the end of each day."""
    data = Datasets()
    chart = (
        alt.Chart(data(rows), title=title, width=WIDTH, height=HEIGHT)
        .mark_line(point=True)
        .encode(
            x=_day(),
            y=alt.Y("people:Q", title="people", axis=COUNT_AXIS),
            color=alt.Color("kind:N", title=None),
            tooltip=["day:T", "kind:N", "people:Q"],
        )
    )
    return data.spec(chart)


def loop_chart(daily: list[dict[str, Any]], title: str) -> Spec:
    """A loop's tests inside per day (bars) and its positives at entry and inside (points)."""
    data = Datasets()
    tests = [{"day": d["day"], "tests": d["tests_inside"]} for d in daily]
    positives = [
        {"day": d["day"], "where": where, "positives": d[key]}
        for d in daily
        for where, key in (("at the airport", "positives_at_entry"),
                           ("inside the loop", "positives_inside"))
    ]  # fmt: skip
    bars = (
        alt.Chart(data(tests), width=WIDTH, height=HEIGHT)
        .mark_bar(color="#c7c7c7")
        .encode(
            x=_day(),
            y=alt.Y("tests:Q", title="tests inside the loop", axis=COUNT_AXIS),
            tooltip=["day:T", "tests:Q"],
        )
    )
    points = (
        alt.Chart(data(positives))
        .mark_line(point=True)
        .encode(
            x=_day(),
            y=alt.Y("positives:Q", title="positives", axis=COUNT_AXIS),
            color=alt.Color("where:N", title=None),
            tooltip=["day:T", "where:N", "positives:Q"],
        )
    )
    return data.spec(alt.layer(bars, points, title=title).resolve_scale(y="independent"))


def chains_chart(
    nodes: list[dict[str, Any]], edges: list[dict[str, Any]], clusters: list[str], title: str
) -> Spec:
    """The chains of `clusters` as a static picture: each case at the time it was confirmed
    (x), one lane per cluster (y), linked to the cases it infected; coloured by variant."""
    data = Datasets()
    shown = set(clusters)
    cases = [n for n in nodes if n["type"] == "case" and n.get("cluster") in shown]
    lanes = sorted({str(n["cluster"]) for n in cases}, key=lambda c: int(c[1:]))
    offset: dict[str, int] = {}
    points = []
    for n in sorted(cases, key=lambda n: (n["cluster"], n["confirmed_at"], n["id"])):
        k = offset.get(n["cluster"], 0)
        offset[n["cluster"]] = k + 1
        points.append({**n, "lane": lanes.index(n["cluster"]) + (k % 5) * 0.15})
    where = {p["id"]: p for p in points}
    links = [
        {"x": where[e["source"]]["confirmed_at"], "y": where[e["source"]]["lane"],
         "x2": where[e["target"]]["confirmed_at"], "y2": where[e["target"]]["lane"]}
        for e in edges if e["source"] in where and e["target"] in where
    ]  # fmt: skip
    height = max(60, 28 * len(lanes))
    variants = sorted({str(p["variant"]) for p in points})
    rules = (
        alt.Chart(data(links), width=WIDTH, height=height)
        .mark_rule(color="#888")
        .encode(x="x:T", y="y:Q", x2="x2:T", y2="y2:Q")
    )
    dots = (
        alt.Chart(data(points))
        .mark_point(filled=True, size=80, opacity=1)
        .encode(
            x=alt.X("confirmed_at:T", title="confirmed", axis=alt.Axis(format="%d %b")),
            y=alt.Y(
                "lane:Q",
                title="cluster",
                axis=alt.Axis(
                    values=list(range(len(lanes))),
                    labelExpr=f"{lanes}[datum.value]" if lanes else "''",
                ),
            ),
            color=alt.Color("variant:N", scale=_colours(VARIANT_COLOURS, variants)),
            shape=alt.Shape("classification:N"),
            tooltip=["label:N", "cluster:N", "variant:N", "confirmed_at:T"],
        )
    )
    return data.spec(alt.layer(rules, dots, title=title))


def to_svg(spec: Spec) -> str:
    """The chart as static SVG, rendered offline."""
    return str(vl_convert.vegalite_to_svg(spec))


def to_png(spec: Spec, scale: float = 2) -> bytes:
    """The chart as a PNG image (for drawings too dense for vector print), rendered offline."""
    return bytes(vl_convert.vegalite_to_png(spec, scale=scale))


def javascript_bundle() -> str:
    """Vega, Vega-Lite and vega-embed in one script (defines `vegaEmbed`), from vl-convert."""
    return str(vl_convert.javascript_bundle(None))  # type: ignore[arg-type]
