"""Edges of ingest found in review: counting, file names, formats, concurrency, lab messages."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ringfence.schema import table
from ringfence.store import Store, UsageError, ingest_files, open_store
from ringfence.store.readers import read_chunks

from .conftest import write

LAB_DATA = Path(__file__).parent / "data" / "lab"


def test_a_row_failing_two_checks_counts_once(store: Store, tmp_path: Path) -> None:
    path = write(
        tmp_path / "persons.csv",
        """
        person_id,household_id,birth_year,district,sex
        P1,H1,19x0,Fengtai,f
        P2,H2,1990,Fengtai,female
    """,
    )
    report = ingest_files(store, "persons", [path])
    assert [r.field for r in report.rejections] == ["birth_year", "sex"]
    assert (report.rejected_count, report.added) == (1, 1)
    assert store.fetchall("SELECT rows_rejected FROM ingest_batches") == [(1,)]


def test_inputs_with_the_same_stem_keep_separate_rejects_files(
    store: Store, tmp_path: Path
) -> None:
    bad = "person_id,household_id,birth_year,district\nP1,H1,nope,F\n"
    write(tmp_path / "persons.csv", bad)
    (tmp_path / "persons.jsonl").write_text(
        '{"person_id": "P2", "household_id": "H2", "birth_year": "nope", "district": "F"}\n'
    )
    write(tmp_path / "persons.0116.csv", bad.replace("P1", "P3"))
    report = ingest_files(
        store,
        "persons",
        [tmp_path / "persons.csv", tmp_path / "persons.jsonl", tmp_path / "persons.0116.csv"],
    )
    assert sorted(p.name for p in report.rejects_files) == [
        "persons.0116.rejects.csv",
        "persons.csv.rejects.csv",
        "persons.jsonl.rejects.csv",
    ]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("visits.csv.gz", "a compressed file is not read; decompress it first"),
        ("visits.tsv", "a tab-separated file is not read; save it as comma-separated CSV"),
        ("visits.xlsx", "a spreadsheet is not read; save the sheet as CSV (UTF-8)"),
    ],
)
def test_unread_formats_are_usage_errors(
    store: Store, tmp_path: Path, name: str, reason: str
) -> None:
    (tmp_path / name).write_bytes(b"x")
    with pytest.raises(UsageError, match=re.escape(reason)):
        ingest_files(store, "visits", [tmp_path / name])


def test_quoted_fields_keep_exact_line_numbers(tmp_path: Path) -> None:
    path = write(
        tmp_path / "places.csv",
        '''
        place_id,kind,district,name
        R1,restaurant,Fengtai,"Noodles, Fengtai"
        R2,restaurant,Fengtai,"Say ""hi"""
        R3,restaurant,Fengtai,"two
        lines"
        R4,restaurant,Fengtai,plain
    ''',
    )
    chunks = list(read_chunks(path, table("places"), "csv"))
    rows = [r for c in chunks for r in c.data.to_pylist()]
    assert [(r["place_id"], r["_line"], r["_span"]) for r in rows] == [
        ("R1", 2, 1),
        ("R2", 3, 1),
        ("R3", 4, 2),
        ("R4", 6, 1),
    ]
    assert rows[1]["name"] == 'Say "hi"' and rows[2]["name"] == "two\nlines"


def test_init_refuses_to_change_the_time_zone(tmp_path: Path) -> None:
    db = str(tmp_path / "x.duckdb")
    run = [sys.executable, "-m", "ringfence", "init", "--db", db]
    assert subprocess.run([*run, "--timezone", "Europe/Paris"]).returncode == 0
    assert subprocess.run(run, capture_output=True).returncode == 0
    changed = subprocess.run([*run, "--timezone", "Asia/Shanghai"], capture_output=True, text=True)
    assert changed.returncode == 1
    assert "already reads naive times in Europe/Paris" in changed.stderr


def test_export_into_a_closed_pipe_stops_quietly(tmp_path: Path) -> None:
    with open_store(tmp_path / "x.duckdb", create=True) as store:
        write(
            tmp_path / "p.csv",
            "person_id,household_id,birth_year,district\n"
            + "".join(f"P{i},H{i},1980,F\n" for i in range(50_000)),
        )
        ingest_files(store, "persons", [tmp_path / "p.csv"])
    result = subprocess.run(
        f"{sys.executable} -m ringfence export persons --db {tmp_path / 'x.duckdb'} | head -2",
        shell=True,
        capture_output=True,
        text=True,
    )
    assert result.stdout.splitlines()[0].startswith("person_id,")
    assert result.stderr == ""


def test_two_ingests_of_the_same_file_at_once_store_it_once(pg_url: str, tmp_path: Path) -> None:
    with open_store(pg_url, create=True) as store:
        write(
            tmp_path / "persons.csv",
            "person_id,household_id,birth_year,district\n"
            + "".join(f"P{i},H{i},1980,F\n" for i in range(20_000)),
        )
    reports = []

    def ingest() -> None:
        with open_store(pg_url) as own:
            reports.append(
                ingest_files(own, "persons", [tmp_path / "persons.csv"], write_rejects=False)
            )

    threads = [threading.Thread(target=ingest) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted((r.added, r.duplicates, r.rejected_count) for r in reports) == [
        (0, 20_000, 0),
        (20_000, 0, 0),
    ]
    with open_store(pg_url) as store:
        assert store.row_counts()["persons"] == 20_000
        batches = store.fetchall("SELECT batch_id FROM ingest_batches ORDER BY batch_id")
        assert len({b[0] for b in batches}) == 2


def test_a_lab_message_with_a_refused_row_stores_nothing(store: Store) -> None:
    pool = LAB_DATA / "fhir_pool_10in1_positive.json"
    single = LAB_DATA / "fhir_pcr_positive_ct_components.json"
    report = ingest_files(store, "fhir", [pool, single], write_rejects=False)
    refused = [r for r in report.rejections if r.file == str(pool)]
    assert refused and all(
        r.reason.endswith("nothing from this message was stored") for r in refused
    )
    assert {r.location for r in refused} == {"entry 19", "entry 20"}
    # The other message is whole and stored; nothing of the pool's eighteen rows is.
    counts = store.row_counts()
    assert (counts["samples"], counts["results"]) == (1, 1)
    assert store.fetchall("SELECT count(*) FROM samples WHERE pool_id IS NOT NULL") == [(0,)]
