"""Schema versions: recorded, migrated forward in one transaction, newer databases refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from ringfence.schema import TABLES, ColumnType
from ringfence.store import SchemaTooNew, Store, StoreError, backends, open_store
from ringfence.store.migrations import MIGRATIONS, Migration

from .conftest import write

LATEST = MIGRATIONS[-1].version
NEXT = LATEST + 1

ADD_NOTE = Migration(
    NEXT,
    "a note on every visit",
    lambda d: [f"ALTER TABLE visits ADD COLUMN note {d.types[ColumnType.STRING]}"],
)


def test_a_new_database_records_its_version_and_time_zone(db_url: str) -> None:
    with open_store(db_url, create=True, timezone="Europe/Berlin") as store:
        assert store.schema_version == MIGRATIONS[-1].version
        assert store.timezone == "Europe/Berlin"
    with open_store(db_url) as store:  # reopening keeps both
        assert (store.schema_version, store.timezone) == (LATEST, "Europe/Berlin")


def test_forward_migration_keeps_the_data(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ringfence.store import ingest_files

    with open_store(db_url, create=True) as store:
        write(tmp_path / "p.csv", "person_id,household_id,birth_year,district\nP1,H1,1980,X\n")
        ingest_files(store, "persons", [tmp_path / "p.csv"])
    monkeypatch.setattr(backends, "MIGRATIONS", (*MIGRATIONS, ADD_NOTE))
    monkeypatch.setattr(backends, "LATEST_VERSION", NEXT)
    with open_store(db_url, create=True) as store:
        assert store.schema_version == NEXT
        assert store.fetchall("SELECT person_id FROM persons") == [("P1",)]
        assert store.fetchall("SELECT count(note) FROM visits") == [(0,)]
    monkeypatch.undo()
    with pytest.raises(
        SchemaTooNew,
        match=f"schema version {NEXT}, but this ringfence supports versions up to {LATEST}",
    ):
        open_store(db_url)


def test_a_failed_migration_changes_nothing(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with open_store(db_url, create=True):
        pass
    broken = Migration(
        NEXT, "broken", lambda d: ["ALTER TABLE visits ADD COLUMN note TEXT", "THIS IS NOT SQL"]
    )
    monkeypatch.setattr(backends, "MIGRATIONS", (*MIGRATIONS, broken))
    monkeypatch.setattr(backends, "LATEST_VERSION", NEXT)
    with pytest.raises(Exception, match=r"(?i)syntax|parser"):
        open_store(db_url, create=True)
    monkeypatch.undo()
    with open_store(db_url) as store:
        assert store.schema_version == LATEST
        columns = store.fetchall(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'visits' AND table_schema = current_schema()"
        )
        assert "note" not in {c[0] for c in columns}


def test_something_else_is_not_taken_for_a_ringfence_database(tmp_path: Path) -> None:
    import duckdb

    other = tmp_path / "other.duckdb"
    duckdb.connect(str(other)).execute("CREATE TABLE t (x INTEGER)").close()
    with pytest.raises(StoreError, match="is not a ringfence database; run `ringfence init`"):
        open_store(other)


def test_the_migrations_build_the_live_schema(store: Store) -> None:
    """A schema change without a migration fails here."""
    rows = store.fetchall(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema()"
    )
    built: dict[str, set[str]] = {}
    for name, column in rows:
        built.setdefault(name, set()).add(column)
    for name, defined in TABLES.items():
        expected = set(defined.column_names) | ({"_batch"} if defined.kind == "event" else set())
        assert built[name] == expected, name


def test_opening_a_missing_database_leaves_no_empty_file_behind(tmp_path: Path) -> None:
    missing = tmp_path / "missing.duckdb"
    with pytest.raises(StoreError, match=r"there is no database at .*; create one with"):
        open_store(missing)
    assert not missing.exists()
