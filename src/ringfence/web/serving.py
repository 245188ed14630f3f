"""Serving the app from several processes: each worker opens its own connection.

PostgreSQL takes many writers, so `ringfence serve --workers N` starts N processes, each with
this factory; sessions, the login rate limit and the audit trail live in the database and
hold across them. DuckDB has one writer: one process serves it.
"""

from __future__ import annotations

import atexit
import os

from fastapi import FastAPI

from ringfence.store import open_store

from .app import create_app

DATABASE_VARIABLE = "RINGFENCE_SERVE_DB"
"""Where a worker finds the database to open (set by `ringfence serve` for its workers)."""


def app_from_environment() -> FastAPI:
    """The app over a new connection to the database named in `RINGFENCE_SERVE_DB`."""
    store = open_store(os.environ[DATABASE_VARIABLE])
    atexit.register(store.close)
    return create_app(store)
