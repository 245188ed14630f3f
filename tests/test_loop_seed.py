"""The Beijing 2022 loop seed, ingested and counted with SQL written here, not in the module.

The published figures are typed out again below rather than imported, so that a wrong
constant in the module fails here instead of being compared with itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from ringfence.examples.loop_seed import build_loop_seed
from ringfence.store import Store, ingest_files, open_store

AO = "('athlete', 'official')"
LOCAL_DAY = "CAST(timezone('Asia/Shanghai', {}) AS DATE)"


@pytest.fixture(scope="module")
def seed_dir(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_loop_seed(tmp_path_factory.mktemp("loop"), seed=2022)


@pytest.fixture(scope="module")
def loop_store(
    seed_dir: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Store, dict[str, int]]]:
    """A fresh DuckDB store holding the seed, and the rejections of each kind."""
    db = tmp_path_factory.mktemp("db") / "loop.duckdb"
    with open_store(db, create=True) as store:
        rejected = {
            kind: ingest_files(store, kind, [path]).rejected_count
            for kind, path in seed_dir.items()
        }
        yield store, rejected


def one(store: Store, sql: str) -> object:
    rows = store.fetchall(sql)
    assert len(rows) == 1 and len(rows[0]) == 1, rows
    return rows[0][0]


def test_ingests_without_rejections(loop_store: tuple[Store, dict[str, int]]) -> None:
    store, rejected = loop_store
    assert list(rejected) == ["persons", "places", "visits", "samples", "arrivals", "results"]
    assert rejected == dict.fromkeys(rejected, 0)
    assert one(store, "SELECT count(*) FROM persons WHERE loop_id IS DISTINCT FROM 'BJ2022'") == 0
    assert one(store, "SELECT count(*) FROM places WHERE loop_id IS DISTINCT FROM 'BJ2022'") == 0


def test_airport_figures(loop_store: tuple[Store, dict[str, int]]) -> None:
    store, _ = loop_store
    assert one(store, "SELECT count(*) FROM arrivals WHERE port = 'PEK'") == 2586
    assert one(store, "SELECT count(DISTINCT person_id) FROM arrivals") == 2586
    local = LOCAL_DAY.format("arrived_at")
    assert store.fetchall(f"SELECT min({local}), max({local}) FROM arrivals")[0] == (
        dt.date(2022, 1, 4),
        dt.date(2022, 1, 22),
    )
    assert (
        one(
            store,
            f"""SELECT count(*) FROM arrivals a JOIN persons p USING (person_id)
                WHERE p."group" IN {AO}""",
        )
        == 171
    )
    # Vaccination course completed at least 14 days before arrival.
    assert (
        one(
            store,
            f"SELECT count(*) FROM arrivals WHERE vaccinated_on > {local} - INTERVAL 14 DAY",
        )
        == 0
    )
    # One airport sample per arrival, 30–60 min after landing, reported within 6 h.
    assert (
        one(
            store,
            """SELECT count(*) FROM arrivals a
                JOIN samples s ON s.person_id = a.person_id AND s.purpose = 'arrival'
                JOIN results r ON r.sample_id = s.sample_id
                WHERE s.collected_at BETWEEN a.arrived_at + INTERVAL 30 MINUTE
                                         AND a.arrived_at + INTERVAL 61 MINUTE
                  AND r.reported_at > s.collected_at
                  AND r.reported_at <= s.collected_at + INTERVAL 6 HOUR""",
        )
        == 2586
    )
    # Every arrival passed through the airport (a manifest visit).
    assert (
        one(
            store,
            """SELECT count(*) FROM visits v JOIN places p USING (place_id)
                WHERE p.kind = 'airport' AND v.source = 'manifest'""",
        )
        == 2586
    )
    positives = f"""SELECT count(*), count(*) FILTER (WHERE p."group" IN {AO}),
            min(r.ct), max(r.ct), count(r.ct_orf1ab), count(r.ct_n)
        FROM results r JOIN samples s USING (sample_id) JOIN persons p USING (person_id)
        WHERE s.purpose = 'arrival' AND r.outcome = 'positive'"""
    total, ao, ct_min, ct_max, orf, n_gene = store.fetchall(positives)[0]
    assert (total, ao, orf, n_gene) == (39, 0, 39, 39)
    assert 18 <= ct_min <= ct_max <= 34
    assert (
        one(
            store,
            """SELECT count(*) FROM results WHERE outcome = 'negative'
                AND (ct IS NOT NULL OR ct_orf1ab IS NOT NULL OR ct_n IS NOT NULL)""",
        )
        == 0
    )


def test_loop_figures(loop_store: tuple[Store, dict[str, int]]) -> None:
    store, _ = loop_store
    day = LOCAL_DAY.format("s.collected_at")
    counts = f"""SELECT count(*), count(*) FILTER (WHERE p."group" IN {AO}),
            count(*) FILTER (WHERE {day} BETWEEN DATE '2022-01-04' AND DATE '2022-01-22'),
            count(DISTINCT (s.person_id, {day}))
        FROM samples s JOIN persons p USING (person_id)
        WHERE s.purpose = 'screening' AND s.test = 'pcr'"""
    total, ao, in_window, person_days = store.fetchall(counts)[0]
    # 175 of the tests by athletes and team officials, as published, one a person a day.
    assert (total, ao, in_window, person_days) == (336421, 175, 336421, 336421)
    positives = f"""SELECT count(*), count(*) FILTER (WHERE p."group" IN {AO}),
            min(r.ct), max(r.ct), count(DISTINCT s.person_id),
            count(*) FILTER (WHERE a.person_id IS NULL)
        FROM results r JOIN samples s USING (sample_id) JOIN persons p USING (person_id)
        LEFT JOIN arrivals a USING (person_id)
        WHERE s.purpose = 'screening' AND r.outcome = 'positive'"""
    total, ao, ct_min, ct_max, people, domestic = store.fetchall(positives)[0]
    assert (total, ao, people) == (33, 0, 33)
    assert 0 < domestic < 33  # both overseas arrivals and the domestic workforce
    assert 18 <= ct_min <= ct_max <= 34


def test_isolated_people_are_not_screened(loop_store: tuple[Store, dict[str, int]]) -> None:
    store, _ = loop_store
    after_positive = """
        WITH found AS (
            SELECT s.person_id, min(s.collected_at) AS at
            FROM samples s JOIN results r USING (sample_id)
            WHERE r.outcome = 'positive' GROUP BY s.person_id
        )
        SELECT count(*) FROM samples s JOIN found f USING (person_id)
        WHERE s.purpose = 'screening' AND s.collected_at > f.at"""
    assert one(store, after_positive) == 0
    # Nobody is screened before arriving, or on the day they land.
    early = f"""SELECT count(*) FROM samples s JOIN arrivals a USING (person_id)
        WHERE s.purpose = 'screening'
          AND {LOCAL_DAY.format("s.collected_at")} <= {LOCAL_DAY.format("a.arrived_at")}"""
    assert one(store, early) == 0
    # The domestic workforce has no arrivals and is screened from the first day.
    first = """SELECT count(*) FROM persons p
        WHERE p."group" = 'staff' AND p.person_id NOT IN (SELECT person_id FROM arrivals)
          AND p.person_id NOT IN (SELECT person_id FROM samples WHERE purpose = 'screening'
                                  AND collected_at < TIMESTAMPTZ '2022-01-05 00:00:00+08')"""
    assert one(store, first) == 0


def test_same_seed_same_files(seed_dir: dict[str, Path], tmp_path: Path) -> None:
    again = build_loop_seed(tmp_path / "again", seed=2022)
    assert list(again) == list(seed_dir)
    for kind, path in seed_dir.items():
        assert pq.read_table(again[kind]).equals(pq.read_table(path)), kind
    other = build_loop_seed(tmp_path / "other", seed=7)
    assert not pq.read_table(other["samples"]).equals(pq.read_table(seed_dir["samples"]))
    assert pq.read_table(other["samples"]).num_rows == 336421 + 2586


def test_csv_ingests_like_parquet(loop_store: tuple[Store, dict[str, int]], tmp_path: Path) -> None:
    written = build_loop_seed(tmp_path, seed=2022, fmt="csv")
    assert [p.suffix for p in written.values()] == [".csv"] * len(written)
    samples = pa_csv.read_csv(
        written["samples"],
        convert_options=pa_csv.ConvertOptions(column_types={"collected_at": "string"}),
    )
    assert samples["collected_at"][0].as_py().endswith("+08:00")
    parquet_store, _ = loop_store
    with open_store(tmp_path / "csv.duckdb", create=True) as store:
        for kind, path in written.items():
            assert ingest_files(store, kind, [path]).rejected_count == 0, kind
        assert store.row_counts() == parquet_store.row_counts()
        digest = """SELECT count(*), sum(hash(sample_id, person_id, collected_at, purpose))
            FROM samples"""
        assert store.fetchall(digest) == parquet_store.fetchall(digest)
