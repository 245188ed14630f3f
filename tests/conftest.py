"""Shared fixtures: a fresh store on each engine, the real PostgreSQL server included.

PostgreSQL tests run against the server on 127.0.0.1:5432 (or `$RINGFENCE_TEST_PG`); each
test gets a schema of its own, dropped afterwards. In CI (`CI` set) a missing server is a
failure, never a skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest

from ringfence.store import Store, open_store

PG_BASE = os.environ.get("RINGFENCE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _postgres_available() -> bool:
    try:
        with psycopg.connect(PG_BASE, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


PG_UP = _postgres_available()


def require_postgres() -> None:
    if not PG_UP:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable at {PG_BASE}; CI must run these tests")
        pytest.skip("PostgreSQL is not running here")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh, empty schema."""
    require_postgres()
    schema = "rf_" + uuid.uuid4().hex[:12]
    with psycopg.connect(PG_BASE, autocommit=True) as con:
        con.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in PG_BASE else "?"
    yield f"{PG_BASE}{separator}options={quote(f'-csearch_path={schema}')}"
    with psycopg.connect(PG_BASE, autocommit=True) as con:
        con.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["duckdb", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database location on each engine (not yet created)."""
    if request.param == "duckdb":
        return str(tmp_path / "test.duckdb")
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """A fresh, migrated store on each engine."""
    with open_store(db_url, create=True) as opened:
        yield opened


def write(path: Path, text: str) -> Path:
    """Write `text` (dedented lines) to `path` and return it."""
    import textwrap

    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path
