"""One direction of imports: a layer imports only the layers before it (DESIGN.md's table),
read from the source with `ast`, imports inside functions included."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "ringfence"
ORDER = ("schema", "examples", "protocol", "store", "control", "report", "twin", "web", "cli")


def imported_layers(path: Path) -> set[str]:
    """The ringfence layers a module imports (relative imports resolved)."""
    here = path.relative_to(PACKAGE).parts
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level]
                names = [".".join(("ringfence", *base, node.module or ""))]
            else:
                names = [node.module or ""]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "ringfence" and len(parts) > 1 and parts[1] in ORDER:
                found.add(parts[1])
    return found


def test_every_layer_imports_only_the_layers_before_it() -> None:
    wrong = []
    for layer in ORDER:
        allowed = set(ORDER[: ORDER.index(layer) + 1])
        for path in sorted((PACKAGE / layer).rglob("*.py")):
            for other in imported_layers(path) - allowed:
                wrong.append(f"{path.relative_to(PACKAGE)} imports ringfence.{other}")
    assert not wrong, "\n".join(wrong)


def test_the_check_sees_imports() -> None:
    # Not vacuous: the web app imports the report, the twin the control cycle.
    assert "report" in imported_layers(PACKAGE / "web" / "centre.py")
    assert "control" in imported_layers(PACKAGE / "twin" / "run.py")
