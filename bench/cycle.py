"""Control-cycle benchmark: the whole cycle on DuckDB, and its tracing step against plain SQL.

The synthetic city of `ringfence.examples.generate` (1,000,000 persons, 14 days, about 10 M
visits) is written once as Parquet and ingested once, every table, into a DuckDB store
(setup, not timed). The cycle's own exposure windows are then materialised once, untimed, as
a table `bench_windows` in a copy of that store. Round by round, each measurement runs in a
fresh Python process, so that its peak RSS (taken with `os.wait4`) is its own:

* ``cycle``: `run_cycle(store, load_protocol("zero-covid-2022"), as_of)` on a fresh copy of the
  store, with `as_of` the end of the generated period: the total, the time of every step
  (`CycleReport.step_seconds`), the peak RSS while each step ran, and the decision counts. A run
  that exceeds ``--cycle-timeout`` is killed; the steps it reached are still reported;
* ``trace``: ringfence's tracing restricted to co-visits (`presence`, `index_spans`,
  `shared_intervals`, `merge_exposure`, `contact_rows` of `ringfence.control.tracing` over
  `bench_windows`), compiled with `ibis.to_sql(expr, dialect="duckdb")` and executed into a
  temporary table on the store's own connection (`store.con`);
* ``peer``: the SQL a data analyst would write for the same question on the same connection:
  the cases' visits clipped to their windows, hash-joined with all visits on place with the
  overlap condition, overlap minutes summed per (person, case), kept at 15 minutes or more;
* ``allpairs`` (``--all-pairs``): every pair of visits at one place that overlap by 15
  minutes or more, as an equi-join on (place, hour bucket) that emits each pair once, from the
  bucket where its overlap starts.

One untimed warm-up round of ``trace`` and ``peer`` comes first (the cycle is too long to
repeat for nothing). Afterwards, untimed, both tracing answers are computed in one process and
compared pair by pair; where they differ, the merged and the summed minutes of each pair say
why.

Usage: ``python bench/cycle.py [--persons 1000000] [--days 14] [--visits 10000000] [--scale 1]
[--runs 3] [--cycle-timeout 900] [--max-temp 40GB] [--cycle-outside-transaction] [--cases N]
[--no-cycle] [--all-pairs] [--workdir bench/data] [--markdown FILE]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import harness
from harness import Outcome, last_line, remove_db, run_child, save_results, snapshot_code

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
DEFAULT_WORKDIR = BENCH_DIR / "data"
DEFAULT_SEED = 20220110
PROTOCOL = "zero-covid-2022"
START = date(2022, 1, 10)
"""The generator's first day (its default)."""
ZONE = "Asia/Shanghai"
WINDOWS_TABLE = "bench_windows"
RSS_SAMPLE_SECONDS = 0.05
GOAL_TRACE_RATIO = 1.2
GOAL_CYCLE_SECONDS = 10.0
GOAL_RSS_MB = 24 * 1024.0
CYCLES = ("cycle", "cycle_notx")
LABELS = {
    "cycle": "whole cycle: `run_cycle` (zero-covid-2022)",
    "cycle_notx": "diagnostic: the same steps without `run_cycle`'s transaction",
    "trace": "tracing: ringfence (Ibis → DuckDB SQL)",
    "peer": "tracing: plain SQL self-join (peer)",
    "allpairs": "all pairs: (place, hour bucket) equi-join",
}


# ----------------------------------------------------------------------------------------
# The SQL a data analyst would write
# ----------------------------------------------------------------------------------------


def peer_sql(target: str, min_minutes: float | None) -> str:
    """The contacts of every case as one hash join of the cases' visits with all visits.

    Overlaps are summed per (person, case) as they come: two overlapping visits of one person
    that both overlap a case's visit count that time twice. ringfence merges them first.
    Without `min_minutes`, every pair with any shared time is kept.
    """
    having = "" if min_minutes is None else f"HAVING minutes >= {min_minutes}"
    return f"""
CREATE TEMP TABLE {target} AS
WITH case_visits AS (
    SELECT w.index_id AS case_person_id, w.index_person, v.place_id,
           greatest(v.start, w.window_start) AS s, least(v."end", w.window_end) AS e
    FROM {WINDOWS_TABLE} AS w
    JOIN visits AS v ON v.person_id = w.index_person
    WHERE v.start < w.window_end AND v."end" > w.window_start
)
SELECT v.person_id, c.case_person_id,
       sum(epoch(least(v."end", c.e)) - epoch(greatest(v.start, c.s))) / 60 AS minutes
FROM case_visits AS c
JOIN visits AS v ON v.place_id = c.place_id AND v.start < c.e AND v."end" > c.s
WHERE v.person_id <> c.index_person
GROUP BY v.person_id, c.case_person_id
{having}
"""


def allpairs_sql(target: str, min_minutes: float, as_of: datetime) -> str:
    """Every pair of visits at one place overlapping by `min_minutes` or more.

    Each visit is exploded into the hours it touches, pairs meet on (place, hour), and a pair
    is kept only in the hour its overlap starts, so it is emitted once without a DISTINCT.
    """
    now = f"TIMESTAMPTZ '{as_of.astimezone(UTC).isoformat()}'"
    return f"""
CREATE TEMP TABLE {target} AS
WITH v AS (
    SELECT person_id, place_id, start, least("end", {now}) AS e FROM visits
    WHERE start <= {now} AND least("end", {now}) > start
), hours AS (
    SELECT person_id, place_id, start, e,
           unnest(range(CAST(epoch(start) AS BIGINT) // 3600,
                        CAST(epoch(e) - 1 AS BIGINT) // 3600 + 1)) AS hour
    FROM v
)
SELECT a.person_id AS person_a, b.person_id AS person_b, a.place_id,
       greatest(a.start, b.start) AS s, least(a.e, b.e) AS e
FROM hours AS a
JOIN hours AS b ON a.place_id = b.place_id AND a.hour = b.hour AND a.person_id < b.person_id
WHERE a.start < b.e AND b.start < a.e
  AND CAST(epoch(greatest(a.start, b.start)) AS BIGINT) // 3600 = a.hour
  AND epoch(least(a.e, b.e)) - epoch(greatest(a.start, b.start)) >= {min_minutes * 60}
"""


