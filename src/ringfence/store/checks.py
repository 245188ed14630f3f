"""Row checks as one vectorised SQL query: types, vocabularies, ranges and row rules.

Each column of the schema becomes a typed expression and a list of reasons it may be
refused; DuckDB evaluates them over an Arrow chunk in C++, so validating ten million rows
costs about as much as loading them. The query yields the typed columns plus `_errors`, a
list of {field, reason}; a row is valid when that list is empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

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
OFFSET_PATTERN = r"(Z|[+-]\d{2}(:?\d{2})?)$"
DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"
INTEGER_PATTERN = r"^[+-]?\d{1,18}$"
TRUE_WORDS = ("true", "t", "yes", "y", "1")
FALSE_WORDS = ("false", "f", "no", "n", "0")
EXAMPLE_INSTANT = "2022-01-23T10:00:00+08:00"
SHOWN_VALUE_LENGTH = 40


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
class _ColumnSQL:
    typed: str
    """The typed value, computed once from the source column."""
    text: str
    """The input as trimmed text (NULL when empty), for messages and the missing check."""
    reasons: list[str]
    """Reason expressions over the aliases `typed_alias` and `text_alias`; NULL when fine."""


def typed_alias(name: str) -> str:
    return q(name)


def text_alias(name: str) -> str:
    return q(name + "#text")


def _text_source(source: str) -> str:
    return f"nullif(trim(CAST({source} AS VARCHAR)), '')"


def _column_sql(column: Column, arrow_type: pa.DataType | None, settings: CheckSettings) -> _ColumnSQL:
    """The typed value of `column` and the reasons to refuse it."""
    if arrow_type is None:
        reasons = ["'missing (required)'"] if column.required else []
        return _ColumnSQL(f"CAST(NULL AS {DUCKDB.column_type(column)})", "CAST(NULL AS VARCHAR)",
                          reasons)
    src = q(column.name)
    t, x = typed_alias(column.name), text_alias(column.name)
    native = _native_expression(column, arrow_type, settings)
    text = _text_source(src)
    parse_failure: str | None = None
    if native is not None:
        typed = native
    else:
        typed, parse_failure = _parse_text(column, text, settings)
    reasons = []
    if column.required:
        reasons.append(f"CASE WHEN {t} IS NULL AND {x} IS NULL THEN 'missing (required)' END")
    if parse_failure is not None:
        reasons.append(f"CASE WHEN {x} IS NOT NULL AND {t} IS NULL THEN {parse_failure} END")
    reasons.extend(_value_reasons(column, t, settings))
    return _ColumnSQL(typed, text, reasons)


def _native_expression(column: Column, arrow_type: pa.DataType, settings: CheckSettings) -> str | None:
    """A typed input column (Parquet, JSON numbers) used as it is, when its type fits."""
    src = q(column.name)
    kind = column.type
    if kind is ColumnType.INTEGER and pa.types.is_integer(arrow_type):
        return f"CAST({src} AS BIGINT)"
    if kind is ColumnType.FLOAT and (pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type)):
        return f"CAST({src} AS DOUBLE)"
    if kind is ColumnType.BOOLEAN and pa.types.is_boolean(arrow_type):
        return src
    if kind is ColumnType.DATE and pa.types.is_date(arrow_type):
        return f"CAST({src} AS DATE)"
    if kind is ColumnType.INSTANT and pa.types.is_timestamp(arrow_type):
        if arrow_type.tz is not None:
            return f"CAST({src} AS TIMESTAMPTZ)"
        return f"timezone({_lit(settings.timezone)}, CAST({src} AS TIMESTAMP))"
    return None


def _parse_text(column: Column, text: str, settings: CheckSettings) -> tuple[str, str | None]:
    """(typed expression, reason when the text does not parse) for a text input."""
    kind = column.type
    shown = _shown(column, text_alias(column.name))
    if kind is ColumnType.STRING:
        return text, None
    if kind is ColumnType.INTEGER:
        typed = f"CASE WHEN regexp_full_match({text}, {_lit(INTEGER_PATTERN)}) THEN CAST({text} AS BIGINT) END"
        return typed, f"'not a whole number: ' || {shown}"
    if kind is ColumnType.FLOAT:
        value = f"TRY_CAST({text} AS DOUBLE)"
        typed = f"CASE WHEN isfinite({value}) THEN {value} END"
        return typed, f"'not a number: ' || {shown}"
    if kind is ColumnType.BOOLEAN:
        low = f"lower({text})"
        typed = (f"CASE WHEN {low} IN ({', '.join(map(_lit, TRUE_WORDS))}) THEN true "
                 f"WHEN {low} IN ({', '.join(map(_lit, FALSE_WORDS))}) THEN false END")
        return typed, f"'not true or false: ' || {shown}"
    if kind is ColumnType.DATE:
        typed = f"CASE WHEN regexp_full_match({text}, {_lit(DATE_PATTERN)}) THEN TRY_CAST({text} AS DATE) END"
        return typed, f"'not a date (expected YYYY-MM-DD): ' || {shown}"
    if kind is ColumnType.INSTANT:
        with_offset = f"TRY_CAST({text} AS TIMESTAMPTZ)"
        naive = f"timezone({_lit(settings.timezone)}, TRY_CAST({text} AS TIMESTAMP))"
        typed = (f"CASE WHEN NOT regexp_full_match({text}, {_lit(INSTANT_PATTERN)}) THEN NULL "
                 f"WHEN regexp_matches({text}, {_lit(OFFSET_PATTERN)}) THEN {with_offset} "
                 f"ELSE {naive} END")
        return typed, (f"'not an ISO 8601 instant (e.g. {EXAMPLE_INSTANT}): ' || "
                       f"{shown}")
    raise ValueError(f"no text parser for {kind}")  # pragma: no cover - schema has none


def _value_reasons(column: Column, typed: str, settings: CheckSettings) -> list[str]:
    reasons = []
    if column.type is ColumnType.STRING:
        reasons.append(f"CASE WHEN length({typed}) > {column.max_length} THEN "
                       f"'longer than {column.max_length} characters' END")
        if column.allowed:
            values = ", ".join(map(_lit, column.allowed))
            reasons.append(f"CASE WHEN {typed} NOT IN ({values}) THEN {_shown(column, typed)} || "
                           f"' is not one of: {', '.join(column.allowed)}' END")
    if column.minimum is not None:
        reasons.append(f"CASE WHEN {typed} < {column.minimum} THEN CAST({typed} AS VARCHAR) || "
                       f"' is below the minimum {column.minimum:g}' END")
    if column.maximum is not None:
        reasons.append(f"CASE WHEN {typed} > {column.maximum} THEN CAST({typed} AS VARCHAR) || "
                       f"' is above the maximum {column.maximum:g}' END")
    if column.not_future:
        latest = settings.latest
        if column.type is ColumnType.INSTANT:
            bound = f"CAST({_lit(latest.isoformat())} AS TIMESTAMPTZ)"
        elif column.type is ColumnType.DATE:
            bound = f"DATE {_lit(latest.date().isoformat())}"
        else:
            bound = str(latest.year)
        reasons.append(f"CASE WHEN {typed} > {bound} THEN 'is in the future (the ingest clock "
                       f"allows up to {latest.isoformat(timespec='minutes')})' END")
    return reasons


def _rule_reasons(rule: RowRule, typed: dict[str, str], settings: CheckSettings) -> list[tuple[str, str]]:
    """(field, reason expression) pairs for a row rule."""
    if isinstance(rule, Ordered):
        a, b = typed[rule.earlier], typed[rule.later]
        return [(rule.later, f"CASE WHEN {b} <= {a} THEN 'must be after {rule.earlier}' END")]
    if isinstance(rule, ExactlyOne):
        present = " + ".join(f"CAST({typed[c]} IS NOT NULL AS INTEGER)" for c in rule.columns)
        names = ", ".join(rule.columns)
        return [("|".join(rule.columns),
                 f"CASE WHEN {present} <> 1 THEN 'exactly one of {names} must be given' END")]
    if isinstance(rule, Different):
        a, b = typed[rule.first], typed[rule.second]
        return [(rule.second, f"CASE WHEN {a} = {b} THEN 'must differ from {rule.first}' END")]
    if isinstance(rule, NotAfter):
        local_date = f"CAST(timezone({_lit(settings.timezone)}, {typed[rule.instant_column]}) AS DATE)"
        return [(rule.date_column, f"CASE WHEN {typed[rule.date_column]} > {local_date} THEN "
                 f"'is after the local date of {rule.instant_column}' END")]
    raise TypeError(rule)  # pragma: no cover


def check_query(table: Table, source: str, schema: pa.Schema, settings: CheckSettings) -> str:
    """SELECT over the chunk `source`: typed columns, `_line`, `_span` and `_errors`.

    The inner query types each column once; the outer one lists the reasons to refuse.
    """
    present = {f.name: f.type for f in schema if table.has_column(f.name)}
    inner: list[str] = []
    errors: list[str] = []
    for column in table.columns:
        sql = _column_sql(column, present.get(column.name), settings)
        inner.append(f"{sql.typed} AS {typed_alias(column.name)}")
        inner.append(f"{sql.text} AS {text_alias(column.name)}")
        errors.extend(f"{{'field': {_lit(column.name)}, 'reason': {r}}}" for r in sql.reasons)
    typed = {c.name: typed_alias(c.name) for c in table.columns}
    for rule in table.rules:
        for field_name, reason in _rule_reasons(rule, typed, settings):
            errors.append(f"{{'field': {_lit(field_name)}, 'reason': {reason}}}")
    error_list = f"list_filter([{', '.join(errors)}], lambda e: e.reason IS NOT NULL)" if errors else "[]"
    columns = ", ".join(typed.values())
    return (f"SELECT {columns}, {q(LINE)}, {q(SPAN)}, {error_list} AS _errors FROM "
            f"(SELECT {', '.join(inner)}, {q(LINE)}, {q(SPAN)} FROM {source})")
