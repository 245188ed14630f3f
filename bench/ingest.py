"""Ingest benchmark: ringfence's validated ingest against each engine's own raw loader.

The synthetic city of `ringfence.examples.generate` is written once, as CSV and as Parquet
(1,000,000 persons × 10 days ≈ 10 M visits). Persons and places, the tables visits refer to,
are loaded once into a base DuckDB file and a PostgreSQL template schema (setup, not timed as
the headline). Then, round by round, every measurement runs in a fresh Python process, so that
its peak RSS (taken with `os.wait4`) is its own:

* ``duckdb raw``: ``CREATE TABLE visits AS SELECT * FROM read_csv(…)`` (or ``read_parquet``)
  into a fresh DuckDB file, with DuckDB's default settings;
* ``duckdb ringfence``: ``ingest_files(store, "visits", [file])`` into a copy of the base file;
* ``duckdb ringfence re-ingest``: the same CSV again into a store that already holds it (every
  row a duplicate: the idempotency path);
* ``postgresql raw``: ``COPY visits_raw FROM STDIN (FORMAT csv, HEADER)`` of the same CSV into
  a fresh table (text, text, timestamptz, timestamptz, text); for Parquet the raw comparator
  reads the file with pyarrow and COPYs it as CSV, batch by batch;
* ``postgresql ringfence``: ``ingest_files`` into a fresh schema with persons and places
  copied from the template.

A measurement's time runs from opening the connection to closing it (commit included); its
result is checked afterwards, untimed: row counts, and a checksum of the stored values that
must agree between the raw loader and ringfence. One untimed warm-up round comes first.
``--profile`` adds one instrumented ringfence → DuckDB (CSV) ingest that sums the time and the
peak RSS per SQL statement kind and the time spent reading the file.

Usage: ``python bench/ingest.py --persons 1000000 --days 10 --runs 3 [--workdir bench/data]
[--pg postgresql://postgres@127.0.0.1:5432/test] [--only duckdb|postgresql] [--profile]``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote

from harness import last_line, remove_db, save_results, scrub, snapshot_code

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
DEFAULT_WORKDIR = BENCH_DIR / "data"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_SEED = 20220110
ENGINES = ("duckdb", "postgresql")
FORMATS = ("csv", "parquet")
VISIT_COLUMNS = ("person_id", "place_id", "start", "end", "source")
RAW_PG_COLUMNS = 'person_id text, place_id text, start timestamptz, "end" timestamptz, source text'
RAW_DUCKDB_CSV_COLUMNS = (
    "{'person_id': 'VARCHAR', 'place_id': 'VARCHAR', 'start': 'TIMESTAMPTZ', "
    "'end': 'TIMESTAMPTZ', 'source': 'VARCHAR'}"
)
COPY_BLOCK = 8 << 20
"""Bytes per write when streaming a CSV file into COPY."""
PARQUET_BATCH_ROWS = 250_000
"""Rows per pyarrow batch when the raw PostgreSQL comparator COPYs a Parquet file."""
RSS_SAMPLE_SECONDS = 0.02
GOAL_RATIO = 0.5
GOAL_RSS_MB = 2048.0


# ----------------------------------------------------------------------------------------
# What one measurement is, and what it measured
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measurement:
    """One kind of timed load: an engine, an input format and a loader."""

    engine: str
    fmt: str
    loader: str
    """"raw", "ringfence", "reingest" (ringfence, all rows already stored), or
    "raw+key" (PostgreSQL COPY into a table with ringfence's unique key index)."""

    @property
    def name(self) -> str:
        return f"{self.engine}-{self.fmt}-{self.loader}"

    @property
    def comparator(self) -> Measurement:
        """The raw loader this measurement's ratio is taken against."""
        return Measurement(self.engine, self.fmt, "raw")


@dataclass
class RunResult:
    """One run of one measurement, as the child process reported it."""

    name: str
    round: int
    warmup: bool
    ok: bool
    seconds: float = 0.0
    """Open + load + commit + close: the headline time."""
    load_seconds: float = 0.0
    """The load statement(s) alone (ringfence: the `ingest_files` call, commit included)."""
    rows: int = 0
    peak_rss_mb: float = 0.0
    """Peak RSS of the measuring process (`os.wait4`), whole process lifetime."""
    backend_peak_mb: float | None = None
    """PostgreSQL: VmHWM of the server backend that did the load (shared buffers included)."""
    report: dict[str, int] = field(default_factory=dict)
    checksum: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    error: str = ""


# ----------------------------------------------------------------------------------------
# Child processes: every piece of work runs in one, so its memory is its own
# ----------------------------------------------------------------------------------------


def _child_main(spec_path: str) -> None:
    """Entry point of a child: read the spec, do the action, write the result JSON."""
    spec = json.loads(Path(spec_path).read_text())
    actions: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
        "generate": _act_generate,
        "base_duckdb": _act_base_duckdb,
        "base_pg": _act_base_pg,
        "full_duckdb": _act_full_duckdb,
        "measure": _act_measure,
        "profile": _act_profile,
        "baseline": _act_baseline,
    }
    out = actions[spec["action"]](spec)
    Path(spec["result"]).write_text(json.dumps(out))


def _act_baseline(spec: dict[str, Any]) -> dict[str, Any]:
    """Import what a measurement imports and stop: the floor under every peak RSS. Also
    says where `ringfence` was imported from (the snapshot, when there is one)."""
    import duckdb  # noqa: F401
    import psycopg  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    import ringfence.store

    return {"ringfence": os.path.relpath(Path(ringfence.store.__file__).parent.parent)}


