"""The web API's lists, place and loop views, and decisions by people, through the real
server on both engines: every page walk is checked against the tables read directly, the
loop coverage against a count made here from the raw events, person by person."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import psycopg
import pytest
import uvicorn

from ringfence.protocol import load_protocol
from ringfence.store import Store, open_store
from ringfence.web import create_app
from ringfence.web.accounts import ROLES, add_user
from ringfence.web.audit import read_trail

from .conftest import PG_BASE, require_postgres
from .scenario import Scenario, local
from .test_bulletin import PROTOCOL, outbreak
from .test_web_access import PASSWORD, Server, free_port

AS_OF = "2022-01-20 16:00"


def loop_story() -> Scenario:
    """The bulletin's outbreak, with more coming and going in its closed loop: a member who
    leaves, a staff member seen only through tests, two samples of one person in a day."""
    s = outbreak()
    s.person("ST2", group="staff", loop_id="L1", district="Chaoyang")
    for day in ("18", "19"):
        s.test("ST2", f"2022-01-{day} 08:00", f"2022-01-{day} 12:00", "negative")
    s.test("AT1", "2022-01-19 15:00", "2022-01-19 18:00", "negative")
    s.departure("OF1", "2022-01-19 20:00", "Germany")
    return s


@pytest.fixture(scope="module", params=["duckdb", "postgresql"])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Server]:  # fmt: skip
    folder = tmp_path_factory.mktemp("lists")
    schema = None
    if request.param == "duckdb":
        db = str(folder / "lists.duckdb")
    else:
        require_postgres()
        schema = "rf_" + uuid.uuid4().hex[:12]
        with psycopg.connect(PG_BASE, autocommit=True) as con:
            con.execute(f"CREATE SCHEMA {schema}")
        db = f"{PG_BASE}?options={quote(f'-csearch_path={schema}')}"
    loop_story().run(db, folder / "events", PROTOCOL, AS_OF)
    store = open_store(db)
    for role in ROLES:
        if role != "public":
            add_user(store, role, role, PASSWORD, "D" if role == "member" else None)
    port = free_port()
    running = uvicorn.Server(
        uvicorn.Config(create_app(store), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    while not running.started:
        time.sleep(0.05)
    yield Server(f"http://127.0.0.1:{port}", store, db)
    running.should_exit = True
    thread.join(timeout=10)
    store.close()
    if schema is not None:
        with psycopg.connect(PG_BASE, autocommit=True) as con:
            con.execute(f"DROP SCHEMA {schema} CASCADE")


def client_as(server: Server, role: str) -> httpx.Client:
    client = httpx.Client(base_url=server.url, timeout=60)
    reply = client.post("/login", data={"username": role, "password": PASSWORD})
    assert reply.status_code == 200, reply.text
    client.headers["X-CSRF-Token"] = reply.json()["csrf_token"]
    return client


def walk(client: httpx.Client, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every row of a list, a small page at a time, following the cursors."""
    rows: list[dict[str, Any]] = []
    cursor = None
    for _ in range(1_000):
        page = client.get(path, params={**params, "limit": 2, **({"after": cursor} if cursor
                                                                  else {})})  # fmt: skip
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["items"]) <= 2
        rows += body["items"]
        cursor = body["next"]
        if cursor is None:
            return rows
    raise AssertionError("the cursors never end")


def direct(store: Store, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in store.fetchall(sql, params)]


LISTS = [
    # route, filters, the same rows read directly: (SQL of the key columns, key fields)
    ("/api/contacts", {}, 'SELECT person_id, case_person_id, kind FROM contacts',
     ("person_id", "case_person_id", "kind")),
    ("/api/contacts", {"case_person_id": "A"},
     "SELECT person_id, case_person_id, kind FROM contacts WHERE case_person_id = 'A'",
     ("person_id", "case_person_id", "kind")),
    ("/api/orders", {}, "SELECT order_id FROM orders WHERE person_id IS NOT NULL",
     ("order_id",)),
    ("/api/orders", {"state": "open"},
     "SELECT order_id FROM orders WHERE person_id IS NOT NULL AND released_at IS NULL",
     ("order_id",)),
    ("/api/orders", {"kind": "quarantine_central"},
     "SELECT order_id FROM orders WHERE person_id IS NOT NULL AND kind = 'quarantine_central'",
     ("order_id",)),
    ("/api/closures", {}, "SELECT order_id FROM orders WHERE kind = 'closure'", ("order_id",)),
    ("/api/risk-areas", {}, "SELECT area_id FROM risk_areas", ("area_id",)),
    ("/api/test-plans", {}, "SELECT plan_id FROM test_plans", ("plan_id",)),
    ("/api/test-plans", {"date": "2022-01-21"},
     "SELECT plan_id FROM test_plans WHERE date = DATE '2022-01-21'", ("plan_id",)),
]  # fmt: skip


