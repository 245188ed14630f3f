"""Lab messages as ingest sources: each message file becomes rows of persons, samples, results.

A message with any problem stores nothing; its problems are reported like refused rows,
at their place in the message ("entry 3", "line 5"). The rows of good messages pass the same
checks, deduplication and reference checks as every other input.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa

from .ingest import Rejection, Source, arrow_source
from .lab import LabRecord, LabRows
from .readers import LINE, SPAN


def _reader(kind: str) -> Callable[[bytes], LabRows]:
    if kind == "fhir":
        from .lab.fhir import read_fhir_bundle

        return read_fhir_bundle
    from .lab.hl7 import read_hl7_oru

    return read_hl7_oru


def lab_sources(kind: str, paths: list[Path]) -> tuple[dict[str, list[Source]], list[Rejection]]:
    """Sources per table ("persons", "samples", "results") from lab message files of `kind`."""
    read = _reader(kind)
    by_table: dict[str, list[Source]] = {}
    problems: list[Rejection] = []
    for path in paths:
        rows = read(path.read_bytes())
        if rows.problems:
            problems.extend(
                Rejection(
                    str(path),
                    p.location,
                    p.field,
                    f"{p.reason}; nothing from this message was stored",
                )
                for p in rows.problems
            )
            continue
        for table, records in _group(rows.records).items():
            by_table.setdefault(table, []).append(_source(str(path), records))
    return by_table, problems


def _group(records: list[LabRecord]) -> dict[str, list[LabRecord]]:
    grouped: dict[str, list[LabRecord]] = {}
    for record in records:
        grouped.setdefault(record.table, []).append(record)
    return grouped


def _source(name: str, records: list[LabRecord]) -> Source:
    columns = sorted({c for r in records for c in r.values})
    data = pa.table({c: pa.array([r.values.get(c) for r in records], pa.string()) for c in columns})
    lines = list(range(1, len(records) + 1))
    data = data.append_column(LINE, pa.array(lines, pa.int64()))
    data = data.append_column(SPAN, pa.array([1] * len(records), pa.int32()))
    locations = {line: record.location for line, record in zip(lines, records, strict=True)}
    originals = {
        line: json.dumps(record.values, ensure_ascii=False)
        for line, record in zip(lines, records, strict=True)
    }
    return arrow_source(name, data, locations, originals)
