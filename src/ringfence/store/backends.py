"""The two stores: an embedded DuckDB file and a PostgreSQL server, behind one interface.

Everything above this module speaks portable SQL (joins, NOT EXISTS, IS DISTINCT FROM) or
Ibis; what differs between the engines (connecting, bulk loading, locking, dialect) lives here.
"""

from __future__ import annotations

import io
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv

from ringfence.schema import TABLES

from .dialect import DUCKDB, POSTGRESQL, Dialect, q
from .errors import SchemaTooNew, StoreBusy, StoreError
from .migrations import BATCH_SEQUENCE, LATEST_VERSION, META_TABLE, MIGRATIONS
from .readers import CHUNK, LINE, SPAN
from .url import DatabaseURL

if TYPE_CHECKING:
    import ibis.backends
    import psycopg

DEFAULT_TIMEZONE = "Asia/Shanghai"


MEMORY_LIMIT = os.environ.get("RINGFENCE_MEMORY_LIMIT", "1GB")
"""DuckDB's working memory; beyond it, large ingests and queries spill to disk."""


def duckdb_connect(path: str = ":memory:", *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection in UTC, with bounded memory, that never downloads an extension."""
    config: dict[str, str | bool | int | float | list[str]] = {
        "autoinstall_known_extensions": "false",
        "TimeZone": "UTC",
        "memory_limit": MEMORY_LIMIT,
    }
    return duckdb.connect(path, read_only=read_only, config=config)


class Store(ABC):
    """An open ringfence database. Use `open_store` to get one; close it when done."""

    dialect: Dialect

    def __init__(self, url: DatabaseURL) -> None:
        self.url = url

    # -- engine primitives ------------------------------------------------------------
    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run one statement (placeholders are `?`)."""

    @abstractmethod
    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one query and return its rows."""

    @abstractmethod
    def fetch_records(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Run one query and return its rows as {column name: value}."""

    @abstractmethod
    def fetch_arrow_batches(self, sql: str, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
        """Stream the rows of `sql` as Arrow batches of `schema` (UTC instants)."""

    @abstractmethod
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Everything inside commits together or not at all."""

    @abstractmethod
    def stage_checked(
        self, chunk: pa.Table, checked_sql: str, stage: str, scratch: str, first_seq: int
    ) -> list[tuple[int, int, str, str]]:
        """Run the check query `checked_sql` over the Arrow `chunk` (named `_rf_chunk`),
        append its valid rows to `stage`, and return the refusals as (line, span, field,
        reason) in line order. `scratch` names a work table the engine may use; `first_seq`
        is the lowest `_seq` of the chunk."""

    def stage_extra_columns(self) -> str:
        """Engine-specific columns the stage carries after the portable ones."""
        return ""

    def drop_checked(self, scratch: str) -> None:
        """Drop the work table `stage_checked` may have used (none, unless overridden)."""
        return None

    @abstractmethod
    def ibis(self) -> ibis.backends.BaseBackend:
        """An Ibis connection to this database, for the control cycle's expressions."""

    @abstractmethod
    def sibling(self) -> Store:
        """Another connection to the same database, for another thread: a server's threads
        read in parallel, each through its own (close it when done)."""

    @abstractmethod
    def close(self) -> None:
        """Release the database (and, for DuckDB, its file lock)."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema and settings ----------------------------------------------------------
    def meta(self, key: str) -> str | None:
        """A recorded setting (schema_version, timezone, ...) or None."""
        rows = self.fetchall(f"SELECT value FROM {META_TABLE} WHERE key = ?", [key])
        return str(rows[0][0]) if rows else None

    def set_meta(self, key: str, value: str) -> None:
        """Record a setting, replacing any earlier value."""
        self.execute(f"DELETE FROM {META_TABLE} WHERE key = ?", [key])
        self.execute(f"INSERT INTO {META_TABLE} (key, value) VALUES (?, ?)", [key, value])

    @property
    def schema_version(self) -> int:
        return int(self.meta("schema_version") or 0)

    @property
    def timezone(self) -> str:
        """The jurisdiction's time zone: naive instants in inputs are read in it."""
        return self.meta("timezone") or DEFAULT_TIMEZONE

    def _has_meta_table(self) -> bool:
        rows = self.fetchall(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ? "
            "AND table_schema = current_schema()",
            [META_TABLE],
        )
        return bool(rows[0][0])

    def migrate(self, timezone: str | None = None) -> int:
        """Bring the schema up to date; returns the version. Refuses a newer database."""
        with self.transaction():
            if not self._has_meta_table():
                self.execute(f"CREATE TABLE {META_TABLE} (key VARCHAR PRIMARY KEY, value VARCHAR)")
                self.set_meta("timezone", timezone or DEFAULT_TIMEZONE)
            current = self.schema_version
            if current > LATEST_VERSION:
                raise SchemaTooNew(
                    f"the database {self.url.masked} has schema version {current}, but this "
                    f"ringfence supports versions up to {LATEST_VERSION}; upgrade ringfence "
                    "to open it (nothing was changed)"
                )
            for migration in MIGRATIONS:
                if migration.version > current:
                    for statement in migration.statements(self.dialect):
                        self.execute(statement)
                    self.set_meta("schema_version", str(migration.version))
        return self.schema_version

    def check_version(self) -> None:
        """Refuse a database that is missing, unmigrated, or newer than this code."""
        if not self._has_meta_table():
            raise StoreError(f"{self.url.masked} is not a ringfence database; run `ringfence init`")
        if self.schema_version > LATEST_VERSION:
            raise SchemaTooNew(
                f"the database {self.url.masked} has schema version {self.schema_version}, but "
                f"this ringfence supports versions up to {LATEST_VERSION}; upgrade ringfence"
            )

    def row_counts(self) -> dict[str, int]:
        """Rows stored in every event and decision table."""
        return {
            name: int(self.fetchall(f"SELECT count(*) FROM {q(name)}")[0][0]) for name in TABLES
        }

    def is_concurrent_write(self, exc: BaseException) -> bool:
        """Whether `exc` means another writer got there first (worth doing the call again)."""
        return False

    def next_batch_id(self) -> int:
        # A sequence, not max + 1: two ingests at once on PostgreSQL get different ids.
        return int(self.fetchall(f"SELECT nextval('{BATCH_SEQUENCE}')")[0][0])


class DuckDBStore(Store):
    """The embedded default: one file, one writer process."""

    dialect = DUCKDB

    def __init__(self, url: DatabaseURL, *, read_only: bool = False) -> None:
        super().__init__(url)
        path = Path(url.target)
        if read_only and not path.exists():
            raise StoreError(f"there is no database at {path}; create one with `ringfence init`")
        try:
            self.con = duckdb_connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            raise _explain_lock(exc, path) from None
        except duckdb.Error as exc:
            raise StoreError(
                f"cannot open {path} as a DuckDB database: {_first_line(exc)}"
            ) from None
        self.read_only = read_only

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.con.execute(sql, list(params))

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, list(params)).fetchall()

    def fetch_records(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cursor = self.con.execute(sql, list(params))
        names = [d[0] for d in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def fetch_arrow_batches(self, sql: str, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
        reader = self.con.sql(sql).to_arrow_reader(100_000)
        for batch in reader:
            yield batch.cast(schema) if batch.schema != schema else batch

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    def stage_checked(
        self, chunk: pa.Table, checked_sql: str, stage: str, scratch: str, first_seq: int
    ) -> list[tuple[int, int, str, str]]:
        # The checked rows go straight into the stage, refusals included, and the few refused
        # are deleted again: one copy of the data instead of two. The chunk is bound to this
        # one query; a registered view would pin every chunk in memory until the commit.
        _checked(self.con, chunk, checked_sql).insert_into(q(stage))
        lines = f"{q(LINE)}, {q(SPAN)}"
        # Rows arrive in _seq order, so this chunk's rows are found by their min-max index.
        this_chunk = f"_seq >= {first_seq} AND len(_errors) > 0"
        refused = self.con.execute(
            f"SELECT {lines}, e.field, e.reason FROM (SELECT {lines}, unnest(_errors) AS e "
            f"FROM {q(stage)} WHERE {this_chunk}) ORDER BY {q(LINE)}"
        ).fetchall()
        if refused:
            self.con.execute(f"DELETE FROM {q(stage)} WHERE {this_chunk}")
        return [(int(a), int(b), str(c), str(d)) for a, b, c, d in refused]

    def stage_extra_columns(self) -> str:
        return ", _errors STRUCT(field VARCHAR, reason VARCHAR)[]"

    def ibis(self) -> ibis.backends.BaseBackend:
        import ibis

        return ibis.duckdb.from_connection(self.con)

    def sibling(self) -> DuckDBStore:
        # A cursor is a connection of its own to the same open database, in this process:
        # the file lock stays with the process, queries run in parallel.
        other = object.__new__(DuckDBStore)
        Store.__init__(other, self.url)
        other.con = self.con.cursor()
        other.read_only = self.read_only
        return other

    def close(self) -> None:
        self.con.close()


class PostgresStore(Store):
    """The multi-user store: a PostgreSQL server, loaded through COPY."""

    dialect = POSTGRESQL

    def __init__(self, url: DatabaseURL) -> None:
        super().__init__(url)
        import psycopg

        try:
            self.con: psycopg.Connection[Any] = psycopg.connect(url.target, autocommit=True)
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to {url.masked}: {_first_line(exc)}") from None
        self.con.execute("SET TIME ZONE 'UTC'")
        self._validator: duckdb.DuckDBPyConnection | None = None

    def is_concurrent_write(self, exc: BaseException) -> bool:
        import psycopg.errors

        if isinstance(exc, psycopg.errors.UniqueViolation):
            # Another writer stored the same event keys; a clash on the batch table itself
            # is no race but a fault, and doing the work again would not cure it.
            return exc.diag.table_name != "ingest_batches"
        return isinstance(
            exc, psycopg.errors.SerializationFailure | psycopg.errors.DeadlockDetected
        )

    @staticmethod
    def _placeholders(sql: str) -> str:
        return sql.replace("%", "%%").replace("?", "%s")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.con.execute(self._placeholders(sql) if params else sql, list(params) or None)

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cur = self.con.execute(self._placeholders(sql) if params else sql, list(params) or None)
        return list(cur.fetchall())

    def fetch_records(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cur = self.con.execute(self._placeholders(sql) if params else sql, list(params) or None)
        names = [d.name for d in cur.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def fetch_arrow_batches(self, sql: str, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
        # COPY streams the rows as CSV and Arrow's reader types them in C++: far faster than
        # fetching Python tuples, and memory stays at one block. Instants travel as UTC ISO
        # text, which Arrow parses exactly.
        outer = ", ".join(_copy_expression(f) for f in schema)
        text_schema = pa.schema([pa.field(f.name, _csv_type(f.type)) for f in schema])
        copy_sql = f"COPY (SELECT {outer} FROM ({sql}) AS rows) TO STDOUT (FORMAT csv, HEADER)"
        with self.con.cursor() as cur, cur.copy(copy_sql) as copy:
            reader = pacsv.open_csv(
                _CopyReader(copy),
                read_options=pacsv.ReadOptions(block_size=8 << 20),
                convert_options=pacsv.ConvertOptions(
                    column_types=text_schema,
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=False,
                    true_values=["t"],
                    false_values=["f"],
                ),
            )
            for batch in reader:
                yield _from_csv_types(batch, schema)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.con.transaction():
            yield

    def _validation(self) -> duckdb.DuckDBPyConnection:
        # Rows are checked in an embedded DuckDB (the same vectorised query as on a DuckDB
        # store) and only the valid ones travel to the server.
        if self._validator is None:
            self._validator = duckdb_connect()
        return self._validator

    def stage_checked(
        self, chunk: pa.Table, checked_sql: str, stage: str, scratch: str, first_seq: int
    ) -> list[tuple[int, int, str, str]]:
        validator = self._validation()
        validator.execute(f"DROP TABLE IF EXISTS {q(scratch)}")
        _checked(validator, chunk, checked_sql).create(scratch)
        lines = f"{q(LINE)}, {q(SPAN)}"
        refused = validator.execute(
            f"SELECT {lines}, e.field, e.reason FROM (SELECT {lines}, unnest(_errors) AS e "
            f"FROM {q(scratch)} WHERE len(_errors) > 0) ORDER BY {q(LINE)}"
        ).fetchall()
        self._copy_valid(scratch, stage)
        return [(int(a), int(b), str(c), str(d)) for a, b, c, d in refused]

    def drop_checked(self, scratch: str) -> None:
        self._validation().execute(f"DROP TABLE IF EXISTS {q(scratch)}")

    def _copy_valid(self, scratch: str, stage: str) -> None:
        validator = self._validation()
        # DuckDB prints an instant as text ('2022-01-10 07:32:27+00', UTC here) far faster
        # than Arrow's CSV writer formats a time-zone-aware timestamp.
        columns = [
            f"CAST({q(name)} AS VARCHAR) AS {q(name)}"
            if kind == "TIMESTAMP WITH TIME ZONE"
            else q(name)
            for name, kind, *_ in validator.execute(f"DESCRIBE {q(scratch)}").fetchall()
            if name != "_errors"
        ]
        reader = validator.sql(
            f"SELECT {', '.join(columns)} FROM {q(scratch)} WHERE len(_errors) = 0"
        ).to_arrow_reader(200_000)
        with (
            self.con.cursor() as cur,
            cur.copy(f"COPY {q(stage)} FROM STDIN (FORMAT csv)") as copy,
        ):
            for batch in reader:
                buffer = io.BytesIO()
                pacsv.write_csv(batch, buffer, pacsv.WriteOptions(include_header=False))
                copy.write(buffer.getbuffer())

    def ibis(self) -> ibis.backends.BaseBackend:
        import ibis

        return ibis.postgres.connect(self.url.target)

    def sibling(self) -> PostgresStore:
        return PostgresStore(self.url)

    def close(self) -> None:
        self.con.close()
        if self._validator is not None:
            self._validator.close()


class _CopyReader(io.RawIOBase):
    """A file-like view of a psycopg COPY TO stream, for Arrow's CSV reader.

    psycopg yields the stream a row or so at a time; Arrow asks for megabytes. Joining the
    pieces into reads of the size asked for keeps the per-row cost in C.
    """

    def __init__(self, copy: Any) -> None:
        self._chunks = iter(copy)
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._done = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while not self._done and (size < 0 or self._pending_size < size):
            try:
                piece = bytes(next(self._chunks))
            except StopIteration:
                self._done = True
                break
            self._pending.append(piece)
            self._pending_size += len(piece)
        data = b"".join(self._pending)
        if 0 <= size < len(data):
            data, rest = data[:size], data[size:]
            self._pending, self._pending_size = [rest], len(rest)
        else:
            self._pending, self._pending_size = [], 0
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _copy_expression(field: pa.Field) -> str:
    name = q(field.name)
    if pa.types.is_timestamp(field.type):
        return f"to_char({name} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS {name}"
    if pa.types.is_list(field.type):
        return f"array_to_string({name}, chr(31)) AS {name}"
    return name


def _csv_type(arrow_type: pa.DataType) -> pa.DataType:
    # Lists travel joined by the unit separator (ASCII 31) and are split again below.
    return pa.string() if pa.types.is_list(arrow_type) else arrow_type


def _from_csv_types(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    import pyarrow.compute as pc

    columns = []
    for field, column in zip(schema, batch.columns, strict=True):
        if pa.types.is_list(field.type):
            column = pc.split_pattern(column, "\x1f")
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _checked(
    con: duckdb.DuckDBPyConnection, chunk: pa.Table, checked_sql: str
) -> duckdb.DuckDBPyRelation:
    """The check query over `chunk`, bound to it for this one query."""
    relation = con.from_arrow(chunk).query(CHUNK, checked_sql)
    assert relation is not None  # a SELECT always yields a relation
    return relation


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _explain_lock(exc: duckdb.IOException, path: Path) -> StoreError:
    message = str(exc)
    if "lock" in message.lower():
        pid = re.search(r"PID (\d+)", message)
        holder = f" (process {pid.group(1)})" if pid else ""
        return StoreBusy(
            f"the database {path} is in use by another ringfence process{holder}; a DuckDB "
            "file has one writer at a time: wait for that process or stop it, or keep the "
            "data in PostgreSQL to share it"
        )
    return StoreError(f"cannot open {path}: {_first_line(exc)}")
