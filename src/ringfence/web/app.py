"""The HTTP API: FastAPI over one open store, every route behind the access table.

Who is asking comes from a session cookie (browsers; forms and state-changing calls must
echo the session's CSRF token) or a bearer token (machine clients such as a lab system),
else it is the public. Every read of personal data is written to the audit trail. Errors
are JSON with a clear message, never a stack trace.
"""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any

from fastapi import FastAPI, Form, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ringfence.control.why import explain_person
from ringfence.schema import EVENT_TABLES
from ringfence.store import Store, StoreError
from ringfence.store.ingest import LAB_KINDS

from . import accounts, audit, pages
from .access import may_write
from .deps import SESSION_COOKIE, Database, Who, wants_html
from .queries import case_page, case_with_contacts, ingest_batch, rows_as_jsonl

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


def create_app(store: Store) -> FastAPI:
    """The application serving `store` (opened read-write by the caller, who closes it)."""
    app = FastAPI(
        title="ringfence",
        description="Epidemic prevention and control: cases, contacts, orders, bulletins.",
        version="0.1.0",
    )
    database = Database(store)
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

    @app.exception_handler(StoreError)
    async def store_error(request: Request, exc: StoreError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, 409)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The type only: a message may carry personal data.
        log.error("unexpected %s on %s %s", type(exc).__name__, request.method, request.url.path)
        return JSONResponse({"error": "internal error"}, 500)

    @app.post("/login", name="login", response_model=None)
    def login(
        request: Request,
        username: Annotated[str, Form(max_length=200)],
        password: Annotated[str, Form(max_length=1_000)],
    ) -> Response:
        """Open a session: an HttpOnly, SameSite=Strict cookie, and the CSRF token to send
        back in the `X-CSRF-Token` header (or a `csrf_token` form field). A browser's form
        is sent on to the command centre, or back to the form with the reason."""
        browser = wants_html(request)
        with database.use() as s:
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

    @app.post("/logout", name="logout", response_model=None)
    def logout(request: Request, caller: Who) -> Response:
        """End this session."""
        with database.use() as s:
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
        from ringfence.report import daily_bulletin

        with database.use() as s:
            return daily_bulletin(s)

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

    @app.post("/api/ingest/{kind}", name="ingest")
    async def ingest(caller: Who, kind: str, request: Request) -> dict[str, Any]:
        """Ingest a batch of events of `kind` with the command line's checks: a JSON array
        of rows (row N is line N of the report), CSV text, or JSON Lines; for `fhir` a
        FHIR R4 Bundle, for `hl7` ORU^R01 messages. Valid rows commit together; the same
        batch twice stores nothing new. Answered with the per-row report."""
        if kind not in INGEST_KINDS:
            raise HTTPException(404, f"unknown kind {kind!r}; kinds: {', '.join(INGEST_KINDS)}")
        if not may_write(caller.role, kind):
            raise HTTPException(403, f"the role {caller.role} may not write {kind}")
        body = await request.body()
        if len(body) > MAX_BODY:
            raise HTTPException(413, f"a batch is at most {MAX_BODY // 1_000_000} MB")
        name, data = _batch_file(kind, request.headers.get("content-type", ""), body)
        with database.use() as s:
            report = ingest_batch(s, caller, kind, name, data)
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

    @app.post("/api/users/{username}/revoke-sessions", name="revoke_sessions")
    def revoke(caller: Who, username: str) -> dict[str, str]:
        """End every session of a user now."""
        with database.use() as s, s.transaction():
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
