"""The web API through the real server on a free port: who may call what, sessions, CSRF,
the login rate limit, bearer tokens, and the audit trail of personal-data reads."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from typer.testing import CliRunner

from ringfence.cli.main import app as cli
from ringfence.store import Store, open_store
from ringfence.web import create_app
from ringfence.web.access import RULES, may_write
from ringfence.web.accounts import (
    ROLES,
    add_user,
    issue_token,
    log_in,
    session_caller,
)
from ringfence.web.audit import read_trail

from .test_bulletin import PROTOCOL, outbreak

PASSWORD = "correct horse battery staple"
MEMBER_PERSON = "D"
OTHER_PERSON = "E"
FASTAPI_OWN_ROUTES = {"openapi", "swagger_ui_html", "swagger_ui_redirect", "redoc_html"}


@dataclass
class Server:
    url: str
    store: Store
    db: str


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("web")
    db = str(folder / "web.duckdb")
    outbreak().run(db, folder / "events", PROTOCOL, "2022-01-20 16:00")
    store = open_store(db)
    for role in ROLES:
        if role != "public":
            add_user(store, role, role, PASSWORD, MEMBER_PERSON if role == "member" else None)
    port = free_port()
    config = uvicorn.Config(create_app(store), host="127.0.0.1", port=port, log_level="error")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    for _ in range(200):
        if running.started:
            break
        time.sleep(0.05)
    yield Server(f"http://127.0.0.1:{port}", store, db)
    running.should_exit = True
    thread.join(timeout=10)
    store.close()


def session(server: Server, role: str) -> tuple[httpx.Client, str]:
    """A client logged in as `role` (the public: not logged in), and its CSRF token."""
    client = httpx.Client(base_url=server.url, timeout=30)
    if role == "public":
        return client, ""
    reply = client.post("/login", data={"username": role, "password": PASSWORD})
    assert reply.status_code == 200, reply.text
    return client, reply.json()["csrf_token"]


# One row per route: how to call it. A route of the app without a row here fails the test.
CALLS: dict[str, tuple[str, str]] = {
    "ingest": ("POST", "/api/ingest/symptoms"),
    "login": ("POST", "/login"),
    "logout": ("POST", "/logout"),
    "me": ("GET", "/api/me"),
    "bulletin": ("GET", "/api/bulletin"),
    "cases": ("GET", "/api/cases"),
    "case": ("GET", "/api/cases/C-D"),
    "why": ("GET", f"/api/persons/{MEMBER_PERSON}/why"),
    "revoke_sessions": ("POST", "/api/users/nobody/revoke-sessions"),
    "audit": ("GET", "/api/audit"),
    "static": ("GET", "/static/ringfence.css"),
    "login_page": ("GET", "/login"),
    "home": ("GET", "/"),
    "public_page": ("GET", "/public"),
    "cases_page": ("GET", "/cases"),
    "case_rows": ("GET", "/cases/rows?offset=0"),
    "sitrep_page": ("GET", "/sitrep"),
    "report_static": ("GET", "/static/report/cytoscape-3.34.4.min.js"),
    "case_page": ("GET", "/cases/C-D"),
    "person_page": ("GET", f"/persons/{MEMBER_PERSON}"),
    "follow_up_page": ("GET", "/follow-up"),
    "follow_up_outcome": ("POST", "/follow-up/outcome"),
    "site_page": ("GET", "/site"),
    "site_release": ("POST", "/site/release"),
    "my_page": ("GET", "/me"),
    "my_report": ("POST", "/me/report"),
    "lab_page": ("GET", "/lab"),
    "lab_upload": ("POST", "/lab/upload"),
    "contacts": ("GET", "/api/contacts?case_person_id=A"),
    "orders": ("GET", "/api/orders?state=open"),
    "closures": ("GET", "/api/closures"),
    "risk_areas": ("GET", "/api/risk-areas"),
    "test_plans": ("GET", "/api/test-plans?limit=5"),
    "place": ("GET", "/api/places/R1"),
    "loops": ("GET", "/api/loops"),
    "actions": ("POST", "/api/actions"),
    "cycle": ("POST", "/api/cycle"),
    "chart": ("GET", "/charts/epi-curve.svg"),
    "decide": ("POST", "/actions"),
    "place_page": ("GET", "/places/R1"),
    "loops_page": ("GET", "/loops"),
}
FORMS: dict[str, dict[str, str]] = {
    "login": {"username": "admin", "password": PASSWORD},
    "follow_up_outcome": {"person_id": OTHER_PERSON, "outcome": "reached"},
    "site_release": {"order_id": "isolation:D:0"},
    "my_report": {"temperature": "36.8", "severity": "none"},
    "lab_upload": {"kind": "results", "text": "result_id,sample_id,reported_at,outcome\n"},
    "decide": {"kind": "note", "target": "R1", "reason": "checked by phone", "back": "/places/R1"},
}
JSON_BODIES: dict[str, Any] = {
    "ingest": [{"person_id": "F", "reported_at": "2022-01-20 10:00", "severity": "mild"}],
    "actions": {"kind": "note", "target": OTHER_PERSON, "reason": "called, no answer"},
    # The run the server was started with, again: the same decisions.
    "cycle": {"as_of": "2022-01-20T16:00:00+08:00"},
}
"""The JSON body each POST route needs."""
"""The form each POST page needs, so that a role allowed to send it gets past validation."""


def test_every_route_has_an_access_rule_and_a_call_in_the_matrix(server: Server) -> None:
    app = create_app(server.store)
    names = {getattr(r, "name", "") for r in app.routes} - FASTAPI_OWN_ROUTES
    assert names == set(RULES) == set(CALLS)


@pytest.mark.parametrize("role", ROLES)
def test_each_role_reaches_exactly_what_the_access_table_allows(server: Server, role: str) -> None:
    for route, (method, path) in CALLS.items():
        client, csrf = session(server, role)
        kwargs: dict[str, Any] = {"headers": {"X-CSRF-Token": csrf}} if csrf else {}
        if route in FORMS:
            kwargs["data"] = FORMS[route]
        if route in JSON_BODIES:
            kwargs["json"] = JSON_BODIES[route]
        reply = client.request(method, path, **kwargs)
        # Ingest has a second rule, by kind: a lab writes samples and results only.
        if role in RULES[route] and (route != "ingest" or may_write(role, "symptoms")):
            assert reply.status_code < 400, (role, route, reply.status_code, reply.text)
        else:
            assert reply.status_code == (401 if role == "public" else 403), (role, route)
            assert "error" in reply.json()
        client.close()


def test_a_member_reads_only_their_own_record(server: Server) -> None:
    client, _ = session(server, "member")
    assert client.get(f"/api/persons/{MEMBER_PERSON}/why").status_code == 200
    reply = client.get(f"/api/persons/{OTHER_PERSON}/why")
    assert reply.status_code == 403
    assert reply.json() == {"error": "a member reads only their own record"}


def test_a_revoked_session_is_refused_at_once(server: Server) -> None:
    tracer, _ = session(server, "tracer")
    assert tracer.get("/api/me").json()["role"] == "tracer"
    admin, csrf = session(server, "admin")
    reply = admin.post("/api/users/tracer/revoke-sessions", headers={"X-CSRF-Token": csrf})
    assert reply.status_code == 200
    assert tracer.get("/api/me").status_code == 401
    # Logging in again opens a new session.
    tracer, _ = session(server, "tracer")
    assert tracer.get("/api/me").status_code == 200


def test_a_state_change_without_the_csrf_token_is_refused(server: Server) -> None:
    client, csrf = session(server, "epidemiologist")
    for headers in ({}, {"X-CSRF-Token": "forged"}):
        reply = client.post("/logout", headers=headers)
        assert reply.status_code == 403
        assert reply.json() == {"error": "missing or wrong CSRF token"}
        assert client.get("/api/me").status_code == 200  # still logged in
    assert client.post("/logout", data={"csrf_token": csrf}).status_code == 200
    assert client.get("/api/me").status_code == 401


def test_repeated_wrong_passwords_are_rate_limited(server: Server) -> None:
    add_user(server.store, "target", "analyst", PASSWORD)
    client = httpx.Client(base_url=server.url, timeout=30)
    for _ in range(5):
        reply = client.post("/login", data={"username": "target", "password": "wrong guess!!"})
        assert reply.status_code == 401
        assert reply.json() == {"error": "wrong user name or password"}
    reply = client.post("/login", data={"username": "target", "password": PASSWORD})
    assert reply.status_code == 429
    assert int(reply.headers["retry-after"]) > 0
    # An unknown user is told the same as a wrong password.
    reply = client.post("/login", data={"username": "nobody", "password": PASSWORD})
    assert reply.status_code == 401


def test_every_read_of_personal_data_is_audited(server: Server) -> None:
    client, _ = session(server, "epidemiologist")
    listed = client.get("/api/cases", params={"limit": 3}).json()
    assert listed["total"] >= len(listed["items"]) == 3
    client.get(f"/api/persons/{OTHER_PERSON}/why")
    client.get("/api/cases/C-D")
    trail = read_trail(server.store, actor="epidemiologist")
    assert [r["resource"] for r in trail[:4]] == ["contacts", "cases", "persons", "cases"]
    assert trail[2]["row_keys"] == [OTHER_PERSON] and trail[1]["row_keys"] == ["C-D"]
    assert trail[3]["row_keys"] == [i["case_id"] for i in listed["items"]]
    assert all(r["action"] == "read" and r["role"] == "epidemiologist" for r in trail[:4])
    # The public bulletin holds no personal data: reading it writes no audit row.
    before = len(read_trail(server.store))
    httpx.get(f"{server.url}/api/bulletin")
    assert len(read_trail(server.store)) == before


def test_a_lab_system_uses_a_bearer_token_until_it_is_revoked(server: Server) -> None:
    token = issue_token(server.store, "lab", "results")
    me = httpx.get(f"{server.url}/api/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["role"] == "lab"
    cases = httpx.get(f"{server.url}/api/cases", headers={"Authorization": f"Bearer {token}"})
    assert cases.status_code == 403
    token_id = token.split("_")[1]
    result = CliRunner().invoke(cli, ["user", "token", "lab", "--revoke", token_id, "--db",
                                      server.db])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"token {token_id} revoked" in result.stderr
    me = httpx.get(f"{server.url}/api/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 401


def test_errors_are_json_with_a_message_and_headers_are_secure(server: Server) -> None:
    client, _ = session(server, "analyst")
    reply = client.get("/api/cases", params={"limit": "many", "classification": "sick"})
    assert reply.status_code == 422
    body = reply.json()
    assert body["error"] == "the request is not valid"
    assert {f["field"] for f in body["fields"]} == {"query.limit", "query.classification"}
    missing = client.get("/api/cases/no-such-case")
    assert missing.status_code == 404 and missing.json() == {"error": "no such case"}
    assert client.get("/nowhere").json() == {"error": "Not Found"}
    for header in ("content-security-policy", "x-frame-options", "x-content-type-options"):
        assert header in reply.headers
    login = httpx.post(f"{server.url}/login", data={"username": "analyst", "password": PASSWORD})
    cookie = login.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie


def test_accounts_and_the_audit_trail_work_on_postgresql(pg_url: str) -> None:
    from ringfence.web.accounts import Caller
    from ringfence.web.audit import record

    with open_store(pg_url, create=True) as store:
        add_user(store, "wang", "epidemiologist", PASSWORD)
        secret, caller = log_in(store, "wang", PASSWORD)
        assert session_caller(store, secret) == caller
        record(store, Caller("wang", "epidemiologist"), "read", "cases", ["C-1", "C-2"])
        (row,) = read_trail(store, row_key="C-2")
        assert (row["actor"], row["resource"], row["row_keys"]) == ("wang", "cases", ["C-1", "C-2"])
        # Only hashes are stored: the secret itself is nowhere in the database.
        assert not store.fetchall("SELECT 1 FROM sessions WHERE session_hash = ?", (secret,))


def test_the_user_commands(tmp_path: Path) -> None:
    db = str(tmp_path / "users.duckdb")
    runner = CliRunner()
    assert runner.invoke(cli, ["init", "--db", db]).exit_code == 0
    env = {"RINGFENCE_PASSWORD": PASSWORD}
    added = runner.invoke(cli, ["user", "add", "li", "--role", "tracer", "--db", db], env=env)
    assert added.exit_code == 0, added.output
    again = runner.invoke(cli, ["user", "add", "li", "--role", "tracer", "--db", db], env=env)
    assert again.exit_code == 2 and "user 'li' exists already" in again.stderr
    bad = runner.invoke(cli, ["user", "add", "x", "--role", "boss", "--db", db], env=env)
    assert bad.exit_code == 2 and "unknown role 'boss'" in bad.stderr
    member = runner.invoke(cli, ["user", "add", "m", "--role", "member", "--db", db], env=env)
    assert member.exit_code == 2 and "give --person" in member.stderr
    token = runner.invoke(cli, ["user", "token", "li", "--db", db])
    assert token.exit_code == 0 and token.stdout.startswith("rf_")
    removed = runner.invoke(cli, ["user", "remove", "li", "--db", db])
    assert removed.exit_code == 0
    with open_store(db) as store:
        assert store.fetchall("SELECT count(*) FROM api_tokens WHERE revoked_at IS NULL") == [(0,)]


def test_ringfence_serve_serves_and_the_command_line_says_the_file_is_busy(
    tmp_path: Path,
) -> None:
    import os
    import subprocess
    import sys

    db = str(tmp_path / "served.duckdb")
    outbreak().run(db, tmp_path / "events", PROTOCOL, "2022-01-20 16:00")
    port = free_port()
    command = [sys.executable, "-m", "ringfence"]
    server = subprocess.Popen(
        [*command, "serve", "--db", db, "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        reply = None
        for _ in range(200):
            try:
                reply = httpx.get(f"http://127.0.0.1:{port}/api/bulletin", timeout=5)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert reply is not None and reply.status_code == 200
        assert reply.json()["window_end"] == "2022-01-20T16:00:00+08:00"
        busy = subprocess.run(
            [*command, "bulletin", "--db", db], capture_output=True, text=True,
            env={**os.environ}, timeout=120,
        )  # fmt: skip
        assert busy.returncode == 1
        assert "is in use by another ringfence process" in busy.stderr
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_lab_writes_results_through_the_api_with_the_command_lines_checks(
    server: Server,
) -> None:
    token = issue_token(server.store, "lab", "results")
    auth = {"Authorization": f"Bearer {token}"}
    samples = [
        {"sample_id": f"LAB{n}", "person_id": "F", "collected_at": "2022-01-20 09:00",
         "test": "pcr", "purpose": "screening"}
        for n in (1, 2)
    ]  # fmt: skip
    reply = httpx.post(f"{server.url}/api/ingest/samples", json=samples, headers=auth)
    assert reply.status_code == 200 and reply.json()["added"] == 2, reply.text
    before = server.store.fetchall("SELECT count(*) FROM results")[0][0]
    results = [
        {"result_id": "LR1", "sample_id": "LAB1", "reported_at": "2022-01-20 12:00",
         "outcome": "negative"},
        {"result_id": "LR2", "sample_id": "LAB2", "reported_at": "2022-01-20 12:00",
         "outcome": "positive", "ct": 31.5},
        {"result_id": "LR3", "sample_id": "LAB2", "reported_at": "2022-01-20 12:00",
         "outcome": "maybe"},
    ]  # fmt: skip
    reply = httpx.post(f"{server.url}/api/ingest/results", json=results, headers=auth)
    report = reply.json()
    assert reply.status_code == 200
    assert (report["rows_read"], report["added"], report["rejected"]) == (3, 2, 1)
    (refused,) = report["rejections"]
    assert (refused["location"], refused["field"]) == ("3", "outcome")
    assert server.store.fetchall("SELECT count(*) FROM results")[0][0] == before + 2
    again = httpx.post(f"{server.url}/api/ingest/results", json=results[:2], headers=auth).json()
    assert (again["added"], again["duplicates"]) == (0, 2)
    # A lab writes samples and results only.
    persons = httpx.post(f"{server.url}/api/ingest/persons", json=[{"person_id": "Z"}],
                         headers=auth)  # fmt: skip
    assert persons.status_code == 403
    assert persons.json() == {"error": "the role lab may not write persons"}
    written = read_trail(server.store, actor="lab", resource="results")
    assert written[0]["action"] == "write"
    assert written[0]["row_keys"] == [f"batch:{report['batch_id']}"]


def test_lab_messages_and_bad_bodies_through_the_api(server: Server) -> None:
    token = issue_token(server.store, "lab", "messages")
    auth = {"Authorization": f"Bearer {token}"}
    data = Path(__file__).parent / "data" / "lab"
    bundle = (data / "fhir_pcr_positive_ct_components.json").read_bytes()
    reply = httpx.post(f"{server.url}/api/ingest/fhir", content=bundle, headers=auth)
    assert reply.status_code == 200 and reply.json()["rejected"] == 0, reply.text
    assert reply.json()["added"] > 0
    hl7 = (data / "hl7_pcr_positive_ct.hl7").read_bytes()
    reply = httpx.post(f"{server.url}/api/ingest/hl7", content=hl7, headers=auth)
    assert reply.status_code == 200 and reply.json()["rejected"] == 0, reply.text
    broken = httpx.post(f"{server.url}/api/ingest/results", content=b"{not json",
                        headers={**auth, "Content-Type": "application/json"})  # fmt: skip
    assert broken.status_code == 400
    assert broken.json() == {"error": "the body is not JSON: send a JSON array of rows"}
    unknown = httpx.post(f"{server.url}/api/ingest/letters", json=[], headers=auth)
    assert unknown.status_code == 404 and "unknown kind 'letters'" in unknown.json()["error"]


def test_the_demo_serves_the_app_with_a_user_of_every_role(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    port = free_port()
    demo = subprocess.Popen(
        [sys.executable, "-m", "ringfence", "demo", "--serve", "--port", str(port),
         "--db", str(tmp_path / "demo.duckdb")],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        password = ""
        assert demo.stdout is not None
        for line in demo.stdout:
            if "password for all:" in line:
                password = line.rsplit(":", 1)[1].strip()
            if "ringfence serving" in line:
                break
        assert password and f"http://127.0.0.1:{port}/" in line
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
        for _ in range(100):
            try:
                reply = client.post("/login", data={"username": "member", "password": password})
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert reply.status_code == 200
        assert client.get("/api/me").json() == {
            "username": "member", "role": "member", "person_id": "F012"
        }  # fmt: skip
        assert client.get("/api/persons/F012/why").status_code == 200
        assert client.get("/api/persons/F013/why").status_code == 403
    finally:
        demo.terminate()
        demo.wait(timeout=30)
