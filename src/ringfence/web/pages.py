"""The pages: server-rendered HTML (Jinja2, htmx served from the package), readable on a
laptop and a phone, usable without internet. Every page is a route in the access table."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from importlib import resources
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import jinja2
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from ringfence.control.why import explain_person
from ringfence.store import StoreError

from . import audit
from .access import STAFF
from .accounts import Caller
from .deps import Database, Who
from .queries import case_graph, case_page, case_with_contacts

PAGE_SIZE = 50
SITREP_POLICY = (
    "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; "
    "img-src data:; frame-ancestors 'none'"
)
"""The situation report is one self-contained page: its scripts are inline, and it may
fetch nothing at all."""


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


def login_form(request: Request, error: str | None = None, status: int = 200) -> HTMLResponse:
    """The login page (with the reason a login was refused)."""
    from .accounts import PUBLIC

    return render("login.html", PUBLIC, status, title="Log in", error=error)


def _bulletin_html(database: Database) -> tuple[str | None, str]:
    """The bulletin as HTML, or None and why there is none."""
    from ringfence.report import daily_bulletin
    from ringfence.report.render import bulletin_markdown, to_html_fragment

    with database.use() as store:
        try:
            bulletin = daily_bulletin(store)
        except StoreError as exc:
            return None, str(exc)
    return to_html_fragment(bulletin_markdown(bulletin)), ""


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

    @app.get("/", name="home", response_model=None)
    def home(caller: Who) -> Response:
        """The command centre: today's bulletin (staff); everyone else, the public one."""
        if caller.role not in STAFF:
            return RedirectResponse("/public", status_code=303)
        html, missing = _bulletin_html(database)
        return render("bulletin.html", caller, title="Command centre", bulletin_html=html,
                      missing=missing)  # fmt: skip

    @app.get("/public", name="public_page", response_class=HTMLResponse)
    def public_page(caller: Who) -> HTMLResponse:
        """The public bulletin: aggregates only."""
        html, missing = _bulletin_html(database)
        return render("bulletin.html", caller, title="Daily bulletin", bulletin_html=html,
                      missing=missing)  # fmt: skip

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
        return render("case.html", caller, title=f"Case {case_id}", case=_local(found, zone),
                      contacts=[_local(c, zone) for c in contacts], graph=graph)  # fmt: skip

    @app.get("/persons/{person_id}", name="person_page", response_class=HTMLResponse)
    def person_page(caller: Who, person_id: str) -> HTMLResponse:
        """Every decision about a person, and why (a member: their own page only)."""
        if caller.role == "member" and caller.person_id != person_id:
            raise HTTPException(403, "a member reads only their own record")
        with database.use() as store:
            lines = explain_person(store, person_id)
            audit.record(store, caller, "read", "persons", [person_id])
        return render("person.html", caller, title=person_id, person_id=person_id, lines=lines)

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