@pytest.mark.parametrize(("path", "filters", "sql", "key"), LISTS)
def test_a_list_walked_page_by_page_gives_every_row_once(
    served: Server, path: str, filters: dict[str, str], sql: str, key: tuple[str, ...]
) -> None:
    client = client_as(served, "epidemiologist")
    rows = walk(client, path, **filters)
    keys = [tuple(r[k] for k in key) for r in rows]
    expected = direct(served.store, sql)
    assert len(keys) == len(set(keys)) == len(expected)
    assert sorted(keys) == sorted(expected)
    # The pages are worth walking: every list here has rows on this story but the filtered
    # ones may be empty by design of the story only if the direct read is empty too.
    if path != "/api/orders" or filters != {"kind": "quarantine_central"}:
        assert expected, path


def test_the_lists_have_rows_of_every_kind(served: Server) -> None:
    for table in ("contacts", "orders", "test_plans", "risk_areas"):
        assert direct(served.store, f"SELECT count(*) FROM {table}")[0][0] > 0, table
    assert direct(served.store, "SELECT count(*) FROM orders WHERE kind = 'closure'")[0][0] > 0


def test_a_bad_cursor_is_refused_with_a_clear_error(served: Server) -> None:
    client = client_as(served, "epidemiologist")
    first = client.get("/api/contacts", params={"limit": 1}).json()
    assert first["next"]
    for path, cursor in [("/api/contacts", "not-a-cursor"), ("/api/orders", first["next"]),
                         ("/api/contacts", first["next"][:-3])]:  # fmt: skip
        reply = client.get(path, params={"after": cursor})
        assert reply.status_code == 400, (path, reply.text)
        assert "cursor" in reply.json()["error"]


def test_reading_a_list_of_people_is_audited(served: Server) -> None:
    client = client_as(served, "analyst")
    page = client.get("/api/contacts", params={"case_person_id": "A"}).json()
    (row, *_) = read_trail(served.store, actor="analyst", resource="contacts")
    assert set(row["row_keys"]) == {r["person_id"] for r in page["items"]} | {"A"}
    # Closures and risk areas are about places, not people: no audit row.
    before = len(read_trail(served.store, actor="analyst"))
    client.get("/api/closures")
    assert len(read_trail(served.store, actor="analyst")) == before


def test_the_place_view_matches_the_tables(served: Server) -> None:
    client = client_as(served, "tracer")
    for place_id in ("R1", "M1", "CC1"):
        detail = client.get(f"/api/places/{place_id}").json()
        assert detail["place"]["place_id"] == place_id
        visited = {r[0] for r in direct(
            served.store, "SELECT DISTINCT c.case_id FROM cases c JOIN visits v "
            "ON v.person_id = c.person_id WHERE v.place_id = ?", (place_id,))}  # fmt: skip
        assert {c["case_id"] for c in detail["cases"]} == visited
        open_closures = direct(
            served.store, "SELECT count(*) FROM orders WHERE place_id = ? "
            "AND kind = 'closure' AND released_at IS NULL", (place_id,))  # fmt: skip
        assert detail["closed"] == (open_closures[0][0] > 0)
        traced = sum(
            1 for (places,) in direct(served.store, "SELECT place_ids FROM contacts")
            if places and place_id in list(places)
        )
        assert detail["contacts_traced_here"] == traced
        visits = direct(served.store, "SELECT count(*) FROM visits WHERE place_id = ?",
                        (place_id,))[0][0]  # fmt: skip
        assert sum(d["visits"] for d in detail["visits_by_day"]) == visits
        assert len(detail["recent_visits"]) == visits
    r1 = client.get("/api/places/R1").json()
    assert r1["cases"], "a case ate at the restaurant"
    assert [(e["item"], e["reading"]) for e in r1["environment_samples"]] == [
        ("door handle", "negative")
    ]
    cold = client.get("/api/places/CC1").json()
    assert [(e["item"], e["reading"]) for e in cold["environment_samples"]] == [
        ("imported frozen fish", "positive")
    ]
    assert client.get("/api/places/nowhere").status_code == 404
    (row, *_) = read_trail(served.store, actor="tracer", resource="places")
    assert row["row_keys"][0] == "CC1"  # the last place read


def report_day(moment: datetime, cutoff: str) -> date:
    """The report day of an instant, from the definition: the day whose window ends at the
    first cut-off after it."""
    hours, minutes = (int(x) for x in cutoff.split(":"))
    local_time = moment.astimezone(local(AS_OF).tzinfo)
    end = local_time.replace(hour=hours % 24, minute=minutes, second=0, microsecond=0)
    return (end if end > local_time else end + timedelta(days=1)).date()


