"""Every event table round-trips CSV → store → export, on DuckDB and on PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ringfence.schema import EVENT_TABLES, ColumnType, ingest_order
from ringfence.store import Store, export_table, ingest_files, open_store

from .sample_events import SAMPLE_CSV, expected_rows, exported_rows, parse_instant, write_sample


def _load_sample(store: Store, directory: Path) -> None:
    paths = write_sample(directory)
    for table in ingest_order(list(EVENT_TABLES)):
        report = ingest_files(store, table.name, [paths[table.name]])
        assert report.rejections == [], [str(r) for r in report.rejections]
        assert report.added == len(SAMPLE_CSV[table.name].splitlines()) - 1


def _export(store: Store, name: str, fmt: str) -> bytes:
    buffer = io.BytesIO()
    export_table(store, name, fmt, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("table", EVENT_TABLES, ids=lambda t: t.name)
def test_csv_round_trip(store: Store, tmp_path: Path, table) -> None:  # type: ignore[no-untyped-def]
    _load_sample(store, tmp_path)
    exported = _export(store, table.name, "csv").decode("utf-8")
    assert exported_rows(table, exported) == expected_rows(table, SAMPLE_CSV[table.name])


def test_instants_export_in_local_time_with_offset(store: Store, tmp_path: Path) -> None:
    _load_sample(store, tmp_path)
    text = _export(store, "visits", "csv").decode()
    assert text.splitlines()[0] == "person_id,place_id,start,end,source"
    rows = [",".join(r) for r in csv.reader(text.splitlines()[1:])]
    # P2's visit was written with +08:00 and Z; it comes back as local time with the offset.
    assert "P2,REST1,2022-01-15T12:10:00+08:00,2022-01-15T12:50:00+08:00,scan" in rows
    assert "M1,HOTEL1,2022-01-10T21:30:00.250000+08:00,2022-01-10T21:40:00+08:00,badge" in rows


def test_jsonl_and_parquet_exports_hold_the_same_rows(store: Store, tmp_path: Path) -> None:
    _load_sample(store, tmp_path)
    table = next(t for t in EVENT_TABLES if t.name == "results")
    expected = expected_rows(table, SAMPLE_CSV["results"])
    jsonl = [json.loads(line) for line in _export(store, "results", "jsonl").splitlines()]
    parquet = pq.read_table(io.BytesIO(_export(store, "results", "parquet"))).to_pylist()
    for rows in (jsonl, parquet):
        for row in rows:
            if isinstance(row["reported_at"], str):
                row["reported_at"] = parse_instant(row["reported_at"])
        assert sorted(rows, key=lambda r: r["result_id"]) == expected


def test_both_engines_export_identical_bytes(tmp_path: Path, pg_url: str) -> None:
    exports = []
    for index, url in enumerate([str(tmp_path / "a.duckdb"), pg_url]):
        directory = tmp_path / str(index)
        directory.mkdir()
        with open_store(url, create=True) as store:
            _load_sample(store, directory)
            exports.append({t.name: _export(store, t.name, "csv") for t in EVENT_TABLES})
    assert exports[0] == exports[1]


def test_exported_csv_ingests_again_as_duplicates(store: Store, tmp_path: Path) -> None:
    """An export is a valid input: re-ingesting it stores nothing new and refuses nothing."""
    _load_sample(store, tmp_path)
    for table in ingest_order(list(EVENT_TABLES)):
        path = tmp_path / f"export-{table.name}.csv"
        path.write_bytes(_export(store, table.name, "csv"))
        report = ingest_files(store, table.name, [path])
        assert (report.added, report.rejected_count) == (0, 0), [str(r) for r in report.rejections]
        assert report.duplicates == len(SAMPLE_CSV[table.name].splitlines()) - 1


def test_every_column_kind_is_exercised() -> None:
    kinds = {
        c.type
        for t in EVENT_TABLES
        for c in t.columns
        if any(c.name in line.split(",")[0:20] for line in SAMPLE_CSV[t.name].splitlines()[:1])
    }
    assert kinds >= {
        ColumnType.STRING,
        ColumnType.INTEGER,
        ColumnType.FLOAT,
        ColumnType.BOOLEAN,
        ColumnType.DATE,
        ColumnType.INSTANT,
    }