def _act_generate(spec: dict[str, Any]) -> dict[str, Any]:
    from ringfence.examples.generate import generate

    out = Path(spec["out"])
    rows: dict[str, dict[str, int]] = {}
    seconds: dict[str, float] = {}
    for fmt in ("csv", "parquet"):
        t0 = time.perf_counter()
        rows[fmt] = generate(
            out / fmt, persons=spec["persons"], days=spec["days"], seed=spec["seed"], fmt=fmt
        )
        seconds[fmt] = time.perf_counter() - t0
    if rows["csv"] != rows["parquet"]:
        raise SystemExit(f"CSV and Parquet row counts differ: {rows}")
    return {"rows": rows["csv"], "seconds": seconds}


def _load_referenced(store: Any, csv_dir: Path) -> dict[str, Any]:
    from ringfence.store import ingest_files

    out: dict[str, Any] = {}
    for name in ("persons", "places"):
        t0 = time.perf_counter()
        report = ingest_files(store, name, [csv_dir / f"{name}.csv"])
        out[name] = {
            "seconds": time.perf_counter() - t0,
            "rows_read": report.rows_read,
            "added": report.added,
            "rejected": report.rejected_count,
        }
    return out


def _act_base_duckdb(spec: dict[str, Any]) -> dict[str, Any]:
    from ringfence.store import open_store

    store = open_store(spec["db"], create=True)
    try:
        out = _load_referenced(store, Path(spec["csv_dir"]))
        store.execute("CHECKPOINT")
    finally:
        store.close()
    return out


def _act_base_pg(spec: dict[str, Any]) -> dict[str, Any]:
    from ringfence.store import open_store

    store = open_store(spec["url"], create=True)
    try:
        return _load_referenced(store, Path(spec["csv_dir"]))
    finally:
        store.close()


def _act_full_duckdb(spec: dict[str, Any]) -> dict[str, Any]:
    """A store holding persons, places and the visits CSV: the start of the re-ingest runs."""
    from ringfence.store import ingest_files, open_store

    shutil.copyfile(spec["base"], spec["db"])
    store = open_store(spec["db"])
    try:
        report = ingest_files(store, "visits", [Path(spec["file"])])
        store.execute("CHECKPOINT")
    finally:
        store.close()
    return {"added": report.added, "rejected": report.rejected_count}


def _act_measure(spec: dict[str, Any]) -> dict[str, Any]:
    m = Measurement(spec["engine"], spec["fmt"], spec["loader"])
    file = Path(spec["file"])
    if m.engine == "duckdb":
        if m.loader == "raw":
            out = _duckdb_raw(file, m.fmt, spec["target"])
        else:
            out = _ringfence_load(file, spec["target"])
        out["checksum"] = _duckdb_checksum(spec["target"], "visits")
    else:
        if m.loader in ("raw", "raw+key"):
            out = _pg_raw(file, m.fmt, spec["target"], indexed=m.loader == "raw+key")
            out["checksum"] = _pg_checksum(spec["target"], "visits_raw")
        else:
            out = _ringfence_load(file, spec["target"])
            out["checksum"] = _pg_checksum(spec["target"], "visits")
    return out


def _duckdb_raw(file: Path, fmt: str, db: str) -> dict[str, Any]:
    import duckdb

    source = (
        f"read_csv('{file}', header = true, columns = {RAW_DUCKDB_CSV_COLUMNS})"
        if fmt == "csv"
        else f"read_parquet('{file}')"
    )
    t0 = time.perf_counter()
    con = duckdb.connect(db)
    t1 = time.perf_counter()
    con.execute(f"CREATE TABLE visits AS SELECT * FROM {source}")
    t2 = time.perf_counter()
    con.close()
    t3 = time.perf_counter()
    return {"seconds": t3 - t0, "load_seconds": t2 - t1}


def _ringfence_load(file: Path, target: str) -> dict[str, Any]:
    from ringfence.store import PostgresStore, ingest_files, open_store

    t0 = time.perf_counter()
    store = open_store(target)
    t1 = time.perf_counter()
    backend = None
    if isinstance(store, PostgresStore):
        backend = int(store.fetchall("SELECT pg_backend_pid()")[0][0])
    t1b = time.perf_counter()
    report = ingest_files(store, "visits", [file])
    t2 = time.perf_counter()
    backend_peak = _vm_hwm_mb(backend) if backend is not None else None
    t2b = time.perf_counter()
    store.close()
    t3 = time.perf_counter()
    return {
        "seconds": (t1 - t0) + (t2 - t1b) + (t3 - t2b),
        "load_seconds": t2 - t1b,
        "backend_peak_mb": backend_peak,
        "report": {
            "rows_read": report.rows_read,
            "added": report.added,
            "duplicates": report.duplicates,
            "rejected": report.rejected_count,
        },
        "rejections": [str(r) for r in report.rejections[:5]],
    }


