"""The reports as people open them: HTML in a real browser, PDF read back, Markdown with its
charts, the command line, and no personal data in what the public sees."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pypdf
import pytest
from typer.testing import CliRunner

from ringfence.cli.main import app
from ringfence.report import daily_bulletin, render_bulletin, render_sitrep, situation_report
from ringfence.report.sitrep import SituationReport
from ringfence.store import open_store
from ringfence.web.audit import read_trail

from .scenario import Scenario
from .test_bulletin import PROTOCOL, outbreak

AS_OF = "2022-01-20 16:00"
ARTIFACTS = Path(
    os.environ.get("RINGFENCE_TEST_ARTIFACTS", Path(__file__).parent.parent / "test-artifacts")
)
CHROMIUM = "/usr/bin/chromium"


def with_identities(scenario: Scenario) -> Scenario:
    """The same story, with person ids, names, phones and households that cannot be mistaken
    for anything else in a report."""

    def pid(value: str) -> str:
        return f"PID-{value}-X" if value else value

    for table, rows in scenario.rows.items():
        for row in rows:
            for key in ("person_id", "other_person_id"):
                if key in row:
                    row[key] = pid(row[key])
            if table == "persons":
                row["household_id"] = "HH-" + row["person_id"]
                row["name"] = "Zhang Weiming " + row["person_id"][4:-2]
                row["phone"] = "+86 138 0013 " + str(1000 + len(row["person_id"]))
    return scenario


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Scenario]]:
    folder = tmp_path_factory.mktemp("formats")
    scenario = with_identities(outbreak())
    db = str(folder / "report.duckdb")
    scenario.run(db, folder / "events", PROTOCOL, AS_OF)
    yield db, scenario


@pytest.fixture(scope="module")
def report(built: tuple[str, Scenario]) -> SituationReport:
    with open_store(built[0], read_only=True) as store:
        return situation_report(store)


def personal_values(scenario: Scenario) -> set[str]:
    """Everything that identifies a person or one of their samples."""
    values = set()
    for row in scenario.rows["persons"]:
        values |= {row["person_id"], row["name"], row["phone"], row["household_id"]}
    values |= {r["sample_id"] for r in scenario.rows["samples"] if r["person_id"]}
    return {v for v in values if v}


def pdf_text(data: bytes) -> tuple[int, str]:
    reader = pypdf.PdfReader(__import__("io").BytesIO(data))
    return len(reader.pages), "\n".join(page.extract_text() for page in reader.pages)


# ---------------------------------------------------------------------------------------------


def test_the_public_bulletin_has_no_personal_data_in_any_format(
    built: tuple[str, Scenario], report: SituationReport
) -> None:
    db, scenario = built
    secrets = personal_values(scenario)
    with open_store(db, read_only=True) as store:
        bulletin = daily_bulletin(store)
    outputs = {fmt: render_bulletin(bulletin, fmt) for fmt in ("json", "markdown", "html")}
    outputs["pdf"] = pdf_text(render_bulletin(bulletin, "pdf"))[1]  # type: ignore[arg-type]
    for fmt, text in outputs.items():
        assert isinstance(text, str)
        leaked = sorted(s for s in secrets if s in text)
        assert not leaked, f"{fmt} bulletin names {leaked}"
        assert "PID-" not in text and "Zhang" not in text and "+86" not in text
    # The staff's situation report does name cases: the check above can fail.
    staff = render_sitrep(report, "json")
    assert isinstance(staff, str) and "PID-" in staff


def test_the_bulletin_pdf_is_one_page_with_the_counts(report: SituationReport) -> None:
    data = render_bulletin(report.bulletin, "pdf")
    assert isinstance(data, bytes) and data.startswith(b"%PDF-")
    pages, text = pdf_text(data)
    assert pages == 1
    flat = " ".join(text.split())
    assert "Daily bulletin, 20 January 2022" in flat
    assert "16:00 on 19 January 2022 to 16:00 on 20 January 2022" in flat
    new = report.bulletin["new"]
    assert f"{new['confirmed']} new confirmed cases" in flat
    assert f"{new['asymptomatic']} new asymptomatic infections" in flat
    assert "Closed loop L1" in flat
    assert report.bulletin["loops"][0]["sentence"] in flat


def test_the_situation_report_pdf_has_its_sections_and_charts(report: SituationReport) -> None:
    data = render_sitrep(report, "pdf")
    assert isinstance(data, bytes)
    pages, text = pdf_text(data)
    assert pages >= 3
    flat = " ".join(text.split())
    for heading in ("Situation report, 20 January 2022", "New cases by report day, by origin",
                    "PCR tests and positivity", "Transmission chains",
                    "Rt by week", "Closed loop L1: tests and positives"):  # fmt: skip
        assert heading in flat, heading
    # The charts are vector drawings whose text (axis titles, legends) is in the PDF.
    assert "cases" in flat and "origin" in flat and "variant" in flat
    cluster = report.chains.clusters[0]
    assert f"| {cluster['cluster_id']} |" not in flat  # tables are typeset, not Markdown
    assert cluster["cluster_id"] in flat


def test_the_markdown_report_links_its_charts(report: SituationReport, tmp_path: Path) -> None:
    out = tmp_path / "sitrep.md"
    text = render_sitrep(report, "markdown", out)
    assert isinstance(text, str)
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(links) == len(report.charts) >= 7
    for link in links:
        svg = (tmp_path / link).read_text(encoding="utf-8")
        assert svg.startswith("<svg") and "</svg>" in svg


def test_the_json_report_carries_the_graph(report: SituationReport) -> None:
    data = json.loads(str(render_sitrep(report, "json")))
    graph = data["graph"]
    cases = [n["data"] for n in graph["nodes"] if n["data"]["type"] == "case"]
    # The scenario's only chain: D was A's close contact at the restaurant, then a case.
    (cluster,) = data["clusters"]
    assert cluster["size"] == 2 and cluster["generations"] == 2
    assert [p["place_id"] for p in cluster["places"]] == ["R1"]
    link = [e["data"] for e in graph["edges"] if e["data"]["target"] == "PID-D-X"]
    assert [(e["source"], e["kind"]) for e in link] == [("PID-A-X", "close")]
    assert {c["id"] for c in cases if c["cluster"]} == {"PID-A-X", "PID-D-X"}
    assert data["sporadic_cases"] == len(cases) - 2
    assert data["graph_shows_contacts"] is True
    assert any(n["data"]["type"] == "contact" for n in graph["nodes"])


# ---------------------------------------------------------------------------------------------
# A real browser
# ---------------------------------------------------------------------------------------------


def test_the_html_report_renders_offline_in_a_real_browser(
    report: SituationReport, tmp_path: Path
) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (CI installs it)")
    page_file = tmp_path / "sitrep.html"
    page_file.write_text(str(render_sitrep(report, "html")), encoding="utf-8")
    requests: list[str] = []
    problems: list[str] = []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.on("request", lambda r: requests.append(r.url))
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(page_file.as_uri())
        page.wait_for_function("document.body.dataset.charts === 'rendered'", timeout=30_000)
        page.wait_for_function("document.body.dataset.graph !== undefined", timeout=30_000)
        drawn = page.eval_on_selector_all(
            "div.chart",
            "els => els.map(e => [e.id, e.querySelectorAll('svg path, svg rect').length])",
        )
        nodes = int(page.evaluate("document.body.dataset.graph"))
        canvas = page.eval_on_selector("#graph", "e => e.querySelectorAll('canvas').length")
        page.screenshot(path=str(ARTIFACTS / "sitrep.png"), full_page=True)
        browser.close()
    assert not problems, problems
    outside = [u for u in requests if not u.startswith(("file:", "data:", "about:", "blob:"))]
    assert not outside, outside
    assert len(drawn) == len([c for c in report.charts if c.name != "chains"])
    assert all(marks > 0 for _, marks in drawn), drawn
    assert nodes == len(report.chains.nodes) and canvas > 0


# ---------------------------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------------------------


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_the_bulletin_command_writes_each_format(
    built: tuple[str, Scenario], tmp_path: Path
) -> None:
    db = built[0]
    for name in ("b.json", "b.md", "b.html", "b.pdf"):
        result = invoke("bulletin", "--db", db, "--out", str(tmp_path / name))
        assert result.exit_code == 0, result.output
    bulletin = json.loads((tmp_path / "b.json").read_text(encoding="utf-8"))
    assert bulletin["window_end"] == "2022-01-20T16:00:00+08:00"
    assert (tmp_path / "b.md").read_text(encoding="utf-8").startswith("# Daily bulletin")
    assert "<table>" in (tmp_path / "b.html").read_text(encoding="utf-8")
    assert (tmp_path / "b.pdf").read_bytes().startswith(b"%PDF-")
    result = invoke("bulletin", "--db", db, "--format", "json", "--since", "2022-01-19")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["cumulative"]["since"] == "2022-01-19"
    result = invoke("sitrep", "--db", db, "--out", str(tmp_path / "s.html"))
    assert result.exit_code == 0, result.output
    assert "vegaEmbed" in (tmp_path / "s.html").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--format", "docx"], 2, "unknown format 'docx'; use one of: json, markdown, html, pdf"),
        (["--since", "19 Jan"], 2, "--since '19 Jan' is not a date (YYYY-MM-DD)"),
        (["--as-of", "2022-01-21T16:00"], 1,
         "the decisions on this database were made as of 2022-01-20T16:00:00+08:00, not "
         "2022-01-21T16:00:00+08:00; run `ringfence cycle --as-of 2022-01-21T16:00:00+08:00` "
         "first"),
        (["--protocol", "no-such-protocol"], 2, "no-such-protocol"),
    ],
)  # fmt: skip
def test_the_bulletin_command_refuses_clearly(
    built: tuple[str, Scenario], args: list[str], code: int, message: str
) -> None:
    result = invoke("bulletin", "--db", built[0], *args)
    assert result.exit_code == code
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.output


def test_a_database_where_the_cycle_never_ran_says_so(tmp_path: Path) -> None:
    db = str(tmp_path / "empty.duckdb")
    assert invoke("init", "--db", db).exit_code == 0
    result = invoke("bulletin", "--db", db)
    assert result.exit_code == 1
    assert "the control cycle has not run on this database" in result.stderr


def test_the_linelist_command_writes_each_format(
    built: tuple[str, Scenario], tmp_path: Path
) -> None:
    db = built[0]
    with open_store(db, read_only=True) as store:
        cases = len(store.fetchall("SELECT case_id FROM cases"))
    for name in ("cases.csv", "cases.xlsx", "cases.parquet"):
        result = invoke("linelist", "cases", "--db", db, "--out", str(tmp_path / name))
        assert result.exit_code == 0, result.output
        assert f"{cases:,} rows of the cases line list" in result.stderr
    text = (tmp_path / "cases.csv").read_text(encoding="utf-8")
    assert len(text.splitlines()) == cases + 1
    assert "Zhang" not in text and "+86" not in text
    # Each line list taken is in the audit trail: by whom on this machine, how many rows.
    with open_store(db, read_only=True) as store:
        trail = read_trail(store, resource="cases")
    assert len(trail) == 3 and all(r["role"] == "cli" for r in trail)
    assert trail[0]["actor"].startswith("cli:")
    assert trail[0]["row_keys"][0].startswith(f"line list: all {cases} rows of cycle run ")
    result = invoke("linelist", "people", "--db", db, "--out", str(tmp_path / "x.csv"))
    assert result.exit_code == 2 and "cases" in result.stderr and "contacts" in result.stderr


def test_the_pdf_typesetter_reads_nothing_from_outside_the_page() -> None:
    from weasyprint.urls import FatalURLFetchingError

    from ringfence.report.render import pdf_from_html

    tiny_png = (
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJ"
        "RU5ErkJggg=="
    )
    assert pdf_from_html(f'<img src="data:image/png;base64,{tiny_png}">').startswith(b"%PDF-")
    for address in ("http://127.0.0.1:9/x.png", "file:///etc/hostname"):
        with pytest.raises(FatalURLFetchingError):
            pdf_from_html(f'<p>x</p><img src="{address}">')
