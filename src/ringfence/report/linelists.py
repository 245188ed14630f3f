"""Line lists: one row per case or per contact, for the people who take numbers elsewhere.

An epidemiologist fitting a model, a statistician at the health commission, or a hospital's
bed manager wants the rows themselves, not the bulletin's counts. `line_list(store, kind)`
gives them as an Arrow table and `write_line_list(store, kind, path)` writes them as CSV,
XLSX or Parquet. Both read the decisions of the last cycle run.

Least privilege: a line list carries pseudonymous ids and what an analysis needs (age, sex,
district, group), never a person's name or phone number (`persons.name`, `persons.phone`).
Whoever must call someone looks them up in the store, where access is controlled and logged;
a file that is mailed around should not be a telephone directory of the sick.

The kinds, in order of their key:

- ``cases``: one row per case, ordered by `confirmed_at` then `case_id`. `age` is in whole
  years at confirmation (the jurisdiction's calendar year of confirmation less the birth
  year); `order_*` is the case's isolation or hospital order (the one open at the last run,
  else the latest; a guardian's stay with a child is the child's order, not the case's);
  `contacts_traced` counts the distinct people traced as the case's contacts, of any kind.
- ``contacts``: one row per (person_id, case_person_id, kind), in that order. `age` is at the
  first exposure; `case_id` is the case of `case_person_id` (empty for a secondary contact
  traced through a close contact who is not a case); `place_ids` are joined with "; ";
  `order_*` is the person's quarantine or monitoring order as a contact (kind
  quarantine_central, quarantine_home, health_monitoring or contact_management, from a
  contact rule: the one open at the last run, else the latest), so an inbound traveller's
  quarantine or a pooled test's hold is not mistaken for it; `became_case_at` is when the
  contact was confirmed a case, if that came after they were traced (the index case's
  confirmation, or the first exposure where the index is not a case). Someone already a case
  when traced, such as the case who infected the index, was not a contact who became one.

Instants are UTC in every format, so a file means the same wherever it is opened:

- CSV: ISO 8601 text with the offset (`2022-01-19T02:00:00+00:00`), dates as `2022-01-19`,
  written by the same writer as `ringfence export`.
- XLSX: real Excel dates and times, so that a spreadsheet sorts, filters and subtracts them.
  Excel has no time zones, so instants are written as naive UTC, shown as
  `2022-01-19T02:00:00Z` by the cell format, and the header cell of each carries a comment
  saying so; Excel keeps milliseconds, not microseconds. The header row is bold and frozen.
  A sheet holds 1,048,576 rows: a longer list is refused (write CSV or Parquet).
- Parquet: native `timestamp[us, UTC]` and `date32`.

Rows come out in key order with bytewise string order on every engine, so the CSV of the
same decisions is byte-identical from DuckDB and from PostgreSQL.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.compute as pc

from ringfence.control.context import unbound
from ringfence.control.cycle import sql_dialect
from ringfence.schema import TABLES
from ringfence.store import Store, UsageError
from ringfence.store.dialect import q
from ringfence.store.export import write_csv, write_parquet
from ringfence.store.migrations import RUNS_TABLE

from .daily import _with, decisions

KINDS = ("cases", "contacts")
"""The line lists there are."""

FORMATS = ("csv", "xlsx", "parquet")
"""The formats a line list is written in."""

SUFFIXES = {".csv": "csv", ".xlsx": "xlsx", ".parquet": "parquet", ".pq": "parquet"}
"""The format a file name's suffix stands for, when no format is given."""

XLSX_MAX_ROWS = 1_048_576 - 1
"""Excel's rows per sheet, less the header row."""

CASE_ORDER_KINDS = ("isolation", "hospital")
CONTACT_ORDER_KINDS = (
    "quarantine_central",
    "quarantine_home",
    "health_monitoring",
    "contact_management",
)
CONTACT_ORDER_RULES = (
    "contact.close",  # close and household contacts
    "contact.home",  # home quarantine after the central one
    "contact.secondary",
    "contact.same_space",
    "contact.environment",
)
"""The rules of the orders a person gets as someone's contact (see control/orders.py)."""

SORT_KEYS = {
    "cases": ("confirmed_at", "case_id"),
    "contacts": ("person_id", "case_person_id", "kind"),
}
AGE_AT = {"cases": "confirmed_at", "contacts": "first_exposure"}
"""The instant each kind's age is counted at."""