def _pg_raw(file: Path, fmt: str, url: str, *, indexed: bool) -> dict[str, Any]:
    import psycopg

    setup = psycopg.connect(url, autocommit=True)
    setup.execute(f"CREATE TABLE visits_raw ({RAW_PG_COLUMNS})")
    if indexed:
        setup.execute(
            "CREATE UNIQUE INDEX visits_raw_key ON visits_raw (person_id, place_id, start)"
        )
    setup.close()
    t0 = time.perf_counter()
    con = psycopg.connect(url, autocommit=True)
    t1 = time.perf_counter()
    backend = int(con.execute("SELECT pg_backend_pid()").fetchall()[0][0])
    t1b = time.perf_counter()
    with con.cursor() as cur:
        if fmt == "csv":
            with (
                cur.copy("COPY visits_raw FROM STDIN (FORMAT csv, HEADER)") as copy,
                open(file, "rb") as handle,
            ):
                while block := handle.read(COPY_BLOCK):
                    copy.write(block)
        else:
            _copy_parquet_as_csv(cur, file)
    t2 = time.perf_counter()
    backend_peak = _vm_hwm_mb(backend)
    t2b = time.perf_counter()
    con.close()
    t3 = time.perf_counter()
    return {
        "seconds": (t1 - t0) + (t2 - t1b) + (t3 - t2b),
        "load_seconds": t2 - t1b,
        "backend_peak_mb": backend_peak,
    }


def _copy_parquet_as_csv(cur: Any, file: Path) -> None:
    """The raw PostgreSQL comparator for Parquet: pyarrow reads, writes CSV, COPY loads it."""
    import io

    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    options = pacsv.WriteOptions(include_header=False)
    with (
        pq.ParquetFile(file) as parquet,
        cur.copy("COPY visits_raw FROM STDIN (FORMAT csv)") as copy,
    ):
        for batch in parquet.iter_batches(
            batch_size=PARQUET_BATCH_ROWS, columns=list(VISIT_COLUMNS)
        ):
            buffer = io.BytesIO()
            pacsv.write_csv(batch, buffer, options)
            copy.write(buffer.getbuffer())


