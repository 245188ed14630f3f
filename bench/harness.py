"""What the benchmarks share: provenance of the code measured, and tidy failure reports.

`bench/ingest.py` and `bench/cycle.py` run each measurement in a fresh process on a snapshot
of `src/ringfence`; this module is copied into the snapshot beside them (`copy_beside`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_DIR = Path(__file__).resolve().parent.parent


def city_name(persons: int, days: int, visits_per_person_day: float, seed: int) -> str:
    """The name of a generated city's data, store and lake: what it was generated from."""
    return f"city-{persons}x{days}-{visits_per_person_day:.4g}vpd-seed{seed}"


def copy_beside(script: Path) -> None:
    """Copy this module next to a snapshot of a benchmark script, which imports it."""
    shutil.copyfile(Path(__file__).resolve(), script.with_name("harness.py"))


def last_line(text: str) -> str:
    """The exception line of a traceback (DuckDB appends advice after it), else the last."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    raised = [line for line in lines if re.match(r"^[\w.]+(Error|Exception)\b", line)]
    return raised[-1] if raised else (lines[-1] if lines else text)


def scrub(text: str, repo: Path = REPO_DIR) -> str:
    """`text` without this machine's paths (the repository, the Python installation)."""
    for prefix, name in (
        (str(repo), "<repo>"),
        (sys.prefix, "<python>"),
        (sys.base_prefix, "<python>"),
    ):
        text = text.replace(prefix, name)
    return text


def remove_db(path: Path) -> None:
    """Delete a DuckDB file and its write-ahead log."""
    for candidate in (path, path.with_name(path.name + ".wal")):
        candidate.unlink(missing_ok=True)


def source_hash(folder: Path) -> str:
    """A short hash of every Python and data file under `folder` (names and contents)."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or path.suffix == ".pyc":
            continue
        digest.update(path.relative_to(folder).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def git_state(repo: Path = REPO_DIR) -> dict[str, Any]:
    """The repository's commit and whether `src/` differs from it (read-only git calls)."""

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)

    head = git("rev-parse", "--short", "HEAD")
    if head.returncode != 0:
        return {}
    same = git("--no-optional-locks", "diff", "--quiet", "HEAD", "--", "src").returncode == 0
    return {"commit": head.stdout.strip(), "src_matches_commit": same}


def snapshot_code(
    workdir: Path, script: Path, label: str, no_snapshot: bool
) -> tuple[dict[str, Any], Path | None, str | None]:
    """Measure one version of ringfence from start to end, whatever is edited meanwhile:
    copy `src/ringfence` (once per content hash) and the benchmark `script` into
    `workdir/code`, and import the copy from now on. Returns the provenance to record, the
    script's copy (None with `no_snapshot`) and the folder children must import from."""
    source = REPO_DIR / "src" / "ringfence"
    digest = source_hash(source)
    code: dict[str, Any] = {"src_sha256": digest, **git_state()}
    if no_snapshot:
        return {**code, "snapshot": False}, None, None
    snapshot = workdir / "code" / digest
    if not (snapshot / "ringfence").exists():
        shutil.copytree(
            source, snapshot / "ringfence", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    copy = workdir / "code" / f"{label}-{os.getpid()}.py"
    shutil.copyfile(script, copy)
    copy_beside(copy)
    sys.path.insert(0, str(snapshot))
    code["snapshot"] = True
    code["snapshot_sha256"] = source_hash(snapshot / "ringfence")
    return code, copy, str(snapshot)


POLL_SECONDS = 0.2


@dataclass
class Outcome:
    """What a child process left behind: its result (None if it failed), its peak RSS, the
    error, whether it was killed for time, its wall time and when it ended (epoch s)."""

    out: dict[str, Any] | None
    peak_mb: float
    error: str
    timed_out: bool
    wall: float
    ended: float


def run_child(
    command: list[str],
    workdir: Path,
    env: dict[str, str],
    log_path: Path,
    result_path: Path,
    timeout: float | None = None,
    on_line: Callable[[str], None] | None = None,
) -> Outcome:
    """Run one measurement in a fresh process (its output to `log_path`, each complete line
    also to `on_line`), take its peak RSS with `os.wait4`, kill it after `timeout` seconds,
    and read the JSON it left at `result_path`."""
    started = time.perf_counter()
    timed_out = False
    pending = b""

    def pump(tail: Any) -> None:
        nonlocal pending
        pending += tail.read()
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if on_line is not None:
                on_line(line.decode(errors="replace"))

    with open(log_path, "wb") as log, open(log_path, "rb") as tail:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, cwd=workdir, env=env
        )
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            pump(tail)
            if pid != 0:
                break
            if timeout is not None and time.perf_counter() - started > timeout:
                timed_out = True
                os.kill(process.pid, signal.SIGKILL)
                _, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(POLL_SECONDS)
        pump(tail)
    code = os.waitstatus_to_exitcode(status)
    wall, ended, peak_mb = time.perf_counter() - started, time.time(), usage.ru_maxrss / 1024
    if timed_out:
        return Outcome(None, peak_mb, f"killed after {timeout:.0f} s", True, wall, ended)
    if code != 0 or not result_path.exists():
        tail_text = scrub(log_path.read_text(errors="replace")[-2000:])
        return Outcome(None, peak_mb, f"exit {code}: {tail_text}", False, wall, ended)
    out = json.loads(result_path.read_text())
    result_path.unlink()
    return Outcome(out, peak_mb, "", False, wall, ended)


def save_results(workdir: Path, name: str, started: datetime, record: dict[str, Any],
                 text: str, markdown: Path | None) -> Path:  # fmt: skip
    """Keep every number of a run: `record` as JSON in the work directory, named for the
    benchmark and the moment it started, with its start and end; and the Markdown section
    `text` in `markdown` when one is given. Says where the JSON went."""
    stamped = {
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        **record,
    }
    out = workdir / f"{name}-results-{started.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(stamped, indent=1, default=str))
    print(f"all numbers: {os.path.relpath(out, workdir)} in the work directory")
    if markdown is not None:
        markdown.write_text(text)
    return out