BIRTH_YEAR = "_birth_year"
"""The query's stand-in for `age`, which is counted in Arrow (see `_with_age`)."""

INSTANT_FORMAT = 'yyyy-mm-dd"T"hh:mm:ss"Z"'
DATE_FORMAT = "yyyy-mm-dd"


class LineListError(UsageError, ValueError):
    """A line list was asked for wrongly (kind, format, too long for a sheet); nothing was
    written. A `ValueError` for callers, a usage error (exit status 2) for the command line."""


# ---------------------------------------------------------------------------------------------
# The queries
# ---------------------------------------------------------------------------------------------


def _persons() -> ir.Table:
    # Only the columns an analysis needs: name and phone never enter the query.
    persons = unbound(TABLES["persons"])
    return persons.select(
        "person_id", "sex", "district", "group", "loop_id", **{BIRTH_YEAR: persons.birth_year}
    )


def _current_orders(
    kinds: tuple[str, ...], rules: tuple[str, ...] | None, as_of: datetime | None
) -> ir.Table:
    """One order per person of `kinds` (and `rules`): the one open at `as_of`, else the one
    that starts last. A contact's home quarantine is planned while the central one still
    runs; the order the person is under at the run is the one that matters."""
    orders = decisions("orders")
    chosen = orders.kind.isin(list(kinds)) & orders.person_id.notnull()
    # A guardian's stay with a child is the child's order, not one of the guardian's own.
    chosen &= orders.guardian_of.isnull()
    if rules is not None:
        chosen &= orders.rule.isin(list(rules))
    orders = orders.filter(chosen)
    if as_of is None:  # no run yet, so no orders either
        is_open = ibis.literal(0)
    else:
        now = ibis.literal(as_of, type="timestamp('UTC')")
        is_open = ibis.cases(
            ((orders.start <= now) & (orders.released_at.isnull() | (orders.released_at > now)), 1),
            else_=0,
        )
    # Ties are broken by the kind's place in `kinds` before the id: the order of numbers is
    # the same on every engine, the order of strings depends on PostgreSQL's collation.
    kind_rank = orders.kind.cases(*((k, i) for i, k in enumerate(kinds)), else_=len(kinds))
    w = ibis.window(
        group_by="person_id",
        order_by=[ibis.desc(is_open), ibis.desc(orders.start), kind_rank, orders.order_id],
    )
    ranked = orders.mutate(_n=ibis.row_number().over(w))
    return ranked.filter(ranked._n == 0).drop("_n")


def cases_query(as_of: datetime | None) -> ir.Table:
    """The cases line list (unordered; see `SORT_KEYS`), with `_birth_year` in place of age."""
    cases = decisions("cases")
    contacts = decisions("contacts")
    traced = contacts.group_by(person_id=contacts.case_person_id).agg(
        contacts_traced=contacts.person_id.nunique().cast("int64")
    )
    order = _current_orders(CASE_ORDER_KINDS, None, as_of).select(
        "person_id", order_kind="kind", order_start="start", order_released_at="released_at"
    )
    # The cycle makes one case per person (its first counting positive), so matching on the
    # person adds no rows.
    c = _with(_with(_with(cases, _persons()), order), traced)
    return c.select(
        "case_id", "person_id", BIRTH_YEAR, "sex", "district", "group", "loop_id",
        "classification", "converted_at", "origin", "variant", "severity", "found_by", "onset",
        "confirmed_at", "sample_id", "key_group", "order_kind", "order_start",
        "order_released_at", contacts_traced=c.contacts_traced.fill_null(0).cast("int64"),
    )  # fmt: skip


