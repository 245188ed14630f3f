"""What the benchmarks share: provenance of the code measured, and tidy failure reports.

`bench/ingest.py` and `bench/cycle.py` run each measurement in a fresh process on a snapshot
of `src/ringfence`; this module is copied into the snapshot beside them (`copy_beside`).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO_DIR = Path(__file__).resolve().parent.parent


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
