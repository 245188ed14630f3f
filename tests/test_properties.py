"""Properties of ingest over any mix of rows, checked against a plain-Python oracle:
exactly the valid rows are stored (the first valid row of each key wins), and ingesting the
same input twice stores what ingesting it once does."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ringfence.store import Store, export_table, ingest_files, open_store

from .conftest import require_postgres, write
from .sample_events import parse_instant

KNOWN_PERSONS = ("P1", "P2", "P3")
PLACES = ("REST1", "MKT1")
SOURCES = ("scan", "badge", "roster")
BASE = datetime(2022, 1, 15, 8, 0)

CORRUPTIONS = (
    "none",
    "unknown_person",
    "end_before_start",
    "bad_instant",
    "bad_source",
    "missing_place",
)


@st.composite
def visit_rows(draw: st.DrawFn) -> dict[str, Any]:
    corruption = draw(st.sampled_from(CORRUPTIONS))
    start = BASE + timedelta(minutes=15 * draw(st.integers(0, 3)))
    minutes = draw(st.integers(1, 120))
    row = {
        "person_id": draw(st.sampled_from(KNOWN_PERSONS)),
        "place_id": draw(st.sampled_from(PLACES)),
        "start": start.strftime("%Y-%m-%d %H:%M:%S"),
        "end": (start + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S+08:00"),
        "source": draw(st.sampled_from(SOURCES)),
    }
    if corruption == "unknown_person":
        row["person_id"] = "P404"
    elif corruption == "end_before_start":
        row["end"] = (start - timedelta(minutes=minutes)).strftime("%Y-%m-%d %H:%M:%S")
    elif corruption == "bad_instant":
        row["start"] = start.strftime("%d/%m/%Y %H:%M")
    elif corruption == "bad_source":
        row["source"] = "carrier pigeon"
    elif corruption == "missing_place":
        row["place_id"] = ""
    return {"row": row, "valid": corruption == "none"}


def oracle(
    batches: list[list[dict[str, Any]]],
) -> tuple[dict[tuple[str, str, datetime], tuple[datetime, str]], list[int]]:
    """What the store should hold after ingesting `batches` in order, and refusals per batch."""
    stored: dict[tuple[str, str, datetime], tuple[datetime, str]] = {}
    refused = []
    for batch in batches:
        count = 0
        for item in batch:
            row = item["row"]
            if not item["valid"]:
                count += 1
                continue
            key = (row["person_id"], row["place_id"], parse_instant(row["start"]))
            content = (parse_instant(row["end"]), row["source"])
            if key in stored:
                count += stored[key] != content
            else:
                stored[key] = content
        refused.append(count)
    return stored, refused


def stored_visits(store: Store) -> dict[tuple[str, str, datetime], tuple[datetime, str]]:
    buffer = io.BytesIO()
    export_table(store, "visits", "csv", buffer)
    rows = csv.DictReader(buffer.getvalue().decode().splitlines())
    return {
        (r["person_id"], r["place_id"], parse_instant(r["start"])): (
            parse_instant(r["end"]),
            r["source"],
        )
        for r in rows
    }


def write_visits(path: Path, items: list[dict[str, Any]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, ["person_id", "place_id", "start", "end", "source"])
        writer.writeheader()
        for item in items:
            writer.writerow(item["row"])
    return path


def fresh_store(url: str, directory: Path) -> Store:
    store = open_store(url, create=True)
    persons = write(
        directory / "persons.csv",
        "person_id,household_id,birth_year,district\n"
        + "".join(f"{p},H{p},1980,Fengtai\n" for p in KNOWN_PERSONS),
    )
    places = write(
        directory / "places.csv",
        "place_id,kind,district\n" + "".join(f"{p},restaurant,Fengtai\n" for p in PLACES),
    )
    ingest_files(store, "persons", [persons])
    ingest_files(store, "places", [places])
    return store


CLOCK_SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def check_batches(url: str, directory: Path, batches: list[list[dict[str, Any]]]) -> None:
    expected, refused = oracle(batches)
    with fresh_store(url, directory) as store:
        for index, batch in enumerate(batches):
            path = write_visits(directory / f"batch{index}.csv", batch)
            report = ingest_files(store, "visits", [path], write_rejects=False)
            assert report.rejected_count == refused[index]
            assert report.rows_read == len(batch)
        assert stored_visits(store) == expected


@CLOCK_SETTINGS
@given(batches=st.lists(st.lists(visit_rows(), max_size=25), min_size=1, max_size=3))
def test_stores_exactly_the_valid_rows(
    tmp_path_factory: Any, batches: list[list[dict[str, Any]]]
) -> None:
    directory = tmp_path_factory.mktemp("prop")
    check_batches(str(directory / "p.duckdb"), directory, batches)


@CLOCK_SETTINGS
@given(rows=st.lists(visit_rows(), max_size=30))
def test_ingesting_twice_equals_ingesting_once(
    tmp_path_factory: Any, rows: list[dict[str, Any]]
) -> None:
    directory = tmp_path_factory.mktemp("twice")
    with fresh_store(str(directory / "t.duckdb"), directory) as store:
        path = write_visits(directory / "visits.csv", rows)
        first = ingest_files(store, "visits", [path], write_rejects=False)
        once = stored_visits(store)
        second = ingest_files(store, "visits", [path], write_rejects=False)
        assert stored_visits(store) == once
        assert second.added == 0
        assert second.rejected_count == first.rejected_count
        assert second.duplicates == first.added + first.duplicates


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batches=st.lists(st.lists(visit_rows(), max_size=25), min_size=1, max_size=2))
def test_postgres_agrees_with_the_oracle(
    pg_url: str, tmp_path_factory: Any, batches: list[list[dict[str, Any]]]
) -> None:
    require_postgres()
    directory = tmp_path_factory.mktemp("pg")
    import psycopg

    from .conftest import PG_BASE

    with psycopg.connect(PG_BASE, autocommit=True) as con:
        schema = pg_url.rsplit("%3D", 1)[1]
        con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        con.execute(f"CREATE SCHEMA {schema}")
    check_batches(pg_url, directory, batches)


def test_oracle_sees_conflicts() -> None:
    """The oracle itself: a later valid row with the same key and other content is refused."""
    row = {
        "person_id": "P1",
        "place_id": "REST1",
        "start": "2022-01-15 08:00:00",
        "end": "2022-01-15T09:00:00+08:00",
        "source": "scan",
    }
    other = dict(row, source="badge")
    stored, refused = oracle([[{"row": row, "valid": True}, {"row": other, "valid": True}]])
    assert refused == [1]
    assert list(stored.values()) == [(datetime(2022, 1, 15, 1, 0, tzinfo=UTC), "scan")]
