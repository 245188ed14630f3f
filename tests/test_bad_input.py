"""Bad input: a file per failure class → the right message at the right line, the good rows
stored, and nothing else in the database changed."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ringfence.schema import EVENT_TABLES
from ringfence.store import Store, export_table, ingest_files

from .conftest import write

LAB_DATA = Path(__file__).parent / "data" / "lab"


def snapshot(store: Store) -> dict[str, list[str]]:
    """Every event table as sorted JSON lines: what 'nothing else changed' is checked on."""
    tables = {}
    for table in EVENT_TABLES:
        buffer = io.BytesIO()
        export_table(store, table.name, "jsonl", buffer)
        tables[table.name] = sorted(buffer.getvalue().decode().splitlines())
    return tables


@pytest.fixture
def base(store: Store, tmp_path: Path) -> Store:
    """A store holding two persons and two places."""
    persons = write(
        tmp_path / "base-persons.csv",
        """
        person_id,household_id,birth_year,district,name
        P1,H1,1980,Fengtai,Wang Fang
        P2,H2,1990,Fengtai,Zhao Lei
    """,
    )
    places = write(
        tmp_path / "base-places.csv",
        """
        place_id,kind,district
        REST1,restaurant,Fengtai
        MKT1,cold_chain,Fengtai
    """,
    )
    assert ingest_files(store, "persons", [persons]).rejected_count == 0
    assert ingest_files(store, "places", [places]).rejected_count == 0
    return store


def ingest_expecting(store: Store, kind: str, path: Path, messages: list[str], added: int) -> None:
    """Ingest `path`; assert exactly `messages` and that only `added` rows were stored."""
    before = snapshot(store)
    report = ingest_files(store, kind, [path])
    assert [str(r) for r in report.rejections] == messages
    assert report.added == added
    assert report.exit_code == (1 if messages else 0)
    after = snapshot(store)
    for name in before:
        if name != kind and kind not in ("fhir", "hl7"):
            assert after[name] == before[name], f"{name} changed"
    assert set(before[kind if kind in after else "persons"]) <= set(
        after[kind if kind in after else "persons"]
    )


def test_missing_required_column(base: Store, tmp_path: Path) -> None:
    path = write(
        tmp_path / "visits.csv",
        """
        person_id,place_id,start
        P1,REST1,2022-01-15 12:00:00
    """,
    )
    ingest_expecting(
        base,
        "visits",
        path,
        [
            f"{path}:1: end: required column is missing from the header of visits; nothing in this "
            "file was stored"
        ],
        added=0,
    )


def test_unknown_column(base: Store, tmp_path: Path) -> None:
    path = write(
        tmp_path / "visits.csv",
        """
        person_id,place_id,start,end,stat
        P1,REST1,2022-01-15 12:00:00,2022-01-15 13:00:00,x
    """,
    )
    report = ingest_files(base, "visits", [path])
    assert str(report.rejections[0]).startswith(f"{path}:1: stat: unknown column for visits")
    assert report.added == 0


def test_wrong_type(base: Store, tmp_path: Path) -> None:
    path = write(
        tmp_path / "persons.csv",
        """
        person_id,household_id,birth_year,district,pregnant
        P3,H3,1975,Fengtai,no
        P4,H4,nineteen,Fengtai,
        P5,H5,1988,Fengtai,perhaps
        P6,H6,1950.5,Fengtai,
    """,
    )
    ingest_expecting(
        base,
        "persons",
        path,
        [
            f"{path}:3: birth_year: not a whole number: 'nineteen'",
            f"{path}:4: pregnant: not true or false: 'perhaps'",
            f"{path}:5: birth_year: not a whole number: '1950.5'",
        ],
        added=1,
    )


def test_bad_timestamps(base: Store, tmp_path: Path) -> None:
    path = write(
        tmp_path / "visits.csv",
        """
        person_id,place_id,start,end
        P1,REST1,2022-01-15 12:00:00,2022-01-15 13:00:00
        P1,MKT1,2022-13-45 10:00:00,2022-01-15 13:00:00
        P2,REST1,15/01/2022 12:00,2022-01-15 13:00:00
        P2,MKT1,2022-01-15 12:00:00 Asia/Tokyo,2022-01-15 13:00:00
        P1,REST1,2022-01-16,2022-01-16 13:00:00
    """,
    )
    example = "(e.g. 2022-01-23T10:00:00+08:00)"
    ingest_expecting(
        base,
        "visits",
        path,
        [
            f"{path}:3: start: not an ISO 8601 instant {example}: '2022-13-45 10:00:00'",
            f"{path}:4: start: not an ISO 8601 instant {example}: '15/01/2022 12:00'",
            f"{path}:5: start: not an ISO 8601 instant {example}: '2022-01-15 12:00:00 Asia/Tokyo'",
            f"{path}:6: start: not an ISO 8601 instant {example}: '2022-01-16'",
        ],
        added=1,
    )


def test_end_before_start_and_row_rules(base: Store, tmp_path: Path) -> None:
    visits = write(
        tmp_path / "visits.csv",
        """
        person_id,place_id,start,end
        P1,REST1,2022-01-15 12:00:00,2022-01-15 11:00:00
        P2,REST1,2022-01-15 12:00:00,2022-01-15 12:00:00
        P2,MKT1,2022-01-15 12:00:00,2022-01-15 12:00:01
    """,
    )
    ingest_expecting(
        base,
        "visits",
        visits,
        [
            f"{visits}:2: end: must be after start",
            f"{visits}:3: end: must be after start",
        ],
        added=1,
    )
    samples = write(
        tmp_path / "samples.csv",
        """
        sample_id,person_id,place_id,collected_at,test
        S1,P1,MKT1,2022-01-15 08:00:00,pcr
        S2,,,2022-01-15 08:00:00,pcr
        S3,,MKT1,2022-01-15 08:00:00,pcr
    """,
    )
    ingest_expecting(
        base,
        "samples",
        samples,
        [
            f"{samples}:2: person_id|place_id: exactly one of person_id, place_id must be given",
            f"{samples}:3: person_id|place_id: exactly one of person_id, place_id must be given",
        ],
        added=1,
    )
    results = write(
        tmp_path / "results.csv",
        """
        result_id,sample_id,reported_at,outcome,ct
        R1,S3,2022-01-15 20:00:00,positive,51
        R2,S3,2022-01-15 20:00:00,positive,-1
        R3,S3,2022-01-15 20:00:00,maybe,30
        R4,S3,2022-01-15 20:00:00,positive,34.5
    """,
    )
    ingest_expecting(
        base,
        "results",
        results,
        [
            f"{results}:2: ct: 51.0 is above the maximum 50",
            f"{results}:3: ct: -1.0 is below the minimum 0",
            f"{results}:4: outcome: 'maybe' is not one of: positive, negative, invalid",
        ],
        added=1,
    )


def test_unknown_reference(base: Store, tmp_path: Path) -> None:
    path = write(
        tmp_path / "visits.csv",
        """
        person_id,place_id,start,end
        P1,REST1,2022-01-15 12:00:00,2022-01-15 13:00:00
        P9,REST1,2022-01-15 12:00:00,2022-01-15 13:00:00
        P2,NOWHERE,2022-01-15 12:00:00,2022-01-15 13:00:00
    """,
    )
    ingest_expecting(
        base,
        "visits",
        path,
        [
            f"{path}:3: person_id: unknown person 'P9'",
            f"{path}:4: place_id: unknown place 'NOWHERE'",
        ],
        added=1,
    )


def test_place_hierarchy_in_any_order_and_unknown_parent(base: Store, tmp_path: Path) -> None:
    path = write(
        tmp_path / "places.csv",
        """
        place_id,kind,district,parent_id
        ROOM1,room,Yanqing,FLOOR1
        FLOOR1,other,Yanqing,HOTEL1
        HOTEL1,hotel,Yanqing,
        ROOM2,room,Yanqing,FLOOR9
        LOOP,room,Yanqing,LOOP
    """,
    )
    ingest_expecting(
        base,
        "places",
        path,
        [
            f"{path}:5: parent_id: unknown place 'FLOOR9'",
            f"{path}:6: parent_id: must differ from place_id",
        ],
        added=3,
    )


def test_duplicate_id_with_other_content(base: Store, tmp_path: Path) -> None:
    path = write(
        tmp_path / "persons.csv",
        """
        person_id,household_id,birth_year,district,name
        P1,H1,1980,Fengtai,Wang Fang
        P2,H9,1990,Fengtai,Zhao Lei
        P3,H3,2001,Daxing,
        P3,H3,2001,Daxing,
        P3,H3,2002,Daxing,
    """,
    )
    ingest_expecting(
        base,
        "persons",
        path,
        [
            f"{path}:3: person_id: a row with the same key (person_id) is already stored with "
            "different content; the stored row is kept",
            f"{path}:6: person_id: line 4 has the same key (person_id) with different content; "
            "line 4 is kept",
        ],
        added=1,
    )
    rows = [json.loads(r) for r in snapshot(base)["persons"]]
    assert {r["person_id"]: r["household_id"] for r in rows} == {"P1": "H1", "P2": "H2", "P3": "H3"}
    assert next(r for r in rows if r["person_id"] == "P3")["birth_year"] == 2001


def test_non_utf8_bytes(base: Store, tmp_path: Path) -> None:
    path = tmp_path / "persons.csv"
    path.write_bytes(
        b"person_id,household_id,birth_year,district,name\n"
        b"P3,H3,1975,Fengtai,ok\n"
        b"P4,H4,1976,Fengtai,Fran\xe7ois\n"
        b"P5,H5,1977,Fengtai,\xe5\xbc\xa0\xe4\xbc\x9f\n"
    )
    ingest_expecting(
        base,
        "persons",
        path,
        [
            f"{path}:3: row: not valid UTF-8 (byte 0xe7 at column 24)",
        ],
        added=2,
    )


def test_ten_megabyte_field(base: Store, tmp_path: Path) -> None:
    path = tmp_path / "persons.csv"
    path.write_text(
        "person_id,household_id,birth_year,district,name\n"
        "P3,H3,1975,Fengtai,short\n"
        f"P4,H4,1976,Fengtai,{'x' * 10_000_000}\n"
        "P5,H5,1977,Fengtai,\n",
        encoding="utf-8",
    )
    ingest_expecting(
        base,
        "persons",
        path,
        [
            f"{path}:3: name: longer than 1000 characters",
        ],
        added=2,
    )


def test_empty_file(base: Store, tmp_path: Path) -> None:
    path = tmp_path / "visits.csv"
    path.write_bytes(b"")
    ingest_expecting(
        base,
        "visits",
        path,
        [
            f"{path}:1: header: the file is empty: expected a header row naming the columns; "
            "nothing in this file was stored"
        ],
        added=0,
    )


def test_header_only_is_not_an_error(base: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "visits.csv", "person_id,place_id,start,end\n")
    ingest_expecting(base, "visits", path, [], added=0)


def test_ragged_rows_and_quoted_newlines(base: Store, tmp_path: Path) -> None:
    path = write(
        tmp_path / "persons.csv",
        """
        person_id,household_id,birth_year,district,name
        P3,H3,1975,Fengtai
        P4,H4,1976,Fengtai,"two
        lines"
        P5,H5,1977,Fengtai,x,extra

        P6,H6,1978,Fengtai,
    """,
    )
    ingest_expecting(
        base,
        "persons",
        path,
        [
            f"{path}:2: row: expected 5 fields, found 4",
            f"{path}:5: row: expected 5 fields, found 6",
        ],
        added=2,
    )
    report = ingest_files(base, "persons", [path])
    assert report.rejections[1].row == "P5,H5,1977,Fengtai,x,extra"


def test_jsonl_bad_lines(base: Store, tmp_path: Path) -> None:
    path = write(
        tmp_path / "symptoms.jsonl",
        """
        {"person_id": "P1", "reported_at": "2022-01-16T08:00:00+08:00", "severity": "mild", "onset": "2022-01-15", "temperature_c": 38.1}
        {"person_id": "P2", "reported_at": "2022-01-16T08:00:00+08:00", "severity": "mild"
        {"person_id": "P2", "reported_at": "2022-01-16T09:00:00+08:00", "severity": ["mild"]}
        {"person_id": "P2", "reported_at": "2022-01-16T10:00:00+08:00", "severity": "none", "mood": "ok"}
        ["P2"]
        {"person_id": "P2", "reported_at": "2022-01-16T11:00:00+08:00", "severity": "none", "onset": "2022-01-17"}
    """,  # noqa: E501
    )
    ingest_expecting(
        base,
        "symptoms",
        path,
        [
            f"{path}:2: row: not valid JSON: Expecting ',' delimiter at column 83",
            f"{path}:3: severity: expected a single value, found a JSON array",
            f"{path}:4: mood: unknown field for symptoms",
            f"{path}:5: row: expected a JSON object, found list",
            f"{path}:6: onset: is after the local date of reported_at",
        ],
        added=1,
    )


def test_parquet_with_wrong_types(base: Store, tmp_path: Path) -> None:
    path = tmp_path / "results.parquet"
    samples = write(
        tmp_path / "samples.csv",
        """
        sample_id,person_id,collected_at,test
        S1,P1,2022-01-15 08:00:00,pcr
    """,
    )
    ingest_files(base, "samples", [samples])
    pq.write_table(
        pa.table(
            {
                "result_id": ["R1", "R2"],
                "sample_id": ["S1", "S1"],
                "reported_at": ["2022-01-15T20:00:00+08:00", "yesterday"],
                "outcome": ["positive", "negative"],
                "ct": [24.5, float("nan")],
            }
        ),
        path,
    )
    ingest_expecting(
        base,
        "results",
        path,
        [
            f"{path}:2: reported_at: not an ISO 8601 instant (e.g. 2022-01-23T10:00:00+08:00): "
            "'yesterday'",
        ],
        added=1,
    )


def test_future_events_are_refused(base: Store, tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from ringfence.store import CheckSettings

    path = write(
        tmp_path / "visits.csv",
        """
        person_id,place_id,start,end
        P1,REST1,2022-01-15 12:00:00,2022-01-15 12:50:00
        P1,REST1,2022-01-15 12:55:00,2022-01-15 14:30:00
    """,
    )
    clock = datetime(2022, 1, 15, 5, 0, tzinfo=UTC)  # 13:00 in Beijing
    settings = CheckSettings("Asia/Shanghai", clock, timedelta(minutes=60))
    report = ingest_files(base, "visits", [path], settings=settings)
    assert [str(r) for r in report.rejections] == [
        f"{path}:3: end: is in the future (the ingest clock allows up to 2022-01-15T14:00+08:00)"
    ]


def test_personal_values_never_appear_in_messages(base: Store, tmp_path: Path) -> None:
    path = write(
        tmp_path / "persons.csv",
        """
        person_id,household_id,birth_year,district,phone
        P7,H7,1975,Fengtai,+86 138 0000 0000 0000 0000 0000 0000 0000 0000 0000
    """,
    )
    report = ingest_files(base, "persons", [path])
    assert [str(r) for r in report.rejections] == [f"{path}:2: phone: longer than 40 characters"]
    assert "138" not in str(report.rejections[0])


@pytest.mark.parametrize(
    ("kind", "name", "message"),
    [
        ("fhir", "fhir_bad_json.json", "bundle: json: "),
        ("fhir", "fhir_wrong_resource_type.json", "entry "),
        ("fhir", "fhir_unknown_loinc.json", "entry 3: code: code is not a SARS-CoV-2"),
        ("hl7", "hl7_no_obx.hl7", ""),
        ("hl7", "hl7_not_oru.hl7", "line 1: MSH-9"),
    ],
)
def test_malformed_lab_messages_store_nothing(
    base: Store, kind: str, name: str, message: str
) -> None:
    before = snapshot(base)
    report = ingest_files(base, kind, [LAB_DATA / name], write_rejects=False)
    assert report.rejected_count >= 1 and report.added == 0
    first = str(report.rejections[0])
    assert first.startswith(f"{LAB_DATA / name}:{message}")
    assert first.endswith("nothing from this message was stored")
    assert snapshot(base) == before


def test_one_call_commits_the_good_files_and_rows_together(base: Store, tmp_path: Path) -> None:
    good = write(
        tmp_path / "a.csv",
        """
        person_id,place_id,start,end
        P1,REST1,2022-01-15 12:00:00,2022-01-15 13:00:00
    """,
    )
    bad = write(
        tmp_path / "b.csv",
        """
        person_id,place_id,start
        P1,REST1,2022-01-15 12:00:00
    """,
    )
    mixed = write(
        tmp_path / "c.csv",
        """
        person_id,place_id,start,end
        P2,REST1,2022-01-15 12:00:00,2022-01-15 13:00:00
        P2,REST1,2022-01-15 14:00:00,2022-01-15 13:00:00
    """,
    )
    report = ingest_files(base, "visits", [good, bad, mixed])
    assert report.added == 2 and report.rejected_count == 2
    assert report.batch_id is not None
    assert base.fetchall("SELECT count(*) FROM visits WHERE _batch = ?", [report.batch_id]) == [
        (2,)
    ]
