"""Event and decision tables: names, columns, types, and the rules a valid row obeys.

This package imports nothing else of ringfence; every other layer builds on it.
"""

from __future__ import annotations

from .arrow import arrow_type
from .columns import (
    DEFAULT_MAX_LENGTH,
    Column,
    ColumnType,
    Different,
    ExactlyOne,
    NotAfter,
    Ordered,
    Reference,
    RowRule,
    Table,
)
from .decisions import DECISION_TABLES
from .events import EVENT_TABLES

TABLES: dict[str, Table] = {t.name: t for t in (*EVENT_TABLES, *DECISION_TABLES)}


def table(name: str) -> Table:
    """The table called `name`; a `KeyError` that lists the known tables if there is none."""
    try:
        return TABLES[name]
    except KeyError:
        known = ", ".join(TABLES)
        raise KeyError(f"unknown table {name!r}; known tables: {known}") from None


def ingest_order(tables: list[Table] | tuple[Table, ...]) -> list[Table]:
    """`tables` sorted so that every table comes after the tables it references."""
    names = {t.name for t in tables}
    done: list[Table] = []
    pending = list(tables)
    while pending:
        ready = [
            t
            for t in pending
            if all(
                r.table == t.name or r.table not in names or any(d.name == r.table for d in done)
                for r in t.references
            )
        ]
        if not ready:  # pragma: no cover - the schema has no cycles between tables
            raise ValueError("reference cycle between tables")
        for t in ready:
            done.append(t)
            pending.remove(t)
    return done


__all__ = [
    "DECISION_TABLES",
    "DEFAULT_MAX_LENGTH",
    "EVENT_TABLES",
    "TABLES",
    "Column",
    "ColumnType",
    "Different",
    "ExactlyOne",
    "NotAfter",
    "Ordered",
    "Reference",
    "RowRule",
    "Table",
    "arrow_type",
    "ingest_order",
    "table",
]
