"""Web load benchmark: the real server under load from a second process, on DuckDB and on
PostgreSQL.

The city is the one of bench/cycle.py and bench/report.py (`ringfence.examples.generate`,
default 1,000,000 persons × 14 days, about 10 M visits), ingested into a DuckDB store and
decided once by `run_cycle` as of the end of the period under ``zero-covid-2022``. That setup
is bench/report.py's own (`report.Bench.prepare`), so the three benchmarks share one city and
one cycled store under the work directory, each reused when present. For PostgreSQL, the
cycled DuckDB store is copied once, table by table, into a database created and migrated by
ringfence (``COPY … FROM STDIN`` of each table as CSV, its indexes dropped during the copy
and rebuilt after it), kept as a template database and reused by later runs.

Each store is measured on a fresh copy (a copied DuckDB file; ``CREATE DATABASE … TEMPLATE``
on PostgreSQL), so runs do not see each other's writes. Per store:

1. users are added with the command line (``ringfence user add``: an epidemiologist for the
   pages, a lab for ingest, whose bearer token comes from ``ringfence user token``);
2. ``ringfence serve --db STORE --port PORT`` starts as its own process (the real server:
   uvicorn, one worker);
3. this process, a bounded asyncio client (``httpx.AsyncClient``, one per virtual user, each
   with its own session cookie), logs 50 users in through ``POST /login``;
4. for each page, the command centre ``GET /``, the case list ``GET /cases`` and the person
   page ``GET /persons/{id}`` (ids of cases and contacts, a seeded random choice), with
   ``Accept: text/html``: a warm-up by one user, then 50 users each sending one request after
   another for ``--duration`` seconds (a closed loop: a user sends its next request when the
   last one is answered). Requests started before the end are awaited; latency is from send to
   the whole body read, on the client;
5. ingest: ``POST /api/ingest/results`` with a bearer token, JSON arrays of 1,000 new results
   of existing samples; first batches one after another, then from ``--ingest-clients``
   clients at once. Every answer must report 1,000 rows added and none refused; results/s is
   the rows added over the wall time from the first request to the last answer;
6. the server is stopped (SIGINT) and its peak RSS taken from ``/proc`` (VmHWM); its CPU seconds
   (and this client's, and the whole machine's) per phase come from ``/proc`` and `resource`.

With ``--server-per-phase`` each page and the ingest get a fresh server process (and fresh
logins). With ``--profile SECONDS``, after each phase and untimed, py-spy samples the server
under the same load again and the busiest functions are listed.

The client and the server share the machine's cores: the CPU the client spends is reported
beside the server's.

Usage: ``python bench/web_load.py [--persons 1000000] [--stores duckdb,postgresql]
[--users 50] [--duration 30] [--single-duration 10] [--ingest-batches 40] [--ingest-clients 4]
[--server-per-phase] [--profile 15]
[--pg postgresql://postgres@127.0.0.1:5432/postgres] [--workdir bench/data]
[--markdown FILE]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import report
from harness import last_line, remove_db, save_results, scrub, snapshot_code

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_WORKDIR = BENCH_DIR / "data"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
"""The maintenance database: the benchmark creates (and drops) its own databases beside it."""
DEFAULT_SEED = 20220110
STORES = ("duckdb", "postgresql")
PAGES = {
    "command_centre": "GET / (the command centre)",
    "case_list": "GET /cases (the case list)",
    "person": "GET /persons/{id} (the person page)",
}
BATCH_ROWS = 1_000
GOAL_RESULTS_PER_SECOND = 20_000.0
GOAL_P99_MS = 200.0
PASSWORD = "bench-password-not-secret"
"""The benchmark's users live only in its throw-away copies of the store."""
PAGE_USER, LAB_USER = "bench-epi", "bench-lab"
PG_PREFIX = "rf_webload"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# ----------------------------------------------------------------------------------------
# What the benchmark reads from the store before the server starts
# ----------------------------------------------------------------------------------------


@dataclass
class Workload:
    """The person ids the person page is asked for, and the samples new results are for."""

    persons: list[str]
    cases_among_persons: int
    samples: list[tuple[str, str]]
    """(sample_id, collected_at as local time without offset)."""
    facts: dict[str, Any] = field(default_factory=dict)


