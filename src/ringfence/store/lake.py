"""A Parquet lake and Apache Spark: the control cycle for a city that outgrows one machine.

The lake is a folder (on local disk or any Hadoop-compatible store: `hdfs://`, `s3a://`,
`abfss://`) holding one Parquet dataset per event table, as `ringfence generate --format
parquet` or `ringfence export --format parquet` write them:

    LAKE/visits.parquet            a file, or
    LAKE/visits/part-*.parquet     a folder of files (what Spark and most pipelines write)

The cycle's steps are the same Ibis expressions as on DuckDB and PostgreSQL, compiled to
Spark SQL; `SparkLake` only reads the events, keeps each step's rows for the next steps, and
writes the decisions back as Parquet:

    LAKE/decisions/run-000042/cases/part-*.parquet     one folder per decision table
    LAKE/decisions/runs/part-*.parquet                 one row per run, written last

A run exists once its row is in `decisions/runs`: a run that fails half-way leaves a folder
no reader looks at, and the decisions of the last recorded run stay the current ones.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ringfence.schema import DECISION_TABLES, EVENT_TABLES, ColumnType, Table

from .dialect import Dialect
from .errors import StoreError
from .runs import RunRecord

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

SPARK = Dialect(
    "spark",
    {
        ColumnType.STRING: "STRING",
        ColumnType.INTEGER: "BIGINT",
        ColumnType.FLOAT: "DOUBLE",
        ColumnType.BOOLEAN: "BOOLEAN",
        ColumnType.DATE: "DATE",
        ColumnType.INSTANT: "TIMESTAMP",
        ColumnType.STRING_LIST: "ARRAY<STRING>",
    },
)

DEFAULT_MASTER = os.environ.get("RINGFENCE_SPARK_MASTER", "local[2]")
"""Where Spark runs when no session is given: this machine's cores, unless configured."""

SESSION_SETTINGS: dict[str, str] = {
    # Instants are UTC everywhere in ringfence; Spark's TIMESTAMP follows the session zone.
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    # Adaptive execution coalesces small shuffles and splits skewed ones (one huge venue).
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.adaptive.skewJoin.enabled": "true",
    "spark.sql.shuffle.partitions": os.environ.get("RINGFENCE_SPARK_PARTITIONS", "8"),
    "spark.driver.memory": os.environ.get("RINGFENCE_SPARK_DRIVER_MEMORY", "2g"),
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
}
"""Settings every ringfence Spark session gets (a cluster's own configuration may add more)."""

RUNS_FOLDER = "runs"
WORK_FOLDER = "_work"
"""Where a run keeps its steps' rows (in the lake, so that every executor of a cluster
reads them); emptied as the run ends."""


CONNECT_PORT = 15002
"""A Spark Connect server's port when its URL gives none."""

STATIC_SETTINGS = frozenset({"spark.driver.memory", "spark.ui.enabled",
                             "spark.ui.showConsoleProgress"})
"""Settings fixed when Spark starts: a Spark Connect server has its own, set where it runs."""


MASTERS = re.compile(r"local(\[(\d+|\*)(,\d+)?\])?|yarn|(spark|k8s|sc)://.+")
"""The masters Spark takes: local threads, YARN, a standalone or Kubernetes cluster, or a
Spark Connect server (`sc://`, of which this process is only a client)."""