# ----------------------------------------------------------------------------------------
# What one run measured
# ----------------------------------------------------------------------------------------


@dataclass
class RunResult:
    """One run of one measurement, as the child process reported it."""

    name: str
    round: int
    warmup: bool
    ok: bool
    timed_out: bool = False
    seconds: float = 0.0
    """The measured work: `run_cycle`, or the CREATE TABLE … AS of a tracing query."""
    open_close_seconds: float = 0.0
    """Opening the store and closing it (DuckDB checkpoints on close)."""
    peak_rss_mb: float = 0.0
    """Peak RSS of the measuring process (`os.wait4`), whole process lifetime."""
    rows: int = 0
    checksum: int = 0
    """Sum of hash(person, case) over the result: equal answers give equal checksums."""
    extra: dict[str, Any] = field(default_factory=dict)
    error: str = ""


# ----------------------------------------------------------------------------------------
# Child processes
# ----------------------------------------------------------------------------------------


def _child_main(spec_path: str) -> None:
    """Entry point of a child: read the spec, do the action, write the result JSON."""
    spec = json.loads(Path(spec_path).read_text())
    actions: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
        "baseline": _act_baseline,
        "generate": _act_generate,
        "store": _act_store,
        "windows": _act_windows,
        "cycle": _act_cycle,
        "cycle_notx": _act_cycle,
        "trace": _act_query,
        "peer": _act_query,
        "allpairs": _act_query,
        "verify": _act_verify,
    }
    out = actions[spec["action"]](spec)
    Path(spec["result"]).write_text(json.dumps(out, default=str))


