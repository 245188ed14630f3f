"""Time zones: the same moment stores the same UTC value however it is written; a date never
shifts; naive times follow the jurisdiction's rules, daylight saving time included."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ringfence.store import CheckSettings, Store, ingest_files, open_store

from .conftest import write


def _base(store: Store, tmp_path: Path) -> None:
    write(tmp_path / "persons.csv", "person_id,household_id,birth_year,district\nP1,H1,1980,X\n")
    write(tmp_path / "places.csv", "place_id,kind,district\nL1,restaurant,X\n")
    ingest_files(store, "persons", [tmp_path / "persons.csv"])
    ingest_files(store, "places", [tmp_path / "places.csv"])


def test_naive_and_offset_instants_of_the_same_moment_store_the_same_utc(
    store: Store, tmp_path: Path
) -> None:
    _base(store, tmp_path)
    write(
        tmp_path / "visits.csv",
        """
        person_id,place_id,start,end
        P1,L1,2022-01-23 10:00:00,2022-01-23 11:00:00
    """,
    )
    write(
        tmp_path / "again.csv",
        """
        person_id,place_id,start,end
        P1,L1,2022-01-23T02:00:00Z,2022-01-23T11:00:00+08:00
        P1,L1,2022-01-23T03:00:00+01:00,2022-01-23T03:00:00Z
    """,
    )
    assert ingest_files(store, "visits", [tmp_path / "visits.csv"]).added == 1
    report = ingest_files(store, "visits", [tmp_path / "again.csv"])
    assert (report.added, report.duplicates, report.rejected_count) == (0, 2, 0)
    stored = store.fetchall('SELECT "start", "end" FROM visits')
    assert stored == [
        (datetime(2022, 1, 23, 2, 0, tzinfo=UTC), datetime(2022, 1, 23, 3, 0, tzinfo=UTC))
    ]


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "America/Los_Angeles", "Asia/Shanghai"])
def test_onset_and_vaccination_dates_never_shift(tmp_path: Path, zone: str) -> None:
    with open_store(tmp_path / "d.duckdb", create=True, timezone=zone) as store:
        _base(store, tmp_path)
        write(
            tmp_path / "symptoms.csv",
            """
            person_id,reported_at,onset,severity
            P1,2022-01-16 00:30:00,2022-01-16,mild
            P1,2022-01-16T23:30:00Z,2022-01-15,mild
        """,
        )
        write(
            tmp_path / "arrivals.csv",
            """
            person_id,arrived_at,origin,vaccinated_on
            P1,2022-01-10 00:10:00,Lisbon,2022-01-10
        """,
        )
        assert ingest_files(store, "symptoms", [tmp_path / "symptoms.csv"]).rejected_count == 0
        assert ingest_files(store, "arrivals", [tmp_path / "arrivals.csv"]).rejected_count == 0
        onsets = sorted(str(r[0]) for r in store.fetchall("SELECT onset FROM symptoms"))
        assert onsets == ["2022-01-15", "2022-01-16"]
        assert store.fetchall("SELECT CAST(vaccinated_on AS VARCHAR) FROM arrivals") == [
            ("2022-01-10",)
        ]


def test_onset_after_the_local_report_date_is_refused(tmp_path: Path) -> None:
    """00:30 in Beijing on the 16th is still the 15th in UTC: the local date decides."""
    with open_store(tmp_path / "d.duckdb", create=True) as store:
        _base(store, tmp_path)
        write(
            tmp_path / "symptoms.csv",
            """
            person_id,reported_at,onset,severity
            P1,2022-01-16 00:30:00,2022-01-16,mild
            P1,2022-01-16 00:40:00,2022-01-17,mild
        """,
        )
        report = ingest_files(store, "symptoms", [tmp_path / "symptoms.csv"])
        assert [r.location for r in report.rejections] == ["3"]


@pytest.mark.parametrize(
    "zone",
    ["Europe/Berlin", "America/New_York", "Asia/Shanghai", "Australia/Lord_Howe", "Asia/Kolkata"],
)
def test_naive_local_times_match_zoneinfo(tmp_path: Path, zone: str) -> None:
    """Random local times (across DST changes and old rules) agree with Python's zoneinfo."""
    rng = random.Random(zone)
    tz = ZoneInfo(zone)
    base = datetime(1975, 1, 1)
    locals_ = sorted(
        {base + timedelta(minutes=rng.randrange(0, 60 * 24 * 365 * 55)) for _ in range(400)}
    )
    with open_store(tmp_path / "d.duckdb", create=True, timezone=zone) as store:
        _base(store, tmp_path)
        lines = ["person_id,reported_at,severity"]
        lines += [f"P1,{t:%Y-%m-%d %H:%M:%S},none" for t in locals_]
        (tmp_path / "s.csv").write_text("\n".join(lines) + "\n")
        settings = CheckSettings(zone, datetime(2040, 1, 1, tzinfo=UTC))
        report = ingest_files(store, "symptoms", [tmp_path / "s.csv"], settings=settings)
        assert report.rejected_count == 0
        stored = sorted(r[0] for r in store.fetchall("SELECT reported_at FROM symptoms"))
    # Times in a DST gap do not exist; both sides must still name the same instant for the rest.
    expected = sorted(t.replace(tzinfo=tz).astimezone(UTC) for t in locals_)
    mismatches = [(e, s) for e, s in zip(expected, stored, strict=True) if e != s]
    gaps = [
        t
        for t in locals_
        if t.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(tzinfo=None) != t
    ]
    assert len(mismatches) <= len(gaps)
