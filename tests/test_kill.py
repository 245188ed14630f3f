"""A kill in the middle of an ingest leaves the database readable and exactly as it was."""

from __future__ import annotations

import io
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ringfence.examples.generate import generate
from ringfence.store import export_table, ingest_files, open_store


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 400,000 visits: long enough to be killed halfway."""
    out = tmp_path_factory.mktemp("city")
    generate(out, persons=40_000, days=10, seed=7)
    return out


def _prepare(url: str, city: Path) -> None:
    with open_store(url, create=True) as store:
        for kind in ("persons", "places"):
            assert ingest_files(store, kind, [city / f"{kind}.csv"]).rejected_count == 0


def _digest(url: str) -> dict[str, bytes]:
    with open_store(url, read_only=True) as store:
        tables = {}
        for name in ("persons", "places"):
            buffer = io.BytesIO()
            export_table(store, name, "csv", buffer)
            tables[name] = buffer.getvalue()
        # Visits are compared by count and content checksums: cheap on both engines.
        tables["visits"] = repr(
            store.fetchall(
                "SELECT count(*), count(DISTINCT person_id), count(DISTINCT place_id), "
                'min("start"), max("end") FROM visits'
            )
        ).encode()
        tables["batches"] = repr(
            store.fetchall(
                "SELECT batch_id, kind, rows_added FROM ingest_batches ORDER BY batch_id"
            )
        ).encode()
        return tables


def _ingest_command(url: str, city: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "ringfence",
        "ingest",
        "visits",
        str(city / "visits.csv"),
        "--db",
        url,
        "--rejects-dir",
        str(city),
    ]


PROGRESS = re.compile(rb"(\d+(?:\.\d+)?)/(\d+(?:\.\d+)?) (?:bytes|kB|MB|GB)")


def _kill_midway(url: str, city: Path) -> float:
    """Run an ingest on a terminal, SIGKILL it once its progress bar passes a third of the
    file (reading is under way, nothing is committed), and return the fraction it showed."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        _ingest_command(url, city),
        stdout=subprocess.DEVNULL,
        stderr=follower,
        env={**os.environ, "COLUMNS": "120", "RINGFENCE_BLOCK_SIZE": str(1 << 20)},
    )
    os.close(follower)
    seen = b""
    fraction = 0.0
    deadline = time.monotonic() + 120
    try:
        while fraction < 1 / 3 and time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 1)
            if ready:
                seen += os.read(leader, 65536)
                shown = PROGRESS.findall(seen[-4096:])
                if shown:
                    done, total = (float(x) for x in shown[-1])
                    fraction = done / total if total else 0.0
            assert process.poll() is None, "the ingest finished before it could be killed"
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait() == -signal.SIGKILL
    finally:
        os.close(leader)
    return fraction


@pytest.mark.parametrize("engine", ["duckdb", "postgresql"])
def test_sigkill_mid_batch_changes_nothing(
    engine: str, city: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if engine == "duckdb":
        full, killed = str(tmp_path / "full.duckdb"), str(tmp_path / "killed.duckdb")
    else:
        full = request.getfixturevalue("pg_url")
        killed = full  # the same empty schema, measured first, then emptied again below
    # The whole ingest once, for the state a completed call leaves.
    _prepare(full, city)
    before_full = _digest(full)
    done = subprocess.run(_ingest_command(full, city), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    complete = _digest(full)
    assert complete["visits"] != before_full["visits"]
    if engine == "postgresql":
        with open_store(full) as store:
            store.execute("DELETE FROM visits")
            store.execute("DELETE FROM ingest_batches WHERE kind = 'visits'")
    else:
        _prepare(killed, city)
    before = _digest(killed)

    assert 1 / 3 <= _kill_midway(killed, city) < 1

    assert _digest(killed) == before  # readable, and exactly as before the killed call
    # ...and still usable: the same ingest now completes with the same result.
    again = subprocess.run(_ingest_command(killed, city), capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert _digest(killed)["visits"] == complete["visits"]
