"""`ringfence cycle`, `why` and `follow-up` as people run them: real processes, real files."""

from __future__ import annotations

from pathlib import Path

import pytest

from ringfence.store import open_store

from .scenario import Scenario
from .test_cli import ringfence


@pytest.fixture(scope="module")
def decided(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A small outbreak, ingested and decided through the command line (once: the tests
    only read it, and one checks that a refused run changed nothing)."""
    tmp_path = tmp_path_factory.mktemp("decided")
    story = Scenario().place("REST")
    story.person("C").person("B").person("K", "H-B", birth_year=2016).person("M", "H-B")
    story.visit("C", "REST", "2022-01-18 12:00", "2022-01-18 13:00")
    story.visit("B", "REST", "2022-01-18 12:10", "2022-01-18 12:50")
    story.test("C", "2022-01-19 09:00", "2022-01-19 15:00", "positive", ct=25)
    db = str(tmp_path / "cli.duckdb")
    assert ringfence("init", "--db", db).returncode == 0
    for kind, path in story.write(tmp_path / "events").items():
        result = ringfence("ingest", kind, str(path), "--db", db)
        assert result.returncode == 0, result.stderr
    result = ringfence(
        "cycle", "--db", db, "--as-of", "2022-01-20T16:00", "--protocol", "zero-covid-2022"
    )
    assert result.returncode == 0, result.stderr
    assert "cycle run 1: as of 2022-01-20T16:00:00+08:00 under zero-covid-2022" in result.stdout
    return db


def test_why_gives_each_decision_its_rule_source_and_evidence(decided: str) -> None:
    result = ringfence("why", "B", "--db", decided)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "B as of 2022-01-20 16:00 (cycle run 1)"
    contact = next(line for line in lines if line.startswith("close contact of C"))
    assert "REST, 2022-01-18 12:10 to 2022-01-18 12:50 (40 min)" in contact
    assert "contact.min_minutes = 15;" in contact and "[62][68]" in contact
    assert any(
        line.startswith("order quarantine_central from 2022-01-19 15:00: open, planned end "
                        "2022-01-25 12:50") and "contact.central_days = 7" in line
        for line in lines
    )  # fmt: skip


def test_why_names_the_guardian_who_stays_with_a_child(decided: str) -> None:
    # B lives alone; K (a child) is a secondary contact at home: M stays with her.
    result = ringfence("why", "M", "--db", decided)
    assert result.returncode == 0, result.stderr
    assert "secondary contact of C" in result.stdout
    nobody = ringfence("why", "NOBODY", "--db", decided)
    last = nobody.stdout.splitlines()[-1]
    assert last == "no decisions: not a case, not a contact, under no order"


def test_follow_up_lists_todays_tests_and_calls(decided: str) -> None:
    result = ringfence("follow-up", "--db", decided, "--date", "2022-01-20")
    assert result.returncode == 0, result.stderr
    assert "quarantine test day 2" in result.stdout
    calls = ringfence("follow-up", "--db", decided, "--date", "2022-01-19")
    assert "new close contact of C" in calls.stdout
    bad = ringfence("follow-up", "--db", decided, "--date", "20 Jan")
    assert bad.returncode == 2
    assert bad.stderr.strip() == "ringfence: error: --date '20 Jan' is not a date (YYYY-MM-DD)"


def test_cycle_refuses_a_bad_protocol_or_instant_in_one_line(decided: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\n[contact]\nmin_minutes = -5\n')
    result = ringfence("cycle", "--db", decided, "--protocol", str(bad))
    assert result.returncode == 2
    assert result.stderr.startswith(f"ringfence: error: {bad}: contact.min_minutes: ")
    assert "Traceback" not in result.stderr
    result = ringfence("cycle", "--db", decided, "--as-of", "yesterday")
    assert result.returncode == 2
    assert "--as-of 'yesterday' is not an ISO 8601 instant" in result.stderr
    with open_store(decided, read_only=True) as store:
        # A refused run changes nothing: still the one run, with its decisions.
        assert store.fetchall("SELECT count(*) FROM cycle_runs") == [(1,)]
        assert store.fetchall("SELECT count(*) FROM contacts") == [(3,)]


def test_why_before_any_cycle_says_what_to_do(tmp_path: Path) -> None:
    db = str(tmp_path / "empty.duckdb")
    ringfence("init", "--db", db)
    result = ringfence("why", "P1", "--db", db)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "ringfence: error: the control cycle has not run on this database; run `ringfence cycle`"
    )