def pick_workload(db: Path, seed: int, persons: int, samples: int) -> Workload:
    """Seeded choices from the cycled DuckDB store (the PostgreSQL copy holds the same rows):
    half of the person ids from the cases, half from the contacts, and `samples` swabs of
    persons to report new results for."""
    from ringfence.store import open_store

    rng = random.Random(seed)
    with open_store(str(db), read_only=True) as store:
        zone = ZoneInfo(store.timezone)
        case_ids = sorted(str(r[0]) for r in store.fetchall("SELECT DISTINCT person_id FROM cases"))
        contact_ids = sorted(
            str(r[0]) for r in store.fetchall("SELECT DISTINCT person_id FROM contacts")
        )
        swabs = store.fetchall(
            "SELECT sample_id, collected_at FROM samples WHERE person_id IS NOT NULL "
            "ORDER BY sample_id"
        )
        facts = {
            name: int(store.fetchall(f'SELECT count(*) FROM "{name}"')[0][0])
            for name in ("persons", "visits", "samples", "results", "cases", "contacts", "orders",
                         "explanations", "test_plans")
        }  # fmt: skip
    half = persons // 2
    chosen_cases = rng.sample(case_ids, min(half, len(case_ids)))
    chosen_contacts = rng.sample(contact_ids, min(persons - len(chosen_cases), len(contact_ids)))
    picked = rng.sample(swabs, min(samples, len(swabs)))
    return Workload(
        persons=chosen_cases + chosen_contacts,
        cases_among_persons=len(chosen_cases),
        samples=[(str(s), at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")) for s, at in picked],
        facts={
            **facts,
            "distinct_case_persons": len(case_ids),
            "distinct_contact_persons": len(contact_ids),
        },
    )


def result_batches(workload: Workload, batches: int, seed: int) -> list[list[dict[str, Any]]]:
    """`batches` JSON arrays of `BATCH_ROWS` new results, each of an existing swab, reported
    six hours after it was collected; outcomes in the generator's proportions (mostly
    negative, a few positive with Ct values, rare invalid)."""
    rng = random.Random(seed)
    out = []
    for b in range(batches):
        rows = []
        for i in range(BATCH_ROWS):
            n = b * BATCH_ROWS + i
            sample_id, collected = workload.samples[n % len(workload.samples)]
            reported = datetime.fromisoformat(collected) + timedelta(hours=6)
            draw = rng.random()
            row: dict[str, Any] = {
                "result_id": f"WL{n:09d}",
                "sample_id": sample_id,
                "reported_at": reported.strftime("%Y-%m-%d %H:%M:%S"),
                "outcome": "negative",
            }
            if draw < 0.02:
                ct = round(rng.uniform(18.0, 34.0), 1)
                row.update(outcome="positive", ct=ct, ct_orf1ab=ct, ct_n=round(ct - 1.0, 1))
            elif draw < 0.021:
                row["outcome"] = "invalid"
            rows.append(row)
        out.append(rows)
    return out


# ----------------------------------------------------------------------------------------
# PostgreSQL: the cycled store copied once into a template database
# ----------------------------------------------------------------------------------------


def pg_url(base: str, database: str) -> str:
    """`base` (any database on the server) with its database name replaced."""
    parts = urlsplit(base)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


def pg_admin(base: str, *statements: str) -> None:
    """Run statements outside a transaction (CREATE / DROP DATABASE need that)."""
    import psycopg

    with psycopg.connect(base, autocommit=True) as con:
        for statement in statements:
            con.execute(statement)


def pg_database_exists(base: str, name: str) -> bool:
    """Whether the server has a database `name`."""
    import psycopg

    with psycopg.connect(base, autocommit=True) as con:
        return (
            con.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            is not None
        )


def pg_databases(base: str, prefix: str) -> list[str]:
    """The server's databases whose names start with `prefix` (compared in Python: in LIKE,
    the underscores of the names would match any character)."""
    import psycopg

    with psycopg.connect(base, autocommit=True) as con:
        names = [str(r[0]) for r in con.execute("SELECT datname FROM pg_database").fetchall()]
    return [n for n in names if n.startswith(prefix)]


def copy_to_postgresql(
    duck: Path, url: str, scratch: Path, say: Callable[[str], None]
) -> dict[str, Any]:
    """Every table of the DuckDB store `duck` into the new, empty PostgreSQL database at `url`.

    ringfence creates and migrates the database first (`open_store(..., create=True)`), so
    its tables, keys, sequence and indexes are exactly those of a PostgreSQL store. The
    indexes are dropped while the rows are copied (each table exported by DuckDB as CSV,
    read by ``COPY … FROM STDIN``) and rebuilt afterwards, which is faster than maintaining
    them row by row; then the batch sequence is moved past the copied batches and every
    table is analysed. Returns the seconds and rows per table.
    """
    import duckdb
    import psycopg

    from ringfence.store import open_store

    source = duckdb.connect(str(duck), read_only=True)
    zone = str(
        source.execute("SELECT value FROM ringfence_meta WHERE key = 'timezone'").fetchall()[0][0]
    )
    # Instants are written with their offset, so PostgreSQL reads them back unchanged.
    source.execute("SET TimeZone = 'UTC'")
    open_store(url, create=True, timezone=zone).close()
    tables = [
        str(r[0])
        for r in source.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
            "AND table_type = 'BASE TABLE' ORDER BY table_name"
        ).fetchall()
        if r[0] != "ringfence_meta"
    ]
    out: dict[str, Any] = {"tables": {}}
    scratch.mkdir(parents=True, exist_ok=True)
    with psycopg.connect(url) as con:
        indexes = con.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = 'public' "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)"
        ).fetchall()
        for name, _ in indexes:
            con.execute(f'DROP INDEX "{name}"')
        pg_tables = {
            str(r[0])
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            ).fetchall()
        }
        for table in tables:
            if table not in pg_tables:
                out["tables"][table] = {"skipped": "not a table of a PostgreSQL store"}
                continue
            t0 = time.perf_counter()
            columns = source.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'main' AND table_name = ? ORDER BY ordinal_position",
                [table],
            ).fetchall()
            # A list of strings becomes a PostgreSQL array literal; everything else is CSV as is.
            select = ", ".join(
                f"CASE WHEN \"{c}\" IS NULL THEN NULL ELSE '{{' || array_to_string("
                f"list_transform(\"{c}\", lambda x: '\"' || replace(x, '\"', '\\\"') || '\"'), "
                f"',') "
                f"|| '}}' END AS \"{c}\""
                if str(t).endswith("[]")
                else f'"{c}"'
                for c, t in columns
            )
            csv_path = scratch / f"{table}.csv"
            source.execute(
                f"COPY (SELECT {select} FROM \"{table}\") TO '{csv_path}' (HEADER, DELIMITER ',')"
            )
            names = ", ".join(f'"{c}"' for c, _ in columns)
            with (
                con.cursor() as cur,
                cur.copy(f'COPY "{table}" ({names}) FROM STDIN (FORMAT csv, HEADER true)') as copy,
                open(csv_path, "rb") as handle,
            ):
                while block := handle.read(1 << 20):
                    copy.write(block)
            csv_path.unlink()
            rows = int(con.execute(f'SELECT count(*) FROM "{table}"').fetchall()[0][0])
            out["tables"][table] = {"rows": rows, "seconds": time.perf_counter() - t0}
            say(f"  copied {table}: {rows:,} rows in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        con.execute("SET maintenance_work_mem = '1GB'")
        for _, definition in indexes:
            con.execute(definition)
        out["index_seconds"] = time.perf_counter() - t0
        out["indexes"] = len(indexes)
        con.execute(
            "SELECT setval('ingest_batch_id', (SELECT coalesce(max(batch_id), 0) + 1 "
            "FROM ingest_batches), false)"
        )
        con.commit()
    source.close()
    t0 = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as con:
        con.execute("VACUUM ANALYZE")
    out["analyze_seconds"] = time.perf_counter() - t0
    return out


# ----------------------------------------------------------------------------------------
# The server and the command line, as separate processes
# ----------------------------------------------------------------------------------------


def free_port() -> int:
    """A port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A running ``ringfence serve`` process."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        """User and system CPU seconds the server has used so far (from /proc)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def rss_mb(self) -> tuple[float, float]:
        """The server's resident memory now and its peak so far, in MB (from /proc)."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        now = re.search(r"VmRSS:\s+(\d+) kB", status)
        peak = re.search(r"VmHWM:\s+(\d+) kB", status)
        return (
            int(now.group(1)) / 1024 if now else 0.0,
            int(peak.group(1)) / 1024 if peak else 0.0,
        )

    def stop(self) -> float:
        """Stop the server (SIGINT, as Ctrl-C); its peak RSS in MB.

        The peak is the kernel's high-water mark of the server's own memory (VmHWM), read
        just before the stop. `os.wait4`'s ru_maxrss would not do here: a child started by
        fork and exec inherits the parent's peak at the fork, and this client holds the
        workload (about 1.5 GB at a million persons), more than the server ever uses."""
        if self.process.poll() is not None:
            return 0.0
        peak = self.rss_mb()[1]
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        return peak


def cli(env: dict[str, str], *args: str, secret: str | None = None) -> str:
    """Run ``python -m ringfence ARGS`` (the command line of the measured code); its stdout."""
    extra = {"RINGFENCE_PASSWORD": secret} if secret else {}
    done = subprocess.run(
        [sys.executable, "-m", "ringfence", *args],
        env={**env, **extra},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(
            f"ringfence {args[0]} {args[1]} failed: {scrub(done.stderr or done.stdout)}"
        )
    return done.stdout


def start_server(env: dict[str, str], db: str, log: Path) -> Server:
    """``ringfence serve --db DB --port PORT`` on a free port, once it answers."""
    import httpx

    port = free_port()
    with open(log, "wb") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "ringfence", "serve", "--db", db, "--port", str(port)],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=env,
        )
    server = Server(process, port, log)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server stopped: {scrub(log.read_text()[-2000:])}")
        try:
            if httpx.get(f"{server.base}/login", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.stop()
    raise SystemExit("the server did not answer within 180 s")


# ----------------------------------------------------------------------------------------
# The load: a bounded asyncio client
# ----------------------------------------------------------------------------------------


@dataclass
class Phase:
    """One measured phase: latencies of the answered requests, statuses, time and CPU."""

    name: str
    users: int
    latencies_ms: list[float] = field(default_factory=list)
    """Of the requests answered 200; the others are counted in `statuses` only."""
    statuses: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0
    server_cpu_seconds: float = 0.0
    client_cpu_seconds: float = 0.0
    server_rss_mb: float = 0.0
    server_peak_rss_mb: float = 0.0
    bytes_received: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """Percentiles (nearest rank), mean, requests/s and the phase's resources."""
        lat = sorted(self.latencies_ms)
        ok = self.statuses.get("200", 0)
        out: dict[str, Any] = {
            "users": self.users,
            "requests": sum(self.statuses.values()),
            "ok": ok,
            "statuses": self.statuses,
            "failures": len(self.failures),
            "wall_seconds": self.wall_seconds,
            "requests_per_second": ok / self.wall_seconds if self.wall_seconds else 0.0,
            "server_cpu_seconds": self.server_cpu_seconds,
            "client_cpu_seconds": self.client_cpu_seconds,
            "server_rss_mb": self.server_rss_mb,
            "server_peak_rss_mb": self.server_peak_rss_mb,
            "mean_bytes": self.bytes_received / len(lat) if lat else 0,
            **self.extra,
        }
        if lat:
            out.update(
                p50_ms=percentile(lat, 50),
                p90_ms=percentile(lat, 90),
                p99_ms=percentile(lat, 99),
                max_ms=lat[-1],
                mean_ms=statistics.fmean(lat),
            )
        return out


def percentile(ordered: list[float], p: float) -> float:
    """The nearest-rank percentile of sorted values: p99 of 100 values is the 99th."""
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


class Load:
    """Virtual users of one server: logged-in page readers and a lab with a token."""

    def __init__(self, server: Server, token: str, users: int, timeout: float) -> None:
        import httpx

        self.server = server
        self.token = token
        self.timeout = timeout
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        # One client per user: its own cookie jar (session) and its own connection.
        self.clients = [
            httpx.AsyncClient(base_url=server.base, timeout=timeout, limits=limits)
            for _ in range(users)
        ]

    async def close(self) -> None:
        """Close every user's connection."""
        await asyncio.gather(*(c.aclose() for c in self.clients))

    async def log_in(self) -> float:
        """Log every user in (POST /login, one after another); the seconds it took."""
        t0 = time.perf_counter()
        for client in self.clients:
            answer = await client.post(
                "/login",
                data={"username": PAGE_USER, "password": PASSWORD},
                headers={"Accept": "application/json"},
            )
            if answer.status_code != 200 or not answer.json().get("csrf_token"):
                raise SystemExit(f"login failed: {answer.status_code} {answer.text[:200]}")
        return time.perf_counter() - t0

    async def _timed(self, phase: Phase, send: Callable[[], Awaitable[Any]]) -> Any:
        import httpx

        t0 = time.perf_counter()
        try:
            answer = await send()
        except httpx.HTTPError as exc:
            phase.statuses[type(exc).__name__] = phase.statuses.get(type(exc).__name__, 0) + 1
            phase.failures.append(type(exc).__name__)
            return None
        if answer.status_code == 200:
            # A quick refusal is not a fast page: errors are counted, not timed.
            phase.latencies_ms.append((time.perf_counter() - t0) * 1000)
        key = str(answer.status_code)
        phase.statuses[key] = phase.statuses.get(key, 0) + 1
        phase.bytes_received += len(answer.content)
        if answer.status_code != 200 and len(phase.failures) < 20:
            phase.failures.append(f"{answer.status_code} {answer.text[:200]}")
        return answer

    async def pages(
        self,
        name: str,
        path_of: Callable[[random.Random], str],
        duration: float,
        seed: int,
        users: int | None = None,
    ) -> Phase:
        """The first `users` users (all by default) send requests for `duration` seconds, each
        one after another (a closed loop); requests sent before the end are awaited."""
        clients = self.clients[: users or len(self.clients)]
        phase = Phase(name, len(clients))
        html = {"Accept": "text/html"}
        deadline = time.perf_counter() + duration

        async def user(client: Any, rng: random.Random) -> None:
            while time.perf_counter() < deadline:
                path = path_of(rng)
                await self._timed(phase, partial(client.get, path, headers=html))

        await self._measure(
            phase,
            [user(c, random.Random(seed * 1000 + i)) for i, c in enumerate(clients)],
        )
        return phase

    async def warm_up(
        self, path_of: Callable[[random.Random], str], requests: int, seed: int
    ) -> list[float]:
        """One user sends `requests` requests one after another; their latencies (ms)."""
        phase = Phase("warm-up", 1)
        rng = random.Random(seed)
        for _ in range(requests):
            path = path_of(rng)
            send = partial(self.clients[0].get, path, headers={"Accept": "text/html"})
            await self._timed(phase, send)
        if phase.failures:
            raise SystemExit(f"warm-up failed: {phase.failures[0]}")
        return phase.latencies_ms

    async def ingest(self, name: str, batches: list[list[dict[str, Any]]], clients: int) -> Phase:
        """Send the batches from `clients` clients at once (each its share, one after
        another); every answer must have added all its rows and refused none."""
        import httpx

        phase = Phase(name, clients)
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        bodies = [json.dumps(batch).encode() for batch in batches]
        added = duplicates = rejected = 0
        queue = list(range(len(bodies)))

        async def lab(client: Any) -> None:
            nonlocal added, duplicates, rejected
            while queue:
                body = bodies[queue.pop(0)]
                answer = await self._timed(
                    phase,
                    partial(client.post, "/api/ingest/results", content=body, headers=headers),
                )
                if answer is None or answer.status_code != 200:
                    continue
                report_ = answer.json()
                added += report_["added"]
                duplicates += report_["duplicates"]
                rejected += report_["rejected"]
                if report_["added"] != BATCH_ROWS or report_["rejected"]:
                    phase.failures.append(
                        f"added {report_['added']}, rejected {report_['rejected']}: "
                        f"{report_['rejections'][:2]}"
                    )

        labs = [
            httpx.AsyncClient(base_url=self.server.base, timeout=self.timeout)
            for _ in range(clients)
        ]
        try:
            await self._measure(phase, [lab(c) for c in labs])
        finally:
            await asyncio.gather(*(c.aclose() for c in labs))
        phase.extra.update(
            batches=len(bodies),
            rows_added=added,
            duplicates=duplicates,
            rejected=rejected,
            results_per_second=added / phase.wall_seconds if phase.wall_seconds else 0.0,
            body_bytes=sum(len(b) for b in bodies) / len(bodies) if bodies else 0,
        )
        return phase

    async def _measure(self, phase: Phase, users: list[Awaitable[None]]) -> None:
        cpu0, own0, (busy0, _) = self.server.cpu_seconds(), _own_cpu(), machine_cpu()
        t0 = time.perf_counter()
        await asyncio.gather(*users)
        phase.wall_seconds = time.perf_counter() - t0
        phase.server_cpu_seconds = self.server.cpu_seconds() - cpu0
        phase.client_cpu_seconds = _own_cpu() - own0
        # Everything else that ran meanwhile: PostgreSQL's backends, and any other process.
        phase.extra["machine_cpu_seconds"] = machine_cpu()[0] - busy0
        # Processes wanting a core at the end (the 1-minute load average): above the cores,
        # something else was competing with the server and the client.
        phase.extra["load_average"] = float(Path("/proc/loadavg").read_text().split()[0])
        phase.server_rss_mb, phase.server_peak_rss_mb = self.server.rss_mb()


def machine_cpu() -> tuple[float, float]:
    """Busy and total CPU seconds of the whole machine so far, all cores (from /proc/stat)."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle and waiting for I/O
    return (sum(ticks) - idle) / CLOCK_TICKS, sum(ticks) / CLOCK_TICKS


def summarise_profile(raw: Path, top: int = 12) -> dict[str, Any]:
    """The busiest functions of a py-spy raw profile (collapsed stacks with counts): each
    function's share of the samples it is on the stack of (inclusive: ringfence's own, and
    all), and the share it is the innermost frame of (self)."""
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_frame(f) for f in stack.split(";")]
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + count
        own[frames[-1]] = own.get(frames[-1], 0) + count
    if not total:
        return {"samples": 0}

    def share(table: dict[str, int], keep: Callable[[str], bool]) -> list[tuple[str, float]]:
        ranked = sorted(((k, v) for k, v in table.items() if keep(k)), key=lambda kv: -kv[1])
        return [(k, round(100 * v / total, 1)) for k, v in ranked[:top]]

    return {
        "samples": total,
        # The entry point's frames (the command line, uvicorn's loop) hold every sample of
        # the main thread and say nothing about where the time goes.
        "inclusive_ringfence": share(
            inclusive,
            lambda f: "(ringfence/" in f and "(ringfence/cli/" not in f and "__main__" not in f,
        ),
        "self": share(own, lambda f: True),
    }


def _frame(text: str) -> str:
    """A py-spy frame "function (path:line)" as "function (short path)": the lines of one
    function are one entry, and a path starts at its package."""
    found = re.match(r"^(.*) \((.*?)(?::\d+)?\)$", text)
    if found is None:
        return text
    name, path = found.groups()
    for marker in ("site-packages/", "/lib/python3."):
        if marker in path:
            path = path.split(marker, 1)[1]
            path = path.split("/", 1)[1] if marker.startswith("/lib") and "/" in path else path
    if "ringfence/" in path:
        path = "ringfence/" + path.rsplit("ringfence/", 1)[1]
    return f"{name} ({path})"


class Profiler:
    """py-spy recording the server while a phase runs (sampling, not pausing it)."""

    def __init__(self, pid: int, out: Path, seconds: float) -> None:
        self.out = out
        self.process = subprocess.Popen(
            [py_spy(), "record", "--pid", str(pid), "--format", "raw", "--output", str(out),
             "--duration", str(int(seconds)), "--rate", "100", "--nonblocking"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )  # fmt: skip

    def finish(self) -> dict[str, Any]:
        """Wait for py-spy to write its file; the summary."""
        _, err = self.process.communicate(timeout=600)
        if self.process.returncode != 0 or not self.out.exists():
            return {"error": scrub(err.decode(errors="replace"))[-500:]}
        return summarise_profile(self.out)


def py_spy() -> str:
    """The py-spy executable beside this Python, else on the PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else "py-spy"


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# ----------------------------------------------------------------------------------------
# The parent: setup, one run per store, the report
# ----------------------------------------------------------------------------------------


