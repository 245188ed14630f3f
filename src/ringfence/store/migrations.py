"""Schema versions: each migration moves a database one version forward, in one transaction.

A database records its version in `ringfence_meta`; opening it migrates it forward, and a
database newer than this code is refused rather than guessed at.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ringfence.schema import DECISION_TABLES, EVENT_TABLES, ColumnType

from .dialect import POSTGRESQL, Dialect, column_list, create_table_sql, q

META_TABLE = "ringfence_meta"
BATCHES_TABLE = "ingest_batches"


@dataclass(frozen=True)
class Migration:
    """The statements that take a database from `version - 1` to `version`."""

    version: int
    description: str
    statements: Callable[[Dialect], list[str]]


def _initial_schema(dialect: Dialect) -> list[str]:
    text = dialect.types[ColumnType.STRING]
    statements = [
        f"CREATE TABLE {BATCHES_TABLE} (batch_id BIGINT PRIMARY KEY, kind {text} NOT NULL, "
        f"files {text} NOT NULL, started_at TIMESTAMPTZ NOT NULL, "
        f"committed_at TIMESTAMPTZ NOT NULL, rows_read BIGINT NOT NULL, "
        f"rows_added BIGINT NOT NULL, rows_duplicate BIGINT NOT NULL, "
        f"rows_rejected BIGINT NOT NULL, actor {text})",
    ]
    for table in (*EVENT_TABLES, *DECISION_TABLES):
        statements.append(create_table_sql(table, dialect))
    if dialect is POSTGRESQL:
        # PostgreSQL finds a key among millions of rows through an index; DuckDB's hash
        # joins need none, and its ART indexes would slow bulk appends.
        for table in EVENT_TABLES:
            statements.append(
                f"CREATE UNIQUE INDEX {q(table.name + '_key')} ON {q(table.name)} "
                f"({column_list(table.key)})"
            )
        statements.append(f"CREATE INDEX samples_pool ON samples ({q('pool_id')})")
    return statements


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "event, decision and ingest-batch tables", _initial_schema),
)

LATEST_VERSION = MIGRATIONS[-1].version