def test_loop_coverage_is_counted_person_by_person(served: Server) -> None:
    story = loop_story()
    cutoff = load_protocol(PROTOCOL).at(local(AS_OF)).bulletin.cutoff_local_time
    last = report_day(local(AS_OF) - timedelta(seconds=1), cutoff)
    members = {p["person_id"] for p in story.rows["persons"] if p["loop_id"] == "L1"}
    samples = [s for s in story.rows["samples"] if s.get("person_id") in members]
    tested: dict[str, set[date]] = {p: set() for p in members}
    for s in samples:
        if s.get("purpose", "screening") in ("screening", "contact", "release", "diagnostic",
                                             "mass", ""):  # fmt: skip
            day = report_day(local(s["collected_at"]), cutoff)
            if local(s["collected_at"]) < local(AS_OF):
                tested[s["person_id"]].add(day)
    entry: dict[str, date] = {}
    for a in story.rows["arrivals"]:
        if a["person_id"] in members:
            entry[a["person_id"]] = report_day(local(a["arrived_at"]), cutoff)
    for p in members - set(entry):
        if tested[p]:
            entry[p] = min(tested[p])
    exit_day = {d["person_id"]: report_day(local(d["departed_at"]), cutoff)
                for d in story.rows["departures"]}  # fmt: skip

    def inside(person: str, day: date) -> bool:
        return person in entry and entry[person] <= day and (
            person not in exit_day or day < exit_day[person]
        )

    client = client_as(served, "loop_manager")
    (loop,) = client.get("/api/loops").json()["items"]
    assert loop["loop_id"] == "L1" and loop["day"] == last.isoformat()
    first = min(entry.values())
    assert [d["day"] for d in loop["days"]] == [
        (first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)
    ]
    for row in loop["days"]:
        day = date.fromisoformat(row["day"])
        people_inside = {p for p in members if inside(p, day)}
        assert row["inside"] == len(people_inside), row
        assert row["tested"] == sum(1 for p in people_inside if day in tested[p]), row
        assert row["entered"] == sum(1 for p in entry if entry[p] == day), row
        assert row["departed"] == sum(1 for p in exit_day if exit_day[p] == day), row
    untested = sorted(p for p in members if inside(p, last) and last not in tested[p])
    assert loop["untested_people"] == untested and loop["untested"] == len(untested)
    assert any(d["departed"] for d in loop["days"]), "the story has a departure"
    page = client.get("/loops", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "Loop L1" in page.text


def test_an_epidemiologist_records_a_decision_with_its_reason(served: Server) -> None:
    client = client_as(served, "epidemiologist")
    (order_id, person) = direct(
        served.store, "SELECT order_id, person_id FROM orders WHERE person_id IS NOT NULL "
        "ORDER BY order_id LIMIT 1")[0]  # fmt: skip
    reason = "tested negative twice abroad"
    reply = client.post("/api/actions", json={"kind": "override", "target": order_id,
                                              "reason": reason})  # fmt: skip
    assert reply.status_code == 200, reply.text
    action_id = reply.json()["action_id"]
    stored = served.store.fetch_records(
        'SELECT actor, kind, target, reason FROM actions WHERE action_id = ?', (action_id,)
    )
    assert stored == [{"actor": "epidemiologist", "kind": "override", "target": order_id,
                       "reason": "tested negative twice abroad"}]  # fmt: skip
    page = client.get(f"/persons/{person}", headers={"Accept": "text/html"})
    assert "tested negative twice abroad" in page.text
    # Without a reason, or with an unknown kind, nothing is recorded.
    count = direct(served.store, "SELECT count(*) FROM actions")[0][0]
    for body in ({"kind": "override", "target": order_id, "reason": ""},
                 {"kind": "veto", "target": order_id, "reason": "because"}):  # fmt: skip
        assert client.post("/api/actions", json=body).status_code == 422
    # Nor can anyone sign an action with another name through the ingest endpoint.
    forged = client.post("/api/ingest/actions", json=[{
        "action_id": "X1", "at": "2022-01-20 10:00", "actor": "someone else",
        "kind": "override", "target": order_id, "reason": "forged"}])  # fmt: skip
    assert forged.status_code == 400 and "POST /api/actions" in forged.json()["error"]
    assert direct(served.store, "SELECT count(*) FROM actions")[0][0] == count
    # The form on the place page records the same, and goes back to the page.
    form = client.post("/actions", data={"kind": "confirm", "target": "R1",
                                         "reason": "owner informed", "back": "/places/R1"},
                       headers={"Accept": "text/html"}, follow_redirects=False)  # fmt: skip
    assert form.status_code == 303 and form.headers["location"] == "/places/R1?done=confirm"
    page = client.get("/places/R1", headers={"Accept": "text/html"})
    assert "owner informed" in page.text
    # The way back is a page of this server, never an address elsewhere.
    outside = client.post("/actions", data={"kind": "confirm", "target": "R1",
                                            "reason": "owner informed",
                                            "back": "//evil.example/x"})  # fmt: skip
    assert outside.status_code == 422


def test_the_cycle_runs_through_the_api(served: Server) -> None:
    client = client_as(served, "epidemiologist")
    before = direct(served.store, "SELECT max(run_id) FROM cycle_runs")[0][0]
    reply = client.post("/api/cycle", json={"as_of": "2022-01-20T16:00:00+08:00"})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["run_id"] == before + 1 and body["protocol"] == PROTOCOL
    assert body["counts"]["cases"] == direct(served.store, "SELECT count(*) FROM cases")[0][0]
    bad = client.post("/api/cycle", json={"protocol": "no-such-protocol"})
    assert bad.status_code == 422 and "no-such-protocol" in bad.json()["error"]
    # The command centre follows the new run.
    assert client.get("/api/bulletin").json()["cycle_run"]["run_id"] == before + 1


def test_the_command_centre_is_made_once_per_run(served: Server) -> None:
    client = client_as(served, "epidemiologist")
    first = client.get("/api/bulletin").json()
    assert client.get("/api/bulletin").json()["issued_at"] == first["issued_at"]
    for name in ("epi-curve", "rt"):
        chart = client.get(f"/charts/{name}.svg")
        if chart.status_code == 404:
            assert name == "rt" and "no data" in chart.json()["error"]
            continue
        assert chart.headers["content-type"].startswith("image/svg+xml")
        assert chart.text.lstrip().startswith("<svg")
    # A batch of events leaves the run's bulletin as it is; the next run makes it anew.
    client.post("/api/ingest/symptoms", json=[{"person_id": "F", "severity": "mild",
                                               "reported_at": "2022-01-20 11:00"}])  # fmt: skip
    assert client.get("/api/bulletin").json()["issued_at"] == first["issued_at"]
    client.post("/api/cycle", json={"as_of": "2022-01-20T16:00:00+08:00"})
    again = client.get("/api/bulletin").json()
    assert again["cycle_run"]["run_id"] == first["cycle_run"]["run_id"] + 1
    home = client.get("/", headers={"Accept": "text/html"})
    assert 'src="/charts/epi-curve.svg"' in home.text


def test_a_server_keeps_a_bounded_pool_of_connections(served: Server) -> None:
    import concurrent.futures

    from ringfence.web.deps import POOL_SIZE, Database

    client = client_as(served, "epidemiologist")
    with concurrent.futures.ThreadPoolExecutor(max_workers=24) as pool:
        codes = list(pool.map(lambda _: client.get("/api/cases").status_code, range(200)))
    assert codes == [200] * 200
    # Threads come and go (a server's idle ones end); connections are reused, never one per
    # thread: fifty threads at once share the pool.
    database = Database(served.store)

    def read(_: int) -> int:
        with database.use() as store:
            return int(store.fetchall("SELECT count(*) FROM cases")[0][0])

    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
        counts = set(pool.map(read, range(500)))
    assert len(counts) == 1 and 0 < database.connections <= POOL_SIZE
    database.close()


def test_several_server_processes_share_postgresql(pg_url: str, tmp_path: Path) -> None:
    outbreak().run(pg_url, tmp_path / "events", PROTOCOL, AS_OF)
    with open_store(pg_url) as store:
        add_user(store, "zhao", "epidemiologist", PASSWORD)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "ringfence", "serve", "--db", pg_url, "--port", str(port),
         "--workers", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{url}/api/bulletin", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        workers = subprocess.run(["pgrep", "-P", str(server.pid)], capture_output=True,
                                 text=True).stdout.split()  # fmt: skip
        assert len(workers) >= 2, workers
        # One login; its session is known to whichever process answers.
        client = httpx.Client(base_url=url, timeout=30)
        login = client.post("/login", data={"username": "zhao", "password": PASSWORD})
        assert login.status_code == 200
        for _ in range(40):
            assert client.get("/api/cases", params={"limit": 5}).status_code == 200
        # The login rate limit holds across the processes.
        for _ in range(5):
            wrong = httpx.post(f"{url}/login", data={"username": "zhao", "password": "guess!"})
            assert wrong.status_code == 401
        locked = httpx.post(f"{url}/login", data={"username": "zhao", "password": PASSWORD})
        assert locked.status_code == 429
        with open_store(pg_url) as store:
            assert len(read_trail(store, actor="zhao", resource="cases")) == 40
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_several_processes_are_refused_for_a_duckdb_file(tmp_path: Path) -> None:
    db = str(tmp_path / "one.duckdb")
    with open_store(db, create=True):
        pass
    result = subprocess.run(
        [sys.executable, "-m", "ringfence", "serve", "--db", db, "--workers", "2"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--workers needs a postgresql:// database" in result.stderr
