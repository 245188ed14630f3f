"""The `ringfence` command as people run it: a real subprocess, real files, real exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ringfence.store import open_store
from ringfence.store.migrations import LATEST_VERSION, MIGRATIONS

from .conftest import write

COMMANDS = [
    "init", "ingest", "status", "export", "generate", "cycle", "why", "follow-up", "bulletin",
    "sitrep", "linelist", "audit", "serve", "demo",
]  # fmt: skip


def ringfence(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ringfence", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_explains_itself_with_an_example(command: str) -> None:
    result = ringfence(command, "--help")
    assert result.returncode == 0
    assert "Example:" in result.stdout
    assert "ringfence " + command in result.stdout


def test_ingest_exit_codes_messages_and_rejects_file(tmp_path: Path) -> None:
    db = str(tmp_path / "x.duckdb")
    persons = write(
        tmp_path / "persons.csv",
        """
        person_id,household_id,birth_year,district
        P1,H1,1980,Fengtai
        P2,H2,19x0,Fengtai
    """,
    )
    result = ringfence("ingest", "persons", str(persons), "--db", db)
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == f"{persons}:3: birth_year: not a whole number: '19x0'"
    assert "1 added" in result.stdout and "1 refused" in result.stdout
    rejects = tmp_path / "persons.rejects.csv"
    assert rejects.read_text().splitlines() == [
        "line,field,reason,row",
        "3,birth_year,not a whole number: '19x0',\"P2,H2,19x0,Fengtai\"",
    ]
    # Fixed and sent again: the good row is already stored, the fixed one is added.
    write(
        persons,
        """
        person_id,household_id,birth_year,district
        P1,H1,1980,Fengtai
        P2,H2,1990,Fengtai
    """,
    )
    result = ringfence("ingest", "persons", str(persons), "--db", db)
    assert result.returncode == 0, result.stderr
    assert "1 added, 1 already stored, 0 refused" in result.stdout
    assert not rejects.exists()


@pytest.mark.parametrize(
    "args",
    [
        ["ingest", "visitz", "x.csv"],
        ["ingest", "visits", "missing.csv"],
        ["ingest", "visits", "data.xlsx"],
        ["ingest", "visits", "v.csv", "--now", "yesterday"],
        ["ingest", "visits", "v.csv", "--timezone", "Mars/Olympus"],
        ["export", "nosuchtable"],
        ["export", "visits", "--format", "xml"],
        ["init", "--timezone", "Nowhere/Else"],
        ["ingest"],
    ],
)
def test_usage_errors_exit_2_with_one_line(tmp_path: Path, args: list[str]) -> None:
    write(tmp_path / "v.csv", "person_id,place_id,start,end\n")
    (tmp_path / "data.xlsx").write_bytes(b"PK")
    ringfence("init", "--db", str(tmp_path / "x.duckdb"))
    result = ringfence(*args, "--db", str(tmp_path / "x.duckdb"), cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len([line for line in result.stderr.splitlines() if "error" in line.lower()]) >= 1


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = ringfence("status", "--db", str(tmp_path / "none.duckdb"))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"ringfence: error: there is no database at "
        f"{tmp_path / 'none.duckdb'}; create one with `ringfence init`"
    )
    debug = ringfence("status", "--db", str(tmp_path / "none.duckdb"), "--debug")
    assert "Traceback" in debug.stderr


def test_status_masks_the_password(pg_url: str) -> None:
    url = pg_url.replace("postgres@", "postgres:s3cret@")
    assert ringfence("init", "--db", url).returncode == 0
    result = ringfence("status", "--db", url)
    assert result.returncode == 0, result.stderr
    assert "s3cret" not in result.stdout + result.stderr
    assert "postgres:***@127.0.0.1" in result.stdout
    assert f"schema version: {LATEST_VERSION}" in result.stdout


def test_env_var_selects_the_database(tmp_path: Path) -> None:
    db = tmp_path / "env.duckdb"
    assert ringfence("init", env={"RINGFENCE_DB": str(db)}).returncode == 0
    assert db.exists()


def test_export_to_stdout_and_to_a_parquet_file(tmp_path: Path) -> None:
    db = str(tmp_path / "x.duckdb")
    persons = write(
        tmp_path / "persons.csv",
        """
        person_id,household_id,birth_year,district,name
        P1,H1,1980,Fengtai,"Wang, Fang"
    """,
    )
    assert ringfence("ingest", "persons", str(persons), "--db", db).returncode == 0
    result = ringfence("export", "persons", "--db", db)
    assert result.stdout.splitlines()[0].startswith("person_id,household_id,birth_year")
    assert '"Wang, Fang"' in result.stdout
    out = tmp_path / "p.parquet"
    result = ringfence("export", "persons", "--db", db, "--out", str(out))
    assert result.returncode == 0
    assert pq.read_table(out).to_pylist()[0]["name"] == "Wang, Fang"


def test_a_busy_duckdb_file_is_explained(tmp_path: Path) -> None:
    db = tmp_path / "busy.duckdb"
    assert ringfence("init", "--db", str(db)).returncode == 0
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                "print('held', flush=True); time.sleep(60)"
            ),
            str(db),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        result = ringfence("status", "--db", str(db))
        assert result.returncode == 1
        assert "is in use by another ringfence process" in result.stderr
        assert f"(process {holder.pid})" in result.stderr
        assert "Traceback" not in result.stderr
    finally:
        holder.kill()
        holder.wait()


def test_a_database_from_a_newer_ringfence_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "new.duckdb"
    with open_store(db, create=True) as store:
        store.set_meta("schema_version", "99")
    result = ringfence("status", "--db", str(db))
    assert result.returncode == 1
    latest = MIGRATIONS[-1].version
    assert f"has schema version 99, but this ringfence supports versions up to {latest}" in (
        result.stderr
    )
    from ringfence.store import SchemaTooNew

    with pytest.raises(SchemaTooNew, match="upgrade ringfence"):
        open_store(db, create=True)
    with pytest.raises(SchemaTooNew):
        open_store(db, read_only=True)


def test_demo_builds_the_example_database(tmp_path: Path) -> None:
    result = ringfence("demo", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    with open_store(tmp_path / "ringfence-demo.duckdb", read_only=True) as store:
        counts = store.row_counts()
    assert counts["persons"] > 300 and counts["visits"] > 1000 and counts["results"] > 100
    assert f"{counts['visits']:,}" in result.stdout
    again = ringfence("demo", cwd=tmp_path)  # rebuilt from scratch, same content
    assert again.returncode == 0
    with open_store(tmp_path / "ringfence-demo.duckdb", read_only=True) as store:
        assert store.row_counts() == counts


def test_generated_data_ingests_cleanly(tmp_path: Path) -> None:
    data = tmp_path / "city"
    result = ringfence("generate", "--persons", "3000", "--days", "3", "--out", str(data))
    assert result.returncode == 0, result.stderr
    db = str(tmp_path / "city.duckdb")
    from ringfence.examples import EXAMPLE_TABLES

    for kind in EXAMPLE_TABLES:
        path = data / f"{kind}.csv"
        if path.exists():
            step = ringfence("ingest", kind, str(path), "--db", db)
            assert step.returncode == 0, step.stderr[:2000]


def test_captured_output_has_no_progress_bar_noise(tmp_path: Path) -> None:
    """A progress bar is drawn on a terminal only; CI logs and pipes get clean lines."""
    persons = write(
        tmp_path / "persons.csv", "person_id,household_id,birth_year,district\nP1,H1,1980,F\n"
    )
    result = ringfence("ingest", "persons", str(persons), "--db", str(tmp_path / "x.duckdb"))
    assert result.returncode == 0
    assert result.stderr == ""