def contacts_query(as_of: datetime | None) -> ir.Table:
    """The contacts line list (unordered; see `SORT_KEYS`), with `_birth_year` in place of age."""
    contacts = decisions("contacts")
    cases = decisions("cases")
    index = cases.select(case_person_id="person_id", case_id="case_id", traced_at="confirmed_at")
    own = cases.select("person_id", own_case_at="confirmed_at")
    order = _current_orders(CONTACT_ORDER_KINDS, CONTACT_ORDER_RULES, as_of).select(
        "person_id",
        order_kind="kind",
        order_start="start",
        order_planned_end="planned_end",
        order_released_at="released_at",
    )
    persons = _persons().select("person_id", BIRTH_YEAR, "district", "group")
    k = _with(_with(_with(_with(contacts, persons), index, "case_person_id"), own), order)
    traced_at = ibis.coalesce(k.traced_at, k.first_exposure)
    became_case_at = ibis.cases(
        (k.own_case_at > traced_at, k.own_case_at), else_=ibis.null("timestamp('UTC')")
    )
    # DuckDB joins an empty list to "" and PostgreSQL to null: no places is null on both.
    places = k.place_ids.join("; ").nullif("")
    k = k.mutate(place_ids=places, became_case_at=became_case_at)
    return k.select(
        "person_id", BIRTH_YEAR, "district", "group", "case_person_id", "case_id", "kind",
        "first_exposure", "last_exposure", "minutes", "place_ids", "order_kind", "order_start",
        "order_planned_end", "order_released_at", "became_case_at",
    )  # fmt: skip


QUERIES: dict[str, Callable[[datetime | None], ir.Table]] = {
    "cases": cases_query,
    "contacts": contacts_query,
}


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise LineListError(f"unknown line list {kind!r}; use one of: {', '.join(KINDS)}")


def _last_run_as_of(store: Store) -> datetime | None:
    rows = store.fetchall(f"SELECT as_of FROM {RUNS_TABLE} ORDER BY run_id DESC LIMIT 1")
    if not rows:
        return None
    as_of: datetime = rows[0][0]
    return as_of.astimezone(UTC)


def _sql(store: Store, kind: str) -> tuple[str, pa.Schema]:
    """The engine's SQL of line list `kind`, in key order, and the Arrow schema of its rows."""
    expr = QUERIES[kind](_last_run_as_of(store))
    inner = ibis.to_sql(expr, dialect=sql_dialect(store))
    # Ordered outside Ibis so that PostgreSQL sorts ids bytewise, as DuckDB does: its default
    # collation would put "a2" before "B1" on one server and after it on another.
    types = dict(expr.schema().items())
    keys = []
    for name in SORT_KEYS[kind]:
        collate = (
            ' COLLATE "C"' if store.dialect.name == "postgresql" and types[name].is_string() else ""
        )
        keys.append(q(name) + collate)
    sql = f"SELECT * FROM ({inner}) AS line_list ORDER BY {', '.join(keys)}"
    return sql, expr.schema().to_pyarrow()


def _final_schema(query_schema: pa.Schema) -> pa.Schema:
    index = query_schema.get_field_index(BIRTH_YEAR)
    return query_schema.set(index, pa.field("age", pa.int64()))


def _with_age(
    batch: pa.RecordBatch, moment: str, timezone: str, schema: pa.Schema
) -> pa.RecordBatch:
    """`batch` with `age` in place of the birth year: whole years at `moment`, by the
    jurisdiction's calendar. Counted here, not in SQL, because Arrow knows the time zone's
    rules at every instant, where the SQL would need one fixed offset; a case confirmed at
    05:00 on New Year's Day in Beijing is a year older than the UTC date says."""
    local = batch.column(moment).cast(pa.timestamp("us", tz=timezone))
    age = pc.subtract(pc.year(local).cast(pa.int64()), batch.column(BIRTH_YEAR))
    columns = [age if name == BIRTH_YEAR else batch.column(name) for name in batch.schema.names]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _batches(store: Store, kind: str) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """The schema of line list `kind` and its rows, streamed in key order."""
    _check_kind(kind)
    sql, query_schema = _sql(store, kind)
    schema = _final_schema(query_schema)
    timezone = store.timezone

    def rows() -> Iterator[pa.RecordBatch]:
        for batch in store.fetch_arrow_batches(sql, query_schema):
            yield _with_age(batch, AGE_AT[kind], timezone, schema)

    return schema, rows()


def line_list(store: Store, kind: str) -> pa.Table:
    """Line list `kind` ("cases" or "contacts") of the last cycle run, as an Arrow table
    (instants `timestamp[us, UTC]`); see the module's docstring for the columns. Raises
    `ValueError` (a `LineListError`) for an unknown kind."""
    schema, batches = _batches(store, kind)
    return pa.Table.from_batches(list(batches), schema=schema)


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------


