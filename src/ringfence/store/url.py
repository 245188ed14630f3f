"""Where a database lives: a DuckDB file path or a PostgreSQL URL, and how to show it safely."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

DEFAULT_DB = "ringfence.duckdb"
ENV_VAR = "RINGFENCE_DB"


@dataclass(frozen=True)
class DatabaseURL:
    """A parsed `--db` value: `backend` is "duckdb" or "postgresql"."""

    backend: str
    target: str
    """The file path for DuckDB, the connection URL for PostgreSQL."""

    @property
    def masked(self) -> str:
        """The location with any password replaced by `***`, safe to print or log."""
        if self.backend != "postgresql":
            return self.target
        parts = urlsplit(self.target)
        if parts.password is None:
            return self.target
        user = parts.username or ""
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        netloc = f"{user}:***@{host}{port}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def resolve_database(value: str | os.PathLike[str] | None = None) -> DatabaseURL:
    """The database named by `value`, else by `$RINGFENCE_DB`, else `./ringfence.duckdb`.

    A `postgresql://` (or `postgres://`) URL selects PostgreSQL; anything else is a DuckDB
    file path, optionally written as `duckdb:///path`.
    """
    raw = os.fspath(value) if value is not None else os.environ.get(ENV_VAR) or DEFAULT_DB
    if raw.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        return DatabaseURL("postgresql", raw.replace("postgresql+psycopg://", "postgresql://", 1))
    if raw.startswith("duckdb://"):
        raw = raw.removeprefix("duckdb://")
    return DatabaseURL("duckdb", str(Path(raw)))
