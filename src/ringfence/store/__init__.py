"""The database: create, migrate, ingest (validate, refuse with reasons, deduplicate), read.

`open_store` opens a DuckDB file (the embedded default) or a PostgreSQL database from a URL;
`ingest_files` loads event files and lab messages into it as one atomic batch.
"""

from __future__ import annotations

import os

from .backends import DEFAULT_TIMEZONE, DuckDBStore, PostgresStore, Store, duckdb_connect
from .checks import CheckSettings
from .errors import SchemaTooNew, StoreBusy, StoreError, UsageError
from .export import EXPORT_FORMATS, export_table
from .ingest import IngestReport, Rejection, default_settings, ingest_files, rejects_path
from .migrations import LATEST_VERSION
from .url import DatabaseURL, resolve_database


def open_store(
    db: str | os.PathLike[str] | None = None,
    *,
    create: bool = False,
    read_only: bool = False,
    timezone: str | None = None,
) -> Store:
    """Open the database `db` (a path, a `postgresql://` URL, or `$RINGFENCE_DB`).

    With `create`, a missing database is created; without it, the database must exist
    already. An older schema is migrated forward unless the store is opened read-only. A
    database written by a newer ringfence is refused with `SchemaTooNew`; a DuckDB file held
    by another process with `StoreBusy`.
    """
    url = resolve_database(db)
    store: Store
    if url.backend == "postgresql":
        store = PostgresStore(url)
    else:
        # Without `create`, a missing file is an error, not a new empty file left behind.
        store = DuckDBStore(
            url, read_only=(read_only or not os.path.exists(url.target)) and not create
        )
    try:
        if create:
            store.migrate(timezone=timezone)
        else:
            store.check_version()
            if not read_only and store.schema_version < LATEST_VERSION:
                store.migrate()
    except BaseException:
        store.close()
        raise
    return store


__all__ = [
    "DEFAULT_TIMEZONE",
    "EXPORT_FORMATS",
    "CheckSettings",
    "DatabaseURL",
    "DuckDBStore",
    "IngestReport",
    "PostgresStore",
    "Rejection",
    "SchemaTooNew",
    "Store",
    "StoreBusy",
    "StoreError",
    "UsageError",
    "default_settings",
    "duckdb_connect",
    "export_table",
    "ingest_files",
    "open_store",
    "rejects_path",
    "resolve_database",
]