def _say(text: str) -> None:
    print(text, flush=True)


class Bench:
    """One benchmark invocation: the shared city, a run per store, the results."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.workdir: Path = args.workdir.resolve()
        self.city = report.Bench(
            report.parse_args(
                ["--persons", str(args.persons), "--days", str(args.days), "--seed",
                 str(args.seed), "--workdir", str(self.workdir)]
                + (["--visits", str(args.visits)] if args.visits else [])
                + (["--no-snapshot"] if args.no_snapshot else [])
            )
        )  # fmt: skip
        self.runs_dir = self.workdir / "runs"
        self.logs = self.workdir / "logs"
        self.code: dict[str, Any] = {}
        self.env = dict(os.environ)
        self.setup: dict[str, Any] = {}
        self.results: dict[str, dict[str, Any]] = {}
        self.workload: Workload | None = None
        self.copy: Path | None = None

    def pin_code(self) -> None:
        """Measure one version of ringfence from start to end (see `harness.snapshot_code`):
        the server and the command line run on the copy."""
        self.code, self.copy, snapshot = snapshot_code(
            self.workdir, Path(__file__).resolve(), "web_load", self.args.no_snapshot
        )
        if snapshot is not None:
            self.env["PYTHONPATH"] = os.pathsep.join(
                [snapshot, *filter(None, [os.environ.get("PYTHONPATH")])]
            )

    def prepare(self) -> None:
        """Setup, untimed: the city and its cycled store (bench/report.py's), the workload."""
        for folder in (self.workdir, self.runs_dir, self.logs):
            folder.mkdir(parents=True, exist_ok=True)
        self.pin_code()
        # The city's cycle runs on the code that is served: one snapshot for both.
        self.city.code, self.city.env = self.code, self.env
        try:
            self.city.prepare()
        finally:
            self.city.cleanup()
        self.setup.update(
            generate=self.city.setup["generate"],
            cycle=self.city.setup["cycle"],
            store_bytes=self.city.setup["store_bytes"],
        )
        needed = self.args.ingest_batches * 3 * BATCH_ROWS
        self.workload = pick_workload(
            self.city.cycled, self.args.seed, self.args.persons_asked, needed
        )
        self.setup["workload"] = {
            "person_ids": len(self.workload.persons),
            "cases_among_persons": self.workload.cases_among_persons,
            "samples": len(self.workload.samples),
            **self.workload.facts,
        }

    # -- stores -------------------------------------------------------------------------
    def duckdb_copy(self) -> str:
        """A fresh copy of the cycled store for one run."""
        db = self.runs_dir / "web_load.duckdb"
        remove_db(db)
        shutil.copyfile(self.city.cycled, db)
        return str(db)

    def pg_template(self) -> str:
        """The PostgreSQL template database holding the cycled store (built once per cycled
        store: its name carries the code hash the cycle ran with)."""
        cycle_hash = str(self.setup["cycle"].get("src_sha256", "x"))[:10]
        name = f"{PG_PREFIX}_{self.args.persons}_{cycle_hash}"
        marker = self.workdir / "stores" / f"{name}.json"
        if marker.exists() and pg_database_exists(self.args.pg, name):
            self.setup["pg_copy"] = {**json.loads(marker.read_text()), "reused": True}
            return name
        _say(f"setup: copying the cycled store into PostgreSQL database {name} …")
        # Copies of this city's earlier cycled stores are stale: one template per city.
        stale = [
            d for d in pg_databases(self.args.pg, f"{PG_PREFIX}_{self.args.persons}_") if d != name
        ]
        pg_admin(
            self.args.pg,
            *(f"DROP DATABASE IF EXISTS {d}" for d in [*stale, name]),
            f"CREATE DATABASE {name}",
        )
        t0 = time.perf_counter()
        out = copy_to_postgresql(
            self.city.cycled, pg_url(self.args.pg, name), self.runs_dir / "pg-copy", _say
        )
        out["seconds"] = time.perf_counter() - t0
        marker.write_text(json.dumps(out))
        self.setup["pg_copy"] = out
        return name

    def pg_copy(self) -> str:
        """A fresh database for one run: ``CREATE DATABASE … TEMPLATE`` the cached copy."""
        template = self.pg_template()
        run = f"{PG_PREFIX}_run"
        t0 = time.perf_counter()
        pg_admin(
            self.args.pg,
            f"DROP DATABASE IF EXISTS {run}",
            f"CREATE DATABASE {run} TEMPLATE {template} STRATEGY FILE_COPY",
        )
        self.setup["pg_clone_seconds"] = time.perf_counter() - t0
        return pg_url(self.args.pg, run)

    # -- one store ------------------------------------------------------------------------
    def run_store(self, kind: str) -> dict[str, Any]:
        """Users, the server, the pages and ingest on a fresh copy of the store."""
        assert self.workload is not None
        _say(f"[{kind}] a fresh copy of the store …")
        db = self.duckdb_copy() if kind == "duckdb" else self.pg_copy()
        t0 = time.perf_counter()
        cli(self.env, "user", "add", PAGE_USER, "--role", "epidemiologist", "--db", db,
            secret=PASSWORD)  # fmt: skip
        cli(self.env, "user", "add", LAB_USER, "--role", "lab", "--db", db, secret=PASSWORD)
        token = cli(self.env, "user", "token", LAB_USER, "--scopes", "results", "--db", db)
        found = re.search(r"rf_\S+", token)
        if found is None:
            raise SystemExit(f"no token in the command line's answer: {token[:200]}")
        out: dict[str, Any] = {
            "users_seconds": time.perf_counter() - t0,
            "pages": {},
            "alone": {},
            "warm_up_ms": {},
            "servers": [],
        }
        phases = [*self.args.pages, *(["ingest"] if self.args.ingest_batches else [])]
        # One server for every phase, or (--server-per-phase) a fresh one for each.
        groups = [[p] for p in phases] if self.args.server_per_phase else [phases]
        for group in groups:
            _say(f"[{kind}] starting ringfence serve …")
            t0 = time.perf_counter()
            server = start_server(self.env, db, self.logs / f"web_load-{kind}-server.log")
            started = {"phases": group, "startup_seconds": time.perf_counter() - t0}
            try:
                asyncio.run(self.load(kind, server, found.group(0), group, out, started))
            finally:
                started["peak_rss_mb"] = server.stop()
                started["exit"] = server.process.returncode
                out["servers"].append(started)
            _say(f"[{kind}] server stopped; peak RSS {started['peak_rss_mb']:,.0f} MB")
        out["server_peak_rss_mb"] = max(s["peak_rss_mb"] for s in out["servers"])
        out["startup_seconds"] = out["servers"][0]["startup_seconds"]
        out["login_seconds"] = out["servers"][0].get("login_seconds", 0.0)
        if kind == "duckdb":
            remove_db(Path(db))
        return out

    async def load(
        self,
        kind: str,
        server: Server,
        token: str,
        phases: list[str],
        out: dict[str, Any],
        started: dict[str, Any],
    ) -> None:
        """Log the users in, then each phase (a page, or ingest), each followed by its
        profile with --profile; the numbers go into `out`."""
        assert self.workload is not None
        args = self.args
        persons = self.workload.persons
        paths: dict[str, Callable[[random.Random], str]] = {
            "command_centre": lambda rng: "/",
            "case_list": lambda rng: "/cases",
            "person": lambda rng: f"/persons/{rng.choice(persons)}",
        }
        seeds = {name: args.seed + i for i, name in enumerate(paths)}
        load = Load(server, token, args.users, args.timeout)
        try:
            started["login_seconds"] = await load.log_in()
            _say(f"[{kind}] {args.users} users logged in in {started['login_seconds']:.1f} s")
            for name in phases:
                if name == "ingest":
                    out["ingest"] = await self.ingest(kind, load)
                else:
                    await self.page(kind, load, name, paths[name], seeds[name], out)
                if args.profile:
                    out.setdefault("profile", {})[name] = await self.profile(
                        kind, server, load, name, paths.get(name)
                    )
        finally:
            await load.close()

    async def page(
        self,
        kind: str,
        load: Load,
        name: str,
        path_of: Callable[[random.Random], str],
        seed: int,
        out: dict[str, Any],
    ) -> None:
        """One page: warm-up, one user alone, then all the users."""
        args = self.args
        out["warm_up_ms"][name] = await load.warm_up(path_of, args.warmup, seed)
        _say(
            f"[{kind}] {PAGES[name]}: warm-up "
            + ", ".join(f"{ms:.0f}" for ms in out["warm_up_ms"][name])
            + " ms"
        )
        if args.single_duration:
            # One user alone: the time the server needs per request, without a queue.
            alone = await load.pages(name, path_of, args.single_duration, seed, 1)
            s = out["alone"][name] = alone.summary()
            _say(
                f"[{kind}] {name}, one user: {s['requests']} requests, p50 "
                f"{s.get('p50_ms', 0):,.1f} ms, p99 {s.get('p99_ms', 0):,.1f} ms"
            )
        _say(f"[{kind}] {name}: {args.users} users for {args.duration:.0f} s …")
        phase = await load.pages(name, path_of, args.duration, seed)
        s = out["pages"][name] = phase.summary()
        s["failure_examples"] = phase.failures[:3]
        _say(
            f"[{kind}] {name}: {s['ok']} answered in {s['wall_seconds']:.1f} s "
            f"({s['requests_per_second']:.1f}/s), p50 {s.get('p50_ms', 0):,.0f} ms, "
            f"p99 {s.get('p99_ms', 0):,.0f} ms, max {s.get('max_ms', 0):,.0f} ms; "
            f"statuses {s['statuses']}"
        )

    async def ingest(self, kind: str, load: Load) -> dict[str, Any]:
        """Batches one after another, then from several clients at once."""
        assert self.workload is not None
        args = self.args
        batches = result_batches(self.workload, 2 * args.ingest_batches, args.seed)
        out: dict[str, Any] = {}
        plan = [("sequential", 1, batches[: args.ingest_batches])]
        plan.append((f"{args.ingest_clients} clients", args.ingest_clients,
                     batches[args.ingest_batches:]))  # fmt: skip
        for label, clients, part in plan:
            _say(f"[{kind}] ingest: {len(part)} batches of {BATCH_ROWS:,}, {label} …")
            phase = await load.ingest(label, part, clients)
            s = out[label] = phase.summary()
            s["failure_examples"] = phase.failures[:3]
            _say(
                f"[{kind}] ingest {label}: {s['rows_added']:,} added, "
                f"{s['rejected']:,} refused in {s['wall_seconds']:.1f} s: "
                f"{s['results_per_second']:,.0f} results/s; per batch p50 "
                f"{s.get('p50_ms', 0):,.0f} ms, p99 {s.get('p99_ms', 0):,.0f} ms; "
                f"statuses {s['statuses']}"
            )
        return out

    async def profile(
        self,
        kind: str,
        server: Server,
        load: Load,
        name: str,
        path_of: Callable[[random.Random], str] | None,
    ) -> dict[str, Any]:
        """After a phase, untimed: py-spy samples the server while the page is under the same
        load again, or while results are ingested one batch after another."""
        assert self.workload is not None
        args = self.args
        _say(f"[{kind}] profiling {name} for {args.profile:.0f} s …")
        profiler = Profiler(server.process.pid, self.logs / f"web_load-{kind}-{name}.pyspy.txt",
                            args.profile)  # fmt: skip
        if path_of is not None:
            await load.pages(name, path_of, args.profile, args.seed + 7)
        else:
            # Fresh result ids: the third set of batches, never sent before.
            batches = result_batches(self.workload, 3 * args.ingest_batches, args.seed)
            await load.ingest("profile", batches[2 * args.ingest_batches :], 1)
        return profiler.finish()

    def run(self) -> None:
        """Setup, then every store in turn."""
        self.prepare()
        for kind in self.args.stores:
            try:
                self.results[kind] = self.run_store(kind)
            except (SystemExit, Exception) as exc:
                # One store failing should still leave the other's numbers.
                self.results[kind] = {"error": f"{type(exc).__name__}: {exc}"}
                _say(f"[{kind}] FAILED: {last_line(str(exc))}")

    def cleanup(self) -> None:
        """Drop the run's PostgreSQL database and the copy of this script."""
        if "postgresql" in self.args.stores:
            try:
                pg_admin(self.args.pg, f"DROP DATABASE IF EXISTS {PG_PREFIX}_run")
            except Exception as exc:  # cleanup must not hide the results
                _say(f"could not drop the run's database: {type(exc).__name__}")
        if self.copy is not None:
            self.copy.unlink(missing_ok=True)

    # -- reporting ----------------------------------------------------------------------
    def markdown(self, command: str) -> str:
        """The section for RESULTS.md: setup, method, the tables, the goals."""
        args = self.args
        gen = self.setup["generate"]["rows"]
        cycle = self.setup["cycle"]
        work = self.setup["workload"]
        env = environment(self.args)
        code = self.code
        lines = [
            f"Command: `{command}`",
            "",
            f"City: {args.persons:,} persons × {args.days} days, seed {args.seed}: "
            f"{gen['visits']:,} visits, {gen['samples']:,} samples, {gen['results']:,} results; "
            f"the cycle ran once as of {self.city.as_of.isoformat()} under {report.PROTOCOL}: "
            f"{cycle['counts']['cases']:,} cases, {cycle['counts']['contacts']:,} contacts, "
            f"{cycle['counts']['orders']:,} orders (setup, untimed). DuckDB store "
            f"{self.setup['store_bytes'] / 1e9:.2f} GB.",
            "",
            f"Code: commit {code.get('commit', '?')}"
            + ("" if code.get("src_matches_commit", True) else " with uncommitted changes")
            + f", src/ringfence hash {code.get('src_sha256', '?')}"
            + (" (served from a snapshot taken at the start)" if code.get("snapshot") else "")
            + ". "
            + ", ".join(f"{k} {v}" for k, v in env["versions"].items())
            + f"; {env['cpus']} CPUs, {env['memory_gb']} GB, {env['platform']}.",
            "",
            f"Method: `ringfence serve` (uvicorn, one process) on a fresh copy of the store; "
            f"this benchmark's process is the client: {args.users} virtual users, each an "
            f"`httpx.AsyncClient` with its own session (logged in through `POST /login`) and "
            f"one keep-alive connection, in one asyncio loop. Per page: {args.warmup} warm-up "
            f"requests by one user, then {args.users} users each sending one request after "
            f"another (closed loop, `Accept: text/html`) for {args.duration:.0f} s; requests "
            f"sent before the end are awaited, so a slow page's phase runs longer. Latency is "
            f"the client's, from sending to the whole body read, of the requests answered 200 "
            f"(errors are counted, not timed); percentiles by nearest rank. "
            f"Person pages: {work['person_ids']:,} ids ({work['cases_among_persons']:,} of cases, "
            f"the rest of contacts), a seeded random choice per request. Ingest: "
            f"`POST /api/ingest/results` with a lab's bearer token, JSON arrays of "
            f"{BATCH_ROWS:,} new results of existing swabs, {args.ingest_batches} batches one "
            f"after another, then {args.ingest_batches} more from {args.ingest_clients} "
            f"clients at once; results/s = rows added ÷ wall time of the phase. "
            + (
                "A fresh server process (with fresh logins) serves each page and the ingest "
                "(`--server-per-phase`). "
                if args.server_per_phase
                else ""
            )
            + f"Client and server share the {env['cpus']} cores; the CPU seconds of each phase "
            f"are shown for "
            f"the server, this client and the whole machine (all processes, PostgreSQL's "
            f"included; at most {env['cpus']} × the wall time), and the 1-minute load average "
            f"at the phase's end (above {env['cpus']}, other processes wanted the cores too).",
        ]
        if "pg_copy" in self.setup:
            pg = self.setup["pg_copy"]
            lines += [
                "",
                f"PostgreSQL {env.get('postgresql', '?')}: the cycled DuckDB store copied "
                f"table by table into a database ringfence created and migrated (DuckDB "
                f"`COPY … TO` CSV, then `COPY … FROM STDIN`; indexes dropped during the copy "
                f"and rebuilt after, {pg.get('indexes', 0)} of them; the batch sequence moved "
                f"past the copied batches; `VACUUM ANALYZE`) in {pg.get('seconds', 0):,.0f} s "
                f"(setup, kept as a template database; each run clones it with "
                f"`CREATE DATABASE … TEMPLATE` in {self.setup.get('pg_clone_seconds', 0):.0f} s). "
                "The cycle did not run on PostgreSQL: its decisions are DuckDB's, copied.",
            ]
        lines += [
            "",
            f"| store | page | one user: p50 / p99 ms | {args.users} users: answered | req/s | "
            "p50 ms | p90 ms | p99 ms | max ms | CPU s: server / client / machine | "
            "load average | goal p99 < 200 ms |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for kind, result in self.results.items():
            if "error" in result:
                lines.append(f"| {kind} | FAILED: {last_line(result['error'])} |||||||||||")
                continue
            for name, s in result["pages"].items():
                if not s["requests"]:
                    lines.append(f"| {kind} | {PAGES[name]} | – | 0 ||||||||||")
                    continue
                bad = s["requests"] - s["ok"]
                alone = result.get("alone", {}).get(name, {})
                single = (
                    f"{alone['p50_ms']:,.1f} / {alone['p99_ms']:,.1f}" if "p50_ms" in alone else "–"
                )
                errors = f" (+ {bad:,} errors)" if bad else ""
                if "p50_ms" not in s:
                    lines.append(f"| {kind} | {PAGES[name]} | {single} | 0{errors} ||||||| ✘ |")
                    continue
                lines.append(
                    f"| {kind} | {PAGES[name]} | {single} | {s['ok']:,}{errors}"
                    f" | {s['requests_per_second']:.1f} | {s['p50_ms']:,.0f} | "
                    f"{s['p90_ms']:,.0f} | {s['p99_ms']:,.0f} | {s['max_ms']:,.0f} | "
                    f"{_cpu(s)} | {s.get('load_average', 0):.1f} | "
                    + _mark(s["p99_ms"] < GOAL_P99_MS and not bad)
                    + " |"
                )
        lines += [
            "",
            "| store | ingest | batches | results added | refused | wall s | results/s | "
            "per batch p50 / p99 ms | CPU s: server / client / machine | load average | "
            "goal ≥ 20,000/s |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for kind, result in self.results.items():
            for label, s in result.get("ingest", {}).items():
                failed = s["requests"] - s["ok"]
                lines.append(
                    f"| {kind} | {label} | {s['batches']}"
                    + (f" ({failed} failed)" if failed else "")
                    + f" | {s['rows_added']:,} | "
                    f"{s['rejected']:,} | {s['wall_seconds']:.1f} | "
                    f"{s['results_per_second']:,.0f} | {s.get('p50_ms', 0):,.0f} / "
                    f"{s.get('p99_ms', 0):,.0f} | {_cpu(s)} | {s.get('load_average', 0):.1f} | "
                    + _mark(
                        s["results_per_second"] >= GOAL_RESULTS_PER_SECOND and not s["rejected"]
                    )
                    + " |"
                )
        lines += [
            "",
            "| store | server peak RSS MB | start-up s | 50 logins s |",
            "|---|---|---|---|",
        ]
        for kind, result in self.results.items():
            if "error" in result:
                continue
            lines.append(
                f"| {kind} | {result['server_peak_rss_mb']:,.0f} | "
                f"{result['startup_seconds']:.1f} | {result.get('login_seconds', 0):.1f} |"
            )
        lines += self._profile_lines()
        return "\n".join(lines) + "\n"

    def _profile_lines(self) -> list[str]:
        """The busiest functions of the server per page and for ingest (py-spy)."""
        lines: list[str] = []
        for kind, result in self.results.items():
            for name, prof in result.get("profile", {}).items():
                if not lines:
                    lines += [
                        "",
                        f"**Where the server's time goes** (py-spy, {self.args.profile:.0f} s per "
                        f"phase at 100 samples/s, after the measurements, same load; share of "
                        f"the samples of busy threads):",
                        "",
                    ]
                if "error" in prof or not prof.get("samples"):
                    lines.append(
                        f"- {kind}, {name}: no profile ({prof.get('error', 'no samples')})"
                    )
                    continue
                ours = "; ".join(f"`{f}` {p}%" for f, p in prof["inclusive_ringfence"][:8])
                inner = "; ".join(f"`{f}` {p}%" for f, p in prof["self"][:5])
                lines.append(
                    f"- {kind}, {PAGES.get(name, name)} ({prof['samples']:,} samples): "
                    f"ringfence, inclusive: {ours}. Innermost frames: {inner}."
                )
        return lines


def _cpu(s: dict[str, Any]) -> str:
    """CPU seconds of a phase: the server, this client, and the whole machine (all cores)."""
    machine = s.get("machine_cpu_seconds")
    return f"{s['server_cpu_seconds']:.1f} / {s['client_cpu_seconds']:.1f} / " + (
        f"{machine:.1f}" if machine is not None else "–"
    )


def _mark(ok: bool) -> str:
    return "✔" if ok else "✘"


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def environment(args: argparse.Namespace) -> dict[str, Any]:
    """Versions and the machine."""
    env: dict[str, Any] = {
        "versions": {
            "Python": platform.python_version(),
            **{
                name: _version(package)
                for name, package in (
                    ("DuckDB", "duckdb"),
                    ("FastAPI", "fastapi"),
                    ("Starlette", "starlette"),
                    ("uvicorn", "uvicorn"),
                    ("httpx", "httpx"),
                    ("psycopg", "psycopg"),
                )
            },
        },
        "cpus": os.cpu_count(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "platform": platform.platform(),
        "ringfence_memory_limit": os.environ.get("RINGFENCE_MEMORY_LIMIT", "1GB (default)"),
    }
    if "postgresql" in args.stores:
        try:
            import psycopg

            with psycopg.connect(args.pg) as con:
                env["postgresql"] = str(
                    con.execute("SHOW server_version").fetchall()[0][0]
                ).split()[0]
        except Exception:  # the version is a courtesy
            env["postgresql"] = "?"
    return env


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--visits", type=int, help="visits to generate (default 10 per person)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--stores", default=",".join(STORES), help="duckdb, postgresql or both")
    parser.add_argument("--pages", default=",".join(PAGES), help="which pages: " + ", ".join(PAGES))
    parser.add_argument("--users", type=int, default=50, help="concurrent virtual users")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load per page")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up requests per page")
    parser.add_argument(
        "--single-duration", type=float, default=10.0,
        help="seconds of one user alone per page, before the load (0: none)",
    )  # fmt: skip
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="seconds before a request is given up"
    )
    parser.add_argument(
        "--person-ids", dest="persons_asked", type=int, default=2_000,
        help="person ids to draw person pages from (half cases, half contacts)",
    )  # fmt: skip
    parser.add_argument(
        "--ingest-batches", type=int, default=40,
        help="batches of 1,000 results per ingest phase (0: no ingest)",
    )  # fmt: skip
    parser.add_argument("--ingest-clients", type=int, default=4)
    parser.add_argument(
        "--server-per-phase", action="store_true",
        help="a fresh server process (and fresh logins) for each page and for ingest",
    )  # fmt: skip
    parser.add_argument(
        "--profile", type=float, default=0.0,
        help="after the measurements, sample the server with py-spy for this many seconds "
        "per page and during ingest (untimed)",
    )  # fmt: skip
    parser.add_argument("--pg", default=DEFAULT_PG, help="a PostgreSQL URL (any database)")
    parser.add_argument(
        "--workdir", type=Path, default=DEFAULT_WORKDIR,
        help="generated data, stores and logs (default: bench/data)",
    )  # fmt: skip
    parser.add_argument("--markdown", type=Path, help="also write the section to this file")
    parser.add_argument(
        "--no-snapshot", action="store_true",
        help="serve src/ringfence live instead of a copy taken at the start",
    )  # fmt: skip
    args = parser.parse_args(argv)
    args.stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    args.pages = [p.strip() for p in args.pages.split(",") if p.strip()]
    unknown = [s for s in args.stores if s not in STORES] + [
        p for p in args.pages if p not in PAGES
    ]
    if unknown:
        parser.error(f"unknown: {', '.join(unknown)}")
    return args


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark; print the section and write it, with every number, to the workdir."""
    args = parse_args(argv)
    bench = Bench(args)
    started = datetime.now(UTC)
    try:
        bench.run()
    finally:
        bench.cleanup()
    command = "python bench/web_load.py " + " ".join(sys.argv[1:] if argv is None else argv)
    text = bench.markdown(command.strip())
    print()
    print(text)
    record = {
        "command": command,
        "environment": environment(args),
        "code": bench.code,
        "setup": bench.setup,
        "results": bench.results,
    }
    save_results(bench.workdir, "web-load", started, record, text, args.markdown)


if __name__ == "__main__":
    main()
