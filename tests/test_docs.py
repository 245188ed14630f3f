"""The documentation keeps up with the code: the table reference is generated from the schema,
every command is in the README, and the Quickstart is the two commands CI relies on."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from ringfence.cli.main import app

ROOT = Path(__file__).resolve().parents[1]


def test_table_reference_is_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "gen_events.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_command_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    commands = [
        c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands
    ]
    assert commands
    for name in commands:
        assert f"`{name}`" in readme, name


def test_quickstart_is_two_commands_and_ci_runs_the_second() -> None:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## Quickstart\s+```[a-z]*\n(.*?)```", readme, re.S)
    assert block is not None
    commands = [line for line in block.group(1).splitlines() if line.strip()]
    assert commands == ["pip install . && ringfence demo", "pip install '.[test]' && pytest"]
    assert "\npytest\n" in (ROOT / ".ci" / "run").read_text()


def test_docs_name_no_machine_paths() -> None:
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = path.read_text()
        # No absolute path of a build machine (a scratch, home or checkout directory).
        assert not re.search(r"(?<![\w.])/(?:tmp|root|home|work)/", text), path