def _vm_hwm_mb(pid: int) -> float | None:
    """Peak RSS (VmHWM) of a local process, or None where /proc does not show it."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"^VmHWM:\s+(\d+) kB", text, re.M)
    return int(match.group(1)) / 1024 if match else None


def _duckdb_checksum(db: str, table: str) -> list[int]:
    """Row count and sums over every stored value: equal loads give equal checksums."""
    import duckdb

    con = duckdb.connect(db, read_only=True)
    try:
        row = con.execute(
            f"SELECT count(*), sum(CAST(epoch(start) AS BIGINT)), "
            f'sum(CAST(epoch("end") AS BIGINT)),'
            f" sum(length(person_id) + length(place_id) + coalesce(length(source), 0)),"
            f" count(DISTINCT person_id) FROM {table}"
        ).fetchall()[0]
    finally:
        con.close()
    return [int(v or 0) for v in row]


def _pg_checksum(url: str, table: str) -> list[int]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as con:
        row = con.execute(
            f"SELECT count(*), sum(CAST(extract(epoch FROM start) AS BIGINT)), "
            f'sum(CAST(extract(epoch FROM "end") AS BIGINT)), '
            f"sum(length(person_id) + length(place_id) + coalesce(length(source), 0)), "
            f"count(DISTINCT person_id) FROM {table}"
        ).fetchall()[0]
    return [int(v or 0) for v in row]


# ----------------------------------------------------------------------------------------
# Profiling one ringfence ingest: time and peak RSS per SQL statement kind
# ----------------------------------------------------------------------------------------

_STATEMENT_KINDS: tuple[tuple[str, str], ...] = (
    (
        r"^CREATE OR REPLACE TEMPORARY TABLE \"_rf_checked",
        "validate chunk: check query over the Arrow chunk → temp table",
    ),
    (r"^SELECT \"_line\", \"_span\", e\.field", "list the chunk's refused rows"),
    (
        r"^INSERT INTO \"_rf_stage_\w+\" \(.*FROM \"_rf_checked",
        "stage valid rows (checked → stage)",
    ),
    (
        r"^INSERT INTO \"_rf_verdict_\w+\" SELECT s\._seq, '(?:reference|pending)', '(\w+)'",
        "judge references: {0}",
    ),
    (
        r"^INSERT INTO \"_rf_verdict_\w+\" .* JOIN \"(?!_rf_)\w+\" t ON",
        "judge keys against stored rows",
    ),
    (r"^INSERT INTO \"_rf_verdict_\w+\" .*GROUP BY", "judge keys repeated within the ingest"),
    (r"^SELECT count\(\*\) FROM \"_rf_stage_\w+\" s WHERE NOT EXISTS", "count rows to add"),
    (r"^SELECT count\(\*\) FROM \"_rf_stage_\w+\" s WHERE EXISTS", "count duplicates"),
    (r"^INSERT INTO \"(?!_rf_)\w+\" \(", "append to the stored table"),
    (r"^INSERT INTO \"_rf_pending", "move rows waiting for a parent"),
    (r"^SELECT s\._file", "fetch refusals"),
    (r"^SELECT count\(\*\) FROM \"_rf_pending", "count pending rows"),
    (r"^DELETE FROM \"_rf_", "clear work tables"),
    (r"^(CREATE TEMPORARY TABLE|DROP TABLE)", "create / drop work tables"),
    (r"^(BEGIN|COMMIT)", "begin / commit"),
    (r"ingest_batches|ringfence_meta|information_schema", "bookkeeping (batch, meta)"),
)


def statement_kind(sql: str) -> str:
    """A short label for a statement ingest runs; unknown shapes fall back to their start."""
    flat = " ".join(sql.split())
    for pattern, label in _STATEMENT_KINDS:
        match = re.search(pattern, flat)
        if match:
            return label.format(*match.groups())
    return "other SQL: " + flat[:60]


class Profiler:
    """Exclusive (self) time, call count and peak RSS per label, for nested spans."""

    def __init__(self) -> None:
        self.stack: list[list[Any]] = []
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.peak_mb: dict[str, float] = {}
        self._stop = threading.Event()
        self._page_kb = os.sysconf("SC_PAGE_SIZE") / 1024
        self._sampler = threading.Thread(target=self._sample, daemon=True)

    @contextlib.contextmanager
    def span(self, label: str) -> Iterator[None]:
        now = time.perf_counter()
        if self.stack:
            outer = self.stack[-1]
            self.seconds[outer[0]] = self.seconds.get(outer[0], 0.0) + now - outer[1]
        self.stack.append([label, now])
        self.calls[label] = self.calls.get(label, 0) + 1
        try:
            yield
        finally:
            end = time.perf_counter()
            inner, start = self.stack.pop()
            self.seconds[inner] = self.seconds.get(inner, 0.0) + end - start
            if self.stack:
                self.stack[-1][1] = end

    def start(self) -> None:
        self._sampler.start()

    def stop(self) -> None:
        self._stop.set()
        self._sampler.join()

    def _sample(self) -> None:
        while not self._stop.wait(RSS_SAMPLE_SECONDS):
            try:
                resident = int(Path("/proc/self/statm").read_text().split()[1])
            except (OSError, IndexError, ValueError):
                return
            mb = resident * self._page_kb / 1024
            stack = self.stack
            label = stack[-1][0] if stack else "(python outside any timed step)"
            if mb > self.peak_mb.get(label, 0.0):
                self.peak_mb[label] = mb


class _TimedConnection:
    """A DuckDB connection whose `execute`, `register` and `unregister` are timed."""

    def __init__(self, con: Any, profiler: Profiler) -> None:
        self._con = con
        self._profiler = profiler

    def execute(self, sql: str, params: Any = None) -> Any:
        with self._profiler.span(statement_kind(sql)):
            return self._con.execute(sql) if params is None else self._con.execute(sql, params)

    def register(self, name: str, data: Any) -> Any:
        with self._profiler.span("register the Arrow chunk"):
            return self._con.register(name, data)

    def unregister(self, name: str) -> Any:
        with self._profiler.span("register the Arrow chunk"):
            return self._con.unregister(name)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def _instrument(store: Any, profiler: Profiler) -> None:
    """Time every SQL statement the store runs, the chunk checks and the file reading.

    Works on the store API before and after `stage_checked` replaced `load_checked`: each
    method is wrapped only where the store has it.
    """
    import ringfence.store.ingest
    from ringfence.store import DuckDBStore, duckdb_connect

    ingest_module: Any = ringfence.store.ingest

    def wrap(name: str, label: str) -> None:
        if not hasattr(store, name):
            return
        original = getattr(store, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            with profiler.span(label):
                return original(*args, **kwargs)

        setattr(store, name, timed)

    if isinstance(store, DuckDBStore):
        cast(Any, store).con = _TimedConnection(store.con, profiler)
        wrap("stage_checked", "validate chunk: check query over the Arrow chunk → stage")
    else:
        for method in ("execute", "fetchall"):
            original = getattr(store, method)

            def timed(sql: str, params: Any = (), _original: Any = original) -> Any:
                with profiler.span(statement_kind(sql)):
                    return _original(sql, params)

            setattr(store, method, timed)
        wrap("stage_checked", "validate chunk: check query in the embedded DuckDB")
        wrap("_copy_valid", "stage valid rows (DuckDB → pyarrow CSV → COPY)")
        wrap("load_checked", "stage valid rows (DuckDB → pyarrow CSV → COPY)")
        if hasattr(store, "_validator"):
            store._validator = _TimedConnection(duckdb_connect(), profiler)
        _time_commit(store, profiler)
    original_read = ingest_module.read_chunks

    def timed_read_chunks(*args: Any, **kwargs: Any) -> Iterator[Any]:
        with profiler.span("read file: open and check the header"):
            chunks = original_read(*args, **kwargs)

        def timed_chunks() -> Iterator[Any]:
            while True:
                with profiler.span("read file: next chunk (pyarrow parse)"):
                    try:
                        chunk = next(chunks)
                    except StopIteration:
                        return
                yield chunk

        return timed_chunks()

    ingest_module.read_chunks = timed_read_chunks


def _time_commit(store: Any, profiler: Profiler) -> None:
    """Time entering and leaving the store's transaction (PostgreSQL: BEGIN, COMMIT)."""
    original_transaction = store.transaction

    @contextlib.contextmanager
    def timed_transaction() -> Iterator[None]:
        context = original_transaction()
        with profiler.span("begin / commit"):
            context.__enter__()
        try:
            yield
        except BaseException:
            context.__exit__(*sys.exc_info())
            raise
        with profiler.span("begin / commit"):
            context.__exit__(None, None, None)

    store.transaction = timed_transaction


