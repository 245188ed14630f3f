"""The HTTP API: FastAPI over one open store, every route behind the access table.

Who is asking comes from a session cookie (browsers; forms and state-changing calls must
echo the session's CSRF token) or a bearer token (machine clients such as a lab system),
else it is the public. Every read of personal data is written to the audit trail. Errors
are JSON with a clear message, never a stack trace.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Body, FastAPI, Form, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, Field, field_validator
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from ringfence.control import run_cycle
from ringfence.control.why import explain_person, last_run
from ringfence.protocol import ProtocolError, load_protocol
from ringfence.report.coverage import loop_coverage
from ringfence.schema import EVENT_TABLES
from ringfence.schema.events import ACTION_KINDS
from ringfence.store import Store, StoreError
from ringfence.store.ingest import LAB_KINDS, IngestReport

from . import accounts, audit, pages
from .access import may_write
from .accounts import Caller
from .deps import SESSION_COOKIE, Database, Who, wants_html
from .listings import LISTINGS, BadCursor, list_rows
from .places import place_detail
from .queries import (
    NotRecorded,
    case_page,
    case_with_contacts,
    ingest_batch,
    record_action,
    rows_as_jsonl,
)

INGEST_KINDS = tuple(t.name for t in EVENT_TABLES) + LAB_KINDS
MAX_BODY = 100_000_000
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
log = logging.getLogger("ringfence.web")

Limit = Annotated[int, Query(ge=1, le=1_000, description="Rows per page.")]
After = Annotated[
    str | None,
    Query(max_length=2_000, description="The `next` cursor of the previous page (none: first)."),
]
Key = Annotated[str | None, Query(max_length=200)]
OrderState = Annotated[str | None, Query(pattern="^(open|released)$")]


class ActionIn(BaseModel):
    """A person's decision about a decision: confirm it, override it (an order ends now), or
    release, reopen or note it; the reason is required and kept."""

    kind: str = Field(pattern="^(" + "|".join(ACTION_KINDS) + ")$")
    target: str = Field(min_length=1, max_length=300, description="An order id, person or place.")
    reason: str = Field(min_length=3, max_length=4_000)


class CycleIn(BaseModel):
    """Run the control cycle: as of an instant (default now), under a protocol (default the
    last run's)."""

    as_of: datetime | None = Field(
        default=None, description="An instant from 1900 to 2199 (without an offset: local time)."
    )
    protocol: str | None = Field(default=None, max_length=200, description="A preset name.")

    @field_validator("as_of")
    @classmethod
    def _within_the_calendar(cls, value: datetime | None) -> datetime | None:
        # A run as of year 1 or 9999 overflows the calendar in its report windows (the day
        # before or after is out of range): refused here, before it is stored and every
        # bulletin page fails on it.
        if value is not None:
            year = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).year
            if not EARLIEST_RUN <= year < LATEST_RUN:
                raise ValueError(f"as_of must be from {EARLIEST_RUN} to {LATEST_RUN - 1}")
        return value


EARLIEST_RUN, LATEST_RUN = 1900, 2200
"""The years a cycle may be run as of (the last one excluded)."""


class Error(BaseModel):
    """An error, never a stack trace."""

    error: str = Field(description="What went wrong, for a person to read.")
    fields: list[dict[str, str]] | None = Field(
        default=None,
        description="For a request that is not valid: each `field` that is not, and the `reason`.",
    )


def error_response(description: str, **extra: Any) -> dict[str, Any]:
    """An error answer as the schema declares it: JSON for an API client, a page for a
    browser (`Accept: text/html`), whatever the route answers when all is well."""
    content = {
        "application/json": {"schema": Error.model_json_schema()},
        "text/html": {"schema": {"type": "string"}},
    }
    return {"description": description, "content": content, **extra}


ERRORS: dict[int | str, dict[str, Any]] = {
    400: error_response("The body or the cursor cannot be read."),
    401: error_response("Not logged in, or the bearer token is unknown or revoked."),
    403: error_response("The role may not do this, or the CSRF token is missing or wrong."),
    404: error_response("No such thing."),
    409: error_response("The store refused (for example, no cycle has run yet)."),
    422: error_response("The request is not valid; `fields` says which fields and why."),
}
"""The errors any route may answer (every route is behind the access table)."""


