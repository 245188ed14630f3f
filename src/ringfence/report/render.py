"""The bulletin and the situation report as JSON, Markdown, HTML and PDF.

Markdown is the one source of the text: the templates write Markdown, and the HTML page is
that Markdown converted, in a page that carries its own styles and scripts (the Vega bundle
of the vl-convert package and a vendored cytoscape.js, inlined) and a content security
policy that forbids any request. The PDF is the static variant of the same page (charts as
SVG rendered offline) typeset by WeasyPrint.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import markdown as markdown_lib

from .charts import VARIANT_COLOURS, javascript_bundle
from .sitrep import Chart, SituationReport

FORMATS = ("json", "markdown", "html", "pdf")
CYTOSCAPE = "cytoscape-3.34.4.min.js"

LABELS = {
    "under_control": "under control",
    "mass_testing": "mass testing",
    "fever_clinic": "fever clinic",
    "cold_chain": "cold-chain business",
    "quarantine_site": "quarantine site",
    "official": "team officials",
    "athlete": "athletes",
    "media": "media",
    "staff": "workforce",
}


def _number(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.3%}"


def _day(value: str | date | None) -> str:
    if value is None:
        return "–"
    day = date.fromisoformat(value) if isinstance(value, str) else value
    return f"{day.day} {day:%B %Y}"


def _moment(value: str | datetime | None) -> str:
    if value is None:
        return "–"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return f"{moment:%H:%M} on {moment.day} {moment:%B %Y}"


def _plural(word: str, count: int | None) -> str:
    """The word for `count` of it: "case", "cases"; "business", "businesses"."""
    if count == 1:
        return word
    return word + "es" if word.endswith(("s", "x", "ch", "sh")) else word + "s"


def _counted(count: int | None, word: str) -> str:
    """ "1 case", "2,586 cases"."""
    return f"{_number(count)} {_plural(word, count)}"


@cache
def _markdown_templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("ringfence.report", "templates"),
        autoescape=False,  # Markdown, not HTML; the HTML page escapes what it inserts.
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(
        n=_number, pct=_percent, day=_day, moment=_moment, plural=_plural, counted=_counted,
        label=lambda v: LABELS.get(str(v), str(v).replace("_", " ")),
    )  # fmt: skip
    return env


@cache
def _html_templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("ringfence.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def _static(name: str) -> str:
    return resources.files("ringfence.report").joinpath("static", name).read_text("utf-8")


def to_html_fragment(text: str) -> str:
    """Markdown (with tables) → HTML. Markdown's raw HTML is escaped: the text comes from
    data (a district, a place name), which must never become markup."""
    # Column alignment as an attribute, not an inline style a page's policy would refuse.
    return str(
        markdown_lib.markdown(
            _escape_html(text),
            extensions=["tables"],
            extension_configs={"tables": {"use_align_attribute": True}},
        )
    )


def _escape_html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# ---------------------------------------------------------------------------------------------
# The bulletin
# ---------------------------------------------------------------------------------------------


def bulletin_markdown(bulletin: dict[str, Any]) -> str:
    """The bulletin as Markdown: the counts in the words of the national report."""
    return _markdown_templates().get_template("bulletin.md.j2").render(bulletin=bulletin)


def _page(title: str, body: str, *, compact: bool = False, charts: list[Chart] | None = None,
          interactive: bool = False, after: str = "", graph: dict[str, Any] | None = None,
          graph_contacts: bool = False) -> str:  # fmt: skip
    charts = charts or []
    return _html_templates().get_template("page.html.j2").render(
        title=title, body=body, compact=compact, charts=charts, interactive=interactive,
        after=after, graph=graph, graph_contacts=graph_contacts,
        specs={c.name: c.spec for c in charts},
        variant_colours=VARIANT_COLOURS,
        vega_bundle=javascript_bundle() if interactive and charts else "",
        cytoscape=_static(CYTOSCAPE) if interactive and graph else "",
    )  # fmt: skip


def standalone_page(title: str, markdown_body: str, charts: list[Chart]) -> str:
    """A self-contained page of Markdown text and interactive charts (everything inline)."""
    return _page(title, to_html_fragment(markdown_body), charts=charts, interactive=True)


def bulletin_html(bulletin: dict[str, Any]) -> str:
    """The bulletin as one self-contained HTML page (one A4 page when printed)."""
    title = f"Daily bulletin, {_day(bulletin['report_day'])}"
    return _page(title, to_html_fragment(bulletin_markdown(bulletin)), compact=True)


def pdf_from_html(html: str) -> bytes:
    """Typeset a self-contained page as PDF (WeasyPrint; nothing is fetched)."""
    try:
        import weasyprint
    except OSError as error:  # Pango missing: say what to install.
        raise RuntimeError(
            "PDF output needs the Pango library (Debian: apt install libpango-1.0-0 "
            f"libpangoft2-1.0-0): {error}"
        ) from error

    from weasyprint.urls import URLFetcher

    # Only what the page carries inside itself (a data: image) may be read; any other
    # address stops the typesetting.
    inside_only = URLFetcher(allowed_protocols={"data"}, fail_on_errors=True)
    return bytes(weasyprint.HTML(string=html, url_fetcher=inside_only).write_pdf())


def bulletin_pdf(bulletin: dict[str, Any]) -> bytes:
    """The bulletin as a one-page PDF."""
    return pdf_from_html(bulletin_html(bulletin))


def render_bulletin(bulletin: dict[str, Any], fmt: str) -> str | bytes:
    """The bulletin in `fmt`: json, markdown, html (text) or pdf (bytes)."""
    if fmt == "json":
        return json.dumps(bulletin, indent=2, ensure_ascii=False) + "\n"
    if fmt == "markdown":
        return bulletin_markdown(bulletin)
    if fmt == "html":
        return bulletin_html(bulletin)
    if fmt == "pdf":
        return bulletin_pdf(bulletin)
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


# ---------------------------------------------------------------------------------------------
# The situation report
# ---------------------------------------------------------------------------------------------


def _sitrep_sections(report: SituationReport) -> str:
    """The sections only the situation report has: Rt by week and the chains."""
    env = _markdown_templates()
    rt = env.get_template("rt.md.j2").render(rt=report.series["rt"], method=report.bulletin["rt"])
    chains = env.get_template("chains.md.j2").render(
        clusters=report.chains.clusters, sporadic=report.chains.sporadic
    )
    return rt + "\n" + chains


def sitrep_markdown(report: SituationReport, chart_dir: Path | None = None,
                    prefix: str = "") -> str:  # fmt: skip
    """The situation report as Markdown; with `chart_dir`, each chart is written there as an
    SVG file and linked (`prefix` is the link's path to that folder)."""
    text = bulletin_markdown(report.bulletin).replace("# Daily bulletin", "# Situation report", 1)
    figures = []
    if chart_dir is not None:
        chart_dir.mkdir(parents=True, exist_ok=True)
        for chart in report.charts:
            (chart_dir / f"{chart.name}.svg").write_text(chart.svg(), encoding="utf-8")
            figures.append(f"![{chart.title}]({prefix}{chart.name}.svg)\n")
    charts = "\n## Charts\n\n" + "\n".join(figures) if figures else ""
    return text + charts + "\n" + _sitrep_sections(report)


def sitrep_html(report: SituationReport, *, interactive: bool = True) -> str:
    """The situation report as one self-contained HTML page: interactive charts and graph,
    or (`interactive=False`, for print) static SVG charts."""
    title = f"Situation report, {_day(report.bulletin['report_day'])}"
    body = to_html_fragment(
        bulletin_markdown(report.bulletin).replace("# Daily bulletin", "# Situation report", 1)
    )
    # The interactive page draws the chains with cytoscape.js; print has the static chart.
    charts = [c for c in report.charts if not (interactive and c.name == "chains")]
    return _page(
        title, body, charts=charts, interactive=interactive,
        after=to_html_fragment(_sitrep_sections(report)),
        graph=report.chains.graph() if interactive and report.chains.nodes else None,
        graph_contacts=report.chains.contacts_shown,
    )  # fmt: skip


def sitrep_pdf(report: SituationReport) -> bytes:
    """The situation report as PDF, charts rendered to SVG offline."""
    return pdf_from_html(sitrep_html(report, interactive=False))


def render_sitrep(report: SituationReport, fmt: str, out: Path | None = None) -> str | bytes:
    """The situation report in `fmt`; Markdown written to `out` gets its charts beside it."""
    if fmt == "json":
        return json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n"
    if fmt == "markdown":
        if out is None:
            return sitrep_markdown(report)
        folder = out.with_name(out.stem + "-charts")
        return sitrep_markdown(report, folder, prefix=folder.name + "/")
    if fmt == "html":
        return sitrep_html(report)
    if fmt == "pdf":
        return sitrep_pdf(report)
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
