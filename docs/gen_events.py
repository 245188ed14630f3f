"""Write docs/events.md, the reference of every table, from `ringfence.schema`.

The reference is generated so that it cannot drift from the code: change the schema, run

    python docs/gen_events.py

and commit both. `python docs/gen_events.py --check` writes nothing and exits with status 1
when docs/events.md is not what the schema gives (for tests and CI).
"""

from __future__ import annotations

import sys
from pathlib import Path

from generated import write_or_check

from ringfence.schema import (
    DECISION_TABLES,
    DEFAULT_MAX_LENGTH,
    EVENT_TABLES,
    Column,
    ColumnType,
    Different,
    ExactlyOne,
    NotAfter,
    Ordered,
    RowRule,
    Table,
)
from ringfence.store.checks import FALSE_WORDS, TRUE_WORDS

TARGET = Path(__file__).with_name("events.md")

TYPE_NOTES: dict[ColumnType, str] = {
    ColumnType.STRING: "Text. Spaces and tabs around a value are removed; an empty value is "
    f"missing. At most {DEFAULT_MAX_LENGTH:,} characters unless the column says otherwise; "
    "a longer value is refused, never cut.",
    ColumnType.INTEGER: "A whole number, such as `1985`.",
    ColumnType.FLOAT: "A number, such as `37.8` or `24`. `nan` and infinities are refused.",
    ColumnType.BOOLEAN: f"One of {', '.join(f'`{w}`' for w in TRUE_WORDS)} (true) or "
    f"{', '.join(f'`{w}`' for w in FALSE_WORDS)} (false), in any case.",
    ColumnType.DATE: "A calendar date `YYYY-MM-DD`. It is stored as written and never "
    "shifted by a time zone.",
    ColumnType.INSTANT: "A moment: ISO 8601 date and time, such as `2022-01-23T10:00:00+08:00`, "
    "`2022-01-23 10:00`, or `2022-01-23T02:00:00Z`. With an offset or `Z` it is that moment; "
    "without one it is local time of the jurisdiction. Stored as UTC.",
    ColumnType.STRING_LIST: "A list of texts (decision tables only). Exported CSV joins the "
    "items with `;`.",
}


def _code(values: tuple[str, ...]) -> str:
    return ", ".join(f"`{v}`" for v in values)


def _number(value: float) -> str:
    return f"{value:g}"


def column_rules(column: Column) -> str:
    """Allowed values, bounds and limits of one column, as one table cell."""
    parts = []
    if column.allowed:
        parts.append(f"one of {_code(column.allowed)}")
    if column.minimum is not None and column.maximum is not None:
        parts.append(f"{_number(column.minimum)} to {_number(column.maximum)}")
    elif column.minimum is not None:
        parts.append(f"at least {_number(column.minimum)}")
    elif column.maximum is not None:
        parts.append(f"at most {_number(column.maximum)}")
    if column.not_future:
        if column.type is ColumnType.INTEGER:
            parts.append("not after the year of the ingest clock")
        else:
            parts.append("not in the future (ingest clock + tolerance)")
    if column.type is ColumnType.STRING and column.max_length != DEFAULT_MAX_LENGTH:
        parts.append(f"at most {column.max_length:,} characters")
    if column.personal:
        parts.append("personal: never shown in messages")
    return "; ".join(parts)


def rule_text(rule: RowRule) -> str:
    """One row rule as a sentence."""
    if isinstance(rule, Ordered):
        return f"`{rule.later}` must be after `{rule.earlier}` (when both are given)."
    if isinstance(rule, ExactlyOne):
        return f"Exactly one of {_code(rule.columns)} is given."
    if isinstance(rule, Different):
        return f"`{rule.second}` must differ from `{rule.first}`."
    if isinstance(rule, NotAfter):
        return (
            f"`{rule.date_column}` is not after the local date of "
            f"`{rule.instant_column}` (read in the jurisdiction's time zone)."
        )
    raise TypeError(rule)  # pragma: no cover - every rule kind is listed above


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table_section(table: Table) -> list[str]:
    lines = [f"### {table.name}", "", table.description, ""]
    key = ", ".join(f"`{k}`" for k in table.key)
    lines.append(f"- **Key:** {key}.")
    for reference in table.references:
        target = f"`{reference.table}.{reference.target}`"
        note = ""
        if reference.table == table.name:
            note = " The row it names may come later in the same ingest."
        lines.append(f"- **Reference:** `{reference.column}` must name a stored {target}.{note}")
    for rule in table.rules:
        lines.append(f"- **Rule:** {rule_text(rule)}")
    lines += [
        "",
        "| column | type | required | allowed values and bounds | description |",
        "|---|---|---|---|---|",
    ]
    for column in table.columns:
        required = "yes" if column.required else ""
        lines.append(
            f"| `{column.name}` | {column.type.value} | {required} | "
            f"{_cell(column_rules(column))} | {_cell(column.description)} |"
        )
    lines.append("")
    return lines


def render() -> str:
    """The text of docs/events.md."""
    lines = [
        "# Tables",
        "",
        "<!-- Generated by docs/gen_events.py from ringfence.schema. Do not edit by hand: "
        "change the schema and run `python docs/gen_events.py`. -->",
        "",
        "Every input of ringfence is an event: a row of one of the event tables below. An "
        "event file is CSV with a header row, Parquet, or JSON Lines; its columns are named "
        "as here, in any order. Optional columns may be left out of the file.",
        "",
        "- **Key**: the columns that identify one event. The same key with the same content "
        "twice stores one row (the second is counted as already stored). The same key with "
        "different content is refused, and the stored row is kept. A correction is a new "
        "event with its own key.",
        "- **Reference**: the value must name a stored row. One ingest call loads one table "
        "(lab messages load persons, samples and results in that order), so load the "
        "referenced table first. A missing value is not checked.",
        "- **Rule**: a condition between columns of one row.",
        "- **Required**: the column must be in the file's header and have a value in every row.",
        "",
        "## Column types",
        "",
        "| type | how to write it |",
        "|---|---|",
    ]
    for kind in ColumnType:
        lines.append(f"| {kind.value} | {_cell(TYPE_NOTES[kind])} |")
    lines += ["", "## Event tables", ""]
    lines.append(
        "In the order to load them: "
        + ", ".join(f"[{t.name}](#{t.name})" for t in EVENT_TABLES)
        + "."
    )
    lines.append("")
    for table in EVENT_TABLES:
        lines += table_section(table)
    lines += [
        "## Decision tables",
        "",
        "What the control cycle decides. The tables exist in every database; the control "
        "cycle that fills them is not written yet, so they are empty for now. They can be "
        "exported like any other table.",
        "",
    ]
    for table in DECISION_TABLES:
        lines += table_section(table)
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str]) -> int:
    return write_or_check(TARGET, render(), argv, "gen_events.py")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