def create_app(store: Store) -> FastAPI:
    """The application serving `store` (opened read-write by the caller, who closes it)."""
    database = Database(store)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        database.close()

    app = FastAPI(
        title="ringfence",
        description="Epidemic prevention and control: cases, contacts, orders, bulletins.",
        version="0.1.0",
        responses=ERRORS,
        lifespan=lifespan,
    )
    app.state.database = database

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        return response

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if wants_html(request):  # a person in a browser reads a page, not JSON
            return pages.error_page(exc.status_code, str(exc.detail), exc.headers)
        return JSONResponse({"error": str(exc.detail)}, exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [
            {"field": ".".join(str(p) for p in e.get("loc", ())), "reason": e.get("msg", "")}
            for e in exc.errors()
        ]
        return JSONResponse({"error": "the request is not valid", "fields": fields}, 422)

    @app.exception_handler(BadCursor)
    async def bad_cursor(request: Request, exc: BadCursor) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, 400)

    @app.exception_handler(NotRecorded)
    async def not_recorded(request: Request, exc: NotRecorded) -> Response:
        if wants_html(request):
            return pages.error_page(422, str(exc))
        return JSONResponse({"error": str(exc)}, 422)

    @app.exception_handler(StoreError)
    async def store_error(request: Request, exc: StoreError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, 409)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The type only: a message may carry personal data.
        log.error("unexpected %s on %s %s", type(exc).__name__, request.method, request.url.path)
        return JSONResponse({"error": "internal error"}, 500)

    @app.post("/login", name="login", response_model=None, responses={
        303: pages.REDIRECT,
        429: error_response("Too many failed logins for this user lately.", headers={
            "Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}
        }),
    })  # fmt: skip
    def login(
        request: Request,
        username: Annotated[str, Form(max_length=200)],
        password: Annotated[str, Form(max_length=1_000)],
    ) -> Response:
        """Open a session: an HttpOnly, SameSite=Strict cookie, and the CSRF token to send
        back in the `X-CSRF-Token` header (or a `csrf_token` form field). A browser's form
        is sent on to the command centre, or back to the form with the reason."""
        browser = wants_html(request)
        with database.writing() as s:
            try:
                secret, caller = accounts.log_in(s, username, password)
            except accounts.TooManyLogins as exc:
                if browser:
                    return pages.login_form(request, str(exc), 429)
                raise HTTPException(
                    429, str(exc), headers={"Retry-After": str(exc.retry_after)}
                ) from None
            except accounts.LoginRefused:
                if browser:
                    return pages.login_form(request, "wrong user name or password", 401)
                raise HTTPException(401, "wrong user name or password") from None
        response: Response = (
            RedirectResponse("/", status_code=303) if browser
            else JSONResponse({"username": username, "role": caller.role,
                               "csrf_token": caller.csrf_token or ""})
        )  # fmt: skip
        response.set_cookie(
            SESSION_COOKIE, secret, httponly=True, samesite="strict",
            secure=request.url.scheme == "https", max_age=accounts.SESSION_HOURS * 3_600,
        )  # fmt: skip
        return response

    @app.post("/logout", name="logout", response_model=None, responses={303: pages.REDIRECT})
    def logout(request: Request, caller: Who) -> Response:
        """End this session."""
        with database.writing() as s:
            accounts.log_out(s, caller)
        response: Response = (
            RedirectResponse("/login", status_code=303) if wants_html(request)
            else JSONResponse({"status": "logged out"})
        )  # fmt: skip
        response.delete_cookie(SESSION_COOKIE)
        return response

    @app.get("/api/me", name="me")
    def me(caller: Who) -> dict[str, str | None]:
        """Who you are to the server."""
        return {"username": caller.username, "role": caller.role, "person_id": caller.person_id}

    @app.get("/api/bulletin", name="bulletin")
    def bulletin(caller: Who) -> dict[str, Any]:
        """The daily bulletin of the last cycle run: aggregates only, for everyone."""
        with database.use() as s:
            return database.centre.get(s).bulletin

    @app.get("/api/cases", name="cases")
    def cases(
        caller: Who,
        limit: Annotated[int, Query(ge=1, le=1_000)] = 100,
        offset: Annotated[int, Query(ge=0, le=100_000_000)] = 0,
        district: Annotated[str | None, Query(max_length=200)] = None,
        classification: Annotated[str | None, Query(pattern="^(confirmed|asymptomatic)$")] = None,
    ) -> dict[str, Any]:
        """The cases of the last cycle run, newest first, a page at a time."""
        with database.use() as s:
            items, total = case_page(s, caller, limit, offset, district, classification)
        return {"items": items, "total": total, "limit": limit, "offset": offset}

    @app.get("/api/cases/{case_id}", name="case")
    def case(caller: Who, case_id: str) -> dict[str, Any]:
        """One case, with the people traced as its contacts."""
        with database.use() as s:
            found, contacts = case_with_contacts(s, caller, case_id)
        if found is None:
            raise HTTPException(404, "no such case")
        return {"case": found, "contacts": contacts}

    @app.get("/api/persons/{person_id}/why", name="why")
    def why(caller: Who, person_id: str) -> dict[str, Any]:
        """Every decision about a person, with its rule and evidence (a member: their own)."""
        if caller.role == "member" and caller.person_id != person_id:
            raise HTTPException(403, "a member reads only their own record")
        with database.use() as s:
            lines = explain_person(s, person_id)
            audit.record(s, caller, "read", "persons", [person_id])
        return {"person_id": person_id, "lines": lines}

    @app.post("/api/ingest/{kind}", name="ingest",
              responses={413: error_response("The batch is larger than 100 MB.")})  # fmt: skip
    async def ingest(caller: Who, kind: str, request: Request) -> dict[str, Any]:
        """Ingest a batch of events of `kind` with the command line's checks: a JSON array
        of rows (row N is line N of the report), CSV text, or JSON Lines; for `fhir` a
        FHIR R4 Bundle, for `hl7` ORU^R01 messages. Valid rows commit together; the same
        batch twice stores nothing new. Answered with the per-row report."""
        if kind not in INGEST_KINDS:
            raise HTTPException(404, f"unknown kind {kind!r}; kinds: {', '.join(INGEST_KINDS)}")
        if not may_write(caller.role, kind):
            raise HTTPException(403, f"the role {caller.role} may not write {kind}")
        if kind == "actions":
            # An action carries the name of who took it; through the API that is the caller.
            raise HTTPException(
                400, "record actions with POST /api/actions, which signs them with your name"
            )
        body = await request.body()
        if len(body) > MAX_BODY:
            raise HTTPException(413, f"a batch is at most {MAX_BODY // 1_000_000} MB")
        name, data = _batch_file(kind, request.headers.get("content-type", ""), body)

        def store_batch() -> IngestReport:
            with database.writing() as s:
                return ingest_batch(s, caller, kind, name, data)

        report = await run_in_threadpool(store_batch)
        return {
            "kind": kind,
            "batch_id": report.batch_id,
            "rows_read": report.rows_read,
            "added": report.added,
            "duplicates": report.duplicates,
            "rejected": report.rejected_count,
            "rejections": [
                {"location": r.location, "field": r.field, "reason": r.reason}
                for r in report.rejections
            ],
        }

    def page_of(caller: Caller, name: str, filters: dict[str, Any], state: str | None,
                after: str | None, limit: int) -> dict[str, Any]:  # fmt: skip
        with database.use() as s:
            found = list_rows(s, caller, LISTINGS[name], filters, state, after, limit)
        return {"items": found.items, "next": found.next, "limit": limit}

    @app.get("/api/contacts", name="contacts")
    def contacts(caller: Who, person_id: Key = None, case_person_id: Key = None,
                 kind: Key = None, after: After = None, limit: Limit = 100
                 ) -> dict[str, Any]:  # fmt: skip
        """Contacts of the last cycle run, in key order, a page at a time: of one person
        (`person_id`), of one case (`case_person_id`), of a kind."""
        filters = {"person_id": person_id, "case_person_id": case_person_id, "kind": kind}
        return page_of(caller, "contacts", filters, None, after, limit)

    @app.get("/api/orders", name="orders")
    def orders(caller: Who, person_id: Key = None, kind: Key = None, rule: Key = None,
               state: OrderState = None, after: After = None, limit: Limit = 100
               ) -> dict[str, Any]:  # fmt: skip
        """Orders on persons (isolation, quarantine, monitoring...), open or released."""
        filters = {"person_id": person_id, "kind": kind, "rule": rule}
        return page_of(caller, "orders", filters, state, after, limit)

    @app.get("/api/closures", name="closures")
    def closures(caller: Who, place_id: Key = None, state: OrderState = None,
                 after: After = None, limit: Limit = 100) -> dict[str, Any]:  # fmt: skip
        """Places closed by the cycle (restaurants, markets, cold-chain businesses)."""
        return page_of(caller, "closures", {"place_id": place_id}, state, after, limit)

    @app.get("/api/risk-areas", name="risk_areas")
    def risk_areas(
        caller: Who,
        area_id: Key = None,
        level: Annotated[str | None, Query(pattern="^(high|medium|low)$")] = None,
        state: Annotated[str | None, Query(pattern="^(in_force|ended)$")] = None,
        after: After = None,
        limit: Limit = 100,
    ) -> dict[str, Any]:
        """Risk areas (high, medium, low), in force or ended."""
        filters = {"area_id": area_id, "level": level}
        return page_of(caller, "risk_areas", filters, state, after, limit)

    @app.get("/api/test-plans", name="test_plans")
    def test_plans(caller: Who, day: Annotated[date | None, Query(alias="date")] = None,
                   person_id: Key = None, purpose: Key = None, pool_id: Key = None,
                   place_id: Key = None, after: After = None, limit: Limit = 100
                   ) -> dict[str, Any]:  # fmt: skip
        """Who is to be tested when, and why (mass testing in pools, contacts, release)."""
        filters = {"date": day, "person_id": person_id, "purpose": purpose, "pool_id": pool_id,
                   "place_id": place_id}  # fmt: skip
        return page_of(caller, "test_plans", filters, None, after, limit)

    @app.get("/api/places/{place_id}", name="place")
    def place(caller: Who, place_id: str) -> dict[str, Any]:
        """A place: closed or not and why, its cases, contacts traced through it, visits of
        the last two weeks, environment samples."""
        with database.use() as s:
            found = place_detail(s, caller, place_id)
        if found is None:
            raise HTTPException(404, "no such place")
        return found

    @app.get("/api/loops", name="loops")
    def loops(caller: Who) -> dict[str, Any]:
        """Each closed loop's entries, departures, people inside and tested per report day,
        and who inside has not been tested on the last one."""
        with database.use() as s:
            found = loop_coverage(s)
            people = [p for loop in found for p in loop.untested_people]
            audit.record(s, caller, "read", "loops", people)
        return {"items": [asdict(loop) for loop in found]}

    @app.post("/api/actions", name="actions")
    def action(caller: Who, body: Annotated[ActionIn, Body()]) -> dict[str, str]:
        """Record a decision about a decision, by the caller, with its reason (an `actions`
        event: the next cycle run applies an override, release or reopen)."""
        with database.writing() as s:
            action_id = record_action(s, caller, body.kind, body.target, body.reason)
        return {"action_id": action_id, "actor": caller.actor}

    @app.post("/api/cycle", name="cycle")
    def cycle(caller: Who, body: Annotated[CycleIn, Body()]) -> dict[str, Any]:
        """Run the control cycle now (or as of `as_of`) and store its decisions."""
        with database.writing() as s:
            try:
                protocol = load_protocol(body.protocol) if body.protocol else last_run(s).protocol
            except ProtocolError as exc:
                raise HTTPException(422, str(exc)) from None
            if protocol is None:
                raise HTTPException(422, "name the protocol: the last run's is not found")
            moment = body.as_of or datetime.now(UTC)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=ZoneInfo(protocol.timezone))
            report = run_cycle(s, protocol, moment)
            audit.record(s, caller, "write", "cycle_runs", [str(report.run_id)])
        return {"run_id": report.run_id, "as_of": report.as_of.isoformat(),
                "protocol": protocol.name, "counts": report.counts}  # fmt: skip

    @app.post("/api/users/{username}/revoke-sessions", name="revoke_sessions")
    def revoke(caller: Who, username: str) -> dict[str, str]:
        """End every session of a user now."""
        with database.writing() as s, s.transaction():
            accounts.revoke_sessions(s, username)
        return {"status": f"sessions of {username} revoked"}

    @app.get("/api/audit", name="audit")
    def audit_trail(
        caller: Who,
        actor: Annotated[str | None, Query(max_length=200)] = None,
        resource: Annotated[str | None, Query(max_length=200)] = None,
        row_key: Annotated[str | None, Query(max_length=200)] = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1_000,
    ) -> dict[str, Any]:
        """Who read or wrote which personal data, newest first."""
        with database.use() as s:
            rows = audit.read_trail(s, actor, resource, row_key, limit)
        return {"items": rows}

    pages.add_pages(app, database)
    return app


def _batch_file(kind: str, content_type: str, body: bytes) -> tuple[str, bytes]:
    """The request body as the file the command line would read: its name (which the
    report's locations cite) and bytes."""
    if kind == "fhir":
        return "bundle.json", body
    if kind == "hl7":
        return "messages.hl7", body
    if "csv" in content_type:
        return "body.csv", body
    if "ndjson" in content_type or "jsonl" in content_type:
        return "body.jsonl", body
    try:
        rows = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise HTTPException(400, "the body is not JSON: send a JSON array of rows") from None
    if not isinstance(rows, list):
        raise HTTPException(400, "send a JSON array of rows (one object per row)")
    return "body.jsonl", rows_as_jsonl(rows)