def line_list_format(path: str | os.PathLike[str], format: str | None = None) -> str:
    """The format to write `path` in: `format` if given, else the one its suffix names."""
    if format is not None:
        fmt = format.lower()
        if fmt not in FORMATS:
            raise LineListError(f"unknown format {format!r}; use one of: {', '.join(FORMATS)}")
        return fmt
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise LineListError(
            f"cannot tell the format of {Path(path).name!r} from its suffix; name the file "
            f".csv, .xlsx or .parquet, or give the format (one of: {', '.join(FORMATS)})"
        )
    return SUFFIXES[suffix]


def write_line_list(
    store: Store, kind: str, path: str | os.PathLike[str], format: str | None = None
) -> int:
    """Write line list `kind` ("cases" or "contacts") to `path` as `format` ("csv", "xlsx" or
    "parquet"; from the suffix of `path` when None); returns the rows written.

    The file appears whole or not at all (it is written next to `path` and renamed). Raises
    `ValueError` (a `LineListError`) for an unknown kind or format, or a list longer than an
    Excel sheet holds, before anything is written.
    """
    _check_kind(kind)
    fmt = line_list_format(path, format)
    target = Path(path)
    if fmt == "xlsx":
        # Counted first: finding out at row 1,048,577 would waste the whole export.
        rows = int(store.fetchall(f"SELECT count(*) FROM {q(kind)}")[0][0])
        if rows > XLSX_MAX_ROWS:
            raise LineListError(
                f"the {kind} line list has {rows:,} rows, more than an Excel sheet holds "
                f"({XLSX_MAX_ROWS:,} below the header); write it as CSV or Parquet instead"
            )
    schema, batches = _batches(store, kind)
    partial = target.with_name(target.name + ".partial")
    try:
        with open(partial, "wb") as out:
            if fmt == "csv":
                # The export's CSV writer, with instants as UTC ISO text rather than local time.
                written = write_csv(batches, schema, "UTC", out)
            elif fmt == "parquet":
                written = write_parquet(batches, schema, out)
            else:
                written = _write_xlsx(batches, schema, kind, out)
        partial.replace(target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return written


def _write_xlsx(
    batches: Iterator[pa.RecordBatch], schema: pa.Schema, sheet: str, out: BinaryIO
) -> int:
    """Stream `batches` into one sheet of a workbook (openpyxl's write-only mode keeps no
    more than a row in memory)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.comments import Comment
    from openpyxl.styles import Font

    book = Workbook(write_only=True)
    ws = book.create_sheet(title=sheet)
    ws.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for field in schema:
        cell = WriteOnlyCell(ws, value=field.name)
        cell.font = bold
        if pa.types.is_timestamp(field.type):
            cell.comment = Comment(
                "UTC (Coordinated Universal Time), not local time: Excel has no time zones.",
                "ringfence",
            )
        header.append(cell)
    ws.append(header)
    formats = [
        INSTANT_FORMAT
        if pa.types.is_timestamp(f.type)
        else DATE_FORMAT
        if pa.types.is_date(f.type)
        else None
        for f in schema
    ]
    rows = 0
    for batch in batches:
        columns = [_excel_values(column) for column in batch.columns]
        for values in zip(*columns, strict=True):
            rows += 1
            if rows > XLSX_MAX_ROWS:  # the count above was of another moment's table
                raise LineListError(
                    f"the {sheet} line list is longer than an Excel sheet holds "
                    f"({XLSX_MAX_ROWS:,} rows below the header); write CSV or Parquet instead"
                )
            ws.append(
                [_cell(ws, WriteOnlyCell, v, f) for v, f in zip(values, formats, strict=True)]
            )
    book.save(out)
    return rows


def _excel_values(column: pa.Array) -> list[Any]:
    # Excel knows no time zones: UTC instants become naive datetimes of the same UTC clock.
    if pa.types.is_timestamp(column.type):
        column = column.cast(pa.timestamp("us"))
    values: list[Any] = column.to_pylist()
    return values


def _cell(ws: Any, cell_type: Any, value: Any, number_format: str | None) -> Any:
    if value is None or number_format is None:
        return value
    cell = cell_type(ws, value=value)
    cell.number_format = number_format
    return cell
