"""The control cycle on Apache Spark (local mode) over a Parquet lake: every scenario of the
cycle's rules decides exactly as on DuckDB, runs commit only when recorded, and the command
line takes a database's events to the lake and runs the cycle there.

Each scenario is ingested into DuckDB (the checks run there), its events written to a lake
with `export_lake`, and the cycle run again on Spark over the lake: the decision tables must
be the same rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ringfence.cli.main import app as cli
from ringfence.control import run_cycle
from ringfence.protocol import load_protocol
from ringfence.schema import TABLES
from ringfence.store import StoreError, open_store
from ringfence.store.lake import SparkLake, export_lake, spark_session

from .scenario import DECISIONS, Decisions, _plain, local
from .test_cycle_rules import SCENARIOS

# One worker runs every Spark test, in one JVM that warms up once (a cycle run falls from
# about 40 s to 15 s), while the other worker runs the rest of the suite.
pytestmark = [pytest.mark.spark, pytest.mark.xdist_group("spark")]


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    # Tiny data: one shuffle partition, and Spark's interpreted expressions instead of
    # compiling Java for every query (as Spark's own test suites do): about a fifth faster,
    # the same results.
    session = spark_session(
        "local[2]",
        {"spark.sql.shuffle.partitions": "1", "spark.sql.codegen.wholeStage": "false",
         "spark.sql.codegen.factoryMode": "NO_CODEGEN"},
    )  # fmt: skip
    yield session


def lake_decisions(lake: SparkLake, run_id: int | None = None) -> dict[str, list[dict[str, Any]]]:
    """The decision tables of a lake's run, rows as `Decisions` holds them."""
    return {
        name: decision_rows(name, lake.decisions(name, run_id).select(*columns(name)).toArrow())
        for name in DECISIONS
    }


def columns(name: str) -> list[str]:
    return [c.name for c in TABLES[name].columns]


def decision_rows(name: str, table: Any) -> list[dict[str, Any]]:
    """An Arrow table of decision table `name` as sorted plain rows, to compare."""
    return sorted(
        ({c: _plain(row[c]) for c in columns(name)} for row in table.to_pylist()),
        key=lambda r: tuple(str(v) for v in r.values()),
    )


def duckdb_then_lake(name: str, tmp_path: Path) -> tuple[Decisions, Path, Any, str]:
    story, protocol, as_of = SCENARIOS[name]()
    duck = story.run(str(tmp_path / "scenario.duckdb"), tmp_path / "events", protocol, as_of)
    with open_store(tmp_path / "scenario.duckdb", read_only=True) as store:
        export_lake(store, tmp_path / "lake")
    chosen = load_protocol(protocol) if isinstance(protocol, str) else protocol
    return duck, tmp_path / "lake", chosen, as_of


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_spark_decides_exactly_as_duckdb(name: str, tmp_path: Path, spark: Any) -> None:
    duck, folder, protocol, as_of = duckdb_then_lake(name, tmp_path)
    with SparkLake(folder, spark) as lake:
        report = run_cycle(lake, protocol, local(as_of))
        tables = lake_decisions(lake)
    for table in DECISIONS:
        assert tables[table] == duck.tables[table], table
    assert report.counts == duck.report.counts


def test_a_run_exists_once_recorded_and_a_failed_run_changes_nothing(
    tmp_path: Path, spark: Any
) -> None:
    duck, folder, protocol, as_of = duckdb_then_lake("restaurant_minutes", tmp_path)
    with SparkLake(folder, spark) as lake:
        first = run_cycle(lake, protocol, local(as_of))
        assert [r.run_id for r in lake.runs()] == [first.run_id] == [1]

        def fail_at_contacts(step: str, done: int, total: int) -> None:
            if step == "contacts":
                raise RuntimeError("the cluster went away")

        with pytest.raises(RuntimeError, match="went away"):
            run_cycle(lake, protocol, local("2022-01-25 16:00"), fail_at_contacts)
        # The failed run is not recorded: the first run's decisions are still the current ones.
        assert [r.run_id for r in lake.runs()] == [1]
        assert lake_decisions(lake) == duck.tables
        second = run_cycle(lake, protocol, local(as_of))
        assert (second.run_id, [r.run_id for r in lake.runs()]) == (2, [1, 2])
        assert lake_decisions(lake, 2) == lake_decisions(lake, 1) == duck.tables
        assert lake.runs()[-1].as_of == local(as_of)


def test_a_lake_without_event_files_is_refused(tmp_path: Path, spark: Any) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(StoreError, match="holds no Parquet event files"):
        SparkLake(tmp_path / "empty", spark)
    _, folder, _, _ = duckdb_then_lake("hotel_rooms", tmp_path)
    with pytest.raises(StoreError, match="no cycle run yet"):
        SparkLake(folder, spark).decisions("cases")
    with pytest.raises(StoreError, match="not a decision table"):
        SparkLake(folder, spark).decisions("visits")


def test_the_command_line_writes_the_lake_and_runs_the_cycle_on_spark(
    tmp_path: Path, spark: Any
) -> None:
    duck, _, _, as_of = duckdb_then_lake("hotel_rooms", tmp_path)
    runner = CliRunner()
    lake = tmp_path / "cli-lake"
    db = str(tmp_path / "scenario.duckdb")
    written = runner.invoke(cli, ["lake", str(lake), "--db", db])
    assert written.exit_code == 0, written.output
    assert "event rows" in written.output and (lake / "visits.parquet").exists()
    ran = runner.invoke(cli, ["cycle", "--engine", "spark", "--lake", str(lake),
                              "--protocol", "zero-covid-2022", "--as-of",
                              as_of.replace(" ", "T")])  # fmt: skip
    assert ran.exit_code == 0, ran.output
    for table, count in duck.report.counts.items():
        assert f"{table}" in ran.output and f"{count:,}" in ran.output
    assert "run-000001" in ran.output
    with SparkLake(lake, spark) as read_back:
        assert lake_decisions(read_back) == duck.tables
    unwritable = runner.invoke(cli, ["lake", str(lake / "visits.parquet" / "x"), "--db", db])
    assert unwritable.exit_code != 0 and "cannot write the lake to" in unwritable.output
    assert (lake / "visits.parquet").is_file()  # nothing already written was touched
    refused = runner.invoke(cli, ["cycle", "--lake", str(lake)])
    assert refused.exit_code != 0 and "--engine spark" in refused.output


@pytest.mark.parametrize("master", ["foo://x", "local[two]", "sc:/host", "spark://"])
def test_an_unknown_spark_master_is_refused_before_spark_starts(
    master: str, tmp_path: Path
) -> None:
    with pytest.raises(StoreError, match="unknown Spark master"):
        spark_session(master)
    refused = CliRunner().invoke(cli, ["cycle", "--engine", "spark", "--spark-master", master,
                                       "--lake", str(tmp_path)])  # fmt: skip
    assert refused.exit_code != 0
    assert f"unknown Spark master {master!r}" in refused.output
    assert "Traceback" not in refused.output and "java" not in refused.output.lower()

