"""Schema versions: recorded, migrated forward in one transaction, newer databases refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from ringfence.schema import ColumnType
from ringfence.store import SchemaTooNew, StoreError, backends, open_store
from ringfence.store.migrations import MIGRATIONS, Migration

from .conftest import write

ADD_NOTE = Migration(
    2,
    "a note on every visit",
    lambda d: [f"ALTER TABLE visits ADD COLUMN note {d.types[ColumnType.STRING]}"],
)


def test_a_new_database_records_its_version_and_time_zone(db_url: str) -> None:
    with open_store(db_url, create=True, timezone="Europe/Berlin") as store:
        assert store.schema_version == MIGRATIONS[-1].version
        assert store.timezone == "Europe/Berlin"
    with open_store(db_url) as store:  # reopening keeps both
        assert (store.schema_version, store.timezone) == (1, "Europe/Berlin")


def test_forward_migration_keeps_the_data(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ringfence.store import ingest_files

    with open_store(db_url, create=True) as store:
        write(tmp_path / "p.csv", "person_id,household_id,birth_year,district\nP1,H1,1980,X\n")
        ingest_files(store, "persons", [tmp_path / "p.csv"])
    monkeypatch.setattr(backends, "MIGRATIONS", (*MIGRATIONS, ADD_NOTE))
    monkeypatch.setattr(backends, "LATEST_VERSION", 2)
    with open_store(db_url, create=True) as store:
        assert store.schema_version == 2
        assert store.fetchall("SELECT person_id FROM persons") == [("P1",)]
        assert store.fetchall("SELECT count(note) FROM visits") == [(0,)]
    monkeypatch.undo()
    with pytest.raises(
        SchemaTooNew, match="schema version 2, but this ringfence supports versions up to 1"
    ):
        open_store(db_url)


def test_a_failed_migration_changes_nothing(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with open_store(db_url, create=True):
        pass
    broken = Migration(
        2, "broken", lambda d: ["ALTER TABLE visits ADD COLUMN note TEXT", "THIS IS NOT SQL"]
    )
    monkeypatch.setattr(backends, "MIGRATIONS", (*MIGRATIONS, broken))
    monkeypatch.setattr(backends, "LATEST_VERSION", 2)
    with pytest.raises(Exception, match=r"(?i)syntax|parser"):
        open_store(db_url, create=True)
    monkeypatch.undo()
    with open_store(db_url) as store:
        assert store.schema_version == 1
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