def spark_session(master: str | None = None, settings: dict[str, str] | None = None
                  ) -> SparkSession:  # fmt: skip
    """A Spark session with ringfence's settings: local on this machine's cores by default,
    the cluster at `master` (`spark://host:7077`, `yarn`, `k8s://...`), or a client of the
    Spark Connect server at `master` (`sc://host:15002`)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise StoreError(
            "Apache Spark is not installed: pip install 'ringfence[spark]' (and Java 17)"
        ) from None
    chosen = {**SESSION_SETTINGS, **(settings or {})}
    master = master or DEFAULT_MASTER
    if not MASTERS.fullmatch(master):
        raise StoreError(f"unknown Spark master {master!r}: use local[N], yarn, spark://host:7077, "
                         "k8s://https://host:443 or sc://host:15002")  # fmt: skip
    if master.startswith("sc://"):
        return _connect_session(master, chosen)
    builder = SparkSession.builder.master(master).appName("ringfence")
    for key, value in chosen.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def _connect_session(url: str, settings: dict[str, str]) -> SparkSession:
    from pyspark.sql import SparkSession

    _check_reachable(url)
    try:
        session = SparkSession.builder.remote(url).getOrCreate()
        for key, value in settings.items():
            if key not in STATIC_SETTINGS:
                session.conf.set(key, value)
    except ImportError:
        raise StoreError(
            "Spark Connect needs its client libraries: pip install 'ringfence[spark-connect]'"
        ) from None
    except Exception as exc:  # gRPC's errors name the server, not personal data
        raise StoreError(f"no Spark Connect session at {url}: "
                         f"{str(exc).splitlines()[0][:300]}") from None  # fmt: skip
    return session


def _check_reachable(url: str, timeout: float = 10.0) -> None:
    """Fail at once when nothing listens at a Spark Connect URL: its client would retry for
    minutes before saying so."""
    import socket
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "localhost", parts.port or CONNECT_PORT
    except ValueError:
        raise StoreError(f"{url} is not a Spark Connect URL (sc://host:port)") from None
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        raise StoreError(f"cannot reach the Spark Connect server at {url}: "
                         f"{exc.strerror or exc}") from None  # fmt: skip


def _join(root: str, *parts: str) -> str:
    return "/".join([root.rstrip("/"), *parts])


class SparkLake:
    """The control cycle's engine on Apache Spark over a Parquet lake (see the module)."""

    sql_dialect = "pyspark"

    def __init__(self, root: str | os.PathLike[str], spark: SparkSession | None = None) -> None:
        import ibis

        # Loading Ibis's PySpark backend registers the options its SQL compiler reads.
        _ = ibis.pyspark
        self.root = os.fspath(root)
        self.spark = spark or spark_session()
        self._run_folder: str | None = None
        self._written: dict[str, int] = {}
        self.register_events()

    # -- reading ------------------------------------------------------------------------
    def _read(self, path: str) -> DataFrame | None:
        from pyspark.errors import AnalysisException

        try:
            found = self.spark.read.parquet(path)
            _ = found.schema  # a Spark Connect client reads lazily: ask now whether it exists
            return found
        except AnalysisException as exc:
            if "PATH_NOT_FOUND" in str(exc) or "Path does not exist" in str(exc):
                return None
            raise

    def _files_of(self, table: Table) -> DataFrame | None:
        found = self._read(_join(self.root, f"{table.name}.parquet"))
        return found if found is not None else self._read(_join(self.root, table.name))

    def events_of(self, table: Table) -> DataFrame:
        """The event table from the lake with the schema's columns and types (a column the
        files lack is null; a table with no files is empty)."""
        found = self._files_of(table)
        if found is None:
            found = self.spark.createDataFrame([], _spark_schema(table))
        present = set(found.columns)
        columns = [
            (f"CAST(`{c.name}` AS {SPARK.column_type(c)})" if c.name in present
             else f"CAST(NULL AS {SPARK.column_type(c)})") + f" AS `{c.name}`"
            for c in table.columns
        ]  # fmt: skip
        return found.selectExpr(*columns)

    def register_events(self) -> None:
        """Make every event table of the lake a view named like the store's table. A lake
        with no event files at all is refused: a mistyped path is not an empty city."""
        if all(self._files_of(t) is None for t in EVENT_TABLES if t.name in ("persons", "places")):
            raise StoreError(
                f"{self.root} holds no Parquet event files (persons.parquet or persons/, "
                "places.parquet or places/, ...): write them with `ringfence lake` or "
                "`ringfence generate --format parquet`"
            )
        for table in EVENT_TABLES:
            self.events_of(table).createOrReplaceTempView(table.name)

    # -- the engine of the cycle ---------------------------------------------------------
    def keep(self, table: str, sql: str) -> None:
        # Written out and read back, not a lazy or cached view: a later step that reads a
        # kept table twice sees the same rows, and each step's plan starts from its inputs,
        # not from the whole cycle's lineage (which the analyser cannot hold in memory).
        path = _join(self.root, WORK_FOLDER, table)
        self.spark.sql(sql).write.mode("overwrite").parquet(path)
        self.spark.read.parquet(path).createOrReplaceTempView(table)

    def drop(self, table: str) -> None:
        self.spark.catalog.dropTempView(table)
        self._remove(_join(self.root, WORK_FOLDER, table))

    def _remove(self, path: str) -> None:
        """Delete a folder of the lake, on whatever file system the lake is. A Spark Connect
        client has no handle on the servers' file system: there the folder is emptied (an
        empty Parquet dataset overwrites it) and the next run's step overwrites it again."""
        if _is_connect(self.spark):
            schema = self.spark.read.parquet(path).schema
            self.spark.createDataFrame([], schema).write.mode("overwrite").parquet(path)
            return
        jvm = self.spark.sparkContext._jvm
        assert jvm is not None
        hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
        conf = self.spark.sparkContext._jsc.hadoopConfiguration()
        hadoop_path.getFileSystem(conf).delete(hadoop_path, True)

    def replace(self, name: str, columns: list[str], sql: str) -> None:
        if self._run_folder is None:
            raise StoreError("a decision table is written inside a run's transaction")
        from pyspark.sql import Observation
        from pyspark.sql.functions import count, lit

        # The rows are counted as they are written, not by reading them back: one Spark job.
        written = Observation(f"rows_of_{name}")
        frame = self.spark.sql(sql).select(*columns).observe(written, count(lit(1)).alias("rows"))
        frame.write.mode("overwrite").parquet(_join(self._run_folder, name))
        self._written[name] = int(written.get["rows"])

    def count(self, name: str) -> int:
        return self._written[name]

    def runs(self) -> list[RunRecord]:
        """Every recorded run, oldest first."""
        frame = self._read(_join(self.root, "decisions", RUNS_FOLDER))
        if frame is None:
            return []
        # Instants travel as microseconds since 1970: Python's datetimes from Spark follow
        # the client's clock zone, not the session's.
        instants = ("as_of", "started_at", "finished_at")
        frame = frame.selectExpr(
            "run_id", "protocol", "fingerprint", "summary",
            *(f"unix_micros(`{c}`) AS `{c}`" for c in instants),
        )  # fmt: skip
        rows = sorted(frame.collect(), key=lambda r: int(r["run_id"]))
        return [
            RunRecord(int(r["run_id"]), _utc(r["as_of"]), str(r["protocol"]),
                    str(r["fingerprint"]), _utc(r["started_at"]), _utc(r["finished_at"]),
                    str(r["summary"]))
            for r in rows
        ]  # fmt: skip

    def next_run_id(self) -> int:
        run_id = max((r.run_id for r in self.runs()), default=0) + 1
        self._run_folder = _join(self.root, "decisions", f"run-{run_id:06d}")
        self._written = {}
        return run_id

    def record_run(self, run: RunRecord) -> None:
        frame = self.spark.createDataFrame(
            [tuple(asdict(run).values())],
            "run_id BIGINT, as_of TIMESTAMP, protocol STRING, fingerprint STRING, "
            "started_at TIMESTAMP, finished_at TIMESTAMP, summary STRING",
        )
        frame.coalesce(1).write.mode("append").parquet(_join(self.root, "decisions", RUNS_FOLDER))

    @contextmanager
    def transaction(self) -> Iterator[None]:
        # The run's row is its commit: written last, after every decision table.
        try:
            yield
        finally:
            self._run_folder = None

    # -- reading decisions back ----------------------------------------------------------
    def decisions(self, name: str, run_id: int | None = None) -> DataFrame:
        """Decision table `name` of run `run_id` (default: the last recorded run)."""
        if name not in {t.name for t in DECISION_TABLES}:
            raise StoreError(f"{name!r} is not a decision table")
        if run_id is None:
            recorded = self.runs()
            if not recorded:
                raise StoreError(f"the lake {self.root} has no cycle run yet")
            run_id = recorded[-1].run_id
        found = self._read(_join(self.root, "decisions", f"run-{run_id:06d}", name))
        if found is None:
            raise StoreError(f"the lake {self.root} has no run {run_id} of {name}")
        return found

    def close(self) -> None:
        """Forget the lake's views (the Spark session stays, for the next lake)."""
        for table in EVENT_TABLES:
            self.spark.catalog.dropTempView(table.name)

    def __enter__(self) -> SparkLake:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _is_connect(spark: Any) -> bool:
    return type(spark).__module__.startswith("pyspark.sql.connect")


def _utc(micros: int) -> datetime:
    return datetime.fromtimestamp(int(micros) / 1_000_000, tz=UTC)


def _spark_schema(table: Table) -> str:
    return ", ".join(f"`{c.name}` {SPARK.column_type(c)}" for c in table.columns)




def export_lake(store: Any, folder: str | os.PathLike[str]) -> dict[str, int]:
    """Write every event table of `store` to `folder` as `TABLE.parquet` (UTC instants): the
    events a database has checked and stored, as a lake Spark reads. Returns rows per table."""
    from .export import export_table

    out = Path(folder)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot write the lake to {out}: {exc.strerror or exc}") from None
    written = {}
    for table in EVENT_TABLES:
        target = out / f"{table.name}.parquet"
        partial = target.with_name(target.name + ".partial")
        with partial.open("wb") as handle:
            written[table.name] = export_table(store, table.name, "parquet", handle)
        partial.replace(target)  # Spark never reads a half-written file
    return written
