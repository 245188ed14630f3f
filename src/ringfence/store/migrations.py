"""Schema versions: each migration moves a database one version forward, in one transaction.

A database records its version in `ringfence_meta`; opening it migrates it forward, and a
database newer than this code is refused rather than guessed at. Migrations are frozen: once
released, a migration never changes. A change to `ringfence.schema` comes with a new
migration (`tests/test_migrations.py` fails until the migrations build the live schema).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ringfence.schema import ColumnType

from .dialect import BATCH_COLUMN, POSTGRESQL, Dialect, column_list, q

META_TABLE = "ringfence_meta"
BATCHES_TABLE = "ingest_batches"
BATCH_SEQUENCE = "ingest_batch_id"


@dataclass(frozen=True)
class Migration:
    """The statements that take a database from `version - 1` to `version`."""

    version: int
    description: str
    statements: Callable[[Dialect], list[str]]


S, INT, F, B, D, T, L = (
    ColumnType.STRING,
    ColumnType.INTEGER,
    ColumnType.FLOAT,
    ColumnType.BOOLEAN,
    ColumnType.DATE,
    ColumnType.INSTANT,
    ColumnType.STRING_LIST,
)

# Version 1 as released: (kind, key, columns) per table.
V1_TABLES: dict[str, tuple[str, tuple[str, ...], tuple[tuple[str, ColumnType], ...]]] = {
    "persons": (
        "event",
        ("person_id",),
        (
            ("person_id", S),
            ("household_id", S),
            ("birth_year", INT),
            ("district", S),
            ("sex", S),
            ("group", S),
            ("loop_id", S),
            ("pregnant", B),
            ("comorbidity", B),
            ("name", S),
            ("phone", S),
        ),
    ),
    "places": (
        "event",
        ("place_id",),
        (
            ("place_id", S),
            ("kind", S),
            ("district", S),
            ("parent_id", S),
            ("loop_id", S),
            ("capacity", INT),
            ("name", S),
        ),
    ),
    "visits": (
        "event",
        ("person_id", "place_id", "start"),
        (
            ("person_id", S),
            ("place_id", S),
            ("start", T),
            ("end", T),
            ("source", S),
        ),
    ),
    "proximity": (
        "event",
        ("person_id", "other_person_id", "start"),
        (
            ("person_id", S),
            ("other_person_id", S),
            ("start", T),
            ("end", T),
            ("distance_m", F),
            ("source", S),
        ),
    ),
    "samples": (
        "event",
        ("sample_id",),
        (
            ("sample_id", S),
            ("person_id", S),
            ("place_id", S),
            ("collected_at", T),
            ("test", S),
            ("pool_id", S),
            ("purpose", S),
            ("item", S),
        ),
    ),
    "results": (
        "event",
        ("result_id",),
        (
            ("result_id", S),
            ("sample_id", S),
            ("pool_id", S),
            ("reported_at", T),
            ("outcome", S),
            ("ct", F),
            ("ct_orf1ab", F),
            ("ct_n", F),
        ),
    ),
    "symptoms": (
        "event",
        ("person_id", "reported_at"),
        (
            ("person_id", S),
            ("reported_at", T),
            ("onset", D),
            ("severity", S),
            ("temperature_c", F),
        ),
    ),
    "arrivals": (
        "event",
        ("person_id", "arrived_at"),
        (
            ("person_id", S),
            ("arrived_at", T),
            ("origin", S),
            ("port", S),
            ("flight", S),
            ("vaccinated_on", D),
        ),
    ),
    "departures": (
        "event",
        ("person_id", "departed_at"),
        (
            ("person_id", S),
            ("departed_at", T),
            ("destination", S),
            ("port", S),
        ),
    ),
    "sequences": (
        "event",
        ("sample_id", "reported_at"),
        (
            ("sample_id", S),
            ("lineage", S),
            ("reported_at", T),
        ),
    ),
    "purchases": (
        "event",
        ("person_id", "place_id", "bought_at"),
        (
            ("person_id", S),
            ("place_id", S),
            ("bought_at", T),
            ("category", S),
        ),
    ),
    "actions": (
        "event",
        ("action_id",),
        (
            ("action_id", S),
            ("at", T),
            ("actor", S),
            ("kind", S),
            ("target", S),
            ("reason", S),
        ),
    ),
    "cases": (
        "decision",
        ("case_id",),
        (
            ("case_id", S),
            ("person_id", S),
            ("confirmed_at", T),
            ("classification", S),
            ("converted_at", T),
            ("origin", S),
            ("variant", S),
            ("severity", S),
            ("found_by", S),
        ),
    ),
    "contacts": (
        "decision",
        ("person_id", "case_person_id", "kind"),
        (
            ("person_id", S),
            ("case_person_id", S),
            ("kind", S),
            ("first_exposure", T),
            ("last_exposure", T),
            ("minutes", F),
            ("place_ids", L),
        ),
    ),
    "orders": (
        "decision",
        ("order_id",),
        (
            ("order_id", S),
            ("person_id", S),
            ("place_id", S),
            ("kind", S),
            ("start", T),
            ("planned_end", T),
            ("released_at", T),
            ("rule", S),
            ("guardian_of", S),
        ),
    ),
    "risk_areas": (
        "decision",
        ("area_id", "start"),
        (
            ("area_id", S),
            ("level", S),
            ("start", T),
            ("end", T),
            ("rule", S),
        ),
    ),
    "test_plans": (
        "decision",
        ("plan_id",),
        (
            ("plan_id", S),
            ("date", D),
            ("person_id", S),
            ("purpose", S),
            ("pool_id", S),
        ),
    ),
    "explanations": (
        "decision",
        ("decision_table", "decision_key", "rule"),
        (
            ("decision_table", S),
            ("decision_key", S),
            ("rule", S),
            ("parameter", S),
            ("source", S),
            ("evidence", S),
        ),
    ),
}


def _initial_schema(dialect: Dialect) -> list[str]:
    text = dialect.types[ColumnType.STRING]
    statements = [
        f"CREATE SEQUENCE {BATCH_SEQUENCE} START 1",
        f"CREATE TABLE {BATCHES_TABLE} (batch_id BIGINT PRIMARY KEY, kind {text} NOT NULL, "
        f"files {text} NOT NULL, started_at TIMESTAMPTZ NOT NULL, "
        f"committed_at TIMESTAMPTZ NOT NULL, rows_read BIGINT NOT NULL, "
        f"rows_added BIGINT NOT NULL, rows_duplicate BIGINT NOT NULL, "
        f"rows_rejected BIGINT NOT NULL, actor {text})",
    ]
    for name, (kind, key, columns) in V1_TABLES.items():
        definitions = [f"{q(column)} {dialect.types[type_]}" for column, type_ in columns]
        if kind == "event":
            definitions.append(f"{q(BATCH_COLUMN)} BIGINT NOT NULL")
        statements.append(f"CREATE TABLE {q(name)} ({', '.join(definitions)})")
        if kind == "event" and dialect is POSTGRESQL:
            # PostgreSQL finds a key among millions of rows through an index; DuckDB's hash
            # joins need none, and its ART indexes would slow bulk appends.
            statements.append(
                f"CREATE UNIQUE INDEX {q(name + '_key')} ON {q(name)} ({column_list(key)})"
            )
    if dialect is POSTGRESQL:
        statements.append(f"CREATE INDEX samples_pool ON samples ({q('pool_id')})")
    return statements


RUNS_TABLE = "cycle_runs"


def _control_cycle(dialect: Dialect) -> list[str]:
    text, instant, date_ = (
        dialect.types[ColumnType.STRING],
        dialect.types[ColumnType.INSTANT],
        dialect.types[ColumnType.DATE],
    )
    return [
        f"ALTER TABLE cases ADD COLUMN onset {date_}",
        f"ALTER TABLE cases ADD COLUMN sample_id {text}",
        f"ALTER TABLE cases ADD COLUMN key_group {text}",
        f"ALTER TABLE test_plans ADD COLUMN place_id {text}",
        f"CREATE TABLE alerts (alert_id {text}, person_id {text}, kind {text}, "
        f"{q('at')} {instant}, {q('rule')} {text})",
        f"CREATE TABLE {RUNS_TABLE} (run_id BIGINT PRIMARY KEY, as_of {instant} NOT NULL, "
        f"protocol {text} NOT NULL, fingerprint {text} NOT NULL, started_at {instant} NOT NULL, "
        f"finished_at {instant} NOT NULL, summary {text} NOT NULL)",
    ]


USERS_TABLE, SESSIONS_TABLE, TOKENS_TABLE, AUDIT_TABLE, LOGIN_FAILURES_TABLE = (
    "users", "sessions", "api_tokens", "audit_log", "login_failures",
)  # fmt: skip


def _access(dialect: Dialect) -> list[str]:
    """Users and their roles, revocable sessions and tokens (only hashes are stored), failed
    logins (for the rate limit, shared by every server process), and the append-only audit
    trail of reads and writes of personal data."""
    text, instant = dialect.types[ColumnType.STRING], dialect.types[ColumnType.INSTANT]
    return [
        f"CREATE TABLE {USERS_TABLE} (username {text} PRIMARY KEY, {q('role')} {text} NOT NULL, "
        f"person_id {text}, password_hash {text} NOT NULL, created_at {instant} NOT NULL, "
        f"removed_at {instant})",
        f"CREATE TABLE {SESSIONS_TABLE} (session_hash {text} PRIMARY KEY, username {text} NOT "
        f"NULL, csrf_token {text} NOT NULL, created_at {instant} NOT NULL, expires_at {instant} "
        f"NOT NULL, revoked_at {instant})",
        f"CREATE TABLE {TOKENS_TABLE} (token_id {text} PRIMARY KEY, token_hash {text} NOT NULL, "
        f"username {text} NOT NULL, scopes {text} NOT NULL, created_at {instant} NOT NULL, "
        f"revoked_at {instant})",
        f"CREATE TABLE {LOGIN_FAILURES_TABLE} (username {text} NOT NULL, {q('at')} {instant} "
        "NOT NULL)",
        f"CREATE TABLE {AUDIT_TABLE} (audit_id {text} PRIMARY KEY, {q('at')} {instant} NOT NULL, "
        f"actor {text} NOT NULL, {q('role')} {text} NOT NULL, {q('action')} {text} NOT NULL, "
        f"resource {text} NOT NULL, row_keys {text} NOT NULL)",
    ]


READ_INDEXES: dict[str, tuple[tuple[str, ...], ...]] = {
    "cases": (("case_id",), ("person_id",)),
    "contacts": (("person_id", "case_person_id", "kind"), ("case_person_id",)),
    "orders": (("order_id",), ("person_id",), ("place_id",)),
    "test_plans": (("plan_id",), ("person_id",), ("date", "plan_id")),
    "explanations": (("decision_table", "decision_key"),),
    "alerts": (("person_id",),),
    "visits": (("place_id", "start"),),
}
"""The columns the web app looks rows up by (a person, a case, a place, a day), and the
keys its pages are ordered by."""


def _read_indexes(dialect: Dialect) -> list[str]:
    """Indexes for the web app's lookups on PostgreSQL, so that a person's page or a page of
    a list reads a few rows of millions. DuckDB scans columns fast enough without, and its
    indexes would slow the cycle's bulk writes. Not unique: a key is the cycle's promise,
    not something a server should fail a run over."""
    if dialect is not POSTGRESQL:
        return []
    return [
        f"CREATE INDEX {q(table + '_by_' + '_'.join(columns))} ON {q(table)} "
        f"({column_list(columns)})"
        for table, indexes in READ_INDEXES.items()
        for columns in indexes
    ] + [
        # Only environment samples name a place: a partial index leaves mass testing's
        # millions of personal samples out of it.
        "CREATE INDEX samples_by_place_id ON samples (place_id) WHERE place_id IS NOT NULL"
    ]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "event, decision and ingest-batch tables", _initial_schema),
    Migration(2, "control cycle: alerts, cycle runs, case and plan details", _control_cycle),
    Migration(3, "users, sessions, tokens, login failures and the audit trail", _access),
    Migration(4, "indexes for the web app's lookups (PostgreSQL)", _read_indexes),
)

LATEST_VERSION = MIGRATIONS[-1].version
