"""Export any event or decision table as CSV, Parquet or JSON Lines.

Text formats write instants as ISO 8601 in the jurisdiction's local time with its offset
(`2022-01-23T10:00:00+08:00`), so a health officer reads local time and a machine still
gets the exact moment; Parquet keeps native UTC timestamps. Rows come out in key order, the
same on every engine, so two exports of the same data are byte-identical.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ringfence.schema import ColumnType, Table, arrow_type
from ringfence.schema import table as schema_table

from .backends import Store
from .dialect import column_list, q
from .errors import UsageError

EXPORT_FORMATS = ("csv", "parquet", "jsonl")


def arrow_schema(table: Table) -> pa.Schema:
    """The Arrow schema of a stored table (instants in UTC)."""
    return pa.schema([pa.field(c.name, arrow_type(c.type)) for c in table.columns])


def _order_by(store: Store, table: Table) -> str:
    keys = []
    for name in table.key:
        column = table.column(name)
        collate = (
            ' COLLATE "C"'
            if (store.dialect.name == "postgresql" and column.type is ColumnType.STRING)
            else ""
        )
        keys.append(q(name) + collate)
    return ", ".join(keys)


def read_table(store: Store, name: str) -> Iterator[pa.RecordBatch]:
    """The rows of table `name` in key order, as Arrow batches."""
    try:
        table = schema_table(name)
    except KeyError as exc:
        raise UsageError(str(exc.args[0])) from None
    sql = (
        f"SELECT {column_list(list(table.column_names))} FROM {q(table.name)} "
        f"ORDER BY {_order_by(store, table)}"
    )
    return store.fetch_arrow_batches(sql, arrow_schema(table))


def local_text(batch: pa.RecordBatch, timezone: str) -> pa.RecordBatch:
    """`batch` with instants as ISO 8601 text in `timezone`, with the offset."""
    columns = []
    for field, column in zip(batch.schema, batch.columns, strict=True):
        if pa.types.is_timestamp(field.type):
            local = column.cast(pa.timestamp("us", tz=timezone))
            text = pc.strftime(local, format="%Y-%m-%dT%H:%M:%S%z")
            text = pc.replace_substring_regex(text, r"\.0+([+-]\d{4})$", r"\1")
            column = pc.replace_substring_regex(text, r"([+-]\d\d)(\d\d)$", r"\1:\2")
        elif pa.types.is_list(field.type):
            column = pc.binary_join(column, ";")
        columns.append(column)
    names = batch.schema.names
    return pa.RecordBatch.from_arrays(columns, names=names)


def export_table(store: Store, name: str, fmt: str, out: BinaryIO) -> int:
    """Write table `name` to `out` in `fmt` (csv, parquet, jsonl); returns the rows written."""
    if fmt not in EXPORT_FORMATS:
        raise UsageError(f"unknown format {fmt!r}; use one of: {', '.join(EXPORT_FORMATS)}")
    batches = read_table(store, name)
    schema = arrow_schema(schema_table(name))
    if fmt == "parquet":
        return write_parquet(batches, schema, out)
    timezone = store.timezone
    if fmt == "csv":
        return write_csv(batches, schema, timezone, out)
    return _write_jsonl(batches, timezone, out)


def write_parquet(batches: Iterator[pa.RecordBatch], schema: pa.Schema, out: BinaryIO) -> int:
    """Stream Arrow batches of `schema` to `out` as one Parquet file; returns the rows."""
    rows = 0
    with pq.ParquetWriter(out, schema) as writer:
        for batch in batches:
            writer.write_batch(batch)
            rows += batch.num_rows
    return rows


def _text_schema(schema: pa.Schema) -> pa.Schema:
    def text_type(t: pa.DataType) -> pa.DataType:
        return pa.string() if pa.types.is_timestamp(t) or pa.types.is_list(t) else t

    return pa.schema([pa.field(f.name, text_type(f.type)) for f in schema])


def write_csv(
    batches: Iterator[pa.RecordBatch], schema: pa.Schema, timezone: str, out: BinaryIO
) -> int:
    """Stream Arrow batches to `out` as CSV with a plain header, instants as ISO text in
    `timezone` and lists as text; returns the rows."""
    rows = 0
    # Arrow quotes every header name; a plain header is what people and other tools expect.
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow(schema.names)
    out.write(header.getvalue().encode("utf-8"))
    options = pacsv.WriteOptions(quoting_style="needed", include_header=False)
    with pacsv.CSVWriter(out, _text_schema(schema), write_options=options) as writer:
        for batch in batches:
            writer.write_batch(local_text(batch, timezone))
            rows += batch.num_rows
    return rows


def _write_jsonl(batches: Iterator[pa.RecordBatch], timezone: str, out: BinaryIO) -> int:
    rows = 0
    for batch in batches:
        for record in local_text(batch, timezone).to_pylist():
            out.write(json.dumps(record, default=str, ensure_ascii=False).encode("utf-8") + b"\n")
            rows += 1
    return rows
