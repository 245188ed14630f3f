"""Row checks as one vectorised SQL query: types, vocabularies, ranges and row rules.

Each column of the schema becomes a typed expression and a list of reasons it may be
refused; DuckDB evaluates them over an Arrow chunk in C++, so validating ten million rows
costs about as much as loading them. The query yields the typed columns plus `_errors`, a
list of {field, reason}; a row is valid when that list is empty.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pyarrow as pa

from ringfence.schema import (
    Column,
    ColumnType,
    Different,
    ExactlyOne,
    NotAfter,
    Ordered,
    RowRule,
    Table,
)

from .dialect import DUCKDB, q
from .readers import LINE, SPAN

INSTANT_PATTERN = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)?$"
DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"
INTEGER_PATTERN = r"^[+-]?\d{1,18}$"
TRUE_WORDS = ("true", "t", "yes", "y", "1")
FALSE_WORDS = ("false", "f", "no", "n", "0")
EXAMPLE_INSTANT = "2022-01-23T10:00:00+08:00"
SHOWN_VALUE_LENGTH = 40
FIXED_OFFSET_HORIZON = datetime(2037, 1, 1)


@dataclass(frozen=True)
class CheckSettings:
    """What the checks depend on beyond the row: the jurisdiction and the ingest clock."""

    timezone: str
    clock: datetime
    """The ingest clock (aware); instants later than clock + tolerance are refused."""
    future_tolerance: timedelta = timedelta(hours=1)

    @property
    def latest(self) -> datetime:
        return self.clock + self.future_tolerance


@functools.cache
def _fixed_offset_since(timezone: str) -> tuple[datetime, int] | None:
    """(first local instant, offset in µs) from which `timezone` has had one UTC offset.

    Applying a constant offset is cheap arithmetic; a time-zone conversion through ICU costs
    three times as much, so it is kept for instants before that moment (or for zones with
    daylight saving time, where there is no such moment within the horizon).
    """
    zone = ZoneInfo(timezone)
    horizon = range(FIXED_OFFSET_HORIZON.year, 1969, -1)
    offset = datetime(FIXED_OFFSET_HORIZON.year, 1, 1, tzinfo=zone).utcoffset()
    since = None
    for year in horizon:
        offsets = {datetime(year, month, 1, tzinfo=zone).utcoffset() for month in range(1, 13)}
        if offsets != {offset}:
            break
        since = datetime(year, 1, 1)
    if since is None or offset is None:
        return None
    return since, int(offset.total_seconds() * 1_000_000)


def local_to_utc(naive: str, timezone: str) -> str:
    """SQL turning the naive local TIMESTAMP `naive` into a TIMESTAMPTZ."""
    converted = f"timezone({_lit(timezone)}, {naive})"
    fixed = _fixed_offset_since(timezone)
    if fixed is None:
        return converted
    since, offset_us = fixed
    return (
        f"CASE WHEN {naive} >= TIMESTAMP {_lit(since.isoformat(sep=' '))} "
        f"THEN make_timestamptz(epoch_us({naive}) - {offset_us}) ELSE {converted} END"
    )


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _shown(column: Column, value: str) -> str:
    """How a refused value appears in a message: never the value of a personal column."""
    if column.personal:
        return "'(value not shown: personal data)'"
    # A value quoted in a one-line message must not break the line it is printed on.
    shown = f"replace(replace(left({value}, {SHOWN_VALUE_LENGTH}), chr(10), '\\n'), chr(13), '\\r')"
    return f"'''' || {shown} || ''''"


@dataclass(frozen=True)
class Check:
    """One reason to refuse a row: `condition` (SQL, TRUE when the row is wrong) and the
    `message` expression built only for the rows it refuses."""

    field: str
    condition: str
    message: str


@dataclass(frozen=True)
class _ColumnSQL:
    typed: str
    """The typed value, computed once from the source column."""
    text: str | None
    """The input as text (NULL when empty), when it differs from the typed value."""
    checks: list[Check]
    """Conditions over the aliases `typed_alias` and `text_alias`."""


def typed_alias(name: str) -> str:
    return q(name)


def text_alias(name: str) -> str:
    return q(name + "#text")


def _text_source(source: str) -> str:
    # Trimming every value costs twice as much as checking whether it needs trimming.
    x = f"CAST({source} AS VARCHAR)"
    return (
        f"CASE WHEN {x} = '' THEN NULL WHEN starts_with({x}, ' ') OR suffix({x}, ' ') "
        f"OR contains({x}, chr(9)) THEN nullif(trim({x}, ' ' || chr(9)), '') ELSE {x} END"
    )


def _column_sql(
    column: Column, arrow_type: pa.DataType | None, settings: CheckSettings
) -> _ColumnSQL:
    """The typed value of `column` and the checks it must pass."""
    name = column.name
    if arrow_type is None:
        checks = [Check(name, "TRUE", "'missing (required)'")] if column.required else []
        return _ColumnSQL(f"CAST(NULL AS {DUCKDB.column_type(column)})", None, checks)
    t, x = typed_alias(name), text_alias(name)
    native = _native_expression(column, arrow_type, settings)
    checks = []
    if native is not None:
        typed, text = native, None
        if column.required:
            checks.append(Check(name, f"{t} IS NULL", "'missing (required)'"))
    elif column.type is ColumnType.STRING:
        typed, text = _text_source(q(name)), None
        if column.required:
            checks.append(Check(name, f"{t} IS NULL", "'missing (required)'"))
    else:
        text = _text_source(q(name))
        typed, failure = _parse_text(column, x, settings)
        if column.required:
            checks.append(Check(name, f"{x} IS NULL", "'missing (required)'"))
        checks.append(Check(name, f"{x} IS NOT NULL AND {t} IS NULL", failure))
    checks.extend(_value_checks(column, t, settings))
    return _ColumnSQL(typed, text, checks)


def _native_expression(
    column: Column, arrow_type: pa.DataType, settings: CheckSettings
) -> str | None:
    """A typed input column (Parquet, JSON numbers) used as it is, when its type fits."""
    src = q(column.name)
    kind = column.type
    if kind is ColumnType.INTEGER and pa.types.is_integer(arrow_type):
        return f"CAST({src} AS BIGINT)"
    if kind is ColumnType.FLOAT and (
        pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type)
    ):
        return f"CASE WHEN isfinite(CAST({src} AS DOUBLE)) THEN CAST({src} AS DOUBLE) END"
    if kind is ColumnType.BOOLEAN and pa.types.is_boolean(arrow_type):
        return src
    if kind is ColumnType.DATE and pa.types.is_date(arrow_type):
        return f"CAST({src} AS DATE)"
    if kind is ColumnType.INSTANT and pa.types.is_timestamp(arrow_type):
        if arrow_type.tz is not None:
            return f"CAST({src} AS TIMESTAMPTZ)"
        return local_to_utc(f"CAST({src} AS TIMESTAMP)", settings.timezone)
    return None


def _parse_text(column: Column, x: str, settings: CheckSettings) -> tuple[str, str]:
    """(typed expression, message when the text `x` does not parse) for a text input."""
    kind = column.type
    shown = _shown(column, x)
    if kind is ColumnType.INTEGER:
        whole = f"regexp_full_match({x}, {_lit(INTEGER_PATTERN)})"
        typed = f"CASE WHEN {whole} THEN CAST({x} AS BIGINT) END"
        return typed, f"'not a whole number: ' || {shown}"
    if kind is ColumnType.FLOAT:
        value = f"TRY_CAST({x} AS DOUBLE)"
        return f"CASE WHEN isfinite({value}) THEN {value} END", f"'not a number: ' || {shown}"
    if kind is ColumnType.BOOLEAN:
        low = f"lower({x})"
        typed = (
            f"CASE WHEN {low} IN ({', '.join(map(_lit, TRUE_WORDS))}) THEN true "
            f"WHEN {low} IN ({', '.join(map(_lit, FALSE_WORDS))}) THEN false END"
        )
        return typed, f"'not true or false: ' || {shown}"
    if kind is ColumnType.DATE:
        typed = (
            f"CASE WHEN regexp_full_match({x}, {_lit(DATE_PATTERN)}) THEN TRY_CAST({x} AS DATE) END"
        )
        return typed, f"'not a date (expected YYYY-MM-DD): ' || {shown}"
    if kind is ColumnType.INSTANT:
        # DuckDB's TIMESTAMP cast silently drops an offset, so the offset decides the cast;
        # after the ISO pattern matched, a '+', '-' or 'Z' past the minutes is the offset.
        tail = f"substr({x}, 17)"
        has_offset = f"(suffix({x}, 'Z') OR contains({tail}, '+') OR contains({tail}, '-'))"
        typed = (
            f"CASE WHEN NOT regexp_full_match({x}, {_lit(INSTANT_PATTERN)}) THEN NULL "
            f"WHEN {has_offset} THEN TRY_CAST({x} AS TIMESTAMPTZ) "
            f"ELSE {local_to_utc(f'TRY_CAST({x} AS TIMESTAMP)', settings.timezone)} END"
        )
        return typed, f"'not an ISO 8601 instant (e.g. {EXAMPLE_INSTANT}): ' || {shown}"
    raise ValueError(f"no text parser for {kind}")  # pragma: no cover - schema has none


def _value_checks(column: Column, t: str, settings: CheckSettings) -> list[Check]:
    name = column.name
    checks = []
    if column.type is ColumnType.STRING:
        checks.append(
            Check(
                name,
                f"length({t}) > {column.max_length}",
                f"'longer than {column.max_length} characters'",
            )
        )
        if column.allowed:
            values = ", ".join(map(_lit, column.allowed))
            checks.append(
                Check(
                    name,
                    f"{t} NOT IN ({values})",
                    f"{_shown(column, t)} || ' is not one of: {', '.join(column.allowed)}'",
                )
            )
    if column.minimum is not None:
        checks.append(
            Check(
                name,
                f"{t} < {column.minimum}",
                f"CAST({t} AS VARCHAR) || ' is below the minimum {column.minimum:g}'",
            )
        )
    if column.maximum is not None:
        checks.append(
            Check(
                name,
                f"{t} > {column.maximum}",
                f"CAST({t} AS VARCHAR) || ' is above the maximum {column.maximum:g}'",
            )
        )
    if column.not_future:
        latest = settings.latest
        if column.type is ColumnType.INSTANT:
            bound = f"CAST({_lit(latest.isoformat())} AS TIMESTAMPTZ)"
        elif column.type is ColumnType.DATE:
            bound = f"DATE {_lit(latest.date().isoformat())}"
        else:
            bound = str(latest.year)
        shown = latest.astimezone(ZoneInfo(settings.timezone)).isoformat(timespec="minutes")
        checks.append(
            Check(
                name,
                f"{t} > {bound}",
                f"'is in the future (the ingest clock allows up to {shown})'",
            )
        )
    return checks


def _rule_checks(rule: RowRule, typed: dict[str, str], settings: CheckSettings) -> list[Check]:
    if isinstance(rule, Ordered):
        a, b = typed[rule.earlier], typed[rule.later]
        return [Check(rule.later, f"{b} <= {a}", f"'must be after {rule.earlier}'")]
    if isinstance(rule, ExactlyOne):
        present = " + ".join(f"CAST({typed[c]} IS NOT NULL AS INTEGER)" for c in rule.columns)
        names = ", ".join(rule.columns)
        return [
            Check(
                "|".join(rule.columns), f"{present} <> 1", f"'exactly one of {names} must be given'"
            )
        ]
    if isinstance(rule, Different):
        a, b = typed[rule.first], typed[rule.second]
        return [Check(rule.second, f"{a} = {b}", f"'must differ from {rule.first}'")]
    if isinstance(rule, NotAfter):
        local_date = (
            f"CAST(timezone({_lit(settings.timezone)}, {typed[rule.instant_column]}) AS DATE)"
        )
        return [
            Check(
                rule.date_column,
                f"{typed[rule.date_column]} > {local_date}",
                f"'is after the local date of {rule.instant_column}'",
            )
        ]
    raise TypeError(rule)  # pragma: no cover


def check_query(table: Table, source: str, schema: pa.Schema, settings: CheckSettings) -> str:
    """SELECT over the chunk `source`: typed columns, `_line`, `_span` and `_errors`.

    Three levels: the input as cleaned text, then each column typed once, then every
    condition tested. Only for a row that fails one is its list of {field, reason} built:
    messages cost far more than conditions, and nearly every row passes.
    """
    present = {f.name: f.type for f in schema if table.has_column(f.name)}
    texts: list[str] = []
    typed_exprs: list[str] = []
    checks: list[Check] = []
    for column in table.columns:
        sql = _column_sql(column, present.get(column.name), settings)
        typed_exprs.append(f"{sql.typed} AS {typed_alias(column.name)}")
        if sql.text is not None:
            texts.append(f"{sql.text} AS {text_alias(column.name)}")
        checks.extend(sql.checks)
    typed = {c.name: typed_alias(c.name) for c in table.columns}
    for rule in table.rules:
        checks.extend(_rule_checks(rule, typed, settings))
    lines = f"{q(LINE)}, {q(SPAN)}"
    text_names = "".join(f", {e.rsplit(' AS ', 1)[1]}" for e in texts)
    cleaned = f"SELECT *{''.join(', ' + e for e in texts)} FROM {source}"
    typed_rows = f"SELECT {', '.join(typed_exprs)}{text_names}, {lines} FROM ({cleaned})"
    columns = ", ".join(typed.values())
    return f"SELECT {columns}, {lines}, {_errors(checks)} AS _errors FROM ({typed_rows})"


def _errors(checks: list[Check]) -> str:
    if not checks:
        return "[]"
    failing = " OR ".join(f"coalesce({c.condition}, false)" for c in checks)
    entries = ", ".join(
        f"CASE WHEN coalesce({c.condition}, false) THEN "
        f"{{'field': {_lit(c.field)}, 'reason': {c.message}}} END"
        for c in checks
    )
    return f"CASE WHEN {failing} THEN list_filter([{entries}], lambda e: e IS NOT NULL) ELSE [] END"