def _as_of(spec: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(spec["as_of"])


def _open(db: str, max_temp: str) -> Any:
    """The store, with DuckDB's spill directory capped so a runaway query cannot fill the
    disk (DuckDB's own cap is 90% of the free space)."""
    from ringfence.store import open_store

    store = open_store(db)
    store.execute(f"SET max_temp_directory_size = '{max_temp}'")
    return store


def _act_baseline(spec: dict[str, Any]) -> dict[str, Any]:
    """Import what a measurement imports and stop: the floor under every peak RSS."""
    import duckdb  # noqa: F401
    import ibis  # noqa: F401

    import ringfence.control.cycle

    return {"ringfence": os.path.relpath(Path(ringfence.control.cycle.__file__).parents[2])}


def _act_generate(spec: dict[str, Any]) -> dict[str, Any]:
    from ringfence.examples.generate import generate

    t0 = time.perf_counter()
    rows = generate(
        Path(spec["out"]),
        persons=spec["persons"],
        days=spec["days"],
        seed=spec["seed"],
        visits_per_person_day=spec["visits_per_person_day"],
        fmt="parquet",
        start=START,
    )
    return {"rows": rows, "seconds": time.perf_counter() - t0}


def _act_store(spec: dict[str, Any]) -> dict[str, Any]:
    """Every generated table into a new store, in the order references need."""
    from ringfence.examples import EXAMPLE_TABLES
    from ringfence.store import ingest_files, open_store

    store = open_store(spec["db"], create=True)
    out: dict[str, Any] = {}
    try:
        for name in EXAMPLE_TABLES:
            t0 = time.perf_counter()
            report = ingest_files(store, name, [Path(spec["data"]) / f"{name}.parquet"])
            out[name] = {
                "seconds": time.perf_counter() - t0,
                "rows_read": report.rows_read,
                "added": report.added,
                "rejected": report.rejected_count,
            }
        store.execute("CHECKPOINT")
    finally:
        store.close()
    return out


class _WindowsKept(Exception):
    """Raised once the cycle has kept its exposure windows: nothing after them is needed."""

    def __init__(self, schema: dict[str, str]) -> None:
        super().__init__("windows kept")
        self.schema = schema


def _act_windows(spec: dict[str, Any]) -> dict[str, Any]:
    """The cycle's own steps up to its exposure windows, kept as `bench_windows`.

    `decide` runs with a `Runner` that stops right after the step named "windows", so the
    windows are exactly those the cycle traces from, whatever the steps before compute.
    """
    import ibis.expr.types as ir

    from ringfence.control import cycle
    from ringfence.control.context import Context
    from ringfence.protocol import load_protocol

    class UntilWindows(cycle.Runner):
        def keep(self, name: str, expr: ir.Table) -> ir.Table:
            table = super().keep(name, expr)
            if name == "windows":
                raise _WindowsKept({k: str(v) for k, v in expr.schema().items()})
            return table

    store = _open(spec["db"], spec["max_temp"])
    try:
        runner = UntilWindows(cycle.StoreEngine(store))
        ctx = Context(load_protocol(PROTOCOL), _as_of(spec).astimezone(UTC))
        t0 = time.perf_counter()
        try:
            cycle.decide(ctx, runner)
        except _WindowsKept as kept:
            schema = kept.schema
        else:
            raise SystemExit("the cycle has no step named 'windows' any more")
        seconds = time.perf_counter() - t0
        store.execute(f"CREATE TABLE {WINDOWS_TABLE} AS SELECT * FROM rf_cycle_windows")
        runner.drop()

        def one(sql: str) -> int:
            return int(store.fetchall(sql)[0][0] or 0)

        all_cases = one(f"SELECT count(DISTINCT index_id) FROM {WINDOWS_TABLE}")
        if spec.get("cases"):
            # A fixed pseudo-random choice, the same on every run of this DuckDB version.
            store.execute(
                f"DELETE FROM {WINDOWS_TABLE} WHERE index_id NOT IN (SELECT DISTINCT index_id "
                f"FROM {WINDOWS_TABLE} ORDER BY hash(index_id), index_id LIMIT {spec['cases']})"
            )
        store.execute("CHECKPOINT")
        facts = {
            "cycle_cases": all_cases,
            "windows": one(f"SELECT count(*) FROM {WINDOWS_TABLE}"),
            "cases": one(f"SELECT count(DISTINCT index_id) FROM {WINDOWS_TABLE}"),
            "window_days_mean": float(
                store.fetchall(
                    f"SELECT avg(epoch(window_end) - epoch(window_start)) / 86400 "
                    f"FROM {WINDOWS_TABLE}"
                )[0][0]
                or 0
            ),
            "case_visits": one(
                f"SELECT count(*) FROM {WINDOWS_TABLE} w JOIN visits v "
                f"ON v.person_id = w.index_person "
                f'AND v.start < w.window_end AND v."end" > w.window_start'
            ),
            "visits": one("SELECT count(*) FROM visits"),
            "persons": one("SELECT count(*) FROM persons"),
            "places": one("SELECT count(*) FROM places"),
            "places_visited": one("SELECT count(DISTINCT place_id) FROM visits"),
            "places_by_kind": dict(
                store.fetchall(
                    "SELECT kind, count(*) FROM places GROUP BY kind ORDER BY count(*) DESC"
                )
            ),
        }
    finally:
        store.close()
    return {"schema": schema, "seconds": seconds, "facts": facts}


class _StepSampler:
    """Peak RSS per cycle step, from the progress callback and a 50 ms sampler thread.

    Every step start is appended to a JSON-lines file at once, so a run that is killed still
    says which steps it finished, when, and at what memory.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.label = "(open)"
        self.started = time.perf_counter()
        self.peak: dict[str, float] = {}
        self._page_mb = os.sysconf("SC_PAGE_SIZE") / 2**20
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._handle = path.open("a")
        self._thread.start()

    def step(self, name: str, index: int, total: int) -> None:
        """The cycle's progress callback: `name` starts now."""
        self._write(self.label, "end")
        self.label = name
        self._write(name, "start", index=index, total=total)

    def finish(self, label: str) -> None:
        self._write(self.label, "end")
        self.label = label

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._write(self.label, "end")
        self._handle.close()

    def _rss_mb(self) -> float:
        try:
            return int(Path("/proc/self/statm").read_text().split()[1]) * self._page_mb
        except (OSError, IndexError, ValueError):
            return 0.0

    def _note(self) -> None:
        mb = self._rss_mb()
        if mb > self.peak.get(self.label, 0.0):
            self.peak[self.label] = mb

    def _sample(self) -> None:
        while not self._stop.wait(RSS_SAMPLE_SECONDS):
            self._note()

    def _write(self, label: str, event: str, **more: Any) -> None:
        self._note()
        record = {
            "step": label,
            "event": event,
            "t": time.perf_counter() - self.started,
            # Wall-clock time too: the parent dates a killed step's end by when the child died.
            "epoch": time.time(),
            "peak_mb": self.peak.get(label, 0.0),
            **more,
        }
        self._handle.write(json.dumps(record) + "\n")
        self._handle.flush()


def _act_cycle(spec: dict[str, Any]) -> dict[str, Any]:
    """`run_cycle`, or for ``cycle_notx`` the same `decide` and writes outside a transaction."""
    from ringfence.control import cycle
    from ringfence.control.context import Context
    from ringfence.protocol import load_protocol

    protocol = load_protocol(PROTOCOL)
    sampler = _StepSampler(Path(spec["progress"]))
    t0 = time.perf_counter()
    store = _open(spec["db"], spec["max_temp"])
    t1 = time.perf_counter()
    if spec["action"] == "cycle":
        report = cycle.run_cycle(store, protocol, _as_of(spec), sampler.step)
        step_seconds, counts = report.step_seconds, report.counts
    else:
        # Only the transaction differs: temporary tables created inside an open transaction
        # are what DuckDB's planner sees in `run_cycle`.
        runner = cycle.Runner(cycle.StoreEngine(store), sampler.step)
        decisions = cycle.decide(Context(protocol, _as_of(spec).astimezone(UTC)), runner)
        for name, expr in decisions.items():
            runner.replace(name, expr)
        counts = {n: int(store.fetchall(f'SELECT count(*) FROM "{n}"')[0][0]) for n in decisions}
        runner.drop()
        step_seconds = runner.step_seconds
    t2 = time.perf_counter()
    sampler.finish("(close)")
    store.close()
    t3 = time.perf_counter()
    sampler.close()
    return {
        "seconds": t2 - t1,
        "open_close_seconds": (t1 - t0) + (t3 - t2),
        "extra": {
            "step_seconds": step_seconds,
            "steps_sum": sum(step_seconds.values()),
            "counts": counts,
            "step_peak_mb": sampler.peak,
        },
    }


def _tracing_expr(as_of: datetime, schema: dict[str, str], merged_only: bool = False) -> Any:
    """ringfence's close contacts restricted to co-visits, over the kept windows.

    This is `tracing.close_contacts` without the proximity and household intervals: the same
    functions, in the same order, on the same windows as the cycle.
    """
    import ibis

    from ringfence.control import tracing
    from ringfence.control.context import Context
    from ringfence.protocol import load_protocol

    ctx = Context(load_protocol(PROTOCOL), as_of.astimezone(UTC))
    windows = ibis.table(ibis.schema(schema), name=WINDOWS_TABLE)
    where = tracing.presence(ctx)
    spans = tracing.index_spans(windows, where)
    merged = tracing.merge_exposure(tracing.shared_intervals(spans, where))
    if merged_only:
        return merged
    min_seconds = ctx.param("contact.min_minutes").cast("float64") * 60
    return tracing.contact_rows(merged, windows, "close", "contact.min_minutes", min_seconds)


def _min_minutes(as_of: datetime) -> float:
    """The protocol's close-contact threshold in force at `as_of`."""
    from ringfence.protocol import load_protocol

    return float(load_protocol(PROTOCOL).at(as_of).contact.min_minutes)


def _query_sql(spec: dict[str, Any], target: str) -> tuple[str, float]:
    """The statement a query measurement runs, and how long compiling it took."""
    import ibis

    if spec["action"] == "peer":
        return peer_sql(target, _min_minutes(_as_of(spec))), 0.0
    if spec["action"] == "allpairs":
        return allpairs_sql(target, _min_minutes(_as_of(spec)), _as_of(spec)), 0.0
    t0 = time.perf_counter()
    sql = ibis.to_sql(_tracing_expr(_as_of(spec), spec["schema"]), dialect="duckdb")
    return f"CREATE TEMP TABLE {target} AS {sql}", time.perf_counter() - t0


def _pair_checksum(store: Any, table: str, a: str, b: str) -> tuple[int, int]:
    row = store.fetchall(
        f"SELECT count(*), sum(hash({a} || '|' || {b}) % 1000000007) FROM {table}"
    )[0]
    return int(row[0]), int(row[1] or 0)


def _act_query(spec: dict[str, Any]) -> dict[str, Any]:
    """One tracing (or all-pairs) query into a temporary table on the store's connection."""
    target = f"bench_{spec['action']}"
    t0 = time.perf_counter()
    store = _open(spec["db"], spec["max_temp"])
    t1 = time.perf_counter()
    sql, compile_seconds = _query_sql(spec, target)
    t2 = time.perf_counter()
    store.con.execute(sql)
    t3 = time.perf_counter()
    if spec["action"] == "allpairs":
        rows, checksum = _pair_checksum(store, target, "person_a", "person_b")
    else:
        rows, checksum = _pair_checksum(store, target, "person_id", "case_person_id")
    t4 = time.perf_counter()
    store.close()
    t5 = time.perf_counter()
    return {
        "seconds": t3 - t2,
        "open_close_seconds": (t1 - t0) + (t5 - t4),
        "rows": rows,
        "checksum": checksum,
        "extra": {"compile_seconds": compile_seconds, "sql_chars": len(sql)},
    }


def _act_verify(spec: dict[str, Any]) -> dict[str, Any]:
    """Both tracing answers in one process, compared pair by pair.

    ringfence keeps (person, case) when the union of their shared moments reaches the
    threshold; the peer when the sum of the overlaps does. Pairs only the peer finds are
    checked against ringfence's merged seconds without the threshold: if the union is below
    it while the sum is not, the difference is overlaps counted twice.
    """
    import ibis

    store = _open(spec["db"], spec["max_temp"])
    try:
        minutes = _min_minutes(_as_of(spec))
        trace_sql = ibis.to_sql(_tracing_expr(_as_of(spec), spec["schema"]), dialect="duckdb")
        merged_sql = ibis.to_sql(
            _tracing_expr(_as_of(spec), spec["schema"], merged_only=True), dialect="duckdb"
        )
        store.execute(f"CREATE TEMP TABLE rf AS {trace_sql}")
        store.execute(peer_sql("peer", minutes))
        store.execute(f"CREATE TEMP TABLE rf_all AS {merged_sql}")
        # The peer's sums without the threshold, to compare minutes of every pair.
        store.execute(peer_sql("peer_all", None))

        def one(sql: str) -> Any:
            return store.fetchall(sql)[0][0]

        key = "USING (person_id, case_person_id)"
        rf_all = "(SELECT person_id, index_id AS case_person_id, exposed_seconds FROM rf_all)"
        out: dict[str, Any] = {
            "ringfence": one("SELECT count(*) FROM rf"),
            "peer": one("SELECT count(*) FROM peer"),
            "both": one(f"SELECT count(*) FROM rf JOIN peer {key}"),
            "only_ringfence": one(f"SELECT count(*) FROM rf ANTI JOIN peer {key}"),
            "only_peer": one(f"SELECT count(*) FROM peer ANTI JOIN rf {key}"),
            "minutes_differ_in_both": one(
                f"SELECT count(*) FROM rf JOIN peer {key} "
                f"WHERE abs(rf.minutes - peer.minutes) > 1e-6"
            ),
            "pairs_any_overlap": one("SELECT count(*) FROM rf_all"),
            "pairs_any_overlap_peer": one("SELECT count(*) FROM peer_all"),
            "pairs_sum_exceeds_union": one(
                f"SELECT count(*) FROM peer_all JOIN {rf_all} r {key} "
                f"WHERE peer_all.minutes * 60 > r.exposed_seconds + 1e-6"
            ),
            "only_peer_explained": one(
                f"SELECT count(*) FROM (SELECT * FROM peer ANTI JOIN rf {key}) p "
                f"JOIN {rf_all} r {key} "
                f"WHERE r.exposed_seconds < {minutes * 60} AND p.minutes * 60 > r.exposed_seconds"
            ),
        }
        examples = store.fetchall(
            f"SELECT p.person_id, p.case_person_id, round(p.minutes, 1), "
            f"round(r.exposed_seconds / 60, 1) FROM (SELECT * FROM peer ANTI JOIN rf {key}) p "
            f"JOIN {rf_all} r {key} ORDER BY p.minutes DESC LIMIT 3"
        )
        out["only_peer_examples"] = [
            {"person": a, "case": b, "summed_minutes": c, "merged_minutes": d}
            for a, b, c, d in examples
        ]
        if examples:
            out["only_peer_example_visits"] = _pair_visits(store, examples[0][0], examples[0][1])
    finally:
        store.close()
    return out


def _pair_visits(store: Any, person: str, case: str) -> list[dict[str, str]]:
    """The visits of a person and a case inside the case's exposure window."""
    window = f"(SELECT {{}} FROM {WINDOWS_TABLE} WHERE index_id = ?)"
    rows = store.fetchall(
        f'SELECT person_id, place_id, start, "end" FROM visits WHERE person_id IN (?, ?) '
        f"AND start < {window.format('window_end')} "
        f'AND "end" > {window.format("window_start")} ORDER BY start LIMIT 40',
        [person, case, case, case],
    )
    return [{"who": a, "place": b, "start": str(c), "end": str(d)} for a, b, c, d in rows]


# ----------------------------------------------------------------------------------------
# The parent: data, setup, rounds of measurements, summary
# ----------------------------------------------------------------------------------------


class Bench:
    """One benchmark invocation: its work directory, setup and results."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.workdir: Path = args.workdir.resolve()
        self.persons = args.persons * args.scale
        self.visits = args.visits * args.scale
        self.per_day = self.visits / (self.persons * args.days)
        city = harness.city_name(self.persons, args.days, self.per_day, args.seed)
        self.data = self.workdir / city
        self.base = self.workdir / "stores" / f"{city}.duckdb"
        self.runs_dir = self.workdir / "runs"
        self.logs = self.workdir / "logs"
        end = START + timedelta(days=args.days)
        self.as_of = datetime(end.year, end.month, end.day, tzinfo=ZoneInfo(ZONE))
        self.results: list[RunResult] = []
        self.setup: dict[str, Any] = {}
        self.schema: dict[str, str] = {}
        self.code: dict[str, Any] = {}
        self.env = dict(os.environ)
        self.script = str(Path(__file__).resolve())
        self._sequence = 0
        self.skipped: list[str] = []

    # -- children -----------------------------------------------------------------------
    def child(self, spec: dict[str, Any], label: str, timeout: float | None = None) -> Outcome:
        """Run `spec` in a fresh process; kill it after `timeout` seconds."""
        self._sequence += 1
        stem = f"{self._sequence:03d}-{label}"
        spec_path = self.runs_dir / f"{stem}.spec.json"
        result_path = self.runs_dir / f"{stem}.result.json"
        log_path = self.logs / f"{stem}.log"
        spec = {**spec, "result": self.rel(result_path), "max_temp": self.args.max_temp}
        spec_path.write_text(json.dumps(spec))
        command = [sys.executable, self.script, "--child", self.rel(spec_path)]
        outcome = run_child(command, self.workdir, self.env, log_path, result_path, timeout)
        spec_path.unlink()
        return outcome

    def must(self, spec: dict[str, Any], label: str) -> tuple[dict[str, Any], float]:
        outcome = self.child(spec, label)
        if outcome.out is None:
            raise SystemExit(f"{label} failed: {outcome.error}")
        return outcome.out, outcome.peak_mb

    def rel(self, path: Path) -> str:
        """`path` relative to the work directory, where every child runs."""
        return os.path.relpath(path, self.workdir)

    # -- setup --------------------------------------------------------------------------
    def pin_code(self) -> None:
        """Measure one version of ringfence from start to end (see `harness.snapshot_code`)."""
        self.code, copy, snapshot = snapshot_code(
            self.workdir, Path(__file__).resolve(), "cycle", self.args.no_snapshot
        )
        if copy is None or snapshot is None:
            return
        self.script = self.rel(copy)
        self.env["PYTHONPATH"] = os.pathsep.join(
            [snapshot, *filter(None, [os.environ.get("PYTHONPATH")])]
        )

    def prepare(self) -> None:
        for folder in (self.workdir, self.runs_dir, self.logs, self.base.parent):
            folder.mkdir(parents=True, exist_ok=True)
        self.pin_code()
        baseline, self.setup["baseline_rss_mb"] = self.must({"action": "baseline"}, "baseline")
        self.code["imported_from"] = baseline["ringfence"]
        marker = self.data / "rows.json"
        if marker.exists():
            self.setup["generate"] = {**json.loads(marker.read_text()), "reused": True}
        else:
            print(
                f"generating {self.persons:,} persons × {self.args.days} days, "
                f"{self.per_day:.4g} visits per person-day …",
                flush=True,
            )
            out, _ = self.must(
                {
                    "action": "generate",
                    "out": self.rel(self.data),
                    "persons": self.persons,
                    "days": self.args.days,
                    "seed": self.args.seed,
                    "visits_per_person_day": self.per_day,
                },
                "generate",
            )
            marker.write_text(json.dumps(out))
            self.setup["generate"] = out
        store_marker = self.base.with_name(self.base.name + ".json")
        if store_marker.exists() and self.base.exists():
            self.setup["store"] = {**json.loads(store_marker.read_text()), "reused": True}
        else:
            print("setup: ingesting every table into a DuckDB store …", flush=True)
            remove_db(self.base)
            out, peak = self.must(
                {"action": "store", "db": self.rel(self.base), "data": self.rel(self.data)},
                "store",
            )
            out = {"tables": out, "peak_rss_mb": peak}
            store_marker.write_text(json.dumps(out))
            self.setup["store"] = out
        print("setup: the cycle's exposure windows, kept as a table …", flush=True)
        traced = self.runs_dir / "traced.duckdb"
        remove_db(traced)
        shutil.copyfile(self.base, traced)
        out, peak = self.must(
            {
                "action": "windows",
                "db": self.rel(traced),
                "as_of": self.as_of.isoformat(),
                "cases": self.args.cases,
            },
            "windows",
        )
        self.schema = out["schema"]
        self.setup["windows"] = {**out, "peak_rss_mb": peak}
        self.setup["store_bytes"] = self.base.stat().st_size
        facts = out["facts"]
        print(
            f"  {facts['cases']:,} cases, {facts['case_visits']:,} of their visits in their "
            f"windows; {facts['visits']:,} visits, {facts['places']:,} places "
            f"({facts['places_visited']:,} visited)",
            flush=True,
        )

    # -- measurements -------------------------------------------------------------------
    def plan(self) -> list[str]:
        names = [] if self.args.no_cycle else ["cycle"]
        if self.args.cycle_outside_transaction:
            names.append("cycle_notx")
        names += ["trace", "peer"]
        if self.args.all_pairs:
            names.append("allpairs")
        return names

    def run_one(self, name: str, round_: int) -> RunResult:
        warmup = round_ < self.args.warmup
        spec: dict[str, Any] = {
            "action": name,
            "as_of": self.as_of.isoformat(),
            "schema": self.schema,
        }
        timeout = None
        db = self.runs_dir / "traced.duckdb"
        if name in CYCLES:
            db = self.runs_dir / "cycle.duckdb"
            remove_db(db)
            shutil.copyfile(self.base, db)
            progress = self.logs / f"{name}-r{round_}.progress.jsonl"
            progress.unlink(missing_ok=True)
            spec["progress"] = self.rel(progress)
            timeout = self.args.cycle_timeout
        elif name == "allpairs":
            timeout = self.args.allpairs_timeout
        spec["db"] = self.rel(db)
        outcome = self.child(spec, f"{name}-r{round_}", timeout)
        if name in CYCLES:
            remove_db(db)
            shutil.rmtree(db.with_name(db.name + ".tmp"), ignore_errors=True)
        result = RunResult(
            name,
            round_,
            warmup,
            outcome.out is not None,
            timed_out=outcome.timed_out,
            peak_rss_mb=outcome.peak_mb,
            error=outcome.error,
        )
        if outcome.out is not None:
            result.seconds = outcome.out["seconds"]
            result.open_close_seconds = outcome.out["open_close_seconds"]
            result.rows = outcome.out.get("rows", 0)
            result.checksum = outcome.out.get("checksum", 0)
            result.extra = outcome.out.get("extra", {})
        elif name in CYCLES:
            progress = self.logs / f"{name}-r{round_}.progress.jsonl"
            result.extra = {"progress": _read_progress(progress, outcome.ended)}
            result.seconds = outcome.wall
        return result

    def run(self) -> None:
        self.prepare()
        plan = self.plan()
        rounds = self.args.warmup + self.args.runs
        given_up: set[str] = set()
        for round_ in range(rounds):
            warmup = round_ < self.args.warmup
            for name in plan:
                if name in given_up or (warmup and name in (*CYCLES, "allpairs")):
                    continue
                kind = "warm-up" if warmup else "timed"
                print(f"[round {round_ + 1}/{rounds} {kind}] {name} …", end=" ", flush=True)
                result = self.run_one(name, round_)
                self.results.append(result)
                print(_describe(result), flush=True)
                if not result.ok:
                    # A run that timed out or failed would do so again: spend the time on the
                    # measurements that finish instead.
                    given_up.add(name)
                    self.skipped.append(f"{name}: rounds after round {round_ + 1} skipped")
        if not self.args.no_verify:
            print("verifying: both tracing answers, pair by pair …", flush=True)
            out = self.child(
                {
                    "action": "verify",
                    "db": self.rel(self.runs_dir / "traced.duckdb"),
                    "as_of": self.as_of.isoformat(),
                    "schema": self.schema,
                },
                "verify",
            )
            self.setup["verify"] = out.out if out.out is not None else {"error": out.error}

    def cleanup(self) -> None:
        for name in ("traced", "cycle"):
            db = self.runs_dir / f"{name}.duckdb"
            remove_db(db)
            shutil.rmtree(db.with_name(db.name + ".tmp"), ignore_errors=True)
        if self.script != str(Path(__file__).resolve()):
            (self.workdir / self.script).unlink(missing_ok=True)

    # -- reporting ----------------------------------------------------------------------
    def timed(self, name: str) -> list[RunResult]:
        return [r for r in self.results if r.name == name and not r.warmup and r.ok]

    def summary(self) -> dict[str, dict[str, Any]]:
        """Per measurement: median, min and max seconds, peak memory, rows."""
        out: dict[str, dict[str, Any]] = {}
        for name in self.plan():
            runs = self.timed(name)
            failed = [r for r in self.results if r.name == name and not r.warmup and not r.ok]
            if not runs:
                out[name] = {"runs": 0, "failed": len(failed)}
                continue
            seconds = [r.seconds for r in runs]
            out[name] = {
                "runs": len(runs),
                "failed": len(failed),
                "median_s": statistics.median(seconds),
                "min_s": min(seconds),
                "max_s": max(seconds),
                "peak_rss_mb": max(r.peak_rss_mb for r in runs),
                "rows": runs[0].rows,
                "checksums_agree": len({(r.rows, r.checksum) for r in runs}) == 1,
            }
        return out

    def paired_ratio(self, a: str, b: str) -> float | None:
        """Median over timed rounds of a's seconds / b's seconds in the same round."""
        ratios = []
        for round_ in range(self.args.warmup, self.args.warmup + self.args.runs):
            mine = self._find(a, round_)
            other = self._find(b, round_)
            if mine is not None and other is not None and other.seconds > 0:
                ratios.append(mine.seconds / other.seconds)
        return statistics.median(ratios) if ratios else None

    def _find(self, name: str, round_: int) -> RunResult | None:
        return next(
            (r for r in self.results if r.name == name and r.round == round_ and r.ok), None
        )

    def markdown(self) -> str:
        summary = self.summary()
        gen = self.setup["generate"]
        facts = self.setup["windows"]["facts"]
        rows = gen["rows"]
        lines = [
            f"City: {self.persons:,} persons × {self.args.days} days, seed {self.args.seed}, "
            f"{self.per_day:.4g} visits per person-day: {rows['visits']:,} visits, "
            f"{facts['places']:,} places ({facts['places_visited']:,} of them visited), "
            f"{rows['samples']:,} samples, {rows['results']:,} results. "
            f"As of {self.as_of.isoformat()} (the end of the period), protocol {PROTOCOL}: "
            f"{facts['cycle_cases']:,} cases with exposure windows; tracing measured from "
            + (
                f"{facts['cases']:,} of them (`--cases`, a fixed choice)"
                if facts["cases"] != facts["cycle_cases"]
                else "all of them"
            )
            + f" (windows of {facts['window_days_mean']:.1f} days on average, "
            f"{facts['case_visits']:,} of their visits in them). Store "
            f"{self.setup['store_bytes'] / 1e9:.2f} GB.",
            "",
            f"Code: commit {self.code.get('commit', '?')}"
            + ("" if self.code.get("src_matches_commit", True) else " with uncommitted changes")
            + f", src/ringfence hash {self.code.get('src_sha256', '?')}"
            + (
                " (imported from a snapshot taken at the start)"
                if self.code.get("snapshot")
                else ""
            )
            + f". Runs: {self.args.runs} timed per measurement, round-robin, after "
            f"{self.args.warmup} untimed warm-up round(s) of the two tracing queries; times are "
            f"medians. A process that only imports ringfence, DuckDB and Ibis peaks at "
            f"{self.setup['baseline_rss_mb']:,.0f} MB.",
            "",
            "| measurement | runs | median s (min–max) | peak RSS MB | rows | goal |",
            "|---|---|---|---|---|---|",
        ]
        for name in self.plan():
            s = summary[name]
            if not s["runs"]:
                failed = [r for r in self.results if r.name == name and not r.ok]
                why = _describe(failed[0]) if failed else "not run"
                lines.append(f"| {LABELS[name]} | 0 | {why} | – | – | |")
                continue
            goal = ""
            if name == "cycle":
                goal = (
                    f"< {GOAL_CYCLE_SECONDS:.0f} s "
                    + _mark(s["median_s"] < GOAL_CYCLE_SECONDS)
                    + f"; < {GOAL_RSS_MB / 1024:.0f} GB "
                    + _mark(s["peak_rss_mb"] < GOAL_RSS_MB)
                )
            if name == "trace" and "peer" in summary and summary["peer"]["runs"]:
                ratio = s["median_s"] / summary["peer"]["median_s"]
                paired = self.paired_ratio("trace", "peer")
                goal = (
                    f"{ratio:.2f}× the peer (paired {paired:.2f}×), ≤ {GOAL_TRACE_RATIO}× "
                    + _mark(ratio <= GOAL_TRACE_RATIO)
                )
            rows = "–" if name in CYCLES else f"{s['rows']:,}"
            lines.append(
                f"| {LABELS[name]} | {s['runs']} | {s['median_s']:.2f} "
                f"({s['min_s']:.2f}–{s['max_s']:.2f}) | {s['peak_rss_mb']:,.0f} | "
                f"{rows} | {goal} |"
            )
        for name in CYCLES:
            lines += self._cycle_lines(name)
        lines += self._verify_lines()
        failures = [
            f"- {r.name} round {r.round + 1}: {last_line(r.error)}"
            for r in self.results
            if not r.ok
        ]
        if failures or self.skipped:
            lines += [
                "",
                "Failures and skipped runs:",
                *failures,
                *(f"- {s}" for s in self.skipped),
            ]
        return "\n".join(lines) + "\n"

    def _cycle_lines(self, name: str) -> list[str]:
        runs = [r for r in self.results if r.name == name and not r.warmup]
        if not runs:
            return []
        done = [r for r in runs if r.ok]
        lines = [""]
        if done:
            steps: dict[str, list[float]] = {}
            peaks: dict[str, float] = {}
            for r in done:
                for step, sec in r.extra["step_seconds"].items():
                    steps.setdefault(step, []).append(sec)
                for step, mb in r.extra["step_peak_mb"].items():
                    peaks[step] = max(peaks.get(step, 0.0), mb)
            total = statistics.median(r.seconds for r in done)
            lines += [
                f"{LABELS[name]}, {len(done)} run(s): median {total:.2f} s; decisions: "
                + ", ".join(f"{k} {v:,}" for k, v in done[0].extra["counts"].items())
                + ".",
                "",
                "| step | median s | share | peak RSS MB while the step ran |",
                "|---|---|---|---|",
            ]
            for step, secs in sorted(steps.items(), key=lambda kv: -statistics.median(kv[1])):
                med = statistics.median(secs)
                peak = peaks.get(step)
                lines.append(
                    f"| {step} | {med:.2f} | {100 * med / total:.1f}% | "
                    f"{f'{peak:,.0f}' if peak else '–'} |"
                )
        for r in runs:
            if r.ok:
                continue
            progress = r.extra.get("progress", [])
            lines += [
                "",
                f"{LABELS[name]}, round {r.round + 1}, did not finish "
                f"({last_line(r.error)}); peak RSS {r.peak_rss_mb:,.0f} MB. The steps it "
                f"reached, with the seconds from each step's start to the next one's (the last "
                f"was running when it stopped):",
                "",
                "| step | seconds | peak RSS MB while the step ran |",
                "|---|---|---|",
            ]
            for step in progress:
                lines.append(
                    f"| {step['step']} | {step['seconds']:.2f}"
                    + ("" if step["finished"] else " (unfinished)")
                    + f" | {step['peak_mb']:,.0f} |"
                )
        return lines

    def _verify_lines(self) -> list[str]:
        v = self.setup.get("verify")
        if not v:
            return []
        if "error" in v:
            return ["", f"Verification failed: {last_line(v['error'])}"]
        same = v["ringfence"] == v["peer"] == v["both"]
        lines = [
            "",
            f"Contact pairs (person, case) at ≥ 15 minutes: ringfence {v['ringfence']:,}, "
            f"peer {v['peer']:,}, in both {v['both']:,}, only ringfence "
            f"{v['only_ringfence']:,}, only peer {v['only_peer']:,}"
            + (" — they agree." if same else "."),
            f"Of all {v['pairs_any_overlap']:,} pairs with any shared time, "
            f"{v['pairs_sum_exceeds_union']:,} have overlapping shared intervals, where the "
            f"peer's sum exceeds the union ringfence measures; {v['minutes_differ_in_both']:,} "
            f"pairs found by both differ in minutes. Of the {v['only_peer']:,} pairs only the "
            f"peer keeps, {v['only_peer_explained']:,} are explained that way (union below "
            f"15 minutes, sum above).",
        ]
        for example in v.get("only_peer_examples", [])[:1]:
            lines.append(
                f"Example: {example['person']} and case {example['case']}: summed "
                f"{example['summed_minutes']} min, merged {example['merged_minutes']} min."
            )
        return lines

    def environment(self) -> dict[str, Any]:
        from importlib.metadata import version

        import duckdb
        import ibis

        return {
            "python": platform.python_version(),
            "duckdb": duckdb.__version__,
            "ibis": ibis.__version__,
            "sqlglot": version("sqlglot"),
            "cpus": os.cpu_count(),
            "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
            "platform": platform.platform(),
            "code": self.code,
            "ringfence_memory_limit": os.environ.get("RINGFENCE_MEMORY_LIMIT", "1GB (default)"),
            "max_temp_directory_size": self.args.max_temp,
        }


def _mark(ok: bool) -> str:
    return "✔" if ok else "✘"


def _describe(r: RunResult) -> str:
    if r.ok:
        rows = f", {r.rows:,} rows" if r.name not in CYCLES else ""
        return f"{r.seconds:.2f} s{rows}, peak RSS {r.peak_rss_mb:,.0f} MB"
    progress = r.extra.get("progress", [])
    where = f" in step {progress[-1]['step']}" if progress else ""
    return f"FAILED{where}: {last_line(r.error)} (peak RSS {r.peak_rss_mb:,.0f} MB)"


def _read_progress(path: Path, ended: float) -> list[dict[str, Any]]:
    """The steps a failed cycle reached: seconds between step starts and peak RSS of each;
    the last step ran until the child ended (`ended`, seconds since the epoch)."""
    if not path.exists():
        return []
    events = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    starts = [e for e in events if e["event"] == "start"]
    peaks: dict[str, float] = {}
    for e in events:
        peaks[e["step"]] = max(peaks.get(e["step"], 0.0), e["peak_mb"])
    out = []
    for i, e in enumerate(starts):
        finished = i + 1 < len(starts)
        end = starts[i + 1]["t"] if finished else e["t"] + ended - e["epoch"]
        out.append(
            {
                "step": e["step"],
                "seconds": end - e["t"],
                "finished": finished,
                "peak_mb": peaks.get(e["step"], 0.0),
            }
        )
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument(
        "--visits",
        type=int,
        default=10_000_000,
        help="visits to generate, about (sets the generator's visits per person-day)",
    )
    parser.add_argument(
        "--scale",
        type=int,
        default=1,
        help="multiply persons and visits (places and cases follow): 10 gives 100 M visits",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--runs", type=int, default=3, help="timed runs per measurement")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds of tracing first")
    parser.add_argument(
        "--cycle-timeout",
        type=float,
        default=900.0,
        help="kill a cycle run after this many seconds; later rounds skip the cycle",
    )
    parser.add_argument("--no-cycle", action="store_true", help="measure tracing only")
    parser.add_argument(
        "--cases",
        type=int,
        help="trace from this many of the cycle's cases (a fixed choice) instead of all",
    )
    parser.add_argument(
        "--cycle-outside-transaction",
        action="store_true",
        help="diagnostic: also run the cycle's steps without run_cycle's transaction",
    )
    parser.add_argument(
        "--all-pairs",
        action="store_true",
        help="also time the all-pairs contact graph ((place, hour bucket) equi-join)",
    )
    parser.add_argument("--allpairs-timeout", type=float, default=900.0)
    parser.add_argument("--no-verify", action="store_true", help="skip the pair-by-pair check")
    parser.add_argument(
        "--max-temp",
        default="40GB",
        help="DuckDB max_temp_directory_size for every run (spilling beyond it fails)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=DEFAULT_WORKDIR,
        help="generated data, stores and logs (default: bench/data)",
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
        "command": "python bench/cycle.py " + " ".join(sys.argv[1:]),
        "environment": bench.environment(),
        "as_of": bench.as_of.isoformat(),
        "setup": bench.setup,
        "summary": bench.summary(),
        "trace_over_peer_paired": bench.paired_ratio("trace", "peer"),
        "skipped": bench.skipped,
        "runs": [asdict(r) for r in bench.results],
    }
    save_results(bench.workdir, "cycle", started, record, text, args.markdown)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        _child_main(sys.argv[2])
    else:
        main()