def _act_profile(spec: dict[str, Any]) -> dict[str, Any]:
    from ringfence.store import ingest_files, open_store

    profiler = Profiler()
    store = open_store(spec["target"])
    _instrument(store, profiler)
    profiler.start()
    t0 = time.perf_counter()
    report = ingest_files(store, "visits", [Path(spec["file"])])
    total = time.perf_counter() - t0
    profiler.stop()
    store.close()
    accounted = sum(profiler.seconds.values())
    profiler.seconds["(python outside any timed step)"] = total - accounted
    return {
        "total": total,
        "seconds": profiler.seconds,
        "calls": profiler.calls,
        "peak_mb": profiler.peak_mb,
        "added": report.added,
        "rejected": report.rejected_count,
    }


# ----------------------------------------------------------------------------------------
# The parent: data, setup, rounds of measurements, summary
# ----------------------------------------------------------------------------------------


class Bench:
    """One benchmark invocation: its work directory, its PostgreSQL schemas, its results."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.workdir: Path = args.workdir.resolve()
        self.data = self.workdir / f"visits-{args.persons}x{args.days}-seed{args.seed}"
        self.runs_dir = self.workdir / "runs"
        self.logs = self.workdir / "logs"
        self.engines = [args.only] if args.only else list(ENGINES)
        self.tag = f"rfbench_{os.getpid()}"
        self.schemas: list[str] = []
        self.results: list[RunResult] = []
        self.setup: dict[str, Any] = {}
        self.expected = 0
        self._sequence = 0
        self.env = dict(os.environ)
        self.code: dict[str, Any] = {}
        self.script = str(Path(__file__).resolve())
        """The script the children run: a copy taken at the start, once the code is pinned."""

    # -- children -----------------------------------------------------------------------
    def child(self, spec: dict[str, Any], label: str) -> tuple[dict[str, Any] | None, float, str]:
        """Run `spec` in a fresh process: (its result or None, its peak RSS MB, error text)."""
        self._sequence += 1
        stem = f"{self._sequence:03d}-{label}"
        spec_path = self.runs_dir / f"{stem}.spec.json"
        result_path = self.runs_dir / f"{stem}.result.json"
        log_path = self.logs / f"{stem}.log"
        spec = {**spec, "result": self.rel(result_path)}
        spec_path.write_text(json.dumps(spec))
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, self.script, "--child", self.rel(spec_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                env=self.env,
            )
            _, status, usage = os.wait4(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(status)
        peak_mb = usage.ru_maxrss / 1024
        spec_path.unlink()
        if process.returncode != 0 or not result_path.exists():
            tail = scrub(log_path.read_text(errors="replace")[-2000:])
            return None, peak_mb, f"exit {process.returncode}: {tail}"
        out = json.loads(result_path.read_text())
        result_path.unlink()
        return out, peak_mb, ""

    def must(self, spec: dict[str, Any], label: str) -> dict[str, Any]:
        return self.must_rss(spec, label)[0]

    def must_rss(self, spec: dict[str, Any], label: str) -> tuple[dict[str, Any], float, str]:
        out, peak_mb, error = self.child(spec, label)
        if out is None:
            raise SystemExit(f"{label} failed: {error}")
        return out, peak_mb, error

    # -- PostgreSQL schemas -----------------------------------------------------------
    def pg_url(self, schema: str) -> str:
        url: str = self.args.pg
        return f"{url}{'&' if '?' in url else '?'}options={quote(f'-csearch_path={schema}')}"

    def pg_admin(self, *statements: str) -> None:
        import psycopg

        with psycopg.connect(self.args.pg, autocommit=True) as con:
            for statement in statements:
                con.execute(statement)

    def new_schema(self, name: str) -> str:
        schema = f"{self.tag}_{name}"
        self.pg_admin(f"DROP SCHEMA IF EXISTS {schema} CASCADE", f"CREATE SCHEMA {schema}")
        self.schemas.append(schema)
        return schema

    def drop_schema(self, schema: str) -> None:
        self.pg_admin(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        if schema in self.schemas:
            self.schemas.remove(schema)

    def fresh_pg_store(self, name: str) -> str:
        """A new schema holding a ringfence store with persons and places, vacuumed and
        analysed. They are loaded through ringfence itself (untimed, in a child), so the store
        is exactly what a user would have, whatever its internals (sequences, indexes)."""
        schema = self.new_schema(name)
        out = self.must(
            {
                "action": "base_pg",
                "url": self.pg_url(schema),
                "csv_dir": self.rel(self.data / "csv"),
            },
            f"setup-{name}",
        )
        self.setup.setdefault("pg_base", []).append(out)
        self.pg_admin(f"VACUUM ANALYZE {schema}.persons, {schema}.places")
        return schema

    # -- steps --------------------------------------------------------------------------
    def pin_code(self) -> None:
        """Measure one version of ringfence from start to end (see `harness.snapshot_code`)."""
        self.code, copy, snapshot = snapshot_code(
            self.workdir, Path(__file__).resolve(), "ingest", self.args.no_snapshot
        )
        if copy is None or snapshot is None:
            return
        self.script = self.rel(copy)
        self.env["PYTHONPATH"] = os.pathsep.join(
            [snapshot, *filter(None, [os.environ.get("PYTHONPATH")])]
        )

    def prepare(self) -> None:
        for folder in (self.workdir, self.runs_dir, self.logs):
            folder.mkdir(parents=True, exist_ok=True)
        self.pin_code()
        marker = self.data / "rows.json"
        if marker.exists():
            self.setup["generate"] = json.loads(marker.read_text())
            self.setup["generate"]["reused"] = True
        else:
            print(f"generating {self.args.persons} persons × {self.args.days} days …", flush=True)
            out = self.must(
                {
                    "action": "generate",
                    "out": self.rel(self.data),
                    "persons": self.args.persons,
                    "days": self.args.days,
                    "seed": self.args.seed,
                },
                "generate",
            )
            marker.write_text(json.dumps(out))
            self.setup["generate"] = out
        self.expected = int(self.setup["generate"]["rows"]["visits"])
        for fmt in FORMATS:
            self.setup[f"{fmt}_bytes"] = (self.data / fmt / f"visits.{fmt}").stat().st_size
        baseline, self.setup["baseline_rss_mb"], _ = self.must_rss(
            {"action": "baseline"}, "baseline"
        )
        self.code["imported_from"] = baseline["ringfence"]
        csv_dir = self.rel(self.data / "csv")
        if "duckdb" in self.engines:
            print("setup: base DuckDB store with persons and places …", flush=True)
            base = self.runs_dir / "base.duckdb"
            remove_db(base)
            self.setup["duckdb_base"] = self.must(
                {"action": "base_duckdb", "db": self.rel(base), "csv_dir": csv_dir}, "base-duckdb"
            )
            if not self.args.no_reingest:
                print("setup: DuckDB store that already holds the visits CSV …", flush=True)
                full = self.runs_dir / "full.duckdb"
                remove_db(full)
                self.setup["duckdb_full"] = self.must(
                    {
                        "action": "full_duckdb",
                        "base": self.rel(base),
                        "db": self.rel(full),
                        "file": self.file("csv"),
                    },
                    "full-duckdb",
                )

    def file(self, fmt: str) -> str:
        return self.rel(self.data / fmt / f"visits.{fmt}")

    def rel(self, path: Path) -> str:
        """`path` relative to the work directory, where every child runs."""
        return os.path.relpath(path, self.workdir)

    def measurements(self) -> list[Measurement]:
        out = []
        for engine in self.engines:
            for fmt in FORMATS:
                out += [Measurement(engine, fmt, "raw"), Measurement(engine, fmt, "ringfence")]
            if engine == "duckdb" and not self.args.no_reingest:
                out.append(Measurement(engine, "csv", "reingest"))
            if engine == "postgresql" and self.args.pg_indexed_raw:
                out.append(Measurement(engine, "csv", "raw+key"))
        return out

    def run_one(self, m: Measurement, round_: int) -> RunResult:
        warmup = round_ < self.args.warmup
        spec: dict[str, Any] = {
            "action": "measure",
            "engine": m.engine,
            "fmt": m.fmt,
            "loader": m.loader,
            "file": self.file(m.fmt),
        }
        schema = None
        db = self.runs_dir / "run.duckdb"
        if m.engine == "duckdb":
            remove_db(db)
            if m.loader == "ringfence":
                shutil.copyfile(self.runs_dir / "base.duckdb", db)
            elif m.loader == "reingest":
                shutil.copyfile(self.runs_dir / "full.duckdb", db)
            spec["target"] = self.rel(db)
        else:
            name = f"r{round_}_{m.fmt}_{m.loader.replace('+', '_')}"
            schema = self.fresh_pg_store(name) if m.loader == "ringfence" else self.new_schema(name)
            self.pg_admin("CHECKPOINT")
            spec["target"] = self.pg_url(schema)
        out, peak_mb, error = self.child(spec, f"{m.name}-r{round_}")
        if schema is not None:
            self.drop_schema(schema)
        remove_db(db)
        result = RunResult(
            m.name,
            round_,
            warmup,
            out is not None,
            peak_rss_mb=peak_mb,
            error=error,
            rows=self.expected,
        )
        if out is not None:
            result.seconds = out["seconds"]
            result.load_seconds = out["load_seconds"]
            result.backend_peak_mb = out.get("backend_peak_mb")
            result.report = out.get("report", {})
            result.checksum = out["checksum"]
            result.problems = self.problems(m, out)
        return result

    def problems(self, m: Measurement, out: dict[str, Any]) -> list[str]:
        """What is wrong with a load's outcome: counts, refusals."""
        n = self.expected
        found = []
        if out["checksum"][0] != n:
            found.append(f"table holds {out['checksum'][0]} rows, expected {n}")
        if m.loader in ("ringfence", "reingest"):
            added, dups = (n, 0) if m.loader == "ringfence" else (0, n)
            want = {"rows_read": n, "added": added, "duplicates": dups, "rejected": 0}
            for key, value in want.items():
                if out["report"].get(key) != value:
                    found.append(f"report {key} = {out['report'].get(key)}, expected {value}")
            found += [f"refused: {r}" for r in out.get("rejections", [])]
        return found

    def run(self) -> None:
        self.prepare()
        plan = self.measurements()
        rounds = self.args.warmup + self.args.runs
        for round_ in range(rounds):
            kind = "warm-up" if round_ < self.args.warmup else "timed"
            for m in plan:
                print(f"[round {round_ + 1}/{rounds} {kind}] {m.name} …", end=" ", flush=True)
                result = self.run_one(m, round_)
                self.results.append(result)
                if result.ok:
                    print(
                        f"{result.seconds:.2f} s, {self.expected / result.seconds:,.0f} rows/s, "
                        f"peak RSS {result.peak_rss_mb:,.0f} MB"
                        + (f"; PROBLEMS: {result.problems}" if result.problems else ""),
                        flush=True,
                    )
                else:
                    print(f"FAILED: {result.error}", flush=True)
        if self.args.profile:
            self.profile()

    def profile(self) -> None:
        """One instrumented ringfence CSV ingest per engine (and a DuckDB re-ingest)."""
        cases = []
        for engine in self.engines:
            cases.append((engine, f"ringfence → {engine} CSV ingest", "base"))
            if engine == "duckdb" and not self.args.no_reingest:
                cases.append((engine, "ringfence → duckdb CSV re-ingest (all duplicates)", "full"))
        profiles = {}
        for engine, title, start in cases:
            schema = None
            db = self.runs_dir / "profile.duckdb"
            if engine == "duckdb":
                remove_db(db)
                shutil.copyfile(self.runs_dir / f"{start}.duckdb", db)
                target = self.rel(db)
            else:
                schema = self.fresh_pg_store("profile")
                self.pg_admin("CHECKPOINT")
                target = self.pg_url(schema)
            print(f"profiling {title} …", flush=True)
            out, peak, error = self.child(
                {"action": "profile", "target": target, "file": self.file("csv")},
                f"profile-{engine}",
            )
            if schema is not None:
                self.drop_schema(schema)
            remove_db(db)
            if out is None:
                print(f"profile failed: {error}")
                continue
            out["process_peak_mb"] = peak
            profiles[title] = out
        self.setup["profiles"] = profiles

    def cleanup(self) -> None:
        for schema in list(self.schemas):
            with contextlib.suppress(Exception):
                self.drop_schema(schema)
        for name in ("run", "base", "full", "profile"):
            remove_db(self.runs_dir / f"{name}.duckdb")
        if self.script != str(Path(__file__).resolve()):
            (self.workdir / self.script).unlink(missing_ok=True)

    # -- reporting ------------------------------------------------------------------------
    def summary(self) -> dict[str, dict[str, Any]]:
        """Per measurement: median, min and max seconds, rows/s, peak memory."""
        out: dict[str, dict[str, Any]] = {}
        for m in self.measurements():
            runs = [r for r in self.results if r.name == m.name and not r.warmup and r.ok]
            if not runs:
                continue
            seconds = [r.seconds for r in runs]
            median = statistics.median(seconds)
            backend = [r.backend_peak_mb for r in runs if r.backend_peak_mb is not None]
            out[m.name] = {
                "engine": m.engine,
                "fmt": m.fmt,
                "loader": m.loader,
                "runs": len(runs),
                "median_s": median,
                "min_s": min(seconds),
                "max_s": max(seconds),
                "load_median_s": statistics.median(r.load_seconds for r in runs),
                "rows_per_s": self.expected / median,
                "peak_rss_mb": max(r.peak_rss_mb for r in runs),
                "backend_peak_mb": max(backend) if backend else None,
                "problems": sorted({p for r in runs for p in r.problems}),
                "checksum": runs[0].checksum,
            }
        return out

    def paired_ratio(self, m: Measurement) -> float | None:
        """Median over timed rounds of raw seconds / ringfence seconds in the same round."""
        ratios = []
        for round_ in range(self.args.warmup, self.args.warmup + self.args.runs):
            mine = self._find(m.name, round_)
            raw = self._find(m.comparator.name, round_)
            if mine is not None and raw is not None:
                ratios.append(raw.seconds / mine.seconds)
        return statistics.median(ratios) if ratios else None

    def _find(self, name: str, round_: int) -> RunResult | None:
        return next(
            (r for r in self.results if r.name == name and r.round == round_ and r.ok), None
        )

    def markdown(self) -> str:
        summary = self.summary()
        lines = [
            f"Visits: {self.expected:,} rows; CSV {self.setup['csv_bytes'] / 1e6:,.0f} MB, "
            f"Parquet {self.setup['parquet_bytes'] / 1e6:,.0f} MB. Runs: {self.args.runs} timed "
            f"(+{self.args.warmup} warm-up) per measurement, round-robin; times are medians. "
            f"A process that only imports ringfence, DuckDB, pyarrow and psycopg peaks at "
            f"{self.setup.get('baseline_rss_mb', 0):,.0f} MB.",
            "",
            f"Code: commit {self.code.get('commit', '?')}"
            + ("" if self.code.get("src_matches_commit", True) else " with uncommitted changes")
            + f", src/ringfence hash {self.code.get('src_sha256', '?')}"
            + (
                " (imported from a snapshot taken at the start)"
                if self.code.get("snapshot")
                else ""
            ),
            "",
            "| engine | input | loader | runs | median s (min–max) | load s | rows/s | "
            "peak RSS MB | PG backend MB | ringfence / raw (paired) | goals |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for m in self.measurements():
            s = summary.get(m.name)
            if s is None:
                lines.append(
                    f"| {m.engine} | {m.fmt} | {_loader_text(m)} | 0 | failed |" + " |" * 6
                )
                continue
            ratio = goals = ""
            if m.loader in ("ringfence", "reingest"):
                raw = summary.get(m.comparator.name)
                paired = self.paired_ratio(m)
                if raw is not None:
                    r = s["rows_per_s"] / raw["rows_per_s"]
                    ratio = f"{r:.2f} ({paired:.2f})" if paired is not None else f"{r:.2f}"
                    goals = (
                        "≥50% "
                        + ("✔" if r >= GOAL_RATIO else "✘")
                        + ", <2 GB "
                        + ("✔" if s["peak_rss_mb"] < GOAL_RSS_MB else "✘")
                    )
            backend = f"{s['backend_peak_mb']:,.0f}" if s["backend_peak_mb"] is not None else "–"
            lines.append(
                f"| {m.engine} | {m.fmt} | {_loader_text(m)} | {s['runs']} | "
                f"{s['median_s']:.2f} ({s['min_s']:.2f}–{s['max_s']:.2f}) | "
                f"{s['load_median_s']:.2f} | {s['rows_per_s']:,.0f} | {s['peak_rss_mb']:,.0f} | "
                f"{backend} | {ratio} | {goals} |"
            )
        problems = [f"- {name}: {p}" for name, s in summary.items() for p in s["problems"]]
        failures = [
            f"- {r.name} round {r.round}: {last_line(r.error)}" for r in self.results if not r.ok
        ]
        loads = [r for r in self.results if r.ok]
        checks = {tuple(r.checksum) for r in loads}
        lines += [
            "",
            f"Checksums (count, Σ epoch start, Σ epoch end, Σ text lengths, distinct "
            f"persons) of all {len(loads)} loads, warm-up included, "
            + ("agree." if len(checks) == 1 else f"DIFFER: {sorted(checks)}"),
        ]
        if problems or failures:
            lines += ["", "Problems:", *problems, *failures]
        profiles = self.setup.get("profiles", {})
        for title, p in profiles.items():
            lines += [
                "",
                f"Where the time goes: one {title}, "
                f"{p['total']:.1f} s in `ingest_files` (process peak RSS "
                f"{p['process_peak_mb']:,.0f} MB)",
                "",
                "| step | calls | seconds | share | peak RSS MB during the step |",
                "|---|---|---|---|---|",
            ]
            for label, sec in sorted(p["seconds"].items(), key=lambda kv: -kv[1]):
                peak = p["peak_mb"].get(label)
                lines.append(
                    f"| {label} | {p['calls'].get(label, '')} | {sec:.2f} | "
                    f"{100 * sec / p['total']:.1f}% | "
                    f"{f'{peak:,.0f}' if peak else '–'} |"
                )
        return "\n".join(lines) + "\n"

    def environment(self) -> dict[str, Any]:
        import duckdb
        import pyarrow

        env: dict[str, Any] = {
            "python": platform.python_version(),
            "duckdb": duckdb.__version__,
            "pyarrow": pyarrow.__version__,
            "cpus": os.cpu_count(),
            "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
            "platform": platform.platform(),
            "code": self.code,
            "ringfence_memory_limit": os.environ.get("RINGFENCE_MEMORY_LIMIT", "1GB (default)"),
        }
        if "postgresql" in self.engines:
            import psycopg

            env["psycopg"] = psycopg.__version__
            with psycopg.connect(self.args.pg, autocommit=True) as con:
                env["postgresql"] = con.execute("SHOW server_version").fetchall()[0][0]
                env["postgresql_settings"] = {
                    name: con.execute(f"SHOW {name}").fetchall()[0][0]
                    for name in (
                        "shared_buffers",
                        "work_mem",
                        "maintenance_work_mem",
                        "fsync",
                        "synchronous_commit",
                        "wal_level",
                        "max_wal_size",
                    )
                }
        return env


def _loader_text(m: Measurement) -> str:
    return {
        ("duckdb", "raw"): "raw: CREATE TABLE AS read_csv"
        if m.fmt == "csv"
        else "raw: CREATE TABLE AS read_parquet",
        ("postgresql", "raw"): "raw: COPY FROM STDIN (csv)"
        if m.fmt == "csv"
        else "raw: pyarrow → CSV → COPY",
        ("postgresql", "raw+key"): "raw COPY into a table with the unique key index",
        ("duckdb", "reingest"): "ringfence re-ingest (all duplicates)",
    }.get((m.engine, m.loader), "ringfence `ingest_files`")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--runs", type=int, default=3, help="timed runs per measurement")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=DEFAULT_WORKDIR,
        help="generated data, stores and logs (default: bench/data)",
    )
    parser.add_argument("--pg", default=DEFAULT_PG, help="PostgreSQL URL (a schema per run)")
    parser.add_argument("--only", choices=ENGINES)
    parser.add_argument(
        "--no-reingest",
        action="store_true",
        help="skip the DuckDB re-ingest (all duplicates) measurement",
    )
    parser.add_argument(
        "--pg-indexed-raw",
        action="store_true",
        help="also COPY into a raw table that has ringfence's unique key index",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="add one instrumented ringfence ingest per engine (CSV)",
    )
    parser.add_argument("--markdown", type=Path, help="also write the tables to this file")
    parser.add_argument(
        "--no-snapshot",
        action="store_true",
        help="import src/ringfence live instead of a copy taken at the start",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark; print the tables and write them, with every run, to the workdir."""
    args = parse_args(argv)
    bench = Bench(args)
    started = datetime.now(UTC)
    try:
        bench.run()
    finally:
        bench.cleanup()
    text = bench.markdown()
    print()
    print(text)
    record = {
        "command": "python bench/ingest.py " + " ".join(sys.argv[1:]),
        "environment": bench.environment(),
        "setup": bench.setup,
        "summary": bench.summary(),
        "runs": [asdict(r) for r in bench.results],
    }
    save_results(bench.workdir, "ingest", started, record, text, args.markdown)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        _child_main(sys.argv[2])
    else:
        main()
