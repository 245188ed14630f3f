"""What differs between the SQL engines the store writes to: type names and quoting."""

from __future__ import annotations

from dataclasses import dataclass

from ringfence.schema import Column, ColumnType, Table


@dataclass(frozen=True)
class Dialect:
    """The SQL spelling of one engine."""

    name: str
    types: dict[ColumnType, str]

    def column_type(self, column: Column) -> str:
        return self.types[column.type]


DUCKDB = Dialect(
    "duckdb",
    {
        ColumnType.STRING: "VARCHAR",
        ColumnType.INTEGER: "BIGINT",
        ColumnType.FLOAT: "DOUBLE",
        ColumnType.BOOLEAN: "BOOLEAN",
        ColumnType.DATE: "DATE",
        ColumnType.INSTANT: "TIMESTAMPTZ",
        ColumnType.STRING_LIST: "VARCHAR[]",
    },
)

POSTGRESQL = Dialect(
    "postgresql",
    {
        ColumnType.STRING: "TEXT",
        ColumnType.INTEGER: "BIGINT",
        ColumnType.FLOAT: "DOUBLE PRECISION",
        ColumnType.BOOLEAN: "BOOLEAN",
        ColumnType.DATE: "DATE",
        ColumnType.INSTANT: "TIMESTAMPTZ",
        ColumnType.STRING_LIST: "TEXT[]",
    },
)


def q(identifier: str) -> str:
    """`identifier` quoted for SQL: several column names ("end", "group") are keywords."""
    return '"' + identifier.replace('"', '""') + '"'


def column_list(names: tuple[str, ...] | list[str], prefix: str = "") -> str:
    """`a, b, c` quoted, each optionally qualified by `prefix.`."""
    dot = f"{prefix}." if prefix else ""
    return ", ".join(dot + q(n) for n in names)


BATCH_COLUMN = "_batch"
"""Every stored event row records the ingest batch that brought it (provenance, audit)."""


def create_table_sql(
    table: Table,
    dialect: Dialect,
    *,
    temporary: bool = False,
    name: str | None = None,
    extra: str = "",
) -> str:
    """`CREATE TABLE` for `table` in `dialect`; event tables carry the batch column."""
    cols = [f"{q(c.name)} {dialect.column_type(c)}" for c in table.columns]
    if table.kind == "event" and not temporary:
        cols.append(f"{q(BATCH_COLUMN)} BIGINT NOT NULL")
    if extra:
        cols.append(extra)
    temp = "TEMPORARY " if temporary else ""
    return f"CREATE {temp}TABLE {q(name or table.name)} ({', '.join(cols)})"
