"""The pages: server-rendered HTML (Jinja2, htmx served from the package), readable on a
laptop and a phone, usable without internet. Every page is a route in the access table."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import jinja2
from fastapi import FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from ringfence.control.why import explain_person, follow_up, last_run
from ringfence.report.coverage import loop_coverage
from ringfence.store import StoreError
from ringfence.store.ingest import IngestReport

from . import audit
from .access import DECIDERS, STAFF
from .accounts import Caller
from .centre import CHART_NAMES
from .deps import Database, Who
from .places import place_detail
from .queries import (
    actions_about,
    case_graph,
    case_page,
    case_with_contacts,
    ingest_batch,
    record_action,
    record_rows,
)

PAGE_SIZE = 50
Done = Annotated[str | None, Query(max_length=20, description="What was just recorded.")]
SITREP_POLICY = (
    "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; "
    "img-src data:; frame-ancestors 'none'"
)
"""The situation report is one self-contained page: its scripts are inline, and it may
fetch nothing at all."""
GRAPH_POLICY = (
    "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"
)
"""A page with a graph: cytoscape.js sizes its canvas with inline styles; scripts stay
the server's own."""


@cache
def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("ringfence.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def render(name: str, caller: Caller, status: int = 200, **values: Any) -> HTMLResponse:
    """A page from its template, for `caller`."""
    html = _templates().get_template(name).render(caller=caller, staff=STAFF, **values)
    return HTMLResponse(html, status_code=status)


ERROR_TITLES = {401: "Please log in", 403: "Not for your role", 404: "Not found"}


def error_page(status: int, message: str, headers: Mapping[str, str] | None = None) -> HTMLResponse:
    """An error, as a page a person can act on (the API answers JSON)."""
    from .accounts import PUBLIC

    response = render("error.html", PUBLIC, status, title=ERROR_TITLES.get(status, "Error"),
                      message=message, code=status)  # fmt: skip
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def login_form(request: Request, error: str | None = None, status: int = 200) -> HTMLResponse:
    """The login page (with the reason a login was refused)."""
    from .accounts import PUBLIC

    return render("login.html", PUBLIC, status, title="Log in", error=error)


def _command_centre(database: Database, caller: Caller, title: str) -> HTMLResponse:
    """The bulletin page with its charts (or why there is no bulletin yet)."""
    with database.use() as store:
        try:
            centre = database.centre.get(store)
        except StoreError as exc:
            return render("bulletin.html", caller, title=title, bulletin_html=None,
                          missing=str(exc), charts=[])  # fmt: skip
    return render("bulletin.html", caller, title=title, bulletin_html=centre.bulletin_html,
                  missing="", charts=list(centre.charts))  # fmt: skip


class SVGResponse(Response):
    """A chart, as SVG."""

    media_type = "image/svg+xml"


REDIRECT: dict[str, Any] = {
    "description": "Sent on to a page (a browser's form, or a page not for the caller).",
    "headers": {"Location": {"description": "The page.", "schema": {"type": "string"}}},
}
SENT_ON: dict[str, Any] = {
    "status_code": 303,
    "response_class": RedirectResponse,
    "responses": {303: REDIRECT},
}
"""A form that records something and sends the browser on to the page that shows it."""


def add_pages(app: FastAPI, database: Database) -> None:
    """Add the pages and the static files (htmx, the style sheet) to `app`."""
    static = resources.files("ringfence.web").joinpath("static")
    # The report's vendored scripts (cytoscape.js) are served from where the report keeps them.
    report_static = resources.files("ringfence.report").joinpath("static")
    app.mount("/static/report", StaticFiles(directory=str(report_static)), name="report_static")
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    @app.get("/login", name="login_page", response_class=HTMLResponse)
    def login_page(request: Request, caller: Who) -> HTMLResponse:
        """The login form."""
        return login_form(request)

    @app.get("/", name="home", response_class=HTMLResponse, responses={303: REDIRECT})
    def home(caller: Who) -> Response:
        """The command centre: today's bulletin (staff); everyone else, the public one."""
        if caller.role not in STAFF:
            return RedirectResponse("/public", status_code=303)
        return _command_centre(database, caller, "Command centre")

    @app.get("/public", name="public_page", response_class=HTMLResponse)
    def public_page(caller: Who) -> HTMLResponse:
        """The public bulletin: aggregates only."""
        return _command_centre(database, caller, "Daily bulletin")

    @app.get("/charts/{name}.svg", name="chart", response_class=SVGResponse)
    def chart(caller: Who, name: str) -> Response:
        """A chart of the command centre (aggregates only), as SVG."""
        if name not in CHART_NAMES:
            raise HTTPException(404, "no such chart")
        with database.use() as store:
            drawn = database.centre.get(store).charts.get(name)
        if drawn is None:
            raise HTTPException(404, "no data for this chart yet")
        return SVGResponse(drawn)

    @app.get("/cases", name="cases_page", response_class=HTMLResponse)
    def cases_page(caller: Who) -> HTMLResponse:
        """The case list, newest first, more on demand."""
        with database.use() as store:
            items, total = case_page(store, caller, PAGE_SIZE, 0)
        return render("cases.html", caller, title="Cases", total=total, **_rows(items, 0, total))

    @app.get("/cases/rows", name="case_rows", response_class=HTMLResponse)
    def case_rows(
        caller: Who, offset: Annotated[int, Query(ge=0, le=100_000_000)] = 0
    ) -> HTMLResponse:
        """The next rows of the case list (for htmx)."""
        with database.use() as store:
            items, total = case_page(store, caller, PAGE_SIZE, offset)
        return render("case_rows.html", caller, title="Cases", **_rows(items, offset, total))

    @app.get("/cases/{case_id}", name="case_page", response_class=HTMLResponse)
    def case_detail(caller: Who, case_id: str) -> HTMLResponse:
        """One case: its details, its contacts, and its place in the chain as a graph."""
        with database.use() as store:
            found, contacts = case_with_contacts(store, caller, case_id)
            if found is None:
                raise HTTPException(404, "no such case")
            graph = case_graph(store, str(found["person_id"]), contacts)
            zone = ZoneInfo(store.timezone)
        response = render("case.html", caller, title=f"Case {case_id}", case=_local(found, zone),
                          contacts=[_local(c, zone) for c in contacts], graph=graph)  # fmt: skip
        response.headers["Content-Security-Policy"] = GRAPH_POLICY
        return response

    @app.get("/persons/{person_id}", name="person_page", response_class=HTMLResponse)
    def person_page(caller: Who, person_id: str, done: Done = None) -> HTMLResponse:
        """Every decision about a person, and why (a member: their own page only)."""
        if caller.role == "member" and caller.person_id != person_id:
            raise HTTPException(403, "a member reads only their own record")
        with database.use() as store:
            lines = explain_person(store, person_id)
            orders = store.fetch_records(
                "SELECT order_id, kind, start, planned_end, released_at FROM orders "
                "WHERE person_id = ? ORDER BY start, order_id",
                (person_id,),
            )
            actions = actions_about(store, [person_id, *(o["order_id"] for o in orders)])
            audit.record(store, caller, "read", "persons", [person_id])
            zone = ZoneInfo(store.timezone)
        return render("person.html", caller, title=person_id, person_id=person_id, lines=lines,
                      orders=[_local(o, zone) for o in orders],
                      actions=[_local(a, zone) for a in actions], deciders=DECIDERS,
                      done=done)  # fmt: skip

    @app.post("/actions", name="decide", **SENT_ON)
    def decide(
        caller: Who,
        kind: Annotated[str, Form(pattern="^(confirm|override|reopen|note)$")],
        target: Annotated[str, Form(min_length=1, max_length=300)],
        reason: Annotated[str, Form(min_length=3, max_length=4_000)],
        back: Annotated[str, Form(pattern=r"^/(persons|places)/[^/?#\\]+$", max_length=300)],
    ) -> Response:
        """An epidemiologist confirms or overrides a decision (or reopens a place), with the
        reason; the next cycle run applies an override or a reopening."""
        with database.writing() as store:
            record_action(store, caller, kind, target, reason)
        return RedirectResponse(f"{back}?done={quote(kind)}", status_code=303)

    @app.get("/places/{place_id}", name="place_page", response_class=HTMLResponse)
    def place_page(caller: Who, place_id: str, done: Done = None) -> HTMLResponse:
        """A place: open or closed and why, its cases, the people traced through it, its
        visits of the last two weeks and its environment samples."""
        with database.use() as store:
            found = place_detail(store, caller, place_id)
            if found is None:
                raise HTTPException(404, "no such place")
            order_ids = [c["order_id"] for c in found["closures"]]
            actions = actions_about(store, [place_id, *order_ids])
            zone = ZoneInfo(store.timezone)
        shown = {
            key: [_local(r, zone) for r in value] if isinstance(value, list) else value
            for key, value in _local(found, zone).items()
        }
        return render("place.html", caller, title=f"Place {place_id}", detail=shown,
                      actions=[_local(a, zone) for a in actions], deciders=DECIDERS,
                      done=done)  # fmt: skip

    @app.get("/loops", name="loops_page", response_class=HTMLResponse)
    def loops_page(caller: Who) -> HTMLResponse:
        """Each closed loop's arrivals and departures, people inside, and daily screening
        coverage; who inside has not been tested on the last report day."""
        with database.use() as store:
            loops = loop_coverage(store)
            people = [p for loop in loops for p in loop.untested_people]
            audit.record(store, caller, "read", "loops", people)
        return render("loops.html", caller, title="Closed loops", loops=loops)

    @app.get("/follow-up", name="follow_up_page", response_class=HTMLResponse)
    def follow_up_page(caller: Who, done: Annotated[str | None, Query(max_length=200)] = None
                       ) -> HTMLResponse:  # fmt: skip
        """The tracer's list for the day of the last cycle run."""
        with database.use() as store:
            items = follow_up(store)
            day = last_run(store).as_of.astimezone(ZoneInfo(store.timezone)).date()
            audit.record(store, caller, "read", "follow_up", sorted({i.person_id for i in items}))
        return render("follow_up.html", caller, title="Follow-up", items=items, day=day,
                      done=done)  # fmt: skip

    @app.post("/follow-up/outcome", name="follow_up_outcome", **SENT_ON)
    def follow_up_outcome(
        caller: Who,
        person_id: Annotated[str, Form(max_length=200)],
        outcome: Annotated[str, Form(pattern="^(reached|not reached)$")],
    ) -> Response:
        """Record a call's outcome as an action (a note on the person, by the tracer)."""
        with database.writing() as store:
            record_action(store, caller, "note", person_id, f"follow-up: {outcome}")
        return RedirectResponse(f"/follow-up?done={quote(person_id)}", status_code=303)

    @app.get("/site", name="site_page", response_class=HTMLResponse)
    def site_page(caller: Who, done: Annotated[str | None, Query(max_length=300)] = None
                  ) -> HTMLResponse:  # fmt: skip
        """Everyone under isolation or quarantine now, with the release tests due today."""
        with database.use() as store:
            orders = site_roster(store)
            audit.record(store, caller, "read", "orders", [str(o["order_id"]) for o in orders])
            zone = ZoneInfo(store.timezone)
        return render("site.html", caller, title="Roster", orders=[_local(o, zone) for o in orders],
                      done=done)  # fmt: skip

    @app.post("/site/release", name="site_release", **SENT_ON)
    def site_release(caller: Who, order_id: Annotated[str, Form(max_length=300)]) -> Response:
        """Record a release of an order at the site; the next cycle run applies it."""
        with database.writing() as store:
            record_action(store, caller, "release", order_id, "released at the site")
        return RedirectResponse(f"/site?done={quote(order_id)}", status_code=303)

    @app.get("/me", name="my_page", response_class=HTMLResponse)
    def my_page(caller: Who, done: Annotated[str | None, Query(max_length=10)] = None
                ) -> HTMLResponse:  # fmt: skip
        """A member's own status, and the daily self-report."""
        person = str(caller.person_id)
        with database.use() as store:
            lines = explain_person(store, person)
            audit.record(store, caller, "read", "persons", [person])
        return render("me.html", caller, title="My status", lines=lines, done=done)

    @app.post("/me/report", name="my_report", **SENT_ON)
    def my_report(
        caller: Who,
        temperature: Annotated[float, Form(ge=34, le=43)],
        severity: Annotated[str, Form(pattern="^(none|mild|moderate|severe)$")],
    ) -> Response:
        """A member's self-report: temperature and how they feel, as a symptoms event."""
        with database.writing() as store:
            record_rows(store, caller, "symptoms", [{
                "person_id": caller.person_id, "reported_at": datetime.now(UTC).isoformat(),
                "severity": severity, "temperature_c": temperature,
            }])  # fmt: skip
        return RedirectResponse("/me?done=yes", status_code=303)

    @app.get("/lab", name="lab_page", response_class=HTMLResponse)
    def lab_page(caller: Who) -> HTMLResponse:
        """Upload a lab file, or paste it."""
        return render("lab.html", caller, title="Lab upload", kinds=LAB_UPLOADS, report=None)

    @app.post("/lab/upload", name="lab_upload", response_class=HTMLResponse)
    async def lab_upload(
        caller: Who,
        kind: Annotated[str, Form(pattern="^(samples|results|fhir|hl7)$")],
        file: Annotated[UploadFile | None, File()] = None,
        text: Annotated[str, Form(max_length=10_000_000)] = "",
    ) -> HTMLResponse:
        """Ingest the uploaded (or pasted) file and show its report, refused rows included."""
        data = await file.read() if file is not None and file.filename else text.encode("utf-8")
        name = file.filename if file is not None and file.filename else LAB_PASTE_NAMES[kind]

        def store_upload() -> IngestReport:
            with database.writing() as store:
                return ingest_batch(store, caller, kind, Path(name).name, data)

        report = await run_in_threadpool(store_upload)
        return render("lab.html", caller, title="Lab upload", kinds=LAB_UPLOADS, report=report)

    @app.get("/sitrep", name="sitrep_page", response_class=HTMLResponse)
    def sitrep_page(caller: Who) -> HTMLResponse:
        """The situation report of the last cycle run, charts and chains drawn in the page."""
        from ringfence.report import render_sitrep, situation_report

        with database.use() as store:
            report = situation_report(store)
        response = HTMLResponse(str(render_sitrep(report, "html")))
        response.headers["Content-Security-Policy"] = SITREP_POLICY
        return response


def _rows(items: list[dict[str, Any]], offset: int, total: int) -> dict[str, Any]:
    shown = [
        {**item, "confirmed": item["confirmed_at"].strftime("%Y-%m-%d %H:%M")} for item in items
    ]
    following = offset + len(items)
    return {"items": shown, "next_offset": following if following < total else None}


def _local(row: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    """A row with its instants on the jurisdiction's clock, to the minute."""
    return {
        key: value.astimezone(zone).strftime("%Y-%m-%d %H:%M") if isinstance(value, datetime)
        else value
        for key, value in row.items()
    }  # fmt: skip


LAB_UPLOADS = ("results", "samples", "fhir", "hl7")
LAB_PASTE_NAMES = {"results": "pasted.csv", "samples": "pasted.csv", "fhir": "pasted.json",
                   "hl7": "pasted.hl7"}  # fmt: skip
"""A pasted text is read as CSV (rows), a FHIR Bundle or HL7 messages."""




def site_roster(store: Any) -> list[dict[str, Any]]:
    """Open person orders of the last run, with whether a release test is planned today."""
    run = last_run(store)
    today = run.as_of.astimezone(ZoneInfo(store.timezone)).date()
    return list(store.fetch_records(
        "SELECT o.order_id, o.person_id, o.kind, o.start, o.planned_end, "
        "EXISTS (SELECT 1 FROM test_plans t WHERE t.person_id = o.person_id AND t.date = ? "
        "AND t.purpose = 'release_test') AS release_test FROM orders o "
        "WHERE o.person_id IS NOT NULL AND o.released_at IS NULL AND o.start <= ? "
        "AND o.kind IN ('isolation', 'hospital', 'quarantine_central', 'quarantine_home') "
        "ORDER BY o.kind, o.start, o.person_id LIMIT 2000",
        (today, run.as_of),
    ))  # fmt: skip
