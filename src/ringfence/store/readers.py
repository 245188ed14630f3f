"""Reading event files in bounded chunks, with the physical line of every row.

CSV and JSON Lines are cut into blocks at line ends. A block without quotes, blank lines or
bad bytes is parsed by Arrow in C++ (the fast path: row i is line first + i). Any other block
goes through Python's csv/json readers, which know each record's physical line and can say
precisely what is wrong with it. Parquet is read in row groups; its "line" is the row number.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from ringfence.schema import ColumnType, Table

# A long field is refused by the checks with a clear reason, not by the parser.
csv.field_size_limit(1 << 30)

CHUNK = "_rf_chunk"
"""The name an Arrow chunk goes by in the check query."""
LINE = "_line"
SPAN = "_span"
BLOCK_SIZE = int(os.environ.get("RINGFENCE_BLOCK_SIZE", 32 << 20))
"""Bytes read at a time: bounds the memory of one chunk (and the progress bar's step)."""
FORMATS = ("csv", "parquet", "jsonl")


@dataclass(frozen=True)
class RowProblem:
    """A row the reader could not parse; `line` is its first physical line."""

    line: int
    field: str
    reason: str
    span: int = 1


class FileProblem(Exception):
    """The whole file cannot be read (empty, no header, unknown or missing columns)."""

    def __init__(self, line: int, field: str, reason: str) -> None:
        super().__init__(f"{line}: {field}: {reason}")
        self.line = line
        self.field = field
        self.reason = reason


@dataclass
class Chunk:
    """Rows of one file: the file's columns (text or typed), plus `_line` and `_span`."""

    data: pa.Table
    problems: list[RowProblem] = field(default_factory=list)
    bytes_done: int = 0


def detect_format(path: Path) -> str:
    """The format of an event file, from its name: .csv, .parquet/.pq, .jsonl/.ndjson/.json."""
    name = path.suffix.lower()
    if name == ".csv":
        return "csv"
    if name in (".parquet", ".pq"):
        return "parquet"
    if name in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    reason = _UNREAD_FORMATS.get(name, "unknown format: name it .csv, .parquet or .jsonl")
    raise FileProblem(0, "file", reason)


_UNREAD_FORMATS = {
    ".gz": "a compressed file is not read; decompress it first",
    ".zst": "a compressed file is not read; decompress it first",
    ".bz2": "a compressed file is not read; decompress it first",
    ".xz": "a compressed file is not read; decompress it first",
    ".zip": "a compressed file is not read; decompress it first",
    ".tsv": "a tab-separated file is not read; save it as comma-separated CSV",
    ".xlsx": "a spreadsheet is not read; save the sheet as CSV (UTF-8)",
    ".xls": "a spreadsheet is not read; save the sheet as CSV (UTF-8)",
}


def read_chunks(
    path: Path, table: Table, fmt: str, block_size: int = BLOCK_SIZE
) -> Iterator[Chunk]:
    """Read `path` as rows of `table`; raises `FileProblem` before the first chunk if the
    file as a whole is unusable."""
    if fmt == "csv":
        return _read_csv(path, table, block_size)
    if fmt == "jsonl":
        return _read_jsonl(path, table, block_size)
    if fmt == "parquet":
        return _read_parquet(path, table)
    raise FileProblem(0, "file", f"unknown format {fmt!r}")


def check_header(names: Sequence[str], table: Table, line: int = 1) -> None:
    """Refuse a header with unknown, repeated or missing required columns."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise FileProblem(line, name, "column appears twice in the header")
        seen.add(name)
        if not table.has_column(name):
            known = ", ".join(table.column_names)
            raise FileProblem(
                line, name or "(empty)", f"unknown column for {table.name} (columns: {known})"
            )
    for name in table.required:
        if name not in seen:
            raise FileProblem(
                line, name, f"required column is missing from the header of {table.name}"
            )


# -- CSV ------------------------------------------------------------------------------


def _read_header(handle: io.BufferedReader) -> tuple[list[str], int]:
    first = handle.readline()
    if not first.strip(b"\r\n\t \xef\xbb\xbf"):
        raise FileProblem(
            1, "header", "the file is empty: expected a header row naming the columns"
        )
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileProblem(
            1, "header", f"not valid UTF-8 (byte {first[exc.start]:#04x} at column {exc.start + 1})"
        ) from None
    names = next(csv.reader([text]))
    return [n.strip() for n in names], len(first)


def _line_blocks(handle: io.BufferedReader, block_size: int, *, quotes: bool) -> Iterator[bytes]:
    """Blocks of whole lines; with `quotes`, never cut inside a quoted CSV field."""
    carry = b""
    while True:
        data = handle.read(block_size)
        if not data:
            if carry:
                yield carry
            return
        data = carry + data
        cut = data.rfind(b"\n") + 1
        # An odd number of quote characters before the cut means a quoted field is still
        # open there (escaped quotes come in pairs), so the record continues in the next read.
        if cut == 0 or (quotes and b'"' in data and data.count(b'"', 0, cut) % 2):
            carry = data
            continue
        carry = data[cut:]
        yield data[:cut]


def _physical_lines(block: bytes) -> int:
    return block.count(b"\n") + (0 if block.endswith(b"\n") else 1)


def _read_csv(path: Path, table: Table, block_size: int) -> Iterator[Chunk]:
    handle = open(path, "rb")  # noqa: SIM115 - the generator owns and closes it
    try:
        names, offset = _read_header(handle)
        check_header(names, table)
    except BaseException:
        handle.close()
        raise
    return _csv_chunks(handle, names, offset, block_size)


def _csv_chunks(
    handle: io.BufferedReader, names: list[str], offset: int, block_size: int
) -> Iterator[Chunk]:
    with handle:
        line = 2
        done = offset
        for block in _line_blocks(handle, block_size, quotes=True):
            done += len(block)
            lines = _physical_lines(block)
            # Arrow skips blank lines and joins quoted line breaks, so any block where a record
            # is not exactly one line comes back with fewer rows than lines: then the slow
            # path reads it and knows every record's line.
            data = _csv_block_fast(block, names, line, lines)
            if data is not None:
                yield Chunk(data, [], done)
            else:
                yield _csv_block_slow(block, names, line, done)
            line += lines


def _csv_block_fast(block: bytes, names: list[str], first_line: int, lines: int) -> pa.Table | None:
    try:
        data = pacsv.read_csv(
            pa.BufferReader(block),
            read_options=pacsv.ReadOptions(column_names=names, block_size=1 << 20),
            parse_options=pacsv.ParseOptions(newlines_in_values=False),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names}, strings_can_be_null=False
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None  # bad bytes or a ragged row: the slow path says which line
    if data.num_rows != lines:
        return None
    return _with_lines(data, _numbered(first_line, lines))


def _numbered(first: int, count: int) -> pa.Array:
    """Line numbers first, first + 1, …: built in C (a Python range costs a second per 10M)."""
    return pa.array(np.arange(first, first + count, dtype=np.int64))


def _with_lines(data: pa.Table, lines: pa.Array, spans: pa.Array | None = None) -> pa.Table:
    data = data.append_column(LINE, lines)
    if spans is None:
        spans = pa.repeat(pa.scalar(1, pa.int32()), len(lines))
    return data.append_column(SPAN, spans)


def _decoded_lines(block: bytes, first_line: int, bad: dict[int, str]) -> Iterator[str]:
    for number, raw in enumerate(block.splitlines(keepends=True), start=first_line):
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad[number] = f"not valid UTF-8 (byte {raw[exc.start]:#04x} at column {exc.start + 1})"
            yield raw.decode("utf-8", errors="replace")


def _csv_block_slow(block: bytes, names: list[str], first_line: int, done: int) -> Chunk:
    bad: dict[int, str] = {}
    lines_text = list(_decoded_lines(block, first_line, bad))
    columns: list[list[str]] = [[] for _ in names]
    lines: list[int] = []
    spans: list[int] = []
    problems: list[RowProblem] = []
    position = 0  # index in lines_text of the next unread physical line
    while position < len(lines_text):
        reader = csv.reader(iter(lines_text[position:]))
        consumed = 0
        try:
            for record in reader:
                start = first_line + position + consumed
                span = reader.line_num - consumed
                consumed = reader.line_num
                _take_record(record, start, span, names, bad, columns, lines, spans, problems)
            position = len(lines_text)
        except csv.Error as exc:
            # Report the broken record and read on from the line after it.
            start = first_line + position + consumed
            problems.append(RowProblem(start, "row", f"not valid CSV: {exc}"))
            position += max(reader.line_num, consumed + 1)
    data = pa.table({n: pa.array(v, pa.string()) for n, v in zip(names, columns, strict=True)})
    return Chunk(
        _with_lines(data, pa.array(lines, pa.int64()), pa.array(spans, pa.int32())), problems, done
    )


def _take_record(
    record: list[str],
    start: int,
    span: int,
    names: list[str],
    bad: dict[int, str],
    columns: list[list[str]],
    lines: list[int],
    spans: list[int],
    problems: list[RowProblem],
) -> None:
    if not record:
        return  # a blank line is not a row
    broken = next((bad[n] for n in range(start, start + span) if n in bad), None)
    if broken is not None:
        problems.append(RowProblem(start, "row", broken, span))
    elif len(record) != len(names):
        problems.append(
            RowProblem(start, "row", f"expected {len(names)} fields, found {len(record)}", span)
        )
    else:
        for values, value in zip(columns, record, strict=True):
            values.append(value)
        lines.append(start)
        spans.append(span)


# -- JSON Lines -----------------------------------------------------------------------

_ARROW_JSON_TYPES = {
    ColumnType.INTEGER: pa.int64(),
    ColumnType.FLOAT: pa.float64(),
    ColumnType.BOOLEAN: pa.bool_(),
}


def _json_schema(table: Table) -> pa.Schema:
    return pa.schema(
        [pa.field(c.name, _ARROW_JSON_TYPES.get(c.type, pa.string())) for c in table.columns]
    )


def _read_jsonl(path: Path, table: Table, block_size: int) -> Iterator[Chunk]:
    if path.stat().st_size == 0:
        raise FileProblem(1, "file", "the file is empty: expected one JSON object per line")
    return _jsonl_chunks(path, table, block_size)


def _jsonl_chunks(path: Path, table: Table, block_size: int) -> Iterator[Chunk]:
    schema = _json_schema(table)
    with open(path, "rb") as handle:
        line = 1
        done = 0
        for block in _line_blocks(handle, block_size, quotes=False):
            done += len(block)
            lines = _physical_lines(block)
            data = _jsonl_block_fast(block, schema, line, lines) if _is_blank_free(block) else None
            if data is not None:
                yield Chunk(data, [], done)
            else:
                yield _jsonl_block_slow(block, table, line, done)
            line += lines


def _is_blank_free(block: bytes) -> bool:
    return b"\n\n" not in block and b"\n\r\n" not in block and not block.startswith((b"\n", b"\r"))


def _jsonl_block_fast(
    block: bytes, schema: pa.Schema, first_line: int, lines: int
) -> pa.Table | None:
    try:
        data = pajson.read_json(
            pa.BufferReader(block),
            read_options=pajson.ReadOptions(block_size=max(len(block), 1 << 20)),
            parse_options=pajson.ParseOptions(
                explicit_schema=schema,
                unexpected_field_behavior="error",
                newlines_in_values=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None
    if data.num_rows != lines:
        return None
    present = [n for n in schema.names if data.column(n).null_count < data.num_rows]
    data = data.select(present) if present else data.select([schema.names[0]])
    return _with_lines(data, _numbered(first_line, lines))


def _json_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan"
    return str(value)


def _jsonl_block_slow(block: bytes, table: Table, first_line: int, done: int) -> Chunk:
    names = list(table.column_names)
    columns: dict[str, list[str | None]] = {n: [] for n in names}
    lines: list[int] = []
    problems: list[RowProblem] = []
    decoder = codecs.getincrementaldecoder("utf-8")()
    for number, raw in enumerate(block.splitlines(), start=first_line):
        if not raw.strip():
            continue
        try:
            text = decoder.decode(raw, final=True)
        except UnicodeDecodeError as exc:
            decoder.reset()
            problems.append(
                RowProblem(
                    number,
                    "row",
                    f"not valid UTF-8 (byte {raw[exc.start]:#04x} at column {exc.start + 1})",
                )
            )
            continue
        problem = _json_record_problem(text, table)
        if isinstance(problem, RowProblem):
            problems.append(RowProblem(number, problem.field, problem.reason))
            continue
        for name in names:
            columns[name].append(_json_text(problem.get(name)))
        lines.append(number)
    present = {
        n: pa.array(v, pa.string()) for n, v in columns.items() if any(x is not None for x in v)
    }
    data = (
        pa.table(present)
        if present
        else pa.table({names[0]: pa.array([None] * len(lines), pa.string())})
    )
    return Chunk(
        _with_lines(data, pa.array(lines, pa.int64()), pa.array([1] * len(lines), pa.int32())),
        problems,
        done,
    )


def _json_record_problem(text: str, table: Table) -> RowProblem | dict[str, object]:
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        return RowProblem(0, "row", f"not valid JSON: {exc.msg} at column {exc.colno}")
    if not isinstance(record, dict):
        return RowProblem(0, "row", f"expected a JSON object, found {type(record).__name__}")
    for key, value in record.items():
        if not table.has_column(key):
            return RowProblem(0, key, f"unknown field for {table.name}")
        if isinstance(value, dict | list):
            return RowProblem(
                0,
                key,
                "expected a single value, found a JSON "
                f"{'object' if isinstance(value, dict) else 'array'}",
            )
    return record


# -- Parquet --------------------------------------------------------------------------


def _read_parquet(path: Path, table: Table) -> Iterator[Chunk]:
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise FileProblem(0, "file", f"not a readable Parquet file: {exc}") from None
    check_header(parquet.schema_arrow.names, table, line=0)
    return _parquet_chunks(parquet, path.stat().st_size)


def _parquet_chunks(parquet: pq.ParquetFile, size: int) -> Iterator[Chunk]:
    with parquet:
        row = 1
        groups = max(parquet.num_row_groups, 1)
        for index, batch in enumerate(parquet.iter_batches(batch_size=500_000)):
            data = pa.Table.from_batches([batch])
            lines = _numbered(row, data.num_rows)
            row += data.num_rows
            done = min(size, size * (index + 1) // groups)
            yield Chunk(_with_lines(data, lines), [], done)


# -- the original text of rejected rows ------------------------------------------------


def original_rows(path: Path, fmt: str, wanted: dict[int, int]) -> dict[int, str]:
    """The original text of the rows starting at the lines in `wanted` (line → span).

    Read again only when something was rejected, so the fast path never keeps raw text.
    """
    if not wanted:
        return {}
    if fmt == "parquet":
        return _parquet_rows(path, wanted)
    found: dict[int, list[str]] = {}
    last = max(line + span - 1 for line, span in wanted.items())
    open_rows: dict[int, int] = {}
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if number > last:
                break
            if number in wanted:
                open_rows[number] = wanted[number]
            for start in list(open_rows):
                found.setdefault(start, []).append(raw.decode("utf-8", errors="replace"))
                open_rows[start] -= 1
                if not open_rows[start]:
                    del open_rows[start]
    return {line: "".join(parts).rstrip("\r\n") for line, parts in found.items()}


def _parquet_rows(path: Path, wanted: dict[int, int]) -> dict[int, str]:
    data = pq.read_table(path)
    rows = {}
    for line in wanted:
        if 1 <= line <= data.num_rows:
            record = data.slice(line - 1, 1).to_pylist()[0]
            rows[line] = json.dumps(record, default=str, ensure_ascii=False)
    return rows
